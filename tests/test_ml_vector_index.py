"""faiss float index and the never-chained similar grouping."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.engine import vector_index as vi
from lookalike.engine.vector_index import VectorIndex, group_similar, index_path, similar_pairs


def _arc(deg: float) -> np.ndarray:
    r = np.deg2rad(deg)
    return np.array([np.cos(r), np.sin(r), 0.0, 0.0], np.float32)


def test_flat_and_ivf_agree(tmp_path) -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((3000, 64)).astype(np.float32)
    near = base[:50] + 0.05 * rng.standard_normal((50, 64)).astype(np.float32)
    vecs = np.vstack([base, near])
    ids = np.arange(100, 100 + len(vecs))
    flat = VectorIndex.build(ids, vecs, kind="flat")
    ivf = VectorIndex.build(ids, vecs, kind="ivf")
    assert flat.kind == "flat" and ivf.kind == "ivf" and len(ivf) == len(vecs)
    s1, i1 = flat.search(near[:10], 2)
    s2, i2 = ivf.search(near[:10], 2)
    assert (i1[:, 0] == ids[3000:3010]).all()
    # IVF stores 8-bit quantised vectors: same neighbours, cosine within ~1e-2
    assert all(set(a) == set(b) for a, b in zip(i1.tolist(), i2.tolist(), strict=True))
    assert np.allclose(np.sort(s1, axis=1), np.sort(s2, axis=1), atol=2e-2)
    assert len(ivf.range_search(near[:3], 0.9)[0][0]) == 2
    hits = flat.range_search(near[:3], 0.9)
    assert [int(h[0][0]) for h in hits] == [3100, 3101, 3102]  # itself first
    assert set(hits[0][0].tolist()) == {100, 3100}
    path = flat.save(index_path(tmp_path / "cat.sqlite", "effnet:x/y:r1"), {"model": "m"})
    assert path.name.startswith("cat.sqlite.effnet_x_y_r1")
    loaded = VectorIndex.load(path)
    assert len(loaded) == len(flat)
    assert (loaded.search(near[:3], 1)[1] == flat.search(near[:3], 1)[1]).all()


def test_empty_index() -> None:
    idx = VectorIndex.build([], np.zeros((0, 8), np.float32))
    assert len(idx) == 0
    assert idx.range_search(np.ones((2, 8), np.float32), 0.5)[0][0].size == 0
    assert group_similar([], np.zeros((0, 8), np.float32), 0.5) == []


def test_pairs_are_deterministic_and_unique() -> None:
    v = np.stack([_arc(0), _arc(10), _arc(80)])
    assert similar_pairs([7, 3, 9], v, 0.9) == [
        (3, 7, pytest.approx(np.cos(np.deg2rad(10)), abs=1e-5))
    ]


def test_group_similar_never_chains() -> None:
    # 0°, 20°, 40°, 60°: neighbours are within 25°, the ends are 60° apart
    ids = [10, 11, 12, 13, 14, 15]
    v = np.stack([_arc(0), _arc(20), _arc(40), _arc(60), [0, 0, 1, 0], [0, 0, 0.99, 0.14]])
    thr = float(np.cos(np.deg2rad(25)))
    groups = group_similar(ids, v, thr)
    assert groups == [[10, 11], [12, 13], [14, 15]]
    for g in groups:  # complete link: every pair inside a group is above the threshold
        sub = vi.normalise(v[[ids.index(i) for i in g]])
        assert (sub @ sub.T >= thr - 1e-6).all()


def test_group_similar_is_order_independent() -> None:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((20, 32)).astype(np.float32)
    v = np.vstack([c + 0.1 * rng.standard_normal((4, 32)).astype(np.float32) for c in centres])
    ids = np.arange(len(v)) * 3 + 5
    a = group_similar(ids, v, 0.9)
    perm = rng.permutation(len(v))
    b = group_similar(ids[perm], v[perm], 0.9)
    assert a == b and len(a) == 20 and all(len(g) == 4 for g in a)
    assert group_similar(ids, v, 0.9, link="average") == a


def test_large_component_uses_leaders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vi, "EXACT_LINK_MAX", 3)
    v = np.stack([_arc(a) for a in range(0, 100, 10)])
    thr = float(np.cos(np.deg2rad(15)))
    groups = group_similar(list(range(10)), v, thr)
    for g in groups:  # every pair within the threshold (complete link): spans ≤ 1 step
        sims = v[g] @ v[g].T
        assert sims.min() >= thr - 1e-6 and max(g) - min(g) <= 1
    assert sorted(x for g in groups for x in g) == sorted(set(x for g in groups for x in g))
