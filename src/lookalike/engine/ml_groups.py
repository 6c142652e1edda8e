"""Groups from embeddings: verified ``same`` groups grown from embedding neighbours (every pair
of units geometrically verified, :mod:`cliques`), and the ``similar`` tier of look-alike shots.
The features they read are computed by ml_stage.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from lookalike.engine.events import Event, StageDone
from lookalike.engine.ml_stage import (
    CANDIDATE_K,
    CANDIDATE_THRESHOLD,
    SIMILAR_THRESHOLD,
    MLState,
    _progress,
)
from lookalike.engine.pool import DecodePool
from lookalike.engine.verify_ahead import AheadChecks
from lookalike.engine.verify_chunks import VERIFY_CHUNK, chunks_of, verify_task


class _SameEdges:
    """One run of :func:`edges`: candidates, units, cached and fresh checks, the linking."""

    def __init__(
        self,
        state: MLState,
        paths: dict[int, str],
        grouped: Sequence[Sequence[int]],
        forbidden: set[tuple[int, int]],
        workers: int,
        cancel: threading.Event,
        cat: Any,
        stamps: dict[int, str] | None,
    ) -> None:
        self.state, self.paths, self.workers, self.cancel = state, paths, workers, cancel
        self.cat, self.stamps = cat, stamps
        self.start = time.monotonic()
        self.done = self.checked = self.rounds = 0
        # One pool for the whole stage (started at the first round that needs it, closed by
        # edges()): a pool per round paid the workers' start-up and imports again and lost
        # their prepared-file caches (verify_chunks.Verifier) at every round of cliques.link.
        self.pool = DecodePool(workers)
        self.cands = self._candidates(grouped, forbidden)
        self._units(grouped, forbidden)
        # A stage of many checks on several workers verifies ahead (verify_ahead.py): the pool
        # checks the pairs later rounds will probably ask while a round's last checks run.
        wide = workers > 1 and len(self.cands) > 2 * VERIFY_CHUNK
        self.ahead = AheadChecks(self.pool, paths, workers) if wide else None

    def _candidates(
        self, grouped: Sequence[Sequence[int]], forbidden: set[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """Embedding neighbours worth a geometric check (not already one photo, not refused)."""
        from lookalike.engine.dense_search import neighbours
        from lookalike.engine.vector_index import VectorIndex

        state, paths = self.state, self.paths
        group_of = {fid: n for n, g in enumerate(grouped) for fid in g}
        ids, mat = state.ids, state.matrix
        assert ids is not None and mat is not None
        index = state.index or VectorIndex.build(ids, mat)
        thr = CANDIDATE_THRESHOLD.get(state.family, 0.75)
        cands: set[tuple[int, int]] = set()
        # the decode pool is idle now (this stage's own starts later): all its cores, or the
        # embedder's GPU, search (dense_search.py)
        dev, k = search_device(state), CANDIDATE_K + 1
        hits = neighbours(index, mat, thr, k, base=(ids, mat), device=dev, workers=self.workers)
        for qid, (nids, _scores) in zip(ids.tolist(), hits, strict=True):
            for nid in nids.tolist():
                if nid == qid:
                    continue
                a, b = min(qid, nid), max(qid, nid)
                ga, gb = group_of.get(a), group_of.get(b)
                if ga is not None and ga == gb:
                    continue  # already the same photo
                if (a, b) in forbidden or a not in paths or b not in paths:
                    continue
                cands.add((a, b))
        return cands

    def _units(self, grouped: Sequence[Sequence[int]], forbidden: set[tuple[int, int]]) -> None:
        """A hash group is one unit (its members match each other over the whole frame),
        checked through one representative, its largest picture; other files are their own
        unit. A unit joins a group only when verified against EVERY unit in it."""
        state, paths = self.state, self.paths
        self.unit_of: dict[int, int] = {}
        self.members_of: dict[int, list[int]] = {}
        for g in grouped:
            rep = min(g, key=lambda x: (-state.quality.get(x, {}).get("megapixels", 0.0), paths[x]))
            self.members_of[rep] = list(g)
            for x in g:
                self.unit_of[x] = rep
        self.strength: dict[tuple[int, int], float] = {}
        self.best_pair: dict[tuple[int, int], tuple[int, int]] = {}
        vec = state.vectors
        for a, b in sorted(self.cands):
            key = _pair(self.unit_of.get(a, a), self.unit_of.get(b, b))
            s = float(np.dot(vec[a].astype(np.float32), vec[b]))
            if s > self.strength.get(key, -1.0):
                self.strength[key] = s
                self.best_pair[key] = (a, b)
        self.forbidden_units = {
            _pair(self.unit_of.get(a, a), self.unit_of.get(b, b)) for a, b in forbidden
        }

    def known(self, a: int, b: int) -> bool | None:
        if _pair(a, b) in self.forbidden_units:
            return False  # the user said "not a duplicate"
        return None

    def stamp(self, a: int, b: int) -> str | None:
        from lookalike.engine.features.verify import VERIFY_VERSION

        lo, hi = min(a, b), max(a, b)
        if self.stamps is None or lo not in self.stamps or hi not in self.stamps:
            return None
        return f"{VERIFY_VERSION}:{self.stamps[lo]}:{self.stamps[hi]}"

    def run_checks(
        self, pairs: list[tuple[int, int]], guesses: Callable[[], Iterator] = lambda: iter(())
    ) -> Iterator[Event | dict]:
        """Verify member pairs (catalog first, then the pool; ``guesses``: pairs later rounds
        may ask, checked by idle workers meanwhile); yields progress, then the verdicts as the
        last item."""
        state, cat = self.state, self.cat
        found: dict[tuple[int, int], bool] = {}
        hits = self._remembered(pairs)
        todo = []
        for a, b in pairs:
            hit = hits.get((min(a, b), max(a, b)))
            if hit is not None and hit[0] == self.stamp(a, b):
                self.done += 1
                found[(a, b)] = bool(hit[1])
                if hit[1]:
                    state.same_edges.append((min(a, b), max(a, b), hit[2]))
            else:
                todo.append((a, b))
        self.rounds += bool(todo)
        for res in self._fresh(todo, guesses):
            fresh = []
            for a, b, same, score in res:
                self.done += 1
                self.checked += 1
                found[(a, b)] = bool(same)
                lo, hi = min(a, b), max(a, b)
                if same:
                    state.same_edges.append((lo, hi, score))
                if same is not None and (st := self.stamp(a, b)) is not None:
                    fresh.append((lo, hi, st, bool(same), float(score or 0.0)))
            if cat is not None and fresh:
                cat.put_pair_checks(fresh)
            yield _progress("verify", self.done, max(self.done, len(self.cands)), self.start)
        yield found

    def _remembered(self, pairs: list[tuple[int, int]]) -> dict:
        if self.cat is None or self.stamps is None or not pairs:
            return {}
        return self.cat.pair_checks([(min(a, b), max(a, b)) for a, b in pairs])

    def _unremembered(self, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The guesses worth a check: not answered by the catalog already."""
        hits = self._remembered(pairs)
        return [
            (a, b)
            for a, b in pairs
            if (hit := hits.get((min(a, b), max(a, b)))) is None or hit[0] != self.stamp(a, b)
        ]

    def _fresh(
        self, todo: list[tuple[int, int]], guesses: Callable[[], Iterator]
    ) -> Iterator[list]:
        """Results of fresh checks, in batches: verified ahead on a wide stage, else mapped."""
        if not todo:
            return
        if self.ahead is not None:
            yield from self.ahead.fetch(todo, guesses, self._unremembered, self.cancel.is_set)
            return
        chunks = chunks_of(todo, self.paths)
        yield from self.pool.map(verify_task, chunks, self.cancel.is_set, chunksize=1)

    def file_pairs(self, units: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        """Unit pairs → the member pair each is checked through next (see :meth:`tries`):
        the first, or the second once the first was checked ahead and failed."""
        for u, v in units:
            tries = self.tries([(u, v)])[(u, v)]
            ahead = self.ahead
            if ahead is not None and len(tries) > 1 and ahead.peek(tries[0]) is False:
                yield tries[1]
            else:
                yield tries[0]

    def peek(self, u: int, v: int) -> bool | None:
        """A unit pair's verdict from checks made ahead (cliques.Need.ahead's guessing)."""
        if self.ahead is None:
            return None
        seen = [self.ahead.peek(t) for t in self.tries([(u, v)])[(u, v)]]
        return True if True in seen else (False if all(x is False for x in seen) else None)

    def tries(self, need: list[tuple[int, int]]) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """Two units are one photo when one pair of their members verifies: first the pair the
        embeddings found closest, then the two representatives."""
        paths = self.paths

        def by_name(a: int, b: int) -> tuple[int, int]:
            return (a, b) if paths[a] <= paths[b] else (b, a)

        return {
            (u, v): list(
                dict.fromkeys(
                    [by_name(*p) for p in [self.best_pair.get(_pair(u, v))] if p] + [(u, v)]
                )
            )
            for u, v in need
        }

    def verdicts(self, need: list[tuple[int, int]]) -> Iterator[Event | dict]:
        """Progress events, then {unit pair: verified} as the last item. A cliques.Need also
        guesses the unit pairs later rounds will ask: idle workers check those meanwhile."""
        tries = self.tries(need)
        verdict: dict[tuple[int, int], bool] = {}
        if self.ahead is not None:
            self.ahead.recent.clear()  # the verdicts before this round are cliques' own now
        ahead = getattr(need, "ahead", None)

        def guesses() -> Iterator[tuple[int, int]]:
            return self.file_pairs(ahead(self.peek)) if ahead is not None else iter(())

        for attempt in range(2):
            todo = [t[attempt] for k, t in tries.items() if len(t) > attempt and not verdict.get(k)]
            if not todo:
                break
            found: dict = {}
            for ev in self.run_checks(sorted(set(todo)), guesses):
                if isinstance(ev, dict):
                    found = ev
                else:
                    yield ev
            for k, t in tries.items():
                if len(t) > attempt and found.get(t[attempt]):
                    verdict[k] = True
        yield {k: verdict.get(k, False) for k in tries}

    def groups_from(self, linked_units: list[list[int]]) -> list[list[int]]:
        linked = {x for g in linked_units for x in g}
        return [sorted(x for u in g for x in self.members_of.get(u, [u])) for g in linked_units] + [
            sorted(g) for rep, g in self.members_of.items() if rep not in linked
        ]


def search_device(state: MLState) -> str | None:
    """Where the embedding searches may run: the embedder's device, or the one asked for
    (``--device``; a rescan whose vectors all came from the catalog loads no embedder)."""
    return state.device or state.opts.device


def _pair(u: int, v: int) -> tuple[int, int]:
    return (min(u, v), max(u, v))


def edges(
    state: MLState,
    paths: dict[int, str],
    grouped: Sequence[Sequence[int]],
    forbidden: set[tuple[int, int]],
    workers: int,
    cancel: threading.Event,
    cat: Any = None,
    stamps: dict[int, str] | None = None,
) -> Iterator[Event]:
    """Embedding neighbours → geometric checks → ``same`` groups that never chain (into state).

    Units: each hash group of the pipeline (``grouped``: its members match each other over the
    whole frame) is one unit, checked through its largest picture; every other file is a
    unit of its own. Units merge only when verified against EVERY unit of the other side
    (:mod:`cliques`), so a group is never a union of edges: a left and a right crop that share
    no pixel never meet through the whole photo or a middle crop. With ``cat`` and ``stamps``
    (file id → "size:mtime_ns"), each check is remembered in the catalog, so a rescan
    re-verifies only pairs whose files changed.
    """
    state.search_workers = workers  # idle while the similar tier searches, too
    if not state.vectors:
        return
    run = _SameEdges(state, paths, grouped, forbidden, workers, cancel, cat, stamps)
    try:
        yield from _link(run, paths, cancel)
    finally:
        run.pool.close()  # also on cancel, an error, or a consumer that stops early
    state.same_edges.sort()
    yield StageDone("verify", time.monotonic() - run.start, run.checked)


def _link(run: _SameEdges, paths: dict[int, str], cancel: threading.Event) -> Iterator[Event]:
    """cliques.link's rounds, each answered by the verdicts of its pairs (into run.state)."""
    from lookalike.engine import cliques

    names = {fid: paths[fid] for fid in paths}
    checks = cliques.link(
        [], ((a, b, s) for (a, b), s in run.strength.items()), names, run.known, cliques.MAX_GROUP
    )
    try:
        need = next(checks)
        while True:
            if cancel.is_set():
                checks.close()
                break
            answer: dict = {}
            for ev in run.verdicts(need):
                if isinstance(ev, dict):
                    answer = ev
                else:
                    yield ev
            need = checks.send(answer)
    except StopIteration as stop:
        run.state.same_groups = run.groups_from(stop.value)


def merge(
    state: MLState, raw_groups: list[tuple[str, list[int]]], rep_ids: Sequence[int]
) -> list[tuple[str, list[int]]]:
    """The ``same`` groups built by :func:`edges` (hash groups grown by verified neighbours,
    every pair verified); exact-only groups that joined none; then the ``similar`` tier."""
    exact_only = {g[0] for t, g in raw_groups if t == "exact"}
    same = state.same_groups
    if same is None:  # no embeddings (or cancelled): the hash groups stand as they are
        same = [ids for tier, ids in raw_groups if tier == "same"]
    out: list[tuple[str, list[int]]] = []
    in_same: set[int] = set()
    for members in same:
        if len(members) > 1:
            out.append(("same", sorted(members)))
            in_same.update(members)
    out += [("exact", [r]) for r in sorted(exact_only) if r not in in_same]
    out += similar_groups(state, rep_ids, out)
    return out


def _threshold(state: MLState) -> float:
    if state.opts.similarity is not None:
        return state.opts.similarity
    if state.opts.by == "colour":
        from lookalike.engine.features.colour import DEFAULT_THRESHOLD

        return DEFAULT_THRESHOLD
    return SIMILAR_THRESHOLD.get(state.family, 0.9)


def similar_groups(
    state: MLState, rep_ids: Sequence[int], same_groups: list[tuple[str, list[int]]]
) -> list[tuple[str, list[int]]]:
    """Look-alike shots: one representative per same/exact group plus the loose files,
    grouped by complete link (never chained). ``--by colour`` uses colour histograms;
    ``--by faces`` keeps only pictures with as many (≥ 1) faces."""
    opts = state.opts
    if not (opts.similar or opts.by):
        return []
    from lookalike.engine.disk_vectors import TakeRows
    from lookalike.engine.vector_index import group_similar

    source = state.colours if opts.by == "colour" or not state.vectors else state.vectors
    if not source:
        return []
    collapsed: dict[int, int] = {}  # representative → itself; members of a group → rep
    for _tier, ids in same_groups:
        # the largest picture stands for its group (usually the original)
        q = state.quality
        rep = min(
            ids,
            key=lambda x: (
                -q.get(x, {}).get("megapixels", 0.0),
                -q.get(x, {}).get("score", 0.0),
                x,
            ),
        )
        for x in ids:
            collapsed[x] = rep
    reps = sorted({collapsed.get(r, r) for r in rep_ids if r in source})
    if len(reps) < 2:
        return []
    partitions: list[list[int]] = [reps]
    if opts.by == "faces":
        by_count: dict[int, list[int]] = {}
        for r in reps:
            n = state.faces.get(r, 0)
            if n > 0:
                by_count.setdefault(n, []).append(r)
        partitions = list(by_count.values())
    out: list[tuple[str, list[int]]] = []
    thr = _threshold(state)
    where = {"device": search_device(state), "workers": state.search_workers}
    for part in partitions:
        if len(part) < 2:
            continue
        if source is state.vectors and state.index is not None:
            # rows read where they are compared (a memmap stays on disk), and the scan's one
            # index searched: no float32 stack of every vector, no second index
            mat = TakeRows(source.matrix, source.rows_of(part))
            got = group_similar(
                part, mat, thr, index=state.index, base=(state.ids, state.matrix), **where
            )
        else:
            vecs = np.stack([source[r] for r in part]).astype(np.float32)
            got = group_similar(part, vecs, thr, **where)
        out.extend(("similar", g) for g in got)
    return out


def scores_for(state: MLState, keep: int, others: Sequence[int]) -> dict[int, float]:
    """Cosine to the keeper for members of a similar group (the group's ``score`` column)."""
    src = state.colours if state.opts.by == "colour" or not state.vectors else state.vectors
    if keep not in src:
        return {}
    k = src[keep]
    k = k.astype(np.float32)
    return {o: float(np.clip(np.dot(k, src[o]), 0.0, 1.0)) for o in others if o in src}
