"""Engine facade: the one door the CLI, the headless runner and the TUI go through.

Scans run in a worker thread (which drives a process pool); events cross back through an
``asyncio.Queue`` so an async client never blocks. ``scan_sync`` is the same stream for plain
synchronous callers (scripts, tests).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from lookalike import config
from lookalike.engine.aio import async_events
from lookalike.engine.events import Event
from lookalike.engine.model import Group
from lookalike.engine.options import ScanOptions


class Engine:
    """Owns a catalog path; every operation opens what it needs and closes it again."""

    def __init__(self, catalog_path: Path | None = None, thumb_dir: Path | None = None) -> None:
        self.catalog_path = Path(catalog_path) if catalog_path else config.default_catalog_path()
        self.thumb_dir = Path(thumb_dir) if thumb_dir else config.thumbnail_dir()

    # -- scanning ---------------------------------------------------------------------------
    def scan_sync(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Run a scan, yielding events; the last one is always ``ScanFinished``."""
        from lookalike.engine.pipeline import run_scan

        yield from run_scan(options, self.catalog_path, self.thumb_dir, cancel or threading.Event())

    async def scan(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> AsyncIterator[Event]:
        """Async twin of :meth:`scan_sync`; set ``cancel`` to stop early (results so far stay).

        A consumer that stops iterating early also stops the scan.
        """
        cancel = cancel or threading.Event()
        finished = False
        try:
            async for event in async_events(
                lambda: self.scan_sync(options, cancel), "lookalike-scan"
            ):
                yield event
            finished = True
        finally:
            if not finished:
                cancel.set()

    # -- results ---------------------------------------------------------------------------
    def last_groups(self) -> list[Group]:
        """The stored review: the last scan's groups plus those of earlier scans that it did not
        look at (a subfolder scan leaves the rest of the library's groups as they were)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return cat.load_groups()

    # -- review state and decisions (persist in the catalog across runs) -------------------
    def load_state(self, key: str, default: object = None) -> object:
        """A JSON value the UI stored under ``key`` (review position, marks, favourites …)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return cat.get_state(key, default)

    def save_state(self, key: str, value: object) -> None:
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            cat.set_state(key, value)

    def mark_not_duplicate(self, paths: list[str]) -> None:
        """Remember that these files are not duplicates of each other; later scans honour it."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            cat.add_not_duplicate(paths)

    def forget_not_duplicate(self, paths: list[str]) -> None:
        """Undo :meth:`mark_not_duplicate` for these files (the reviewer undecided the group)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            cat.remove_not_duplicate(paths)

    def load_decisions(self) -> list[dict]:
        """Review decisions as stored: keyed by their group's member set, not a group number."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return cat.review_decisions()

    def save_decisions(self, upserts: list[dict], deletes: list[str]) -> None:
        """Store changed review decisions and drop replaced ones (one transaction)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            cat.save_review_decisions(upserts, deletes)

    def neighbours(self, path: Path, k: int = 10) -> list[tuple[str, float]]:
        """Files in the catalog most like ``path`` by perceptual hash (best first)."""
        from lookalike.engine.search import neighbours_of_file

        return neighbours_of_file(self.catalog_path, Path(path), k)
