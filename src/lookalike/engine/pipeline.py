"""The scan, stage by stage: discover → diff → exact → extract → (content rules) → group → rank.
Photos whose size no other file has are decoded from the catalog stage's sniff on (early.py).

``run_scan`` is a generator of events (see events.py); the Engine facade runs it in a thread.
Each stage lives in its own module under ``stages/`` with one input and one output (its
generator's return value). Only new or changed files are read; exact copies are decoded once
(one representative); features are committed in batches, so an interrupted scan resumes with
what it had.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from lookalike.engine import catalog_health, catalog_schema, group_reuse, heap
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import Event, Notice, ScanFinished, ScanStarted
from lookalike.engine.options import ScanOptions
from lookalike.engine.pool import make_pool
from lookalike.engine.records import Group
from lookalike.engine.rules.keep import under
from lookalike.engine.scan_groups import GroupSpool
from lookalike.engine.stages.content import RuleOutcome, content
from lookalike.engine.stages.context import ScanContext
from lookalike.engine.stages.diff import diff
from lookalike.engine.stages.discover import discover
from lookalike.engine.stages.early import start as start_early
from lookalike.engine.stages.exact import exact
from lookalike.engine.stages.extract import extract
from lookalike.engine.stages.group import group
from lookalike.engine.stages.rank import rank


def _finished(
    ctx: ScanContext,
    t_start: float,
    groups: Sequence[Group],
    rules: RuleOutcome | None = None,
    cancelled: bool = False,
) -> ScanFinished:
    ctx.stats.errors = len(ctx.errors)
    ctx.stats.seconds = time.monotonic() - t_start
    rules = rules or RuleOutcome()
    return ScanFinished(ctx.stats, groups, tuple(ctx.errors), cancelled, rules.hits, rules.error)


def index_features(cat: Catalog) -> Iterator[Event]:
    """A large catalog from before the features index gains it here, once, with a line (at 1 M
    files: 45 MB, ≈ 2 s read warm); a small one gained it when it was opened."""
    rows = catalog_schema.feature_index_missing(cat.db)
    if rows is not None:
        yield Notice(f"indexing the catalog's {rows:,} feature rows (once)")
        catalog_schema.feature_index(cat.db, large=True)


def run_scan(
    options: ScanOptions, catalog_path: Path, thumb_dir: Path, cancel: threading.Event
) -> Iterator[Event]:
    t_start, started = time.monotonic(), time.time()
    roots = [os.path.abspath(r) for r in options.roots]
    listed = [os.path.abspath(p) for p in options.files_from]
    behind = catalog_health.check_behind(catalog_path)  # a large catalog: checked beside the walk
    cat = Catalog(catalog_path) if behind is None else None
    pool = make_pool(options)
    ctx = ScanContext(options, cat, catalog_path, thumb_dir, cancel, pool, roots, listed)  # type: ignore[arg-type]
    try:
        if cat is not None:
            ctx.scan_id = cat.start_scan(roots + listed, options.follow_symlinks, started)
        yield ScanStarted(tuple(roots + listed), str(catalog_path), options.workers)
        if cat is not None:
            yield from index_features(cat)
        with heap.collected_after():  # a row or two a file, none garbage: see heap.py
            found = yield from discover(ctx)
            if cat is None:  # opened (and first written) once its check has passed
                behind.wait()  # type: ignore[union-attr]
                ctx.cat = cat = Catalog(catalog_path)
                ctx.scan_id = cat.start_scan(roots + listed, options.follow_symlinks, started)
                yield from index_features(cat)
            diffed = yield from diff(ctx, found)
            early = start_early(ctx, diffed.media, diffed.early)  # photos of a size of their own
            ex = yield from exact(ctx, diffed.media)
        ml_state = yield from extract(ctx, ex, early)
        if cancel.is_set():
            yield _finished(ctx, t_start, (), cancelled=True)
            return
        rules = yield from content(ctx, ex, diffed)
        with heap.long_lived_frozen():  # group and rank allocate in bulk: see heap.py
            checked = time.monotonic()
            fp = group_reuse.fingerprint(ctx, ex) if group_reuse.eligible(ctx) else None
            reuse = group_reuse.stored(cat, fp) if fp is not None else None
            if reuse is not None:  # nothing changed since the last full grouping
                spool = GroupSpool(catalog_path.parent)
                groups = yield from group_reuse.replay(ctx, reuse, spool, checked)
            else:
                group_reuse.forget(cat)
                rec = group_reuse.Recorder(ctx)
                grouped = yield from rec.watch(group(ctx, ex))
                if cancel.is_set():  # re-checks stopped: groups may hold unchecked look-alikes
                    yield _finished(ctx, t_start, (), rules, cancelled=True)
                    return
                spool = GroupSpool(catalog_path.parent)  # the scan's groups, on disk
                groups = yield from rec.watch(rank(ctx, grouped, ex, diffed, ml_state, spool))
            finished = _finished(ctx, t_start, groups, rules)
            if reuse is not None:  # the stored review is these groups: not written again
                group_reuse.finish(cat, ctx.scan_id, ctx.stats.to_json())
            else:
                cat.finish_scan(ctx.scan_id, ctx.stats.to_json(), groups, seen=diffed.rows)
            if reuse is None and fp is not None and not cancel.is_set():
                rec.remember(cat, fp, groups)
        yield finished
    finally:
        pool.close()
        if ctx.cat is not None:
            ctx.cat.close()


def protected_paths(group: Group, reference: list[Path]) -> set[str]:
    """Members that must never be acted on: the keeper and anything under a reference folder."""
    return {group.keep} | {m.path for m in group.members if under(m.path, reference)}
