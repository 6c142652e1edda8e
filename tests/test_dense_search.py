"""The embedding candidates' search on the free compute (dense_search.py): torch's search and
faiss' on several threads give the candidates the single-threaded faiss search gave, on real
photos' effnet-lite0 vectors; and the CUDA path does where there is a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.engine import dense_search as ds
from lookalike.engine.ml_stage import CANDIDATE_K, CANDIDATE_THRESHOLD
from lookalike.engine.vector_index import VectorIndex, group_similar

torch = pytest.importorskip("torch")
data = pytest.importorskip("skimage.data")
THR = CANDIDATE_THRESHOLD["effnet"]


def _variants() -> list[np.ndarray]:
    """Real photos, and crops, flips, darker and smaller copies of them: near and far pairs."""
    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field"):
        img = np.asarray(getattr(data, name)())
        img = np.stack([img] * 3, axis=-1) if img.ndim == 2 else img[..., :3]
        h, w = img.shape[:2]
        out += [img, img[: h * 3 // 4, w // 5 :], img[:, ::-1], (img * 0.6).astype(np.uint8)]
        out += [img[::2, ::2], img[h // 3 :, : w // 2], img]  # the last: a byte copy (a tie)
    return out


@pytest.fixture(scope="module")
def real() -> tuple[np.ndarray, np.ndarray]:
    from lookalike.engine.features.embed import Embedder

    emb = Embedder("effnet-lite0", device="cpu", threads=1)
    from PIL import Image

    pics = [Image.fromarray(np.ascontiguousarray(a)) for a in _variants()]
    vecs = emb.embed_images(pics).astype(np.float16)  # stored as float16, as a scan
    ids = np.arange(100, 100 + 7 * len(vecs), 7, dtype=np.int64)  # ids are not row numbers
    return ids, vecs


def _faiss1(ids: np.ndarray, vecs: np.ndarray, thr: float, k: int | None) -> list:
    """The search as it ran before: faiss, one thread, cut to k."""
    hits = VectorIndex.build(ids, vecs, kind="flat").range_search(vecs, thr)
    return [(i[:k], s[:k]) for i, s in hits]


@pytest.mark.parametrize("k", [CANDIDATE_K + 1, 3, None])
def test_torch_gives_faiss_candidates_on_real_vectors(real, k) -> None:
    ids, vecs = real
    want = _faiss1(ids, vecs, THR, k)
    got = ds.torch_neighbours(ids, vecs, vecs, THR, k, "cpu")
    assert len(got) == len(want) == len(vecs)
    for (wi, ws), (gi, gs) in zip(want, got, strict=True):
        assert gi.tolist() == wi.tolist()  # same neighbours, same order (ties: id ascending)
        assert np.allclose(gs, ws, atol=1e-5)
    # the set is not trivial: near copies found, far photos not, and cut at k where asked
    sizes = [len(i) for i, _ in got]
    assert min(sizes) >= 1 and sum(sizes) > 2 * len(vecs) and max(sizes) < len(vecs)
    if k == 3:
        assert max(sizes) == 3


def test_byte_copies_tie_by_id(real) -> None:
    ids, vecs = real
    hits = ds.torch_neighbours(ids, vecs, vecs, THR, 2, "cpu")
    # row 0 (astronaut) and row 6 (its byte copy) score the same against row 0: lower id first
    assert hits[0][0].tolist() == [ids[0], ids[6]]
    assert hits[6][0].tolist() == [ids[0], ids[6]]


def test_threshold_is_strict_as_faiss() -> None:
    v = np.array([[1, 0], [0.6, 0.8], [0.0, 1.0]], np.float32)
    ids = np.array([1, 2, 3])
    cos = float(np.float32(v[0] @ v[1]))
    want = VectorIndex.build(ids, v).range_search(v[:1], cos)
    got = ds.torch_neighbours(ids, v, v[:1], cos, None, "cpu")
    assert got[0][0].tolist() == want[0][0].tolist() == [1]


def test_faiss_threads_give_the_same(real, monkeypatch) -> None:
    import faiss

    ids, vecs = real
    index = VectorIndex.build(ids, vecs, kind="flat")
    want = _faiss1(ids, vecs, THR, CANDIDATE_K + 1)
    monkeypatch.setattr(ds, "SPLIT_CHUNK", 8)  # 49 queries: 7 chunks over the threads
    seen = []
    search = index.range_search
    monkeypatch.setattr(index, "range_search", lambda q, t: seen.append(len(q)) or search(q, t))
    monkeypatch.delenv("LOOKALIKE_FAISS_THREADS", raising=False)
    got = ds.neighbours(index, vecs, THR, CANDIDATE_K + 1, workers=2)
    assert [i.tolist() for i, _ in got] == [i.tolist() for i, _ in want]
    assert all(np.array_equal(g[1], w[1]) for g, w in zip(got, want, strict=True))
    assert sorted(seen) == [1] + [8] * 6 or ds.search_threads(2) == 1  # split (2 cores)
    assert faiss.omp_get_max_threads() == 1  # the caller's faiss stays on one thread
    monkeypatch.setenv("LOOKALIKE_FAISS_THREADS", "3")
    assert ds.search_threads(16) == 3
    monkeypatch.delenv("LOOKALIKE_FAISS_THREADS")
    assert 1 <= ds.search_threads(16) <= 16 and ds.search_threads(1) == 1


def test_no_cuda_falls_back_to_faiss(real, monkeypatch) -> None:
    ids, vecs = real
    index = VectorIndex.build(ids, vecs, kind="flat")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ds.cuda_device("cuda") is None and ds.cuda_device("cpu") is None
    called = []
    monkeypatch.setattr(ds, "torch_neighbours", lambda *a: called.append(a))
    ds.neighbours(index, vecs, THR, 3, base=(ids, vecs), device="cuda")
    assert not called


def test_similar_groups_alike_on_every_path(real, monkeypatch) -> None:
    ids, vecs = real
    want = group_similar(ids, vecs.astype(np.float32), 0.82)
    assert len(want) >= 5 and len({x for g in want for x in g}) < len(ids)  # not all one
    assert group_similar(ids, vecs.astype(np.float32), 0.82, workers=2) == want
    # the device path (torch, here on the CPU standing in for a GPU) through group_similar
    monkeypatch.setattr(ds, "cuda_device", lambda device: "cpu")
    called = []
    real_search = ds.torch_neighbours
    monkeypatch.setattr(ds, "torch_neighbours", lambda *a: called.append(1) or real_search(*a))
    assert group_similar(ids, vecs.astype(np.float32), 0.82, device="cuda") == want
    assert called


@pytest.mark.gpu
def test_cuda_gives_faiss_candidates(real) -> None:
    ids, vecs = real
    index = VectorIndex.build(ids, vecs, kind="flat")
    want = _faiss1(ids, vecs, THR, CANDIDATE_K + 1)
    got = ds.neighbours(index, vecs, THR, CANDIDATE_K + 1, base=(ids, vecs), device="cuda")
    for (wi, ws), (gi, gs) in zip(want, got, strict=True):
        assert gi.tolist() == wi.tolist()
        assert np.allclose(gs, ws, atol=1e-5)
    torch.backends.cuda.matmul.allow_tf32 = True  # a caller's TF32 does not leak in, nor out
    again = ds.neighbours(index, vecs, THR, CANDIDATE_K + 1, base=(ids, vecs), device="cuda")
    assert [i.tolist() for i, _ in again] == [i.tolist() for i, _ in want]
    assert torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
