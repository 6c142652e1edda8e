"""Stored review decisions whose file keys are paths, moved to the catalog's file ids (once).

Why: before API 1.1 the app over ``lookalike serve`` got groups without file ids and kept
each decision by its files' paths (``path:P:size:mtime``). The stored groups now carry file
ids, every review — over a server or on the server's own box — keys a group's files by id,
and a path key only ever matches a group row with no id: such decisions silently vanished
after an upgrade. This rewrites each path key whose path the catalog knows with an id into
the key the review writes for that file (``id:size:mtime``; size and time kept, so a file
changed since still matches nothing, as before), in one write transaction, and renames the
record by its new member set (ui/state_store ``group_key``). A record already stored under
the new name (the group decided again after the upgrade) is kept when it is the newer one.
Rows without such a key are untouched, so a second run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from lookalike.engine.stored_match import member_key, parse_path_key

# One read finds whether any row could need it (the usual answer: none, one table scan).
_ANY = "SELECT 1 FROM review_decisions WHERE instr(members, '\"path:') > 0 LIMIT 1"
_ROWS = (
    "SELECT gkey, status, members, keep, undecided, batch, updated FROM review_decisions "
    "WHERE instr(members, '\"path:') > 0 ORDER BY rowid"
)
# A path with an id, unless a stored group holds that path without one (its path key matches).
_ID = (
    "SELECT f.id FROM files f WHERE f.path = ? AND NOT EXISTS "
    "(SELECT 1 FROM group_files g WHERE g.path = f.path AND g.file_id IS NULL)"
)


def record_key(keys: Any) -> str:
    """A stored decision's name: its member set (ui/state_store.py ``group_key``)."""
    text = "\n".join(sorted(keys)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _id_key(db: sqlite3.Connection, key: str) -> str | None:
    """The key by file id of this path key, or None (not a path key, or no id for it)."""
    parsed = parse_path_key(key)
    if parsed is None:
        return None
    path, raw, size, mtime = parsed
    row = db.execute(_ID, (raw,)).fetchone()
    return None if row is None else member_key(row[0], path, size, mtime)


def _moved(db: sqlite3.Connection, row: tuple) -> tuple | None:
    """The row with its path keys by id, or None when it has none to move (or is not JSON)."""
    gkey, status, members, keep, undecided, batch, updated = row
    try:
        cols = [json.loads(c) for c in (members, keep, undecided)]
    except (TypeError, ValueError):
        return None
    if not all(isinstance(c, list) and all(isinstance(k, str) for k in c) for c in cols):
        return None  # the rule reads it (and drops what it cannot read), as before
    new = {k: n for k in cols[0] if (n := _id_key(db, k)) is not None}
    if not new:
        return None
    width = len(cols[0])
    cols = [sorted({new.get(k, k) for k in c}) for c in cols]
    if len(cols[0]) != width:
        return None  # a key twice, or two keys of one file: left to the rule, as stored
    dumped = [json.dumps(c) for c in cols]
    return (gkey, record_key(cols[0]), status, *dumped, batch, updated)


def move_path_keys(db: sqlite3.Connection) -> int:
    """Rewrite the stored decisions keyed by path whose files have ids (see the module
    docstring), atomically; the number of records moved. Busy (another writer): none now,
    the next read tries again."""
    if db.execute(_ANY).fetchone() is None:
        return 0
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return 0
    try:
        moved = [m for row in db.execute(_ROWS).fetchall() if (m := _moved(db, row))]
        for old, key, status, members, keep, undecided, batch, updated in moved:
            db.execute("DELETE FROM review_decisions WHERE gkey = ?", (old,))
            there = db.execute(
                "SELECT updated FROM review_decisions WHERE gkey = ?", (key,)
            ).fetchone()
            if there is not None and float(there[0]) >= float(updated):
                continue  # decided again since: the newer decision stays
            db.execute(
                "INSERT OR REPLACE INTO review_decisions "
                "(gkey, status, members, keep, undecided, batch, updated) "
                "VALUES (?,?,?,?,?,?,?)",
                (key, status, members, keep, undecided, batch, updated),
            )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(moved)
