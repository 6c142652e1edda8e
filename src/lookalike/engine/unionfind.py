"""Disjoint sets, for connected components of verified edges (grouping, vectors, ML stage)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class UnionFind(Generic[K]):
    """Union-find with path halving; the smaller key is the root, so results are reproducible."""

    def __init__(self, keys: Iterable[K] = ()) -> None:
        self.parent: dict[K, K] = {k: k for k in keys}

    def find(self, x: K) -> K:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: K, b: K) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)  # type: ignore[operator]
            self.parent[hi] = lo

    def components(self, min_size: int = 1) -> list[list[K]]:
        """Every set with at least ``min_size`` keys, in order of first key seen."""
        comps: dict[K, list[K]] = {}
        for x in list(self.parent):
            comps.setdefault(self.find(x), []).append(x)
        return [c for c in comps.values() if len(c) >= min_size]


def connected_components(
    n: int, edges: Iterable[tuple[int, int]], min_size: int = 1
) -> list[list[int]]:
    """Components of the graph on 0..n-1, each in increasing order, ordered by their
    smallest member. With ``min_size`` ≥ 2 only the edges' endpoints enter the sets (the
    same components, without a set per isolated node: a million of them cost ~200 MB)."""
    edges = list(edges)
    nodes = range(n) if min_size < 2 else sorted({x for e in edges for x in e})
    uf: UnionFind[int] = UnionFind(nodes)
    for a, b in edges:
        uf.union(a, b)
    return uf.components(min_size)
