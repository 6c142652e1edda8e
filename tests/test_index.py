"""The hash index: the inverted-file index finds what the exact one finds."""

from __future__ import annotations

import numpy as np

from lookalike.engine.index import HashIndex


def _codes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    bits = np.unpackbits(base[: n // 4], axis=1)
    flips = rng.random(bits.shape) < 0.12  # ~30 of 256 bits differ: a near copy
    near = np.packbits(bits ^ flips, axis=1)
    return base, near


def test_ivf_range_search_matches_the_exact_index():
    base, near = _codes(6000)
    exact = HashIndex(base)
    ivf = HashIndex(base, flat_limit=100)
    assert exact.kind == "flat" and ivf.kind == "ivf"
    qe, re, de = exact.search(near, 60)
    qi, ri, di = ivf.search(near, 60)
    want = set(zip(qe.tolist(), re.tolist(), strict=True))
    got = set(zip(qi.tolist(), ri.tolist(), strict=True))
    assert got <= want
    assert len(got) >= 0.99 * len(want)
    assert {(i, i) for i in range(len(near))} <= want  # each near copy finds its original


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
