"""The extract's head start: photos no other file can be a byte copy of are decoded while the
exact stage hashes the rest.

Why: a photo whose size no other photo or video of the scan has is an exact cluster of its own
and stands for itself whatever the hashes say, so it can go to the decode pool before the
exact stage has run — on a first scan that is nearly every photo. Until then the workers sat
idle through the exact stage (issue 13: 6.9 s of a 724 s 100k first scan, before the first
decode). Which files are decoded does not change: the exact stage still picks one
representative per cluster among the files that collide, and the extract stage decodes those
(and collects the early results) after it (stages/extract.py).

Only for the local pool with workers of its own and without ``--model``: Ray's pipeline and the
embedder's feeder take their tasks in one go.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from lookalike.engine.catalog import FileRow
from lookalike.engine.features.extract import PERCEPTUAL_VERSION
from lookalike.engine.media.readahead import ReadAhead
from lookalike.engine.media.sniff import IMAGE
from lookalike.engine.stages.context import ScanContext
from lookalike.engine.stages.extract import (
    PERCEPT,
    batch_tasks,
    extract_task,
    ml_options,
    read_ahead,
)


@dataclass
class Early:
    """Photos already sent to the pool, and their results (in completion order)."""

    rows: list[FileRow]  # sorted by path, as sent
    ids: set[int]
    results: Iterator[tuple]
    ahead: ReadAhead | None  # read-ahead over ``rows``, paced by the results
    have: dict[int, int]  # feature versions read when sent (extract.py reads no second time)
    sent: float  # monotonic time the tasks went out


def alone(media: list[FileRow]) -> list[FileRow]:
    """Photos whose size no other file in ``media`` has: each is its own exact cluster."""
    sizes = Counter(r.size for r in media)
    return [r for r in media if r.kind == IMAGE and r.size > 0 and sizes[r.size] == 1]


def start(ctx: ScanContext, media: list[FileRow]) -> Early | None:
    """Send the photos that stand for themselves and need features to the pool now; None
    when there are none or this pool cannot take them early."""
    opts = ctx.options
    if opts.executor != "local" or opts.workers <= 1 or ml_options(ctx) is not None:
        return None
    if not (opts.same or opts.thumbnails) or ctx.cancel.is_set():
        return None
    have = ctx.cat.feature_versions(PERCEPT)
    rows = [r for r in alone(media) if not r.error and have.get(r.id) != PERCEPTUAL_VERSION]
    if not rows:
        return None
    rows.sort(key=lambda r: r.path)
    ahead = read_ahead(ctx, rows)
    if ahead is not None:
        ahead.reached(0)
    results = ctx.pool.submit(extract_task, batch_tasks(ctx, rows), ctx.cancel.is_set)
    return Early(rows, {r.id for r in rows}, results, ahead, have, time.monotonic())
