"""Candidate edges → verified edges → groups that never chain.

1. Every view of every image is indexed by the 256-bit DCT sign hash of its canonical
   orientation and asks with its orientation candidates (usually 1–3; ambiguous gradients keep
   both branches), so a rotated or mirrored copy is found without querying all 8 turns.
2. A candidate pair is verified on the floats: the best low-frequency DCT cosine over
   transforms and framings, and under that transform the detail-band cosine, which is what
   tells a copy from another shot of the same scene. Both must pass thresholds set by
   ``--sensitivity`` (match_rules.py; views of shapes more than ~25 % apart need near-exact
   signatures); the pair's score is their mean.
3. Verified edges form connected components; inside each, complete-link clustering, strongest
   verified edge first: two clusters merge only when EVERY pair across them lies within the
   bound (LINK_FLOOR / BAND_FLOOR under the thresholds), so whoever becomes the keeper lies
   within the bound of every other member and a chain of near images (a burst: frame 1 ~ 2 ~
   3) never joins two far-apart ones. Pairs are matched and
   ordered by path, so the same files give the same groups in any input order.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from lookalike.engine.candidates import (
    SEARCH_RADIUS,  # noqa: F401 (benchmarks/scaling.py)
    edge_floors,
    in_path_order,
    low_cosines,
    may_match,
    searched_beside,
)
from lookalike.engine.features import perceptual as pc
from lookalike.engine.item_table import Item, ItemTable, gather_views, keys_paths, path_rank
from lookalike.engine.match_rules import (  # noqa: F401 (the grouper's names, re-exported)
    ALIGNED_BONUS,
    BAND_FLOOR,
    LINK_FLOOR,
    LINK_SLACK,
    NO_MATCH,
    RECHECK_BAND,
    RECHECK_LOW,
    SHAPE_FREE,
    TURNED_MIN,
    Match,
    Thresholds,
    thresholds_for,
)
from lookalike.engine.recheck import lookahead
from lookalike.engine.stars import Clusters, Confirm, stars, strongest_holds
from lookalike.engine.unionfind import connected_components

MAX_ASPECT_LOG = 0.45  # views whose aspect ratios differ more cannot be one photo
SAME_FRAME = 0.03  # trimmed contents whose log aspect ratios differ less have the same shape
# Contents of the same shape whose low cosine reaches this are one picture, so their whole
# frames are compared too: a trim that bites into a near-plain part of the picture (a dark
# patch at its edge, not a border) stops a few % apart in two copies, and the band cosine of
# contents misaligned by that much falls under the bar. Two different photos in one frame
# never get here: their contents differ.
CONTENTS_AGREE = 0.95
BIG_COMPONENT = 300
# Re-checks a component of n members may ask: RECHECKS_PER_MEMBER·n, at least RECHECK_FLOOR.
# Why: a folder of near-identical frames (a time-lapse, a night-sky session) makes components
# whose uncertain edges grow ~N² and nearly all are refuted (benchmarks/dense_frames.py); the
# budget keeps the stage's re-checks linear in the files. An edge past it stays unmerged, so
# what the budget can cost is a missed look-alike merge, never two photos in one group.
RECHECKS_PER_MEMBER = 1
RECHECK_FLOOR = 32


HASH_CHUNK = 8192  # views hashed per numpy batch (~40 MB of temporaries)
ACCEPT_CHUNK = 16384  # candidates matched between two hand-overs of their uncertain edges
# the first hand-over's (the chunks double up to ACCEPT_CHUNK): the pool's re-checks start
# after a few ms of matching, not after 16 384 candidates (≈ 0.5 s of the driver at 100k)
ACCEPT_FIRST = 512


class ViewSignatures:
    """Per-view signatures of a list of items, indexed for candidate search and pair matching
    (identity orientation only; transforms are applied per pair).

    Holds references to the items' DCT blocks (an :class:`ItemTable`'s float16 column, or
    each listed item's own array), not copies, and numpy columns for the rest: at a million
    views every per-view object or copy costs gigabytes (issue 13). The unit vectors a match
    compares are made per pair from the block, upcast first, so a float16 block gives the
    same Match as its float32 copy."""

    def __init__(self, items: Sequence[Item]) -> None:
        if isinstance(items, ItemTable):  # columns: nothing to gather
            # a plain view of a memory-mapped column: each block read as an np.memmap
            # subclass cost ~6 µs more, a quarter of a candidate's match at 1 M
            self.sigs: Sequence[np.ndarray] = np.asarray(items.dct)
            self.first = items.first
            aspects = items.aspect.astype(np.float64)
        else:
            self.sigs, self.first, aspects = gather_views(items)
        counts = np.diff(self.first)
        self.owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self.log_aspect = np.log(aspects) if len(aspects) else np.zeros(0)
        keys, codes, code_view = [], [], []  # indexed: one per view; asked: its candidates
        for lo in range(0, len(self.sigs), HASH_CHUNK):
            part = self.sigs[lo : lo + HASH_CHUNK]
            chunk = part if isinstance(part, np.ndarray) else np.stack(part)
            k, c, v = pc.canonical_keys_hashes_batch(chunk)
            keys.append(k)
            codes.append(c)
            code_view.append(v + lo)
        self.keys = np.concatenate(keys) if keys else np.zeros((0, 32), np.uint8)
        self.codes = np.concatenate(codes) if codes else np.zeros((0, 32), np.uint8)
        self.code_owner = self.owner[np.concatenate(code_view)] if codes else self.owner

    def take_hashes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, codes, code_owner), handed over and dropped here: the candidate search is
        their only reader and its index keeps its own copy of the codes (at 1 M views they
        are ~250 MB that would otherwise stay for the whole clustering)."""
        out = (self.keys, self.codes, self.code_owner)
        empty = np.zeros((0, 32), np.uint8)
        self.keys, self.codes, self.code_owner = empty, empty, np.zeros(0, np.int64)
        return out

    def views_of(self, i: int) -> range:
        return range(int(self.first[i]), int(self.first[i + 1]))

    def match(self, i: int, j: int) -> Match:
        """Best framing pair and transform (turning i onto j) by the low cosine.

        When both images had borders trimmed to contents of the same shape, only the contents
        are compared: two different photos given the same frame must not match on the frame.
        The 8 transforms' low cosines of a framing pair come from two products (sign flips
        are parities, see ``candidates.low_cosines``); the winner's figures are then computed exactly as
        one transform at a time did, so a match is the same Match as before, ~10× sooner.
        """
        vi, vj = self.views_of(i), self.views_of(j)
        lows = {(va, vb): low_cosines(self.sigs[va], self.sigs[vb]) for va in vi for vb in vj}
        best_low, win = 0.0, None
        for t in range(8):
            sign = -1 if pc.DIHEDRAL[t][0] else 1
            pairs = [(va, vb) for va in vi for vb in vj]
            if len(vi) == 2 and len(vj) == 2:
                diff = abs(self.log_aspect[vi[1]] * sign - self.log_aspect[vj[1]])
                if diff < SAME_FRAME:
                    pairs = [(vi[1], vj[1])]
                    if lows[pairs[0]][t] >= CONTENTS_AGREE:
                        # the contents are one picture: the whole frames may line it up
                        # better (a trim cut into a near-plain dark part a few % apart)
                        pairs.append((vi[0], vj[0]))
            for va, vb in pairs:
                if abs(self.log_aspect[va] * sign - self.log_aspect[vb]) > MAX_ASPECT_LOG:
                    continue
                if lows[(va, vb)][t] > best_low:
                    best_low, win = lows[(va, vb)][t], (va, vb, t)
        if win is None:
            return NO_MATCH
        va, vb, t = win
        turned = pc.transform_dct(self.sigs[va], t)
        low = float(pc.dct_vector(turned) @ pc.dct_vector(self.sigs[vb]))
        band = float(pc.band_vector(turned) @ pc.band_vector(self.sigs[vb]))
        sign = -1 if pc.DIHEDRAL[t][0] else 1
        shape = abs(float(self.log_aspect[va]) * sign - float(self.log_aspect[vb]))
        return Match(low, band, t, shape)


@dataclass
class Clustering:
    groups: list[list[int]]  # item indices, each group sorted by path
    edges: dict[tuple[int, int], float]  # verified edge scores
    sim: Callable[[int, int], float]
    # the verified edges' components (before re-checks), each grouped on its own: a rescan
    # regroups only the components a change touches (group_parts.py)
    parts: list[list[int]] = field(default_factory=list)
    unchecked: int = 0  # uncertain edges left unmerged: their component's re-checks were spent
    # the pair's signatures (``sim`` is its score): rank checks each member against its keeper
    match: Callable[[int, int], Match] | None = None


def group_items(
    items: Sequence[Item],
    sensitivity: int = 50,
    forbidden: set[tuple[int, int]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    recheck: Callable[[int, int], bool] | None | str = "pixels",
) -> Clustering:
    """Groups of items that show the same photo (indices into ``items``).

    ``recheck(i, j)`` → True drops a verified edge whose detail band is below RECHECK_BAND
    when it is about to merge two clusters (default: :func:`pixel_recheck` on the files;
    None: signatures only). Re-checks run here one by one; :func:`group_steps` lets a caller
    compute each round's re-checks in a batch (the scan's worker pool)."""
    steps = group_steps(items, sensitivity, forbidden, progress, recheck)
    try:
        while True:
            next(steps)
    except StopIteration as stop:
        return stop.value


@dataclass(frozen=True)
class RecheckRound:
    """Pairs (item indices) whose re-checks the clustering needs next, one per waiting
    component; ``asked`` re-checks so far of at most ``uncertain`` (the uncertain edges)."""

    pairs: list[tuple[int, int]]
    asked: int
    uncertain: int
    # uncertain edges at the waiting pairs' files, strongest first: the pairs most likely asked
    # in the next rounds (a big component asks one per round), for a caller with idle workers
    ahead: Iterator[tuple[int, int]] = field(default_factory=lambda: iter(()))


RecheckRounds = Generator[RecheckRound, None, Clustering]


def group_steps(
    items: Sequence[Item],
    sensitivity: int = 50,
    forbidden: set[tuple[int, int]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    recheck: Callable[[int, int], bool] | None | str = "pixels",
    prep: ViewSignatures | None = None,
    exact: bool = False,
    unsure_found: Callable[[list[tuple[int, int]]], None] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> RecheckRounds:
    """:func:`group_items` in rounds: each yield holds the pairs whose re-check verdicts the
    clustering needs next, one per component still waiting (components are independent); the
    caller may compute them in a batch (``recheck.put``) before resuming. Verdicts are per
    pair, so the groups are the same however they were computed. ``prep``: these items'
    signatures when the caller built them (hashes not taken). ``exact``: the flat candidate
    search at any size (group_parts.py's part). ``unsure_found`` gets the uncertain verified
    edges (path order, as ``recheck`` is asked) a batch at a time while candidates are
    matched: a caller with a pool checks them early. ``meanwhile``: the caller's own work,
    done while the candidates are searched in a thread (``candidates.searched_beside``)."""
    recheck = _resolve_recheck(items, recheck)
    keys, paths = keys_paths(items)
    rank = path_rank(paths)
    del paths
    if prep is None or len(prep.first) != len(items) + 1 or len(prep.keys) != len(prep.sigs):
        prep = ViewSignatures(items)
    thr = thresholds_for(sensitivity)
    forbidden = forbidden or set()
    cache: dict[tuple[int, int], Match] = {}

    def ordered(i: int, j: int) -> tuple[int, int]:
        """Pairs in path order, so a pair is matched the same way whatever the input order."""
        return (i, j) if rank[i] < rank[j] else (j, i)

    def match(i: int, j: int) -> Match:
        key = ordered(i, j)
        if key not in cache:
            ka, kb = int(keys[key[0]]), int(keys[key[1]])
            if (min(ka, kb), max(ka, kb)) in forbidden:
                cache[key] = NO_MATCH
            else:
                cache[key] = prep.match(*key)
        return cache[key]

    def joins(a: list[int], b: list[int]) -> bool:
        return thr.joins(match(x, y) for x in a for y in b)

    def sim(i: int, j: int) -> float:
        return match(i, j).score

    edges: dict[tuple[int, int], float] = {}
    confirmed = _Confirmer(ordered, cache, recheck if callable(recheck) else None)
    pairs = in_path_order(searched_beside(prep, exact, meanwhile), rank)
    unsure_found = unsure_found if callable(recheck) else None
    bound = partial(may_match, prep.sigs, prep.first, floors=edge_floors(thr))
    _accept(pairs, match, thr, edges, cache, progress, unsure_found, bound)
    runs, parts = [], []
    for members, comp_edges in _components(len(items), edges):
        members.sort(key=rank.__getitem__)
        parts.append(members)
        budget = partial(confirmed, left=[recheck_budget(len(members))])
        runs.append(_link_clusters(members, comp_edges, joins, rank, budget))
    unsure = [k for k in edges if _unsure(cache[k])]
    per_comp = yield from _in_rounds(runs, confirmed.asked, len(unsure), lookahead(unsure, edges))
    groups = [g for comp_groups in per_comp for g in comp_groups]
    groups = [sorted(g, key=rank.__getitem__) for g in groups if len(g) >= 2]
    groups.sort(key=lambda g: rank[g[0]])
    return Clustering(groups, edges, sim, parts, len(confirmed.unchecked), match)


class _Confirmer:
    """``confirmed(i, j, edges, left)``: may the verified edge (i, j) merge two clusters?
    Checked lazily, only for an edge about to merge (most uncertain edges join files already
    together): a contradicted edge is dropped for good. Yields the pair first, so the caller
    can batch the checks of all components. ``left``: the component's re-checks left
    (:func:`recheck_budget`); once spent, an uncertain edge merges nothing (a missed merge,
    never a false one) and is counted in ``unchecked``."""

    def __init__(
        self,
        ordered: Callable[[int, int], tuple[int, int]],
        cache: dict[tuple[int, int], Match],
        recheck: Callable[[int, int], bool] | None,
    ) -> None:
        self.ordered, self.cache, self.recheck = ordered, cache, recheck
        self.asked = [0]
        self.unchecked: set[tuple[int, int]] = set()

    def __call__(
        self, i: int, j: int, edges: dict[tuple[int, int], float], left: list[int]
    ) -> Confirm:
        key = self.ordered(i, j)
        if not _unsure(self.cache[key]) or self.recheck is None:
            return True
        if left[0] <= 0:
            self.unchecked.add(key)
            return False
        left[0] -= 1
        self.asked[0] += 1
        yield key
        if self.recheck(*key):
            self.cache[key] = NO_MATCH  # a burst frame: no edge, and never in one group
            edges.pop(key, None)
            return False
        return True


def _accept(
    pairs: tuple[np.ndarray, np.ndarray],
    match: Callable[[int, int], Match],
    thr: Thresholds,
    edges: dict[tuple[int, int], float],
    cache: dict[tuple[int, int], Match],
    progress: Callable[[int, int], None] | None,
    unsure_found: Callable[[list[tuple[int, int]]], None] | None = None,
    bound: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> None:
    """Verified edges of the candidates (in path order). The cache keeps edges, not every
    candidate: a join that needs a rejected pair recomputes the same value. Each chunk's
    uncertain edges go to ``unsure_found`` as soon as the chunk is matched. ``bound``: False
    for candidates that no view pair and transform brings to ``candidates.edge_floors``
    (``may_match``): dropped unmatched, as ``match`` finds no edge there."""
    first, second = pairs
    total = len(first)
    start, size = 0, ACCEPT_FIRST
    while start < total:  # a chunk of Python ints, not millions
        fs, ss = first[start : start + size], second[start : start + size]
        if bound is not None:  # those no framing or turn brings to a threshold: no edge
            near = bound(fs, ss)
            fs, ss = fs[near], ss[near]
        found = []
        for i, j in zip(fs.tolist(), ss.tolist(), strict=True):
            m = match(i, j)
            if thr.accepts(m):
                edges[(i, j)] = m.score
                if unsure_found is not None and _unsure(m):
                    found.append((i, j))
            else:
                cache.pop((i, j), None)
        if found:
            unsure_found(found)  # type: ignore[misc]
        start, size = start + size, min(2 * size, ACCEPT_CHUNK)
        if progress:
            progress(min(start, total), total)
    if progress:
        progress(total, total)


def recheck_budget(members: int) -> int:
    """The pixel re-checks a component of ``members`` files may ask (see RECHECKS_PER_MEMBER)."""
    return max(RECHECK_FLOOR, RECHECKS_PER_MEMBER * members)


def _unsure(m: Match) -> bool:
    """A verified edge whose merge waits on a pixel re-check (``confirmed``)."""
    return m.band < RECHECK_BAND or m.low < RECHECK_LOW


def _resolve_recheck(
    items: Sequence[Item], recheck: Callable[[int, int], bool] | None | str
) -> Callable[[int, int], bool] | None:
    """ "pixels" → the default :func:`recheck.pixel_recheck` on the files."""
    if recheck == "pixels":
        from lookalike.engine.recheck import pixel_recheck

        return pixel_recheck(items)
    return recheck if callable(recheck) else None


def _components(
    n: int, edges: dict[tuple[int, int], float]
) -> list[tuple[list[int], dict[tuple[int, int], float]]]:
    """Connected components of the verified edges, each with only its own edges."""
    comps = connected_components(n, edges, min_size=2)
    comp_of = {m: c for c, members in enumerate(comps) for m in members}
    local: list[dict[tuple[int, int], float]] = [{} for _ in comps]
    for (i, j), score in edges.items():
        local[comp_of[i]][(i, j)] = score
    return list(zip(comps, local, strict=True))


def _in_rounds(
    runs: list[Clusters],
    asked: list[int],
    uncertain: int,
    ahead: Callable[[list[tuple[int, int]]], Iterator[tuple[int, int]]] | None = None,
) -> Generator[RecheckRound, None, list]:
    """Runs the components' clusterings side by side: each stops at its next re-check; the
    waiting pairs are yielded together (one round), then every waiting run resumes."""
    results: list = [None] * len(runs)
    waiting: dict[int, tuple[int, int]] = {}

    def advance(c: int) -> None:
        try:
            waiting[c] = next(runs[c])
        except StopIteration as stop:
            results[c] = stop.value
            waiting.pop(c, None)

    for c in range(len(runs)):
        advance(c)
    while waiting:
        pairs = list(waiting.values())
        yield RecheckRound(pairs, asked[0], uncertain, ahead(pairs) if ahead else iter(()))
        for c in list(waiting):
            advance(c)
    return results


def _link_clusters(
    members: list[int],
    edges: dict[tuple[int, int], float],
    joins: Callable[[list[int], list[int]], bool],
    rank: Sequence[int],
    confirmed: Callable[[int, int, dict[tuple[int, int], float]], Confirm],
) -> Clusters:
    """Deterministic agglomeration inside one component, strongest verified edge first."""
    if len(members) > BIG_COMPONENT:
        return (yield from stars(members, edges, joins, rank, confirmed))
    clusters: list[list[int]] = [[m] for m in members]
    # strongest verified edge first; ties by path order
    ordered = sorted(
        ((s, i, j) for (i, j), s in edges.items()),
        key=lambda e: (-e[0], rank[e[1]], rank[e[2]]),
    )
    where = {m: c for c, m in enumerate(members)}
    for _, i, j in ordered:
        ci, cj = where[i], where[j]
        if ci == cj:
            continue
        a, b = clusters[ci], clusters[cj]
        if joins(a, b) and (yield from confirmed(i, j, edges)):
            merged = a + b
            clusters[ci] = merged
            clusters[cj] = []
            for m in b:
                where[m] = ci
    return (yield from _settle(clusters, where, edges, joins, rank, confirmed))


def _settle(
    clusters: list[list[int]],
    where: dict[int, int],
    edges: dict[tuple[int, int], float],
    joins: Callable[[list[int], list[int]], bool],
    rank: Sequence[int],
    confirmed: Callable[[int, int, dict[tuple[int, int], float]], Confirm],
) -> Clusters:
    """Greedy merging cannot undo an early choice: a copy that first paired with a weaker
    look-alike stays out of its photo's group. Move such members, one at a time, to a larger
    cluster they have a verified edge with and that accepts them; repeat until stable. A move
    is a merge too: its edge is re-checked like one (a look-alike left alone by a refuted
    edge once walked into the group through another uncertain edge, issue 13), and only its
    strongest edge into the cluster: once that is refuted the pair is no match, so trying the
    next edge could only put the refuted pair in one group (and cost a re-check per edge)."""
    nbrs: dict[int, set[int]] = {m: set() for m in where}
    for i, j in edges:
        if i in nbrs and j in nbrs:
            nbrs[i].add(j)
            nbrs[j].add(i)
    for _ in range(8):
        moved = False
        for m in sorted(where, key=rank.__getitem__):
            own = where[m]
            targets = sorted(
                {where[n] for n in nbrs[m]} - {own},
                key=lambda c: (-len(clusters[c]), rank[min(clusters[c], key=rank.__getitem__)]),
            )
            for c in targets:
                if (
                    len(clusters[c]) > len(clusters[own]) - 1
                    and joins([m], clusters[c])
                    and (yield from strongest_holds(m, clusters[c], edges, rank, confirmed))
                ):
                    clusters[own].remove(m)
                    clusters[c].append(m)
                    where[m] = c
                    moved = True
                    break
        if not moved:
            break
    return [c for c in clusters if c]
