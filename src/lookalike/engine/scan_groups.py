"""A scan's own groups on disk, not in a list (issue 13: memory bounded by the index).

Why: at a million files a scan finds 100k+ groups, and holding them as ``Group``/``Member``
objects (≈ 2.7 KB a file) made the groups the driver's largest structure once grouping was
done. The rank stage now writes each group into a :class:`GroupSpool` as it yields it, in
the catalog's own layout (engine/catalog_groups.py); ``Catalog.finish_scan`` merges the spool
into the stored review a chunk at a time, and ``ScanFinished.groups`` is a :class:`ScanGroups`
— a read-only ``Sequence[Group]`` over the spool that decodes a chunk at a time.

The spool is an SQLite file beside the catalog, unlinked as soon as it is created: it lives
exactly as long as its one connection (the last ``ScanGroups`` that reads it), and a killed
scan leaves nothing behind.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import overload

from lookalike.engine import catalog_groups
from lookalike.engine.catalog_health import read_only_uri
from lookalike.engine.records import Group
from lookalike.engine.result_store import review_tables

CHUNK = 500  # groups decoded at a time when the whole scan's groups are read
COMMIT_EVERY = 500  # groups per transaction while the scan writes


def spool_tables() -> str:
    """The review's tables (``review_tables``) without ``group_files``' indexes.

    Why: the spool's member rows are only ever read whole, in rowid order (``file_ids``,
    ``copy_rows``), never by ord, path or file id (a group is read from ``groups`` by its
    ord), and each index is one more B-tree insert a member, at a random place for the
    path's: ≈ 10 % of the rank stage's spool writes (100k set: 10 030 groups, 20 060
    members). The catalog and a job's result keep them: they are searched by path."""
    parts = review_tables().split(";\n")
    return ";\n".join(p for p in parts if "ON group_files" not in p)


class _Db:
    """One connection shared by the spool's writer and its readers (one call at a time)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".lookalike-scan-", suffix=".groups.db", dir=folder)
        os.close(fd)
        try:
            self.db = sqlite3.connect(name, check_same_thread=False, uri=True)  # ATTACH by URI
            self.db.execute("PRAGMA journal_mode=OFF")  # a private, throw-away file
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.executescript(spool_tables())
        finally:
            os.unlink(name)  # the open connection keeps it; nothing is left on a crash
        self.lock = threading.Lock()

    def __del__(self) -> None:
        try:
            self.db.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to free
            pass


class GroupSpool:
    """Where the rank stage puts each group as it is built (ord = its place in the scan)."""

    def __init__(self, folder: Path) -> None:
        self._db = _Db(folder)
        self.count = 0

    def add(self, group: Group) -> None:
        with self._db.lock:
            catalog_groups.insert(self._db.db, 0, self.count, group)
            self.count += 1
            if self.count % COMMIT_EVERY == 0:
                self._db.db.commit()

    def copy_stored(self, catalog: Path) -> bool:
        """Fill the empty spool with the ``catalog``'s stored review as it is: its rows, no
        group decoded or encoded again (a rescan that sends the stored groups,
        group_reuse.replay: re-encoding them was ≈ 5 s of a 1 M rescan), copied inside SQLite
        (the catalog attached read-only: 0.6 s at 1 M against 1.5 s through Python rows).
        Only when the stored ords are 0 … n-1, the places the spool gives its groups; False:
        nothing copied (also when the catalog cannot be attached)."""
        with self._db.lock:
            spool = self._db.db
            try:
                spool.execute("ATTACH DATABASE ? AS stored", (read_only_uri(catalog),))
            except sqlite3.Error:
                return False
            try:
                sql = "SELECT COUNT(*), MIN(ord), MAX(ord), COUNT(DISTINCT ord) FROM stored.groups"
                n, low, high, distinct = spool.execute(sql).fetchone()
                if self.count or (n and (low, high, distinct) != (0, n - 1, n)):
                    return False
                spool.execute(
                    "INSERT INTO main.groups (scan_id, ord, tier, bytes_to_free, members, keep, "
                    "data) SELECT 0, ord, tier, bytes_to_free, members, keep, data "
                    "FROM stored.groups ORDER BY ord"
                )
                spool.execute(
                    "INSERT INTO main.group_files SELECT * FROM stored.group_files ORDER BY rowid"
                )
                spool.commit()
            finally:
                spool.execute("DETACH DATABASE stored")
            self.count = n
        return True

    def done(self) -> ScanGroups:
        """The groups written so far, to read (the spool takes no more)."""
        with self._db.lock:
            self._db.db.commit()
        return ScanGroups(self._db, self.count)


class PagedGroups(Sequence[Group]):
    """A read-only run of groups fetched ``chunk`` at a time by ``_read(offset, limit)``:
    ``len`` asks nothing, an index reads one group, a slice or an iteration reads whole
    chunks, so no caller holds them all. Subclasses: :class:`ScanGroups` (the scan's spool)
    and the remote port's ``RemoteGroups`` (a server job's pages)."""

    chunk: int | None = None  # groups a read; None: CHUNK, read when used (tests lower it)

    def __init__(self, count: int) -> None:
        self._count = count

    def _read(self, offset: int, limit: int) -> list[Group]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> Group: ...
    @overload
    def __getitem__(self, i: slice) -> list[Group]: ...
    def __getitem__(self, i: int | slice) -> Group | list[Group]:
        if isinstance(i, slice):
            r = range(self._count)[i]
            if r.step != 1:
                return [self[n] for n in r]
            return list(self._chunks(r.start, r.stop))
        n = i + self._count if i < 0 else i
        got = self._read(n, 1) if 0 <= n < self._count else []
        if not got:
            raise IndexError("group index out of range")
        return got[0]

    def __iter__(self) -> Iterator[Group]:
        return self._chunks(0, self._count)

    def _chunks(self, start: int, stop: int) -> Iterator[Group]:
        step = self.chunk or CHUNK
        for offset in range(start, stop, step):
            yield from self._read(offset, min(step, stop - offset))


class ScanGroups(PagedGroups):
    """One scan's groups in their order, read from its spool a chunk at a time."""

    def __init__(self, db: _Db, count: int) -> None:
        super().__init__(count)
        self._db = db

    def page(self, ords: Sequence[int]) -> list[Group]:
        """The groups at these places (0-based), in the order asked."""
        with self._db.lock:
            return catalog_groups.page(self._db.db, ords, show_hidden=True)

    def _read(self, offset: int, limit: int) -> list[Group]:
        return self.page(range(offset, offset + limit))

    def file_ids(self) -> set[int | None]:
        """The catalog file ids of every member (``finish_scan``'s merge), read from the
        spool's ``group_files`` column, no group decoded."""
        with self._db.lock:
            return {r[0] for r in self._db.db.execute("SELECT file_id FROM group_files")}

    def copy_rows(self, db: sqlite3.Connection, scan_id: int) -> None:
        """Replace ``db``'s stored review by these groups' rows as they are (the caller's
        transaction): when nothing is kept the stored review is exactly the scan's groups in
        the scan's order, so no group is decoded or encoded again."""
        db.execute("DELETE FROM groups")
        db.execute("DELETE FROM group_files")
        with self._db.lock:
            rows = self._db.db.execute(
                "SELECT ord, tier, bytes_to_free, members, keep, data FROM groups ORDER BY ord"
            )
            db.executemany(
                "INSERT INTO groups (scan_id, ord, tier, bytes_to_free, members, keep, data) "
                "VALUES (?,?,?,?,?,?,?)",
                ((scan_id, *r) for r in rows),
            )
            rows = self._db.db.execute("SELECT * FROM group_files ORDER BY rowid")
            db.executemany(catalog_groups.INSERT_FILE, rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ScanGroups({self._count} groups)"


def first_path(g: Group) -> str:
    """The stored review's order: by the first member's path (members are sorted by path)."""
    return g.members[0].path if g.members else ""


def store(db: sqlite3.Connection, scan_id: int, kept: list[Group], groups: Sequence[Group]) -> None:
    """``finish_scan``'s write (in its transaction): the scan's own rows copied as they are
    when no stored group is kept (a full rescan), else the merge below."""
    if not kept and isinstance(groups, ScanGroups):
        groups.copy_rows(db, scan_id)
    else:
        catalog_groups.store(db, scan_id, merged(kept, groups))


def merged(kept: list[Group], groups: Sequence[Group]) -> Iterator[Group]:
    """The review ``finish_scan`` stores: the kept groups and the scan's, by first path (kept
    first on a tie, as one stable sort of kept + new). A ``ScanGroups`` is already in this
    order (the rank stage wrote it so) and is read once, a chunk at a time; any other
    sequence (a caller's list) is sorted."""
    new: Iterable[Group] = (
        groups if isinstance(groups, ScanGroups) else sorted(groups, key=first_path)
    )
    return heapq.merge(sorted(kept, key=first_path), new, key=first_path)


def file_ids(groups: Sequence[Group]) -> set[int | None]:
    """The catalog file ids of every member of a scan's groups (``finish_scan``'s merge)."""
    if isinstance(groups, ScanGroups):
        return groups.file_ids()
    return {m.file_id for g in groups for m in g.members}
