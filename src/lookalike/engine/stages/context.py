"""What every stage of one scan shares: options, catalog, pool, stats, errors, progress."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.events import Event, ItemError, StageDone, StageProgress
from lookalike.engine.features.extract import THUMB_SUFFIX
from lookalike.engine.media.discover import Filters
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import FileError, ScanStats

COMMIT_EVERY = 0.5  # seconds between catalog commits while reading files
FLUSH_OPS = 5000  # queued catalog writes that force a commit sooner
PROGRESS_EVERY = 0.2


class Progress:
    """Rate-limited StageProgress events with rate and ETA."""

    def __init__(self, stage: str, total: int | None) -> None:
        self.stage = stage
        self.total = total
        self.start = time.monotonic()
        self.last = 0.0

    def tick(self, done: int, force: bool = False) -> StageProgress | None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return None
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed if done else None
        eta = None
        if rate and self.total is not None:
            eta = max(self.total - done, 0) / rate
        return StageProgress(self.stage, done, self.total, rate, eta)

    def done(self, count: int) -> StageDone:
        return StageDone(self.stage, time.monotonic() - self.start, count)


class Writes:
    """Catalog writes gathered while files are read, applied in one short transaction.

    The catalog never holds SQLite's write lock across file I/O, a decode or a ``yield``
    (a slow consumer would otherwise keep it for as long as it likes): the app's review
    saves and another process's reads go through between two flushes. Rows for a method
    that takes many (``row``) go in one ``executemany`` a flush, not a statement a file.
    """

    def __init__(self, cat: Catalog) -> None:
        self.cat = cat
        self.ops: list[tuple[Callable[..., object], tuple]] = []
        self.rows: dict[Callable[[list[tuple]], object], list[tuple]] = {}
        self.queued = 0
        self.last = time.monotonic()

    def add(self, fn: Callable[..., object], *args: object) -> None:
        self.ops.append((fn, args))
        self.queued += 1

    def row(self, many: Callable[[list[tuple]], object], *row: object) -> None:
        """Queue one row for ``many`` (a catalog method taking a list of rows)."""
        self.rows.setdefault(many, []).append(row)
        self.queued += 1

    def maybe_flush(self) -> None:
        if self.queued >= FLUSH_OPS or time.monotonic() - self.last > COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.queued:
            return
        with self.cat.transaction():
            for fn, args in self.ops:
                fn(*args)
            for many, rows in self.rows.items():
                many(rows)
        self.ops.clear()
        self.rows.clear()
        self.queued = 0


@dataclass
class ScanContext:
    """One scan's shared state. Errors are reported once per path, as ItemError events
    between two pieces of work (``flush_errors``), and counted in the final stats."""

    options: ScanOptions
    cat: Catalog
    catalog_path: Path
    thumb_dir: Path
    cancel: threading.Event
    pool: Any  # pool.DecodePool, or ray_pool.RayPool for --executor ray
    roots: list[str]
    listed: list[str]
    scan_id: int = 0
    stats: ScanStats = field(default_factory=ScanStats)
    errors: list[FileError] = field(default_factory=list)
    _err_paths: set[str] = field(default_factory=set)
    _pending: list[FileError] = field(default_factory=list)

    def on_error(self, e: FileError) -> None:
        if e.path in self._err_paths:
            return
        self._err_paths.add(e.path)
        self.errors.append(e)
        self._pending.append(e)

    def flush_errors(self) -> Iterator[Event]:
        while self._pending:
            yield ItemError(self._pending.pop(0))

    @property
    def filters(self) -> Filters:
        o = self.options
        return Filters(
            o.include, o.exclude, o.min_size, o.hidden, o.follow_symlinks, o.one_file_system
        )

    def thumb_path(self, row: FileRow) -> str | None:
        """Where the file's thumbnail is cached (keyed by its stat), or None without thumbnails."""
        if not self.options.thumbnails:
            return None
        key = xxhash.xxh64(f"{row.dev}:{row.inode}:{row.size}:{row.mtime_ns}".encode()).hexdigest()
        # os.path.join, not Path's "/": 2 µs instead of 18 a file, once per decoded photo
        return os.path.join(self.thumb_dir, key[:2], key + THUMB_SUFFIX)

    def timed(self, stage: str, start: float) -> None:
        self.stats.seconds_by_stage[stage] = time.monotonic() - start
