"""Stage 5, group: features of the representatives → verified groups (grouping.py).

Uncertain hash edges are re-checked on pixels; those verdicts are remembered in the catalog
by both files' size+mtime and the verifier version, so a rescan of unchanged files decodes
nothing. "Not a duplicate" marks keep two photos apart whichever copy stands for them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.events import Event
from lookalike.engine.features.extract import PERCEPTUAL_VERSION, unpack_views
from lookalike.engine.grouping import Clustering, Item, RecheckRounds, group_steps
from lookalike.engine.recheck import RECHECK_CHUNK, PixelRecheck, pixel_recheck, recheck_task
from lookalike.engine.stages.context import Progress, ScanContext
from lookalike.engine.stages.exact import Exact
from lookalike.engine.stages.extract import META, PERCEPT


@dataclass
class Grouped:
    """The group stage's output: the clustering over ``items`` and what ranking reads."""

    items: list[Item]
    clustering: Clustering
    metas: dict[int, dict]  # representative id → its decoded metadata
    views_of: Callable[[int], list | None]  # representative id → its perceptual views
    forbidden: set[tuple[int, int]]  # "not a duplicate" pairs between representatives


def remembered_rechecks(
    cat: Catalog, items: Sequence[Item], reps: Sequence[FileRow]
) -> tuple[PixelRecheck, Callable[[], None]]:
    """The grouper's pixel re-check, remembered in the catalog's pair checks; the second
    callable stores the new verdicts in one short transaction after grouping."""
    from lookalike.engine.features.verify import VERIFY_VERSION

    stamps = {r.id: f"{r.size}:{r.mtime_ns}" for r in reps}

    def stamp(a: int, b: int) -> str:
        return f"px{VERIFY_VERSION}:{stamps.get(a)}:{stamps.get(b)}"

    def remembered(a: int, b: int) -> bool | None:
        hit = cat.pair_checks([(a, b)]).get((a, b))
        return hit[1] if hit is not None and hit[0] == stamp(a, b) else None

    fresh: dict[tuple[int, int], bool] = {}

    def keep() -> None:
        if fresh:
            with cat.transaction():
                cat.put_pair_checks((a, b, stamp(a, b), v, 0.0) for (a, b), v in fresh.items())

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


LOAD_CHUNK = 4096  # representatives whose packed features are read at once


def _items(cat: Catalog, reps: list[FileRow], metas: dict[int, dict]) -> list[Item]:
    """The representatives that can group (uniform images never do), in path order, unpacked
    chunk by chunk: the packed features of the whole collection never sit in memory at once."""
    wanted = [
        r
        for r in sorted(reps, key=lambda r: r.path)
        if not metas.get(r.id, {}).get("uniform", True)
    ]
    items: list[Item] = []
    for start in range(0, len(wanted), LOAD_CHUNK):
        part = wanted[start : start + LOAD_CHUNK]
        packed = cat.load_features(PERCEPT, PERCEPTUAL_VERSION, [r.id for r in part])
        items.extend(Item(r.id, r.path, unpack_views(packed[r.id])) for r in part if r.id in packed)
    return items


def _views_lookup(cat: Catalog, items: list[Item], same: bool) -> Callable[[int], list | None]:
    """Views for ranking: the grouper's own for items, read from the catalog for the rest
    (a uniform image in an exact cluster); none without the same-photo tier."""
    by_key = {it.key: it for it in items}

    def views_of(rep_id: int) -> list | None:
        if not same:
            return None
        if (it := by_key.get(rep_id)) is not None:
            return it.views
        packed = cat.load_features(PERCEPT, PERCEPTUAL_VERSION, [rep_id]).get(rep_id)
        return unpack_views(packed) if packed else None

    return views_of


POOL_MIN_PAIRS = 8  # fewer fresh re-checks in a round: the driver does them (no pool start)
PREFETCH_PER_WORKER = 8  # a round is filled up to this many pairs per worker from its look-ahead


def _recheck_rounds(
    ctx: ScanContext, steps: RecheckRounds, recheck: PixelRecheck
) -> Generator[Event, None, Clustering]:
    """Drives the grouper round by round; each round's fresh re-checks run in the scan's
    worker pool ("recheck" progress: a bar over the uncertain edges, an upper bound, since
    most of them are never asked). Cancelled: unknown pairs give no evidence, so grouping
    ends at once (and nothing unchecked is remembered)."""
    prog = Progress("recheck", None)
    pooled = 0
    token = time.monotonic_ns()  # this scan's: a worker drops the decodes of an older one
    try:
        while True:
            rnd = next(steps)
            prog.total = rnd.uncertain
            if ctx.cancel.is_set():
                recheck.gave_up = True
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


def group(ctx: ScanContext, ex: Exact) -> Iterator[Event]:
    """Representatives' features → ``Grouped``."""
    prog = Progress("group", None)
    cat = ctx.cat
    rep_ids = [r.id for r in ex.reps]
    metas = {
        k: json.loads(v) for k, v in cat.load_features(META, PERCEPTUAL_VERSION, rep_ids).items()
    }
    items = _items(cat, ex.reps, metas) if ctx.options.same else []
    forbidden = forbidden_between_reps(ex.marked, ex.rep_of)

    def on_group_progress(done: int, total: int) -> None:
        prog.total = total

    recheck, keep_rechecks = remembered_rechecks(cat, items, ex.reps)
    steps = group_steps(items, ctx.options.sensitivity, forbidden, on_group_progress, recheck)
    clustering = yield from _recheck_rounds(ctx, steps, recheck)
    keep_rechecks()
    yield prog.done(len(clustering.groups))
    ctx.timed("group", prog.start)
    views_of = _views_lookup(cat, items, ctx.options.same)
    return Grouped(items, clustering, metas, views_of, forbidden)
