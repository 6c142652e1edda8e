"""The journal: SQLite (WAL, ``synchronous=FULL``) record of every file operation.

Protocol per file: the row is ``planned`` when the batch starts (one transaction for the whole
batch), becomes ``started`` — with its final destination and temp names — in a committed,
fsynced transaction *before* the file is touched, and ``done``/``failed``/``skipped`` after. To
keep one fsync per file, the result of file *i* is committed together with the intent of file
*i+1*; the result is therefore durable before anything else is touched. A crash leaves at most
one ``started`` row per batch, and recovery inspects the disk to settle it.

Paths are stored as BLOBs holding the file system's bytes (``os.fsencode``), so any name a
file system allows — not UTF-8, newlines, 255-byte names — is kept exactly; in memory they
are ``surrogateescape`` strings (``os.fsdecode``). Version-1 journals (TEXT paths) are
migrated in place on open. The journal is checked (``PRAGMA quick_check``) before anything is
written; a damaged one is never written to and never discarded.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.engine import settings
from lookalike.engine.actions.errors import JournalBusy, JournalError
from lookalike.engine.actions.fsutil import safe_text
from lookalike.engine.actions.journal_health import check_journal, damaged, write_failed
from lookalike.engine.actions.journal_schema import (
    BATCHES_TABLE,
    ITEMS_INDEX,
    ITEMS_TABLE,
    PURGING_INDEX,
    SCHEMA_VERSION,
    from_blob,
    migrate_v1,
    to_blob,
)
from lookalike.engine.catalog_health import opening, wal_mode

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# batch states
RUNNING, DONE, INTERRUPTED, UNDOING, UNDONE, PARTLY_UNDONE, REDONE = (
    "running",
    "done",
    "interrupted",
    "undoing",
    "undone",
    "partly-undone",
    "redone",
)
ACTIVE = (RUNNING, UNDOING)
# item states
PLANNED, STARTED, ITEM_DONE, SKIPPED, FAILED, NOT_DONE = (
    "planned",
    "started",
    "done",
    "skipped",
    "failed",
    "not-done",
)
ITEM_UNDOING, ITEM_UNDONE, UNDO_FAILED, PURGED = ("undoing", "undone", "undo-failed", "purged")
PURGING = "purging"  # quarantine empty: about to unlink (settled by recovery after a crash)


@dataclass(frozen=True)
class ItemRecord:
    """One journal row: where a file was, where it went, and what state it is in."""

    batch: str
    seq: int
    group_id: int | None
    op: str
    source: str
    dest: str | None
    keeper: str | None
    size: int
    mtime_ns: int
    hash: str | None
    state: str
    detail: dict = field(default_factory=dict)
    error: str | None = None
    updated: float | None = None

    def to_json(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "seq",
                "group_id",
                "op",
                "source",
                "dest",
                "keeper",
                "size",
                "hash",
                "state",
                "error",
            )
        }


@dataclass(frozen=True)
class BatchSummary:
    """One batch as ``lookalike history`` shows it."""

    id: str
    created: float
    finished: float | None
    action: str
    state: str
    origin: str | None
    redo_of: str | None
    counts: dict[str, int]
    bytes_done: int
    meta: dict
    params: dict

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "created": self.created,
            "finished": self.finished,
            "action": self.action,
            "state": self.state,
            "origin": self.origin,
            "redo_of": self.redo_of,
            "counts": self.counts,
            "bytes": self.bytes_done,
            "meta": self.meta,
        }


def _row_to_item(r: sqlite3.Row) -> ItemRecord:
    return ItemRecord(
        batch=r["batch"],
        seq=r["seq"],
        group_id=r["group_id"],
        op=r["op"],
        source=from_blob(r["source"]) or "",
        dest=from_blob(r["dest"]),
        keeper=from_blob(r["keeper"]),
        size=r["size"] or 0,
        mtime_ns=r["mtime_ns"] or 0,
        hash=r["hash"],
        state=r["state"],
        detail=json.loads(r["detail"] or "{}"),
        error=r["error"],
        updated=r["updated"],
    )


class Journal:
    """Open with ``with Journal(path) as j:``; every write commits (and fsyncs) at once."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else settings.current().journal_path
        self._pending: list[tuple[str, tuple]] = []
        # One thread of this process at a time opens a journal file (catalog_health.opening):
        # two setting up a new journal together got "database is locked".
        with opening(self.path):
            self._open()

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"cannot open the journal {self.path}: {exc}",
                "check the folder's permissions or set LOOKALIKE_DATA_DIR",
            ) from None
        check_journal(self.path)  # read-only, before anything could write to a damaged file
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(
                f"cannot open the journal {self.path}: {exc}",
                "check the folder's permissions or set LOOKALIKE_DATA_DIR",
            ) from None
        try:
            self.db.row_factory = sqlite3.Row
            wal_mode(self.db)
            sync = "OFF" if os.environ.get("LOOKALIKE_NO_FSYNC") == "1" else "FULL"
            self.db.execute(f"PRAGMA synchronous={sync}")
            self._upgrade()
        except JournalError:
            self.db.close()
            raise
        except sqlite3.OperationalError as exc:
            self.db.close()
            if "locked" not in str(exc):
                raise damaged(self.path, str(exc)) from None
            raise JournalBusy(
                f"the journal {self.path} is locked by another lookalike ({exc})",
                "wait for it to finish (or stop it) and try again",
            ) from None
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise damaged(self.path, str(exc)) from None
        except (OSError, sqlite3.Error) as exc:
            self.db.close()
            raise JournalError(
                f"cannot open the journal {self.path}: {exc}",
                "check the folder's permissions or set LOOKALIKE_DATA_DIR",
            ) from None

    def _upgrade(self) -> None:
        """Create the tables, or migrate an older journal, in one transaction."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {self.path} was written by a newer lookalike",
                "upgrade lookalike, or point LOOKALIKE_DATA_DIR elsewhere",
            )
        if version == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another opener may have upgraded meanwhile.
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                self.db.execute("COMMIT")
                return
            had_items = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='items'"
            ).fetchone()
            self.db.execute(BATCHES_TABLE)
            if had_items and version < 2:
                migrate_v1(self.db)
            self.db.execute(ITEMS_TABLE)
            self.db.execute(ITEMS_INDEX)
            self.db.execute(PURGING_INDEX)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.flush()
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (with the results held back by ``defer``). A write SQLite
        refuses — a full disk, a read-only or damaged file — becomes a :class:`JournalError`
        that says what to do; the caller has touched no file for an intent that was not
        written, and the next command settles the batch from the disk."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in self._pending:
                    self.db.execute(sql, args)
                yield self.db
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
                self._pending.clear()
        except sqlite3.DatabaseError as exc:
            raise write_failed(self.path, exc) from None

    def flush(self) -> None:
        """Commit results held back by ``defer=True``."""
        if self._pending:
            with self._tx():
                pass

    # -- batches ---------------------------------------------------------------------------
    def begin_batch(
        self,
        batch_id: str,
        action: str,
        items: Iterable[dict],
        *,
        origin: str = "",
        redo_of: str | None = None,
        params: dict | None = None,
        meta: dict | None = None,
        state: str = RUNNING,
    ) -> None:
        """Write the batch and its items (read a row at a time) as ``planned``, in one transaction."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO batches(id, created, action, state, origin, redo_of, pid, host, "
                "params, meta) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    batch_id,
                    now,
                    to_blob(action),  # may name a folder: kept as bytes like the paths
                    state,
                    safe_text(origin),
                    redo_of,
                    os.getpid(),
                    socket.gethostname(),
                    json.dumps(params or {}),
                    json.dumps(meta or {}),
                ),
            )
            db.executemany(
                "INSERT INTO items(batch, seq, group_id, op, source, dest, keeper, size, "
                "mtime_ns, hash, state, detail, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    (
                        batch_id,
                        i["seq"],
                        i.get("group_id"),
                        i["op"],
                        to_blob(i["source"]),
                        to_blob(i.get("dest")),
                        to_blob(i.get("keeper")),
                        i.get("size", 0),
                        i.get("mtime_ns", 0),
                        i.get("hash"),
                        PLANNED,
                        json.dumps(i.get("detail") or {}),
                        now,
                    )
                    for i in items
                ),
            )

    def set_batch_state(
        self, batch_id: str, state: str, *, finished: bool = False, meta: dict | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE batches SET state=?, pid=? WHERE id=?", (state, os.getpid(), batch_id)
            )
            if finished:
                db.execute("UPDATE batches SET finished=? WHERE id=?", (time.time(), batch_id))
            if meta is not None:
                db.execute("UPDATE batches SET meta=? WHERE id=?", (json.dumps(meta), batch_id))

    def batch_exists(self, batch_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM batches WHERE id=?", (batch_id,)).fetchone() is not None
        )

    def _summaries(self, where: str, args: tuple) -> list[BatchSummary]:
        rows = self.db.execute(f"SELECT * FROM batches {where}", args).fetchall()
        out = []
        for b in rows:
            counts = {
                r[0]: r[1]
                for r in self.db.execute(
                    "SELECT state, count(*) FROM items WHERE batch=? GROUP BY state", (b["id"],)
                )
            }
            done_bytes = self.db.execute(
                "SELECT coalesce(sum(size),0) FROM items WHERE batch=? AND state IN (?,?)",
                (b["id"], ITEM_DONE, PURGED),
            ).fetchone()[0]
            out.append(
                BatchSummary(
                    id=b["id"],
                    created=b["created"],
                    finished=b["finished"],
                    action=from_blob(b["action"]) or "",
                    state=b["state"],
                    origin=b["origin"],
                    redo_of=b["redo_of"],
                    counts=counts,
                    bytes_done=done_bytes,
                    meta=json.loads(b["meta"] or "{}"),
                    params=json.loads(b["params"] or "{}"),
                )
            )
        return out

    def batches(self, limit: int | None = None) -> list[BatchSummary]:
        """Newest first."""
        sql = "ORDER BY created DESC, id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return self._summaries(sql, ())

    def batch(self, batch_id: str) -> BatchSummary | None:
        got = self._summaries("WHERE id=?", (batch_id,))
        return got[0] if got else None

    def batches_in(self, states: tuple[str, ...]) -> list[BatchSummary]:
        marks = ",".join("?" * len(states))
        return self._summaries(f"WHERE state IN ({marks}) ORDER BY created, id", states)

    # -- items -----------------------------------------------------------------------------
    def items(self, batch_id: str, states: tuple[str, ...] | None = None) -> list[ItemRecord]:
        sql, args = "SELECT * FROM items WHERE batch=?", [batch_id]
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        return [_row_to_item(r) for r in self.db.execute(sql + " ORDER BY seq", args)]

    def purging_items(self) -> list[ItemRecord]:
        """Rows a killed ``quarantine empty`` left ``purging`` (through the partial index)."""
        sql = f"SELECT * FROM items WHERE state='{PURGING}' ORDER BY batch, seq"
        return [_row_to_item(r) for r in self.db.execute(sql)]

    def set_item(
        self,
        batch_id: str,
        seq: int,
        state: str,
        *,
        dest: str | None = None,
        detail: dict | None = None,
        error: str | None = None,
        defer: bool = False,
    ) -> None:
        """Record an intent or a result. ``defer=True`` holds a *result* back so it commits with
        the next intent (one fsync per file); :meth:`flush` or the next write commits it."""
        sets, args = ["state=?", "updated=?"], [state, time.time()]
        if dest is not None:
            sets.append("dest=?")
            args.append(to_blob(dest))
        if detail is not None:
            sets.append("detail=?")
            args.append(json.dumps(detail))
        if error is not None:
            sets.append("error=?")
            args.append(safe_text(error))
        stmt = (
            f"UPDATE items SET {', '.join(sets)} WHERE batch=? AND seq=?",
            (*args, batch_id, seq),
        )
        self._pending.append(stmt)
        if not defer:
            self.flush()

    def set_items_state(
        self, batch_id: str, from_state: str, to_state: str, error: str | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE items SET state=?, error=coalesce(?, error), updated=? "
                "WHERE batch=? AND state=?",
                (
                    to_state,
                    None if error is None else safe_text(error),
                    time.time(),
                    batch_id,
                    from_state,
                ),
            )


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


@contextlib.contextmanager
def journal_lock(journal: Path | None = None) -> Iterator[None]:
    """Hold the journal's process lock: only one lookalike acts on files at a time, and a
    ``running`` batch whose lock is free belongs to a process that died."""
    journal = Path(journal) if journal else settings.current().journal_path
    journal.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(lock_path(journal), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusy(
                "another lookalike process is acting on files with this journal",
                "wait for it to finish (or stop it) and try again",
            ) from None
        yield
    finally:
        os.close(fd)


def lock_is_free(journal: Path | None = None) -> bool:
    """True when no live process holds the journal lock (so an active batch is interrupted)."""
    try:
        with journal_lock(journal):
            return True
    except JournalBusy:
        return False
