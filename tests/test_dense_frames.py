"""Dense look-alikes (a time-lapse, a night-sky session): huge components are grouped as stars
that keep a frame's copy with it, a settling move never puts a refuted pair in one group, and
the re-checks stay bounded (benchmarks/dense_frames.py measures the same at scale)."""

from __future__ import annotations

from collections.abc import Generator

from lookalike.engine import grouping as G
from lookalike.engine.stars import stars

Pair = tuple[int, int]


def _drive(gen: Generator, asked: list[Pair] | None = None) -> list[list[int]]:
    """Runs a clustering generator, answering each re-check it yields (and noting it)."""
    try:
        pair = next(gen)
        while True:
            if asked is not None:
                asked.append(pair)
            pair = gen.send(None)
    except StopIteration as stop:
        return stop.value


def _confirmed(refuted: set[Pair], unsure: set[Pair] | None = None):
    """A fabricated re-check: ``unsure`` edges (all when None) are asked, ``refuted`` ones
    fail and leave ``edges`` as the grouper's do."""

    def confirmed(i: int, j: int, edges: dict[Pair, float]) -> Generator:
        key = (min(i, j), max(i, j))
        if unsure is not None and key not in unsure:
            return True
        yield key
        if key in refuted:
            edges.pop(key, None)
            return False
        return True

    return confirmed


def test_a_star_keeps_a_copy_that_has_no_edge_to_its_centre() -> None:
    # 0 is the best-connected frame; 5 is a copy of frame 4 whose only edge is to 4 (the
    # candidate search keeps a few neighbours a file): it must end in 4's group
    edges = {(0, k): 0.9 for k in range(1, 5)} | {(1, 2): 0.9, (4, 5): 0.99}
    groups = _drive(stars(list(range(6)), edges, lambda a, b: True, range(6), _confirmed(set())))
    assert sorted(map(sorted, groups)) == [[0, 1, 2, 3, 4, 5]]


def test_a_star_turns_away_a_reached_member_its_bound_rejects() -> None:
    edges = {(0, k): 0.9 for k in range(1, 5)} | {(4, 5): 0.99}

    def joins(a: list[int], b: list[int]) -> bool:
        return 5 not in a + b  # 5 lies outside the bound of some member

    groups = _drive(stars(list(range(6)), edges, joins, range(6), _confirmed(set())))
    assert sorted(map(sorted, groups)) == [[0, 1, 2, 3, 4], [5]]


def test_a_settling_move_stops_at_a_refuted_edge() -> None:
    # 0 sits alone; the cluster {1, 2} accepts it by signatures, its strongest edge (0, 1) is
    # refuted by the pixels: 0 must not walk in through the weaker (0, 2) and share a group
    # with 1
    clusters = [[0], [1, 2]]
    where = {0: 0, 1: 1, 2: 1}
    edges = {(0, 1): 0.95, (0, 2): 0.9, (1, 2): 0.99}
    asked: list[Pair] = []
    conf = _confirmed({(0, 1)})
    out = _drive(G._settle(clusters, where, edges, lambda a, b: True, range(3), conf), asked)
    assert sorted(map(sorted, out)) == [[0], [1, 2]]
    assert asked == [(0, 1)]
