"""The stored review's members as numpy columns, one row per shown member (issue 13).

Why: select by criteria over every group built a ``Member`` per file and a ``Group`` per
group from the catalog's member columns (``catalog_groups.facts``) — ≈ 4× slower than over
groups already in memory (docs/scale.md). What a criterion reads is a few columns (size,
dimensions, format, flags, folder, which file is the keeper, the capture and modification
times), so they are read from ``group_files`` straight into arrays and each criterion is
evaluated over them (ui/select_columns.py). Hidden files are left out exactly as
``hidden.without_hidden`` leaves them out of ``Engine.last_groups()``.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from lookalike.engine.records import Group

IN_CHUNK = 900  # ords per ``IN (…)`` (SQLite's variable bound)
FEW = 5000  # at most this many groups: read by ord; more: one pass over the whole table


@dataclass(frozen=True)
class MemberColumns:
    """Row i is one member of group ``ords[i]``; rows of a group are adjacent, in member
    order, groups in ascending ord. ``path`` holds bytes (as stored), ``flags`` tuples."""

    ords: np.ndarray  # int32
    path: np.ndarray  # object: bytes
    size: np.ndarray  # int64
    width: np.ndarray  # int64
    height: np.ndarray  # int64
    format: np.ndarray  # object: str
    flags: np.ndarray  # object: tuple[str, ...]
    keeper: np.ndarray  # bool: the group's suggested keeper
    mtime_ns: np.ndarray  # int64 (0: unknown)
    taken: np.ndarray  # float64: capture time, epoch seconds (NaN: none)

    def __len__(self) -> int:
        return len(self.ords)

    def when(self) -> np.ndarray:
        """Per row what "oldest"/"newest" compare: :func:`when_seconds` (NaN: neither)."""
        mtime = np.where(self.mtime_ns != 0, self.mtime_ns // 10**9, np.nan)
        return np.where(np.isnan(self.taken), mtime, self.taken)

    @classmethod
    def of_groups(cls, groups: Sequence[Group]) -> MemberColumns:
        """The same columns from groups already built (a port without the catalog)."""
        members = [(g, m) for g in sorted(groups, key=lambda g: g.id) for m in g.members]
        rows = [(g.id - 1, os.fsencode(m.path), m.size, m.width, m.height, m.format, None,
                 m.path == g.keep, m.mtime_ns, capture_seconds(m.capture_time))
                for g, m in members]  # fmt: skip
        cols = _from_rows(rows)
        return replace(cols, flags=_obj([tuple(m.flags or ()) for _, m in members]))


def _obj(values: Sequence) -> np.ndarray:
    """A 1-D object array (tuples stay elements, not a second dimension)."""
    return np.fromiter(values, dtype=object, count=len(values))


def capture_seconds(text: str | None) -> float | None:
    """A capture time as the engine stores it (``YYYY-MM-DDTHH:MM:SS``, or EXIF's
    ``YYYY:MM:DD HH:MM:SS``) in epoch seconds, read as local time (EXIF has no zone) as a
    file's mtime is shown; None when absent or not a time (EXIF's ``0000:00:00 …``)."""
    if not text or len(text) < 19:
        return None
    t = text[:19]
    if t[4:5] == ":":
        t = t.replace(":", "-", 2)
    try:
        return datetime.fromisoformat(t).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def when_seconds(capture_time: str | None, mtime_ns: int | None) -> float | None:
    """What select by "oldest"/"newest" compares for a file: the capture time, else the
    modification time in whole seconds; None when neither is known."""
    t = capture_seconds(capture_time)
    if t is not None:
        return t
    return float(mtime_ns // 10**9) if mtime_ns else None


def _from_rows(rows: list[tuple]) -> MemberColumns:
    """Columns from (ord, path, size, width, height, format, flags, keeper, mtime, taken)
    rows whose flags are scalars (JSON text, or a placeholder): one object matrix, then a
    column at a time."""
    a = np.array(rows, dtype=object).reshape(len(rows), 10)

    def ints(col: np.ndarray) -> np.ndarray:
        if any(v is None for v in col):  # a NULL (an odd row): 0, as a missing dimension
            col = np.array([v or 0 for v in col], dtype=object)
        return col.astype(np.int64)

    return MemberColumns(
        ords=a[:, 0].astype(np.int32),
        path=a[:, 1].copy(),
        size=ints(a[:, 2]),
        width=ints(a[:, 3]),
        height=ints(a[:, 4]),
        format=np.where(a[:, 5] == None, "", a[:, 5]).astype(object),  # noqa: E711
        flags=a[:, 6].copy(),
        keeper=a[:, 7].astype(bool),
        mtime_ns=ints(a[:, 8]),
        taken=np.array([math.nan if v is None else v for v in a[:, 9]], dtype=np.float64),
    )


def _take(c: MemberColumns, keep: np.ndarray) -> MemberColumns:
    return MemberColumns(*(getattr(c, f)[keep] for f in MemberColumns.__dataclass_fields__))


def read(db: sqlite3.Connection, ords: Sequence[int], show_hidden: bool = False) -> MemberColumns:
    """The members of the stored groups with these ords (an ord not stored is skipped),
    hidden files left out and a group left with one file, or without its keeper, dropped."""
    want = np.unique(np.asarray(list(ords), dtype=np.int64))
    sql = (
        "SELECT f.ord, f.path, f.size, f.width, f.height, f.format, f.flags, f.path = g.keep, "
        "f.mtime_ns, f.taken FROM group_files f JOIN groups g ON g.ord = f.ord"
    )
    rows: list[tuple] = []
    if len(want) <= FEW:
        for i in range(0, len(want), IN_CHUNK):
            chunk = want[i : i + IN_CHUNK].tolist()
            q = ",".join("?" * len(chunk))
            rows += db.execute(f"{sql} WHERE f.ord IN ({q})", chunk).fetchall()
        rows.sort(key=lambda r: r[0])  # stable: members stay in their stored order
    else:
        rows = db.execute(f"{sql} ORDER BY f.rowid").fetchall()
    cols = _from_rows(rows)
    seen: dict[str | None, tuple[str, ...]] = {None: (), "": ()}
    for text in set(cols.flags.tolist()):  # flag lists repeat: each text is parsed once
        if text not in seen:
            seen[text] = tuple(json.loads(text))
    cols = replace(cols, flags=_obj([seen[t] for t in cols.flags.tolist()]))
    if len(want) > FEW:
        cols = _take(cols, np.isin(cols.ords, want))
        cols = _take(cols, np.argsort(cols.ords, kind="stable"))
    return cols if show_hidden else _without_hidden(db, cols)


def _without_hidden(db: sqlite3.Connection, c: MemberColumns) -> MemberColumns:
    """``hidden.without_hidden`` over the rows: hidden members out; a group whose keeper is
    hidden, or that is left with one member, out altogether."""
    from lookalike.engine.catalog_groups import _hidden_rows

    gone = {(o, p) for o, p, _, _ in _hidden_rows(db)}
    if not gone or not len(c):
        return c
    hit = np.fromiter(((int(o), p) in gone for o, p in zip(c.ords, c.path, strict=True)),
                      dtype=bool, count=len(c))  # fmt: skip
    uniq, gi = np.unique(c.ords, return_inverse=True)
    left = np.bincount(gi[~hit], minlength=len(uniq))
    keeper_left = np.bincount(gi[~hit & c.keeper], minlength=len(uniq)) > 0
    changed = np.bincount(gi[hit], minlength=len(uniq)) > 0
    drop = changed & (~keeper_left | (left < 2))
    return _take(c, ~hit & ~drop[gi])
