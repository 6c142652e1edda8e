"""Huge components (a time-lapse, a night-sky session: thousands of near-identical frames) are
grouped as stars, not by agglomeration (grouping.py's BIG_COMPONENT).

Why: agglomeration tries every verified edge strongest first and each try may cost a pixel
re-check; a star costs at most one re-check per member it takes or turns down. A star is the
best-connected member left (the centre) and its neighbours, each taken when it lies within the
bound of every member already taken (``joins``) and its edge survives its re-check.

The candidate search keeps a few neighbours per file, so in a dense component a file's copy
often has no edge to the centre although its frame has: the frame joined the star and the
copy, left outside, lost its only match (a 1 000-frame sky set lost 5 of its 20 planted
copies, benchmarks/dense_frames.py). So a star then reaches once more: members with an edge
into it that were not the centre's neighbours join too, on the same bound, each re-checked
on its strongest edge into the star only (one re-check at most, so the cost stays linear).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Sequence

Confirm = Generator[tuple[int, int], None, bool]
Clusters = Generator[tuple[int, int], None, list[list[int]]]
Edges = dict[tuple[int, int], float]


def stars(
    members: list[int],
    edges: Edges,
    joins: Callable[[list[int], list[int]], bool],
    rank: Sequence[int],
    confirmed: Callable[[int, int, Edges], Confirm],
) -> Clusters:
    """Stars, best-connected centre first: the centre's neighbours, then the rest of the
    star's reach; every member lies within the bound of every other."""
    nbrs: dict[int, set[int]] = {m: set() for m in members}
    for i, j in edges:
        if i in nbrs and j in nbrs:
            nbrs[i].add(j)
            nbrs[j].add(i)
    left = set(members)
    centres = _Centres(nbrs, rank)
    out = []
    while left:
        centre = centres.best(left)
        group = [centre]
        tried = nbrs[centre] & left
        for m in sorted(tried, key=rank.__getitem__):
            if joins([m], group) and (yield from confirmed(centre, m, edges)):
                group.append(m)
        reach = set().union(*(nbrs[g] for g in group[1:])) & left
        for m in sorted(reach - tried - {centre}, key=rank.__getitem__):
            if joins([m], group) and (yield from strongest_holds(m, group, edges, rank, confirmed)):
                group.append(m)
        left -= set(group)
        centres.taken(group, left)
        out.append(group)
    return out


class _Centres:
    """The next star's centre: the member left with the most neighbours left, the first in
    path order among equals. Kept as counts and a heap of (−count, rank, member) whose stale
    entries are skipped, not by counting every member's neighbours again for each star
    (that was quadratic: ≈ 4 s of the 1 M mosaic set's group stage)."""

    def __init__(self, nbrs: dict[int, set[int]], rank: Sequence[int]) -> None:
        self.nbrs, self.rank = nbrs, rank
        self.count = {m: len(n) for m, n in nbrs.items()}
        self.heap = [(-c, rank[m], m) for m, c in self.count.items()]
        heapq.heapify(self.heap)

    def best(self, left: set[int]) -> int:
        while True:
            neg, _, m = self.heap[0]
            if m in left and -neg == self.count[m]:
                return m
            heapq.heappop(self.heap)

    def taken(self, group: list[int], left: set[int]) -> None:
        """``group`` left the members: their neighbours still left have fewer."""
        for g in group:
            for n in self.nbrs[g]:
                if n in left:
                    self.count[n] -= 1
                    heapq.heappush(self.heap, (-self.count[n], self.rank[n], n))


def strongest_holds(
    m: int,
    group: list[int],
    edges: Edges,
    rank: Sequence[int],
    confirmed: Callable[[int, int, Edges], Confirm],
) -> Confirm:
    """Does ``m``'s strongest verified edge into ``group`` survive its re-check? (Only that
    one is asked: a refuted edge leaves ``edges``, and ``m`` stays out of this star.)"""
    links = [(s, n) for n in group if (s := edges.get((m, n), edges.get((n, m)))) is not None]
    if not links:
        return False
    _, n = min(links, key=lambda e: (-e[0], rank[e[1]]))
    return (yield from confirmed(m, n, edges))
