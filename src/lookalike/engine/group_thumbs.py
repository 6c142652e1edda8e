"""The thumbnail keys of stored groups, read without decoding a group (issue 13).

Why: ``lookalike serve`` lets a client fetch a thumbnail only when it belongs to a visible
group, and rebuilds that set of keys by walking every visible group. Decoding each group's
JSON into ``Group``/``Member`` objects to read one field per file cost ≈ 40 s and the
objects' memory at 100k groups; SQLite's JSON functions read the ``thumb`` field of each
member row inside the database, so Python sees one short string a file. Groups that a hidden
file may touch (engine/hidden.py) are decoded as the review pages them, so the keys are the
ones the review shows, hidden files left out.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Sequence
from pathlib import PurePath

import numpy as np

from lookalike.engine import catalog_groups, hidden

# the last 40 characters of a member's thumbnail path hold its file name (a 16-digit key and
# the suffix); the folder part is not read back into Python
_THUMBS = (
    "SELECT g.ord, substr(json_extract(f.value, '$.thumb'), -40) "
    "FROM groups g, json_each(g.data, '$.files') f "
    "WHERE g.ord IN ({q})"  # a file without a thumbnail reads as NULL: key_int skips it
)
_STAMPS = "SELECT ord, size, mtime_ns FROM group_files WHERE ord IN ({q})"


def key_int(thumb: str | None) -> int | None:
    """The key of a thumbnail's path (its name: 16 hex digits, the xxh64 of a file's stat,
    stages/context.py) as the 64-bit number it spells; None for anything else."""
    return key_of_name(PurePath(thumb).stem) if thumb else None


def key_of_name(key: str) -> int | None:
    """A thumbnail key (16 hex digits) as the 64-bit number it spells; None for anything else
    (the server checks the keys clients ask for with it)."""
    if len(key) != 16:
        return None
    try:
        return int(key, 16)
    except ValueError:
        return None


def thumb_keys(db: sqlite3.Connection, ords: Sequence[int], show_hidden: bool = False) -> array:
    """The thumbnail keys of the members of these stored groups (``Group.members[i].thumb``
    as numbers, in no particular order, repeats kept), hidden members left out as
    :func:`catalog_groups.page` leaves them out."""
    stamps: set[tuple[int, int]] = set()
    if not show_hidden:
        stamps = {(size, mtime) for *_, size, mtime in hidden.identities(db)}
    want = [int(o) for o in ords]
    out = array("Q")
    for i in range(0, len(want), 900):
        chunk = want[i : i + 900]
        q = ",".join("?" * len(chunk))
        maybe: set[int] = set()
        if stamps:  # groups with a file whose stored size and time a hidden file has
            rows = db.execute(_STAMPS.format(q=q), chunk)
            maybe = {o for o, size, mtime in rows if (size, mtime) in stamps}
        for o, tail in db.execute(_THUMBS.format(q=q), chunk):
            if o not in maybe and (k := key_int(tail)) is not None:
                out.append(k)
        for g in catalog_groups.page(db, sorted(maybe), show_hidden) if maybe else ():
            out.extend(k for m in g.members if (k := key_int(m.thumb)) is not None)
    return out


def unique(keys: array) -> np.ndarray:
    """The keys as one sorted uint64 array, each once (what a gate searches)."""
    return np.unique(np.frombuffer(keys, dtype=np.uint64))
