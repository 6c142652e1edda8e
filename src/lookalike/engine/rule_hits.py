"""Content-rule hits remembered in the catalog, so the app badges them from its first paint.

``scan --rules`` and ``rules run`` write the rule that fires on each file they evaluated, keyed
by the file's identity (device, inode, size, mtime) like hidden files (hidden.py). The app reads
them back at start; a row whose file changed since (another size or mtime, or gone from that
path) is stale and ignored: the rule has not seen the new content.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence

from lookalike.engine.hidden import Identity, _write, identity_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_hits (
    dev INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    path BLOB NOT NULL,
    rule TEXT NOT NULL,
    score REAL NOT NULL,
    action TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (dev, inode, size, mtime_ns)
)
"""
LIMIT = 100_000  # rows the app reads at most (each costs a stat)


def _ready(db: sqlite3.Connection) -> sqlite3.Connection:
    """Create the table (and its path index: every run forgets old rows by path) on first use."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='rule_hits_path'").fetchone() is None:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name='rule_hits'").fetchone() is None:
            db.execute(SCHEMA)
        db.execute("CREATE INDEX IF NOT EXISTS rule_hits_path ON rule_hits (path)")
    return db


def record(
    db: sqlite3.Connection,
    evaluated: Sequence[str],
    hits: Iterable[tuple[str, str, float, str]],
    *,
    replace_all: bool = True,
) -> int:
    """Store (path, rule, score, action) hits. With ``replace_all`` (every rule was tried)
    the files in ``evaluated`` that no rule fires on lose their old row. Returns rows written."""
    now = time.time()
    rows = []
    for path, rule, score, action in hits:
        try:
            ident = identity_of(path)
        except OSError:
            continue
        rows.append((*ident, os.fsencode(path), rule, float(score), action, now))
    with _write(_ready(db)):
        if replace_all:
            db.executemany(
                "DELETE FROM rule_hits WHERE path=?", ((os.fsencode(p),) for p in evaluated)
            )
        db.executemany("INSERT OR REPLACE INTO rule_hits VALUES (?,?,?,?,?,?,?,?,?)", rows)
    return len(rows)


def current(db: sqlite3.Connection, limit: int = LIMIT) -> dict[str, str]:
    """path → rule for every stored hit whose file is still there, unchanged."""
    rows = _ready(db).execute(
        "SELECT dev, inode, size, mtime_ns, path, rule FROM rule_hits ORDER BY created DESC "
        "LIMIT ?",
        (limit,),
    )
    out: dict[str, str] = {}
    for dev, ino, size, mtime, raw, rule in rows.fetchall():
        path = os.fsdecode(raw)
        want: Identity = (dev, ino, size, mtime)
        try:
            if identity_of(path) == want:
                out.setdefault(path, rule)
        except OSError:
            continue
    return out
