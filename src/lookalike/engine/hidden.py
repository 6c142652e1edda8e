"""Files a content rule hid (action ``hide``): catalog state, never a file operation.

A hidden file is remembered by its identity — device, inode, size and mtime — so it stays
hidden across rescans and renames, and a file whose content changes (new size or mtime) comes
back on its own: the rule that hid it has not seen the new content. Hidden files are left out
of duplicate groups (scan output and review) unless the scan is asked to show them;
``lookalike rules unhide`` clears them (by path, by rule, or all).

The table lives in the catalog beside favourites; this module only needs its SQLite
connection, so the CLI, the app and the pipeline share one implementation.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from lookalike.engine.records import Group, Member

SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_hidden (
    dev INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    path BLOB NOT NULL,
    rule TEXT NOT NULL,
    score REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (dev, inode, size, mtime_ns)
)
"""

Identity = tuple[int, int, int, int]  # dev, inode, size, mtime_ns


@dataclass(frozen=True)
class HiddenFile:
    path: str  # where it was when it was hidden
    rule: str
    score: float
    created: float
    identity: Identity


def identity_of(path: str) -> Identity:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _ready(db: sqlite3.Connection) -> sqlite3.Connection:
    """Create the table on first use (one statement: never commits a caller's transaction).

    ``IF NOT EXISTS``: the app's first loads and the scan it starts both read it on a new
    catalog; the second to create it failed "table rule_hidden already exists" (the scan)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='rule_hidden'").fetchone() is None:
        db.execute(SCHEMA)
    return db


@contextlib.contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    """One transaction for many rows, whatever the connection's isolation level."""
    _ready(db)
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def hide(db: sqlite3.Connection, items: Iterable[tuple[str, str, float]]) -> int:
    """Hide (path, rule, score) items; a file that vanished is skipped. Returns how many."""
    rows = []
    now = time.time()
    for path, rule, score in items:
        try:
            ident = identity_of(path)
        except OSError:
            continue
        rows.append((*ident, os.fsencode(path), rule, float(score), now))
    with _write(db):
        db.executemany("INSERT OR REPLACE INTO rule_hidden VALUES (?,?,?,?,?,?,?,?)", rows)
    return len(rows)


def unhide(
    db: sqlite3.Connection,
    paths: Sequence[str] = (),
    rule: str | None = None,
    everything: bool = False,
) -> int:
    """Forget hidden files: these paths (by their identity now, or the path they were hidden
    under), every file one rule hid, or all. Returns how many came back."""
    before = db.total_changes
    with _write(db):
        if everything:
            db.execute("DELETE FROM rule_hidden")
        if rule is not None:
            db.execute("DELETE FROM rule_hidden WHERE rule=?", (rule,))
        for p in paths:
            p = os.path.abspath(p)
            db.execute("DELETE FROM rule_hidden WHERE path=?", (os.fsencode(p),))
            try:
                dev, ino, size, mtime = identity_of(p)
            except OSError:
                continue
            db.execute(
                "DELETE FROM rule_hidden WHERE dev=? AND inode=? AND size=? AND mtime_ns=?",
                (dev, ino, size, mtime),
            )
    return db.total_changes - before


def hidden_files(db: sqlite3.Connection) -> list[HiddenFile]:
    rows = _ready(db).execute(
        "SELECT dev, inode, size, mtime_ns, path, rule, score, created FROM rule_hidden "
        "ORDER BY path"
    )
    return [HiddenFile(os.fsdecode(r[4]), r[5], r[6], r[7], (r[0], r[1], r[2], r[3])) for r in rows]


def identities(db: sqlite3.Connection) -> set[Identity]:
    """Every hidden identity (what the scan filters its files by)."""
    return {f.identity for f in hidden_files(db)}


def is_hidden(path: str, hidden: set[Identity]) -> bool:
    try:
        return identity_of(path) in hidden
    except OSError:
        return False


def without_hidden(groups: Sequence[Group], hidden: set[Identity]) -> list[Group]:
    """Stored groups as review should show them: hidden members left out, and a group whose
    keeper is hidden or that is left with one file dropped (the next scan regroups them)."""
    if not hidden:
        return list(groups)
    stamps = {(size, mtime) for _, _, size, mtime in hidden}

    def gone(m: Member) -> bool:  # stat only files whose stored size and mtime could match
        return (m.size, m.mtime_ns) in stamps and is_hidden(m.path, hidden)

    out: list[Group] = []
    for g in groups:
        members = tuple(m for m in g.members if not gone(m))
        if len(members) == len(g.members):
            out.append(g)
        elif len(members) > 1 and any(m.path == g.keep for m in members):
            out.append(replace(g, members=members))
    return out
