"""The hash index: the inverted-file index finds what the exact one finds."""

from __future__ import annotations

import numpy as np

from lookalike.engine.index import HashIndex


def _photo_codes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of ``n`` random crops (15–60 % of a side) of real photos, and of the first
    quarter again after a brightness change and noise. Real hashes, not uniform random bits:
    an inverted file's cells (centred on sampled codes) follow the structure real ones have."""
    from PIL import Image
    from skimage import data

    from lookalike.engine.features import perceptual as pc

    rng = np.random.default_rng(seed)
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "page"]
    names += ["text", "hubble_deep_field", "immunohistochemistry", "retina"]
    greys = []
    for name in names:
        img = np.asarray(getattr(data, name)(), dtype=np.float32)
        greys.append(Image.fromarray(img.mean(axis=2) if img.ndim == 3 else img, mode="F"))
    sigs, near = [], []
    for k in range(n):
        g = greys[rng.integers(len(greys))]
        w, h = g.size
        cw, ch = (int(s * rng.uniform(0.15, 0.6)) for s in (w, h))
        x, y = rng.integers(0, w - cw), rng.integers(0, h - ch)
        a = np.asarray(g.resize((64, 64), Image.Resampling.BOX, box=(x, y, x + cw, y + ch)))
        sigs.append(pc.dct_signature(a / 255.0))
        if k < n // 4:
            b = a * rng.uniform(0.85, 1.15) + rng.normal(0, 6, a.shape)
            near.append(pc.dct_signature(b / 255.0))
    return pc.canonical_hash_batch(np.stack(sigs)), pc.canonical_hash_batch(np.stack(near))


def test_ivf_range_search_matches_the_exact_index():
    base, near = _photo_codes(6000)
    exact = HashIndex(base)
    ivf = HashIndex(base, flat_limit=100)
    assert exact.kind == "flat" and ivf.kind == "ivf"
    qe, re, de = exact.search(near, 60)
    qi, ri, di = ivf.search(near, 60)
    want = dict(zip(zip(qe.tolist(), re.tolist(), strict=True), de.tolist(), strict=True))
    got = set(zip(qi.tolist(), ri.tolist(), strict=True))
    assert got <= set(want)
    assert len(got) >= 0.98 * len(want)  # measured 0.987 (sampled centres, 32 of 256 probed)
    close = {p for p, d in want.items() if d <= 20}  # re-encoded copies lie this close
    assert close <= got and len(close) > 1000
    assert sum((i, i) in want for i in range(len(near))) >= 0.95 * len(near)  # copies found


def test_search_in_chunks_of_queries_finds_the_same_pairs(monkeypatch):
    """The range search goes a chunk of queries at a time (bounded temporaries): the same
    (query, row, distance) triples, query numbers counted across chunks."""
    from lookalike.engine import index as ix

    base, _ = _photo_codes(1200, seed=1)
    for flat_limit in (10**6, 100):  # exact and inverted-file
        idx = HashIndex(base, flat_limit=flat_limit)
        whole = idx.search(base, 80)  # the grouper's radius: look-alike crops too
        monkeypatch.setattr(ix, "SEARCH_CHUNK", 7)
        chunked = idx.search(base, 80)
        monkeypatch.setattr(ix, "SEARCH_CHUNK", 65_536)
        assert len(whole[0]) > len(base)  # more than each code finding itself
        key = lambda t: sorted(zip(*(a.tolist() for a in t), strict=True))  # noqa: E731
        assert key(chunked) == key(whole)
        assert np.all(np.diff(chunked[0]) >= 0)  # in query order
        monkeypatch.setattr(ix, "SEARCH_CHUNK", 14)  # two threads: 7 queries a chunk
        threaded = idx.search(base, 80, threads=2)
        monkeypatch.setattr(ix, "SEARCH_CHUNK", 65_536)
        for a, b in zip(threaded, chunked, strict=True):  # the same arrays, order included
            assert a.tobytes() == b.tobytes()


def test_search_threads_run_faiss_with_one_openmp_thread(monkeypatch):
    """OpenMP's thread count is per thread and a new one starts at one per core: faiss's
    threads spin when the cores are busy (10x the wall on the loaded 2-core box), so the
    search's own threads set it as the calling thread does."""
    import faiss

    from lookalike.engine import index as ix

    monkeypatch.delenv("LOOKALIKE_FAISS_THREADS", raising=False)
    seen: list[int] = []
    chunk = ix.HashIndex._chunk

    def counted(self, *args):  # type: ignore[no-untyped-def]
        seen.append(faiss.omp_get_max_threads())
        return chunk(self, *args)

    monkeypatch.setattr(ix.HashIndex, "_chunk", counted)
    monkeypatch.setattr(ix, "SEARCH_CHUNK", 8)
    base, _ = _photo_codes(200, seed=2)
    ix.HashIndex(base, flat_limit=50).search(base, 80, threads=2)
    assert len(seen) == 50 and set(seen) == {1}


def test_empty_index_and_empty_queries():
    idx = HashIndex(np.zeros((0, 32), np.uint8))
    q, r, d = idx.search(np.zeros((3, 32), np.uint8), 10)
    assert len(q) == len(r) == len(d) == 0


def test_components_without_isolated_nodes_are_the_full_ones():
    from lookalike.engine.unionfind import UnionFind, connected_components

    rng = np.random.default_rng(3)
    edges = [tuple(int(x) for x in rng.integers(0, 400, 2)) for _ in range(150)]
    full: UnionFind[int] = UnionFind(range(400))
    for a, b in edges:
        full.union(a, b)
    want = full.components(2)
    assert connected_components(400, edges, min_size=2) == want
    assert connected_components(400, iter(edges), min_size=2) == want  # a one-pass iterable
    assert len(connected_components(400, edges, min_size=1)) == len(full.components(1))


def test_cells_find_faiss_inverted_files_pairs_in_its_order():
    """The inverted file searched a cell at a time (``index._Cells``) gives the very arrays
    faiss's ``IndexBinaryIVF`` range search gave with the same sampled centres: pairs,
    distances and order (a query's probed cells nearest first, a cell's codes by row)."""
    import faiss

    from lookalike.engine import index as ix

    base, near = _photo_codes(3000, seed=4)
    queries = np.concatenate([near, base[::3]])
    idx = HashIndex(base, flat_limit=100)
    nlist = ix.cells(len(base))
    quantizer = faiss.IndexBinaryFlat(256)
    quantizer.add(base[np.sort(np.random.default_rng(0).choice(len(base), nlist, replace=False))])
    ivf = faiss.IndexBinaryIVF(quantizer, 256, nlist)
    ivf.is_trained, ivf.nprobe = True, min(ix.NPROBE, nlist)
    ivf.add(base)
    for radius in (20, 80):
        lims, dist, ids = ivf.range_search(queries, radius + 1)
        q = np.repeat(np.arange(len(queries)), np.diff(lims).astype(np.int64))
        keep = dist <= radius
        want = (q[keep], ids[keep].astype(np.int64), dist[keep].astype(np.int64))
        got = idx.search(queries, radius)
        assert len(want[0]) > len(queries) // 2  # most copies find their original
        for a, b in zip(got, want, strict=True):
            assert a.tobytes() == b.tobytes()
