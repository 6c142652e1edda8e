"""Dense look-alikes (a time-lapse, a night-sky session): huge components are grouped as stars
that keep a frame's copy with it, a settling move never puts a refuted pair in one group, and
the re-checks stay bounded (benchmarks/dense_frames.py measures the same at scale)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator

import pytest

import dense_frames
from lookalike.engine import grouping as G
from lookalike.engine.features.extract import extract_file
from lookalike.engine.item_table import Item
from lookalike.engine.recheck import pixel_recheck
from lookalike.engine.stars import stars
from lookalike.engine.unionfind import connected_components

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


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Item], list[Pair]]:
    """60 frames of a real video (bikes.mp4, every 2nd frame, half size) and two planted
    copies among them (a re-save at quality 70, a 90° turn)."""
    tmp = tmp_path_factory.mktemp("burst")
    frames = list(itertools.islice(dense_frames.video_frames(252), 132, 252, 2))
    paths, planted = [], []
    for k, im in enumerate(frames):
        im = im.resize((im.width // 2, im.height // 2))
        paths.append(tmp / f"f{k:05d}.jpg")
        im.save(paths[-1], quality=92)
        if k in (10, 40):
            how = "resave" if k == 10 else "turn"
            paths.append(tmp / f"c{k:05d}.jpg")
            dense_frames.plant(im, how).save(paths[-1], quality=70 if how == "resave" else 90)
            planted.append((len(paths) - 2, len(paths) - 1))
    items = [Item(n, str(p), extract_file(str(p), None, 10**9).views) for n, p in enumerate(paths)]
    return items, planted


def _counted(items: list[Item]) -> tuple[list[Pair], Callable[[int, int], bool], set[Pair]]:
    """A pixel re-check that notes what it was asked and what it refuted."""
    rc, asked, refuted = pixel_recheck(items), [], set()

    def recheck(i: int, j: int) -> bool:
        asked.append((i, j))
        if rc(i, j):
            refuted.add((i, j))
            return True
        return False

    return asked, recheck, refuted


def test_a_spent_budget_leaves_look_alikes_apart_never_refuted_ones_together(
    burst: tuple[list[Item], list[Pair]], monkeypatch: pytest.MonkeyPatch
) -> None:
    items, planted = burst
    asked_all, recheck, _ = _counted(items)
    full = G.group_items(items, 50, set(), None, recheck)
    assert full.unchecked == 0 and len(asked_all) > 6  # the real budget does not bind here

    monkeypatch.setattr(G, "recheck_budget", lambda members: 3)
    asked, recheck, refuted = _counted(items)
    tight = G.group_items(items, 50, set(), None, recheck)
    comp = {m: c for c, members in enumerate(tight.parts) for m in members}
    per = [comp[i] for i, _ in asked]
    assert tight.unchecked > 0 and len(asked) < len(asked_all)
    assert max(per.count(c) for c in set(per)) <= 3  # a component asks its budget at most
    where = {m: g for g, members in enumerate(tight.groups) for m in members}
    for a, b in planted:  # certain edges: no re-check, so no budget either
        assert a in where and where[a] == where[b]
    assert refuted and not any(where.get(a, -1) == where.get(b, -2) for a, b in refuted)
    # and every group holds together through certain edges and re-checks that held: none
    # joined through an edge left unchecked
    sigs = G.ViewSignatures(items)
    held = {k for k in tight.edges if k in set(asked) or not G._unsure(sigs.match(*k))}
    for g in tight.groups:
        inside = [k for k in held if k[0] in g and k[1] in g]
        assert connected_components(len(items), inside, 2) == [sorted(g)]
