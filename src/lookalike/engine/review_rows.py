"""The review's stored decisions as catalog rows (``review_decisions``): read and written.

Why a module of its own: the catalog class keeps files, features and groups; the decisions'
row format (three JSON columns, read in one decode) is what the review's matching reads
(ui/state_store.py, engine/stored_match.py) and belongs in one place.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any


def read(db: sqlite3.Connection, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every stored review decision (or those of these keys), keyed by its group's member
    set (see ui/state.py), in the order stored.

    The three JSON columns of a row are decoded in one ``json.loads`` (SQLite joins them
    into one array when each is valid JSON): with every group decided that is 100,000
    calls instead of 300,000, whose per-call cost was most of the decode (issue 13)."""
    rows = db.execute(
        "SELECT gkey, status, CASE WHEN json_valid(members) AND json_valid(keep) "
        "AND json_valid(undecided) THEN '[' || members || ',' || keep || ',' || undecided "
        "|| ']' END, members, keep, undecided, batch, updated FROM review_decisions"
        + ("" if keys is None else " WHERE gkey IN (SELECT value FROM json_each(?))")
        + " ORDER BY rowid",  # as stored: the review's rule takes the first of twins
        () if keys is None else (json.dumps(list(keys)),),
    ).fetchall()
    loads = json.loads
    out = []
    for key, status, joined, members, keep, undecided, batch, updated in rows:
        if joined is not None:
            members, keep, undecided = loads(joined)
        else:  # a column that is not JSON raises as it always did
            members, keep, undecided = loads(members), loads(keep), loads(undecided)
        out.append(
            {
                "key": key,
                "status": status,
                "members": members,
                "keep": keep,
                "undecided": undecided,
                "batch": batch,
                "updated": updated,
            }
        )
    return out


def write(
    db: sqlite3.Connection, upserts: Iterable[dict[str, Any]], deletes: Iterable[str]
) -> None:
    """Drop replaced decisions and write changed ones (the caller holds the transaction)."""
    db.executemany("DELETE FROM review_decisions WHERE gkey=?", ((k,) for k in deletes))
    db.executemany(
        "INSERT OR REPLACE INTO review_decisions "
        "(gkey, status, members, keep, undecided, batch, updated) VALUES (?,?,?,?,?,?,?)",
        (
            (
                d["key"],
                d["status"],
                json.dumps(sorted(d["members"])),
                json.dumps(sorted(d["keep"])),
                json.dumps(sorted(d.get("undecided", ()))),
                d.get("batch"),
                float(d.get("updated") or time.time()),
            )
            for d in upserts
        ),
    )
