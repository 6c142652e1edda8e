"""Marks, favourites and notes kept in the catalog, attached to a file's identity.

A row is keyed by the path the file had when it was marked, and remembers its identity: (dev,
inode, size, mtime_ns) and a head+tail content hash. When the file is no longer at that path —
it was moved or renamed, a rescan found it elsewhere — the mark follows it: first to a catalog
row with the same (dev, inode, size, mtime_ns), then to a catalog file of the same size whose
content hash matches. A mark whose file cannot be found is kept (a disk may come back) and
listed as missing, never dropped silently. Folder notes are keyed by the folder's path.

Everything here is a few SQLite statements on the catalog's own connection; the content rules
(``mark`` action), the plan builder (favourites are never acted on), the CLI and the app all use
these functions, so they see one marked set.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lookalike.engine.features.exact import headtail_hash

if TYPE_CHECKING:
    from lookalike.engine.catalog import Catalog

SCHEMA = """
CREATE TABLE IF NOT EXISTS file_marks (
    path BLOB PRIMARY KEY,
    dev INTEGER, inode INTEGER, size INTEGER, mtime_ns INTEGER, digest BLOB,
    marked INTEGER NOT NULL DEFAULT 0,
    favourite INTEGER NOT NULL DEFAULT 0,
    note TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS folder_notes (
    path BLOB PRIMARY KEY, note TEXT NOT NULL, updated REAL NOT NULL
);
"""
FLAGS = ("marked", "favourite")
MAX_CANDIDATES = 64  # same-size catalog files hashed while looking for a moved file


class MarkError(ValueError):
    """A mark, note or import cannot be used; the message says what to do."""


@dataclass(frozen=True)
class FileMark:
    """What the catalog keeps for one file. ``missing``: not found where it was nor elsewhere."""

    path: str
    marked: bool
    favourite: bool
    note: str
    missing: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "marked": self.marked,
            "favourite": self.favourite,
            "note": self.note,
            "missing": self.missing,
        }


def _db(cat: Catalog) -> sqlite3.Connection:
    """The catalog's connection with this module's tables (made once per connection)."""
    db = cat.db
    if not getattr(cat, "_marks_ready", False):
        for stmt in SCHEMA.split(";"):  # not executescript: it would COMMIT a caller's tx
            if stmt.strip():
                db.execute(stmt)
        _adopt_old_favourites(db)
        cat._marks_ready = True  # type: ignore[attr-defined]
    return db


def _adopt_old_favourites(db: sqlite3.Connection) -> None:
    """Catalogs before this module kept favourites by path in ``favourites``: move them here."""
    rows = db.execute("SELECT path FROM favourites").fetchall()
    if not rows:
        return
    with _tx(db):
        for (raw,) in rows:
            _upsert(db, os.fsdecode(raw), {"favourite": 1})
        db.execute("DELETE FROM favourites")


class _tx:
    """BEGIN IMMEDIATE … COMMIT on an autocommit connection (nested use is a no-op)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.own = db, False

    def __enter__(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
            self.own = True

    def __exit__(self, et: object, *rest: object) -> None:
        if self.own:
            self.db.execute("ROLLBACK" if et else "COMMIT")


def _identity(path: str) -> tuple[Any, ...]:
    """(dev, inode, size, mtime_ns, digest) of a regular file, or Nones when unreadable."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return (st.st_dev, st.st_ino, None, None, None)
        digest = headtail_hash(path, st.st_size)
    except OSError:
        return (None, None, None, None, None)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest)


def _upsert(db: sqlite3.Connection, path: str, values: dict[str, Any]) -> None:
    path = os.path.abspath(path)
    raw = os.fsencode(path)
    now = time.time()
    if db.execute("SELECT 1 FROM file_marks WHERE path=?", (raw,)).fetchone() is None:
        dev, ino, size, mtime, digest = _identity(path)
        db.execute(
            "INSERT INTO file_marks (path, dev, inode, size, mtime_ns, digest, updated) "
            "VALUES (?,?,?,?,?,?,?)",
            (raw, dev, ino, size, mtime, digest, now),
        )
    sets = ", ".join(f"{k}=?" for k in values)
    db.execute(
        f"UPDATE file_marks SET {sets}, updated=? WHERE path=?", (*values.values(), now, raw)
    )
    db.execute("DELETE FROM file_marks WHERE marked=0 AND favourite=0 AND note=''")


def _set_flag(cat: Catalog, flag: str, paths: Iterable[str], on: bool) -> int:
    db = _db(cat)
    n = 0
    with _tx(db):
        for p in paths:
            _upsert(db, os.fsdecode(p), {flag: int(on)})
            n += 1
    return n


def mark(cat: Catalog, paths: Iterable[str]) -> int:
    """Add files to the marked set; returns how many were given."""
    return _set_flag(cat, "marked", paths, True)


def unmark(cat: Catalog, paths: Iterable[str]) -> int:
    return _set_flag(cat, "marked", paths, False)


def set_favourite(cat: Catalog, paths: Iterable[str], on: bool) -> int:
    """Favourites are never acted on by any file operation (plan builder and apply check)."""
    return _set_flag(cat, "favourite", paths, on)


def clear(cat: Catalog, flag: str) -> int:
    """Empty the marked set (``flag='marked'``) or the favourites; returns how many were set."""
    if flag not in FLAGS:
        raise MarkError(f"unknown flag {flag!r}; use one of {', '.join(FLAGS)}")
    db = _db(cat)
    with _tx(db):
        n = db.execute(f"UPDATE file_marks SET {flag}=0 WHERE {flag}=1").rowcount
        db.execute("DELETE FROM file_marks WHERE marked=0 AND favourite=0 AND note=''")
    return n


def set_note(cat: Catalog, path: str, text: str) -> None:
    """A note on a file, or on a folder when ``path`` is a directory; empty text removes it."""
    path = os.path.abspath(os.fsdecode(path))
    if os.path.isdir(path):
        set_folder_note(cat, path, text)
        return
    db = _db(cat)
    with _tx(db):
        _upsert(db, path, {"note": text.strip()})


def set_folder_note(cat: Catalog, path: str, text: str) -> None:
    """A folder's note (the folder need not exist here: an import from another machine)."""
    db = _db(cat)
    raw = os.fsencode(os.path.abspath(os.fsdecode(path)))
    with _tx(db):
        if text.strip():
            db.execute(
                "INSERT OR REPLACE INTO folder_notes (path, note, updated) VALUES (?,?,?)",
                (raw, text.strip(), time.time()),
            )
        else:
            db.execute("DELETE FROM folder_notes WHERE path=?", (raw,))


def folder_notes(cat: Catalog) -> dict[str, str]:
    return {
        os.fsdecode(p): n
        for p, n in _db(cat).execute("SELECT path, note FROM folder_notes ORDER BY path")
    }


def _follow(cat: Catalog, row: tuple) -> str | None:
    """Where the file of a mark row is now: its path, or where the catalog saw it go."""
    raw, dev, ino, size, mtime, digest = row
    path = os.fsdecode(raw)
    try:  # the common case costs one stat: the file is where it was, untouched
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) == (size, mtime):
            return path
    except OSError:
        pass
    now = _identity(path)
    if now[2] is not None and now[4] == digest:
        return path  # touched, same content
    if size is None:  # never had an identity (a mark on a missing or special file)
        return path if now[0] is not None else None
    for f in cat.files_by_stat(dev, ino, size, mtime):
        if f.path != path and _identity(f.path)[2:4] == (size, mtime):
            return f.path
    rows = cat.db.execute(
        "SELECT path FROM files WHERE size=? LIMIT ?", (size, MAX_CANDIDATES)
    ).fetchall()
    base = os.path.basename(path)
    found = [os.fsdecode(r[0]) for r in rows if os.fsdecode(r[0]) != path]
    found.sort(key=lambda p: os.path.basename(p) != base)
    for cand in found:
        if _identity(cand)[4] == digest:
            return cand
    return path if now[2] is not None else None  # edited in place: the mark stays on the path


def _relocate(db: sqlite3.Connection, old: bytes, new: str) -> None:
    """Move a row to the file's new path (merging into a row already there)."""
    raw = os.fsencode(new)
    got = db.execute(
        "SELECT marked, favourite, note FROM file_marks WHERE path=?", (old,)
    ).fetchone()
    other = db.execute(
        "SELECT marked, favourite, note FROM file_marks WHERE path=?", (raw,)
    ).fetchone()
    db.execute("DELETE FROM file_marks WHERE path=?", (old,))
    marked, fav, note = got
    if other:
        marked, fav = marked or other[0], fav or other[1]
        note = "\n".join(n for n in (other[2], note) if n)
        db.execute("DELETE FROM file_marks WHERE path=?", (raw,))
    dev, ino, size, mtime, digest = _identity(new)
    db.execute(
        "INSERT INTO file_marks VALUES (?,?,?,?,?,?,?,?,?,?)",
        (raw, dev, ino, size, mtime, digest, marked, fav, note, time.time()),
    )


def entries(cat: Catalog, where: str = "1") -> list[FileMark]:
    """Every file mark, each at the file's current path (moves followed and remembered)."""
    db = _db(cat)
    rows = db.execute(
        "SELECT path, dev, inode, size, mtime_ns, digest FROM file_marks "
        f"WHERE {where} ORDER BY path"
    ).fetchall()
    moves: list[tuple[bytes, str]] = []
    missing: set[bytes] = set()
    for row in rows:
        now = _follow(cat, row)
        if now is None:
            missing.add(row[0])
        elif os.fsencode(now) != row[0]:
            moves.append((row[0], now))
    if moves:
        with _tx(db):
            for old, new in moves:
                _relocate(db, old, new)
    out = []
    q = f"SELECT path, marked, favourite, note FROM file_marks WHERE {where} ORDER BY path"
    for raw, marked, fav, note in db.execute(q):
        out.append(FileMark(os.fsdecode(raw), bool(marked), bool(fav), note, raw in missing))
    return out


def marked(cat: Catalog, *, include_missing: bool = False) -> list[str]:
    """The marked set: current paths, sorted (the ``mark`` content rule adds to it)."""
    return [m.path for m in entries(cat, "marked=1") if include_missing or not m.missing]


def favourites(cat: Catalog, *, include_missing: bool = False) -> list[str]:
    return [m.path for m in entries(cat, "favourite=1") if include_missing or not m.missing]


def notes(cat: Catalog) -> dict[str, str]:
    """File notes by current path (folder notes: :func:`folder_notes`)."""
    return {m.path: m.note for m in entries(cat, "note!=''")}
