"""Stage 5, group: features of the representatives → verified groups (grouping.py).

Uncertain hash edges are re-checked on pixels; those verdicts are remembered in the catalog
by both files' size+mtime and the verifier version, so a rescan of unchanged files decodes
nothing. "Not a duplicate" marks keep two photos apart whichever copy stands for them.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lookalike.engine import group_parts, group_reuse
from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.disk_columns import columns_path, columns_threshold, threshold_problem
from lookalike.engine.events import Event, Notice
from lookalike.engine.features.extract import PERCEPTUAL_VERSION, unpack_views
from lookalike.engine.group_parts import Built, Part, Plan
from lookalike.engine.grouping import (
    Clustering,
    RecheckRounds,
    ViewSignatures,
    group_steps,
    thresholds_for,
)
from lookalike.engine.item_table import Item, ItemTable, TableBuilder
from lookalike.engine.recheck import (
    RECHECK_CHUNK,
    RECHECK_VERSION,
    PixelRecheck,
    pixel_recheck,
    recheck_task,
)
from lookalike.engine.recheck_stream import StreamedChecks
from lookalike.engine.stages.context import Progress, ScanContext
from lookalike.engine.stages.exact import Exact
from lookalike.engine.stages.extract import META, PERCEPT


@dataclass
class Grouped:
    """The group stage's output: the clustering over ``items`` and what ranking reads."""

    items: Sequence[Item]  # an ItemTable in a scan
    clustering: Clustering
    metas: Mapping[int, dict]  # representative id → its decoded metadata (read when asked)
    views_of: Callable[[int], list | None]  # representative id → its perceptual views
    forbidden: set[tuple[int, int]]  # "not a duplicate" pairs between representatives
    part: Part | None = None  # only part regrouped: the stored groups kept (group_parts.py)
    remember_parts: Callable[[Catalog, list], None] | None = None  # its record, once stored
    built: Built = field(default_factory=dict)  # stored groups rank may send as they were
    # the grouper's pixel re-check, and the writer of its new verdicts: rank checks each
    # "same" member against its keeper with it (keeper_check.py), then stores what it added
    recheck: PixelRecheck | None = None
    keep_rechecks: Callable[[], None] = lambda: None


def remembered_rechecks(
    cat: Catalog, items: Sequence[Item], reps: Sequence[FileRow]
) -> tuple[PixelRecheck, Callable[[], None]]:
    """The grouper's pixel re-check, remembered in the catalog's pair checks; the second
    callable stores the new verdicts in one short transaction after grouping (and again
    after ranking: the keeper checks' own, keeper_check.py)."""
    from lookalike.engine.features.verify import VERIFY_VERSION

    rows = {r.id: r for r in reps}  # references: no string per representative

    def stamp(a: int, b: int) -> str:
        ra, rb = rows.get(a), rows.get(b)
        sa = f"{ra.size}:{ra.mtime_ns}" if ra is not None else None
        sb = f"{rb.size}:{rb.mtime_ns}" if rb is not None else None
        return f"px{VERIFY_VERSION}.{RECHECK_VERSION}:{sa}:{sb}"

    def remembered(a: int, b: int) -> bool | None:
        hit = cat.pair_checks([(a, b)]).get((a, b))
        return hit[1] if hit is not None and hit[0] == stamp(a, b) else None

    fresh: dict[tuple[int, int], bool] = {}

    def keep() -> None:
        if fresh:
            with cat.transaction():
                cat.put_pair_checks((a, b, stamp(a, b), v, 0.0) for (a, b), v in fresh.items())
            fresh.clear()

    return pixel_recheck(items, remembered, fresh), keep


def forbidden_between_reps(
    pairs: set[tuple[int, int]], rep_of: dict[int, int]
) -> set[tuple[int, int]]:
    """Not-a-duplicate pairs as pairs of the files that stand for their exact clusters.

    Grouping sees one representative per set of byte-identical files, and which file that is
    changes when a copy is added; a mark on any copy must still keep the two photos apart.
    """
    out = set(pairs)
    for a, b in pairs:
        ra, rb = rep_of.get(a, a), rep_of.get(b, b)
        if ra != rb:
            out.add((min(ra, rb), max(ra, rb)))
    return out


log = logging.getLogger(__name__)
LOAD_CHUNK = 4096  # representatives whose packed features are read at once


def _items(cat: Catalog, reps: list[FileRow], uniform: set[int]) -> ItemTable:
    """The representatives that can group (uniform images and those with no stored meta
    never do), in path order, as columns (item_table.py) filled chunk by chunk: neither the
    packed features of the whole collection nor an object per view sit in memory. From
    ``columns_threshold`` items on the DCT column is a memory-mapped file (disk_columns.py)."""
    wanted = sorted((r for r in reps if r.id not in uniform), key=lambda r: r.path)
    file = columns_path(cat.path)
    on_disk = file is not None and len(wanted) >= columns_threshold()
    if file is not None and not on_disk:  # the collection shrank below the line
        file.unlink(missing_ok=True)
    build = TableBuilder(len(wanted), file if on_disk else None)
    try:
        for start in range(0, len(wanted), LOAD_CHUNK):
            part = wanted[start : start + LOAD_CHUNK]
            packed = cat.load_features(PERCEPT, PERCEPTUAL_VERSION, [r.id for r in part])
            have = [r for r in part if r.id in packed]
            build.add_packed_many(
                [r.id for r in have], [r.path for r in have], [packed[r.id] for r in have]
            )
    except BaseException:
        build.discard()
        raise
    return build.table()


def _not_grouping(cat: Catalog, rep_ids: list[int]) -> tuple[set[int], set[int]]:
    """(representatives whose meta says uniform or that have no meta row, those with one).
    SQLite reads the "uniform" flag where it is plainly ``false`` (nearly every photo); only
    the rest are parsed here, a chunk at a time: holding every representative's parsed meta
    was the group stage's largest cost (≈ 3.3 KB each, 360 MB at 100k), and parsing each one
    in Python still cost ≈ 5 % of the stage."""
    uniform, known = set(), set()
    for start in range(0, len(rep_ids), 900):
        part = rep_ids[start : start + 900]
        q = ",".join("?" * len(part))
        rows = cat.db.execute(
            "SELECT file_id, CASE WHEN json_valid(CAST(data AS TEXT)) AND "
            "json_type(CAST(data AS TEXT), '$.uniform') = 'false' THEN NULL ELSE data END "
            f"FROM features WHERE name=? AND version=? AND file_id IN ({q})",
            (META, PERCEPTUAL_VERSION, *part),
        )
        for k, v in rows:
            known.add(k)
            if v is not None and json.loads(v).get("uniform", True):
                uniform.add(k)
    return uniform | (set(rep_ids) - known), known


class MetaLookup(Mapping[int, dict]):
    """Representative id → its decoded meta, read from the catalog when asked (ranking asks
    for the members of groups only), the last ``CACHE`` kept: a read-only mapping over the
    ids that have a meta row."""

    CACHE = 4096

    def __init__(self, cat: Catalog, ids: set[int]) -> None:
        self.cat, self.ids = cat, ids
        self._cache: OrderedDict[int, dict] = OrderedDict()

    def __getitem__(self, rid: int) -> dict:
        if rid in self._cache:
            self._cache.move_to_end(rid)
            return self._cache[rid]
        if rid not in self.ids:
            raise KeyError(rid)
        raw = self.cat.load_features(META, PERCEPTUAL_VERSION, [rid]).get(rid)
        if raw is None:
            raise KeyError(rid)
        meta = json.loads(raw)
        self._cache[rid] = meta
        if len(self._cache) > self.CACHE:
            self._cache.popitem(last=False)
        return meta

    def prefetch(self, rids: Sequence[int]) -> None:
        """Reads the metas of one group's representatives in one query (ranking then asks
        for each one of them, a query each at ≈ 0.1 ms)."""
        want = [r for r in rids if r in self.ids and r not in self._cache][: self.CACHE]
        for rid, raw in self.cat.load_features(META, PERCEPTUAL_VERSION, want).items():
            self._cache[rid] = json.loads(raw)
            if len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)

    def __contains__(self, rid: object) -> bool:
        return rid in self.ids

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.ids))

    def __len__(self) -> int:
        return len(self.ids)


def _views_lookup(cat: Catalog, items: ItemTable, same: bool) -> Callable[[int], list | None]:
    """Views for ranking: the grouper's own for items, read from the catalog for the rest
    (a uniform image in an exact cluster); none without the same-photo tier."""
    order = np.argsort(items.keys, kind="stable")
    sorted_keys = items.keys[order]

    def views_of(rep_id: int) -> list | None:
        if not same:
            return None
        at = int(np.searchsorted(sorted_keys, rep_id))
        if at < len(sorted_keys) and sorted_keys[at] == rep_id:
            return items[int(order[at])].views
        packed = cat.load_features(PERCEPT, PERCEPTUAL_VERSION, [rep_id]).get(rep_id)
        return unpack_views(packed) if packed else None

    return views_of


POOL_MIN_PAIRS = 8  # fewer fresh re-checks in a round: the driver does them (no pool start)
PREFETCH_PER_WORKER = 8  # a round is filled up to this many pairs per worker from its look-ahead
EARLY_POOL_ITEMS = 5000  # a whole regroup of this many items starts the pool before matching
# Uncertain edges sent before a round asks, per item: a wrong guess costs a check (≈ 8 ms of a
# worker), so this bounds the waste at ≈ 0.16 ms a file, 5 % of a decode (100k: 556 edges).
EARLY_SHARE = 0.02


def _pooled(ctx: ScanContext) -> bool:
    """Whether re-checks may be streamed to the scan's pool (a local one of several workers)."""
    return ctx.options.workers > 1 and hasattr(ctx.pool, "apply")


def _start_pool_first(ctx: ScanContext, ex: Exact, rec: dict | None, settings: str) -> None:
    """Starts the pool at the stage's start when the whole collection will be regrouped (no
    usable record: a first scan) and is large enough for ``_stream``'s early start: the
    workers then import while the driver alone reads the features and hashes the views
    (≈ 1.3 s at 100k with the other core idle), not beside the candidate search, whose two
    threads and the stamps already fill both cores. Only where ``_stream`` would start it a
    second later anyway: same workers, same checks."""
    whole = rec is None or rec.get("settings") != settings
    if whole and ctx.options.same and len(ex.reps) >= EARLY_POOL_ITEMS and _pooled(ctx):
        ctx.pool.start()


def _stream(ctx: ScanContext, recheck: PixelRecheck, whole: bool) -> StreamedChecks | None:
    """Re-checks sent to the pool as the grouper finds them (recheck_stream.py), where the
    pool takes a task at a time (a local one of several workers); None: in rounds. A
    ``whole`` regroup of ``EARLY_POOL_ITEMS`` or more starts the pool now: its workers import
    while the driver searches the candidates (≈ 2 s at 100k), not when the first check is
    sent (the extract stage gave its workers back; a first scan of that size has fresh
    uncertain edges, and an unneeded start costs the other cores a little, not the driver)."""
    if not _pooled(ctx):
        return None
    if whole and len(recheck.items) >= EARLY_POOL_ITEMS:
        ctx.pool.start()
    token = time.monotonic_ns()  # this scan's: a worker drops the decodes of an older one
    early = max(POOL_MIN_PAIRS, int(EARLY_SHARE * len(recheck.items)))
    return StreamedChecks(ctx.pool, recheck, token, ctx.options.workers, POOL_MIN_PAIRS, early)


def _recheck_rounds(
    ctx: ScanContext,
    steps: RecheckRounds,
    recheck: PixelRecheck,
    stream: StreamedChecks | None = None,
) -> Generator[Event, None, Clustering]:
    """Drives the grouper round by round; each round's fresh re-checks run in the scan's
    worker pool ("recheck" progress: a bar over the uncertain edges, an upper bound, since
    most of them are never asked). With a started ``stream`` they were sent as found and a
    round waits for its own pairs only. Cancelled: unknown pairs give no evidence, so
    grouping ends at once (and nothing unchecked is remembered)."""
    prog = Progress("recheck", None)
    pooled = 0
    # this scan's (the stream's, when there is one): a worker drops the decodes of an older one
    token = stream.token if stream is not None else time.monotonic_ns()
    try:
        while True:
            rnd = next(steps)
            prog.total = rnd.uncertain
            if ctx.cancel.is_set():
                recheck.gave_up = True
                continue
            if stream is not None and stream.started:
                for done in stream.wait(rnd.pairs, ctx.cancel.is_set):
                    pooled += done
                    if (ev := prog.tick(min(max(rnd.asked, pooled), rnd.uncertain))) is not None:
                        yield ev
                if (ev := prog.tick(min(max(rnd.asked, pooled), rnd.uncertain))) is not None:
                    yield ev
                continue
            need = recheck.needed(rnd.pairs)
            if ctx.options.workers > 1 and need:
                need += _ahead(
                    recheck, rnd.ahead, PREFETCH_PER_WORKER * ctx.options.workers - len(need)
                )
            if len(need) >= POOL_MIN_PAIRS and ctx.options.workers > 1:
                for done in _recheck_in_pool(ctx, recheck, need, token):
                    pooled += done
                    if (ev := prog.tick(min(rnd.asked + pooled, rnd.uncertain))) is not None:
                        yield ev
            elif (ev := prog.tick(rnd.asked)) is not None:
                yield ev
    except StopIteration as stop:
        clustering = stop.value
    if prog.total:
        yield prog.done(prog.total)
    return clustering


def _ahead(recheck: PixelRecheck, ahead: Iterator[tuple[int, int]], room: int) -> list:
    """Up to ``room`` pairs the next rounds will likely ask (``RecheckRound.ahead``) that have
    no verdict yet: a round of a few pairs would leave workers idle, and a big component
    asks one pair per round, so its next pairs are checked alongside (a guess that misses
    costs a verification the grouper never uses, never a different group)."""
    out: list[tuple[int, int]] = []
    for pair in ahead:
        if len(out) >= room:
            break
        out += recheck.needed([pair])
    return out


def _recheck_in_pool(
    ctx: ScanContext, recheck: PixelRecheck, need: list, token: int
) -> Iterator[int]:
    """Verdicts of ``need`` from the pool, in chunks of pairs sorted by path so a file in many
    pairs is decoded once per chunk; yields how many pairs each finished chunk settled."""
    items = recheck.items
    need = sorted(need, key=lambda p: (items[p[0]].path, items[p[1]].path))
    size = max(2, min(RECHECK_CHUNK, -(-len(need) // (4 * max(1, ctx.options.workers)))))
    chunks = [need[k : k + size] for k in range(0, len(need), size)]
    tasks = [
        (token, n, *(items[x].path for pair in chunk for x in pair))
        for n, chunk in enumerate(chunks)
    ]
    ctx.pool.start()  # worth it from POOL_MIN_PAIRS on, even for a task or two
    for n, verdicts in ctx.pool.map(recheck_task, tasks, ctx.cancel.is_set, chunksize=1):
        for (i, j), verdict in zip(chunks[n], verdicts, strict=True):
            recheck.put(i, j, verdict)
        yield len(verdicts)
    if ctx.cancel.is_set():
        recheck.gave_up = True


def _record(ctx: ScanContext) -> tuple[dict | None, str]:
    """The last grouping's record (consumed, ``group_parts.load``) and this scan's settings
    fingerprint; (None, "") where groups are never reused."""
    if not group_reuse.eligible(ctx):
        return None, ""
    return group_parts.load(ctx.cat), group_reuse.settings_fingerprint(ctx)


Planned = tuple[
    Plan | None,
    Built,
    Callable[[dict[int, int]], Callable | None],
    ViewSignatures | None,
    Callable[[], dict[str, str]],
]


def _plan(
    ctx: ScanContext,
    ex: Exact,
    items: ItemTable,
    forbidden: set[tuple[int, int]],
    rec: dict | None,
    settings: str,
) -> Planned:
    """The part to regroup (None: all), the stored groups rank may send as they were, the
    maker of this scan's record writer from the components' labels, the items' signatures
    when they were built here for a full regroup (the grouper reuses them), and the record's
    stamps (computed when first called: the driver does it while the candidate search runs
    in a thread, ``candidates.searched_beside``). ``rec``, ``settings``: the stored record
    of the last grouping (``group_parts.load``) and this scan's settings (``_record``)."""
    if not group_reuse.eligible(ctx):
        return None, {}, lambda labels: None, None, dict
    digest = lambda: group_reuse.stored_digest(ctx.cat)  # noqa: E731
    thr = thresholds_for(ctx.options.sensitivity)
    prep = group_parts.signatures(items)
    plan, stamps, built = group_parts.plan(
        ctx, ex, items, forbidden, rec, settings, digest, thr, prep
    )

    def writer(labels: dict[int, int]) -> Callable:
        return group_parts.recorder(settings, stamps(), labels, forbidden)

    return plan, built, writer, prep if plan is None else None, stamps


def _labels(items: Sequence[Item], clustering: Clustering, plan: Plan | None) -> dict[int, int]:
    """Representative → its component's label (the smallest key in it), the clean ones'
    from the record."""
    keys = group_parts.item_keys(items)
    out = dict(plan.labels) if plan is not None else {}
    for members in clustering.parts:
        label = min(keys[m] for m in members)
        out.update((keys[m], label) for m in members)
    return out


def group(ctx: ScanContext, ex: Exact) -> Iterator[Event]:
    """Representatives' features → ``Grouped``; with a record of the last grouping and a
    few changes, only the components they touch (group_parts.py)."""
    prog = Progress("group", None)
    cat = ctx.cat
    if problem := threshold_problem():
        yield Notice(problem, "warning")
    rec, settings = _record(ctx)
    _start_pool_first(ctx, ex, rec, settings)
    uniform, with_meta = _not_grouping(cat, [r.id for r in ex.reps])
    metas = MetaLookup(cat, with_meta)
    items = _items(cat, ex.reps if ctx.options.same else [], uniform)
    forbidden = forbidden_between_reps(ex.marked, ex.rep_of)
    plan, built, writer, prep, stamps = _plan(ctx, ex, items, forbidden, rec, settings)
    some: Sequence[Item] = items if plan is None else [items[n] for n in plan.redo]

    def on_group_progress(done: int, total: int) -> None:
        prog.total = total

    recheck, keep_rechecks = remembered_rechecks(cat, some, ex.reps)
    stream = _stream(ctx, recheck, plan is None)
    found = stream.found if stream is not None else None
    steps = group_steps(
        some, ctx.options.sensitivity, forbidden, on_group_progress, recheck, prep,
        plan is not None and plan.exact, found, stamps,
    )  # fmt: skip
    del prep
    clustering = yield from _recheck_rounds(ctx, steps, recheck, stream)
    keep_rechecks()
    kept = 0 if plan is None else sum(g.tier == "same" for g in plan.part.kept)
    yield prog.done(len(clustering.groups) + kept)
    ctx.timed("group", prog.start)
    views_of = _views_lookup(cat, items, ctx.options.same)
    part = plan.part if plan is not None else None
    remember = writer(_labels(some, clustering, plan))
    return Grouped(
        some, clustering, metas, views_of, forbidden, part, remember, built, recheck, keep_rechecks
    )
