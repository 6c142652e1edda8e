"""The extract's head start: photos no other file can be a byte copy of are decoded while the
catalog stage sniffs and the exact stage hashes the rest.

Why: a photo whose size no other file of the scan has is an exact cluster of its own and
stands for itself whatever the hashes say, so it can go to the decode pool as soon as its kind
is known — on a first scan that is nearly every photo. Until then the workers sat idle through
the sniff and the exact stage (issue 13: ≈ 10 + 6.9 s of a 724 s 100k first scan, before the
first decode). Which files are decoded does not change: the exact stage still picks one
representative per cluster among the files that collide, and the extract stage queues those
behind the early photos and collects every result in that order (stages/extract.py).

Only for the local pool with workers of its own and without ``--model``: Ray's pipeline and the
embedder's feeder take their tasks in one go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

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
    task_chunk,
)


@dataclass
class Early:
    """Photos already sent to the pool, a batch at a time, and their results."""

    have: dict[int, int]  # feature versions at the start (extract.py reads no second time)
    hidden: set[tuple[int, int, int, int]]  # identities a content rule hid: not scanned
    rows: list[FileRow] = field(default_factory=list)  # sent, in order
    ids: set[int] = field(default_factory=set)
    batches: list[tuple[Iterator[tuple], ReadAhead | None]] = field(default_factory=list)

    def wanted(self, r: FileRow) -> bool:
        """A photo that needs features and has not been sent (its size is the caller's)."""
        return (
            r.kind == IMAGE
            and r.size > 0
            and not r.error
            and self.have.get(r.id) != PERCEPTUAL_VERSION
            and (r.dev, r.inode, r.size, r.mtime_ns) not in self.hidden
            and r.id not in self.ids
        )

    def send(self, ctx: ScanContext, rows: Iterable[FileRow]) -> None:
        """``rows`` to the pool now (sorted by path); results are read by the extract."""
        batch = sorted(rows, key=lambda r: r.path)
        if not batch or ctx.cancel.is_set():
            return
        ahead = read_ahead(ctx, batch)
        if ahead is not None:
            ahead.reached(0)
        tasks = batch_tasks(ctx, batch)
        results = ctx.pool.submit(extract_task, tasks, ctx.cancel.is_set, task_chunk(ctx, batch))
        self.batches.append((results, ahead))
        self.rows.extend(batch)
        self.ids.update(r.id for r in batch)


def alone(media: Iterable[FileRow]) -> list[FileRow]:
    """Photos whose size no other file in ``media`` has: each is its own exact cluster."""
    media = list(media)
    sizes = Counter(r.size for r in media)
    return [r for r in media if r.kind == IMAGE and r.size > 0 and sizes[r.size] == 1]


def open_early(ctx: ScanContext) -> Early | None:
    """An ``Early`` for this scan, or None when its pool cannot take photos early."""
    from lookalike.engine import hidden

    opts = ctx.options
    if opts.executor != "local" or opts.workers <= 1 or ml_options(ctx) is not None:
        return None
    if not (opts.same or opts.thumbnails) or ctx.cancel.is_set():
        return None
    gone = set() if opts.show_rule_hidden else hidden.identities(ctx.cat.db)
    return Early(ctx.cat.feature_versions(PERCEPT), gone)


def start(ctx: ScanContext, media: list[FileRow], early: Early | None) -> Early | None:
    """After the diff: the photos that stand for themselves and were not sent while the
    catalog stage sniffed (their kind was known already) go out too."""
    if early is None:
        return None
    early.send(ctx, [r for r in alone(media) if early.wanted(r)])
    return early if early.ids else None
