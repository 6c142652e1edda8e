"""Engine facade: the one door the CLI, the headless runner and the TUI go through.

Scans run in a worker thread (which drives a process pool); events cross back through an
``asyncio.Queue`` so an async client never blocks. ``scan_sync`` is the same stream for plain
synchronous callers (scripts, tests).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lookalike.engine import settings
from lookalike.engine.aio import async_events
from lookalike.engine.catalog import catalog_error
from lookalike.engine.events import Event, Notice, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import Group, ScanStats
from lookalike.engine.scanlock import ScanLock

if TYPE_CHECKING:
    from array import array

    import numpy as np

    from lookalike.engine.catalog_groups import GroupFilter
    from lookalike.engine.member_columns import MemberColumns
    from lookalike.engine.stored_match import SetMatches

LOCK_POLL = 0.2  # seconds between tries while waiting for another scan (--wait)


class Engine:
    """Owns a catalog path; every operation opens what it needs and closes it again."""

    def __init__(self, catalog_path: Path | None = None, thumb_dir: Path | None = None) -> None:
        self.catalog_path = Path(catalog_path) if catalog_path else settings.current().catalog_path
        self.thumb_dir = Path(thumb_dir) if thumb_dir else settings.current().thumbnail_dir

    # -- scanning ---------------------------------------------------------------------------
    def scan_sync(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Run a scan, yielding events; the last one is always ``ScanFinished``.

        One scan per catalog at a time: another one running raises :class:`ScanBusy`, or,
        with ``options.wait``, a :class:`Notice` is yielded and the scan waits for it.
        """
        cancel = cancel or threading.Event()
        lock = ScanLock(self.catalog_path)
        if not lock.try_acquire():
            if not options.wait:
                raise lock.busy()
            yield self._waiting_notice(lock)
            while not lock.try_acquire():
                if cancel.wait(LOCK_POLL):
                    yield ScanFinished(ScanStats(), (), (), cancelled=True)
                    return
        try:
            yield from self._scan_locked(options, cancel)
        finally:
            lock.release()

    async def scan(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> AsyncIterator[Event]:
        """Async twin of :meth:`scan_sync`; set ``cancel`` to stop early (results so far stay).

        A consumer that stops iterating early also stops the scan. The catalog's lock is held
        until the consumer has taken the last event (so ``-o FILE`` is written under it too).
        """
        cancel = cancel or threading.Event()
        lock = ScanLock(self.catalog_path)
        if not lock.try_acquire():
            if not options.wait:
                raise lock.busy()
            yield self._waiting_notice(lock)
            while not lock.try_acquire():
                if cancel.is_set():
                    yield ScanFinished(ScanStats(), (), (), cancelled=True)
                    return
                await asyncio.sleep(LOCK_POLL)
        # The lock goes when both are done: the consumer (results written under it) and the
        # scan thread (a consumer that stops early must not let a second scan write beside
        # the first one's last commits).
        holders, guard = [2], threading.Lock()

        def drop() -> None:
            with guard:
                holders[0] -= 1
                if holders[0] == 0:
                    lock.release()

        def produce() -> Iterator[Event]:
            try:
                yield from self._scan_locked(options, cancel)
            finally:
                drop()

        finished = False
        try:
            async for event in async_events(produce, "lookalike-scan"):
                yield event
            finished = True
        finally:
            if not finished:
                cancel.set()
            drop()

    def _waiting_notice(self, lock: ScanLock) -> Notice:
        pid = lock.holder()
        return Notice(
            f"another scan is running on {self.catalog_path} (pid {pid or 'unknown'}); "
            "waiting for it to finish (Ctrl-C stops waiting)",
            "warning",
        )

    def _scan_locked(self, options: ScanOptions, cancel: threading.Event) -> Iterator[Event]:
        """The scan proper (the caller holds the lock); SQLite errors become CatalogError.
        First the temporary files a killed scan left beside the catalog go (stale_temps.py)."""
        from lookalike.engine import stale_temps
        from lookalike.engine.pipeline import run_scan

        for problem in stale_temps.sweep(self.catalog_path):
            yield Notice(problem, "warning")
        cache = yield from self._cache_lock(options, cancel)
        try:
            if not cancel.is_set():
                yield from run_scan(options, self.catalog_path, self.thumb_dir, cancel)
            else:
                yield ScanFinished(ScanStats(), (), (), cancelled=True)
        except sqlite3.Error as exc:
            raise catalog_error(self.catalog_path, exc) from exc
        finally:
            if cache is not None:
                cache.release()

    def _cache_lock(self, options: ScanOptions, cancel: threading.Event) -> Iterator[Event]:
        """A scan that writes thumbnails records its catalog in the cache and holds the
        cache's sweep lock shared until it ends (thumb_registry.py), waiting while a
        ``cache prune`` holds it; None when the cache cannot be written (its thumbnails fail
        the same way) or the scan makes none."""
        from lookalike.engine import thumb_registry

        if not options.thumbnails:
            return None
        lock = thumb_registry.CacheLock(self.thumb_dir)
        try:
            thumb_registry.register(self.thumb_dir, self.catalog_path)
            if lock.try_acquire(exclusive=False):
                return lock
        except OSError:
            return None
        pid = lock.holder()
        yield Notice(
            f"the thumbnail cache {self.thumb_dir} is being pruned (pid {pid or 'unknown'}); "
            "waiting for it to finish (Ctrl-C stops waiting)",
            "warning",
        )
        while True:
            if cancel.wait(LOCK_POLL):
                return None
            try:
                if lock.try_acquire(exclusive=False):
                    return lock
            except OSError:  # the cache deleted meanwhile: nothing to wait for
                return None

    # -- results ---------------------------------------------------------------------------
    def last_groups(self, show_hidden: bool = False) -> list[Group]:
        """The stored review: the last scan's groups plus those of earlier scans that it did not
        look at (a subfolder scan leaves the rest of the library's groups as they were), less
        the files a content rule hid since (engine/hidden.py) unless ``show_hidden``."""
        from lookalike.engine import hidden
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            groups = cat.load_groups()
            gone = set() if show_hidden else hidden.identities(cat.db)
        return hidden.without_hidden(groups, gone)

    def group_count(self, show_hidden: bool = False) -> int:
        """How many groups the stored review shows unfiltered (as ``len(last_groups())``)."""
        from lookalike.engine import catalog_groups
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return catalog_groups.count(cat.db, show_hidden)

    def group_columns(
        self, flt: GroupFilter | None = None, sort: str = "order", show_hidden: bool = False
    ) -> np.ndarray:
        """The stored review's view without decoding it: the ords of the groups that pass
        ``flt`` (tier, folder substring), in ``sort`` order ("order", "bytes", "size",
        "tier"), as an int32 array; pages of it come from :meth:`group_page`. Why: holding
        every decoded group costs ≈ 2.7 KB per file (docs/scale.md)."""
        from lookalike.engine import catalog_groups
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return catalog_groups.columns(
                cat.db, flt or catalog_groups.GroupFilter(), sort, show_hidden
            )

    def group_ords_with(self, test: Callable[[str], bool]) -> np.ndarray:
        """Ords of the stored groups with a member path for which ``test`` is true (a server
        leaves out the groups with a file outside its roots), from the member columns."""
        from lookalike.engine import catalog_groups
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return catalog_groups.ords_with_path(cat.db, test)

    def group_thumb_keys(self, ords: Sequence[int], show_hidden: bool = False) -> array:
        """The thumbnail keys (uint64) of these stored groups' members, hidden files left out
        as in :meth:`group_page`, read without decoding the groups (engine/group_thumbs.py):
        what a server's thumbnail gate reads over every visible group."""
        from lookalike.engine import group_thumbs
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return group_thumbs.thumb_keys(cat.db, ords, show_hidden)

    def group_page(self, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
        """The stored groups with these ords (from :meth:`group_columns`), decoded, in that
        order, hidden files left out as in :meth:`last_groups`."""
        from lookalike.engine import catalog_groups
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return catalog_groups.page(cat.db, ords, show_hidden)

    def group_facts(self, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
        """The stored groups with these ords from the catalog's member columns, no JSON
        decoded (no capture time, thumbnail, reason or evidence): what a whole-review pass
        (select by criteria, folder counts) reads, several times faster than pages."""
        from lookalike.engine import catalog_groups
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return catalog_groups.facts(cat.db, ords, show_hidden)

    def group_member_columns(self, ords: Sequence[int], show_hidden: bool = False) -> MemberColumns:
        """The members of these stored groups as numpy columns (size, dimensions, format,
        flags, path, keeper), hidden files left out as in :meth:`group_facts`: what select
        by criteria evaluates over every group without building a ``Member`` per file."""
        from lookalike.engine import member_columns
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return member_columns.read(cat.db, ords, show_hidden)

    def group_ords_of_files(self, file_ids: Sequence[int], paths: Sequence[str] = ()) -> list[int]:
        """Ords of the stored groups holding any of these files (catalog file ids, or paths of
        members without one), ascending: where stored review decisions can go back to after a
        rescan without decoding every group (ui/state_store.py)."""
        from lookalike.engine import catalog_groups
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            return catalog_groups.ords_of_files(cat.db, file_ids, paths)

    def group_match_sets(
        self, sets: Sequence[tuple[Collection[str], Collection[str]]], show_hidden: bool = False
    ) -> SetMatches:
        """Stored review decisions' file keys matched to the stored groups in SQL: the groups
        whose files are exactly one decision's, and the other groups holding a decision's
        file (engine/stored_match.py; the review applies its own rules to those)."""
        from lookalike.engine.catalog import Catalog
        from lookalike.engine.stored_match import match_sets

        with Catalog(self.catalog_path) as cat:
            return match_sets(cat.db, sets, show_hidden)

    def rule_hits(self) -> dict[str, str]:
        """path → the content rule that fired on it when rules last ran (scan --rules, rules
        run), for files unchanged since (engine/rule_hits.py)."""
        from lookalike.engine import rule_hits
        from lookalike.engine.catalog import Catalog

        if not self.catalog_path.is_file():
            return {}
        with Catalog(self.catalog_path) as cat:
            return rule_hits.current(cat.db)

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

    def set_favourite(self, path: str, on: bool) -> None:
        """Mark (or unmark) a favourite in the catalog: the plan builder and ``apply`` never act
        on a favourite, whoever asks (CLI, app, a plan file)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            if on:
                cat.add_favourites([path])
            else:
                cat.remove_favourites([path])

    def set_mark(self, path: str, on: bool) -> None:
        """Add or take a file out of the catalog's marked set (engine/marks.py: it follows the
        file when it moves; ``lookalike marks`` and the content rules' ``mark`` share it)."""
        from lookalike.engine import marks
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            (marks.mark if on else marks.unmark)(cat, [path])

    def set_note(self, path: str, text: str) -> None:
        """A note on a file or folder ("" removes it)."""
        from lookalike.engine import marks
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            marks.set_note(cat, path, text)

    def catalog_marks(self) -> dict[str, object]:
        """{"marked": [...], "favourites": [...], "notes": {path: text}, "folder_notes": {...}}
        at the files' current paths."""
        from lookalike.engine import marks
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            got = marks.entries(cat)
            return {
                "marked": [m.path for m in got if m.marked and not m.missing],
                "favourites": [m.path for m in got if m.favourite],
                "notes": {m.path: m.note for m in got if m.note},
                "folder_notes": marks.folder_notes(cat),
            }

    def file_info(self, path: str) -> dict[str, object]:
        """Raw metadata of one file (``lookalike info``); raises InfoError with a sentence."""
        from lookalike.engine.metadata.info import file_info

        return file_info(path)

    def forget_not_duplicate(self, paths: list[str]) -> None:
        """Undo :meth:`mark_not_duplicate` for these files (the reviewer undecided the group)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            cat.remove_not_duplicate(paths)

    def load_decisions(self, keys: Sequence[str] | None = None) -> list[dict]:
        """Review decisions as stored (or those of these keys): keyed by their group's member
        set, not a group number."""
        from lookalike.engine.catalog import Catalog
        from lookalike.engine.decision_keys import move_path_keys

        with Catalog(self.catalog_path) as cat:
            if keys is None:  # the review's open: decisions kept by path moved to ids first
                move_path_keys(cat.db)
            return cat.review_decisions(keys)

    def pair_stored_decisions(self, show_hidden: bool = False) -> tuple[list, list[str]] | None:
        """The stored review decisions paired with a stored group in SQL, none decoded in
        Python, and the keys of the others (engine/stored_match.py ``pair_stored_rows``)."""
        from lookalike.engine.catalog import Catalog
        from lookalike.engine.decision_keys import move_path_keys
        from lookalike.engine.stored_match import pair_stored_rows

        with Catalog(self.catalog_path) as cat:
            move_path_keys(cat.db)  # decisions kept by path (before API 1.1) by file id now
            return pair_stored_rows(cat.db, show_hidden)

    def save_decisions(self, upserts: list[dict], deletes: list[str]) -> None:
        """Store changed review decisions and drop replaced ones (one transaction)."""
        from lookalike.engine.catalog import Catalog

        with Catalog(self.catalog_path) as cat:
            cat.save_review_decisions(upserts, deletes)

    def neighbours(self, path: Path, k: int = 10) -> list[tuple[str, float]]:
        """Files in the catalog most like ``path`` by perceptual hash (best first)."""
        from lookalike.engine.search import neighbours_of_file

        return neighbours_of_file(self.catalog_path, Path(path), k)
