"""Select by criteria over member columns (issue 13): the same keep sets as ui/select.py's
``_keepers``/``_by_marks`` give group by group, computed with numpy over one row per member.

Why: a paged review built a ``Member`` and a ``Group`` per file from the catalog to ask each
group what it keeps (15 s per 100,000 groups, ≈ 4× the in-memory pass; docs/scale.md). Rows
come from ``Engine.group_member_columns``; only the kept paths of the chosen groups become
Python strings. "oldest"/"newest" read the capture time column (``group_files.taken``,
schema 3) with the modification time as the fallback, as ``select._when`` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from lookalike.engine.member_columns import MemberColumns

COLUMN_CRITERIA = (
    "resolution", "bytes", "oldest", "newest", "in-folder", "not-folder", "format", "flag",
    "marked", "keep-marked",
)  # fmt: skip
DATED = ("oldest", "newest")  # need the capture time: a port without the column decodes


def _first_best(gi: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Per group, the row that ``max(members, key=(keys…))`` returns (the first of equals):
    rows sorted by group, then each key descending, then row order."""
    order = np.lexsort((np.arange(len(gi)), *(-k for k in reversed(keys)), gi))
    firsts = np.ones(len(order), dtype=bool)
    firsts[1:] = gi[order][1:] != gi[order][:-1]
    return order[firsts]


def _row_test(values: np.ndarray, test: Callable[[Any], bool]) -> np.ndarray:
    """``test`` over an object column, once per distinct value."""
    seen: dict[Any, bool] = {}

    def hit(v: Any) -> bool:
        got = seen.get(v)
        if got is None:
            got = seen[v] = bool(test(v))
        return got

    return np.fromiter((hit(v) for v in values), dtype=bool, count=len(values))


def _folder_hit(paths: np.ndarray, needle: str) -> np.ndarray:
    """needle in the member's folder (lower case), tested once per folder."""
    folders = np.fromiter((os.path.dirname(p) for p in paths), dtype=object, count=len(paths))
    return _row_test(folders, lambda d: needle in os.fsdecode(d).lower())


def _in(paths: np.ndarray, names: Collection[str]) -> np.ndarray:
    if not names:
        return np.zeros(len(paths), dtype=bool)
    raw = {os.fsencode(n) for n in names}
    return np.fromiter((p in raw for p in paths), dtype=bool, count=len(paths))


def kept_rows(
    c: MemberColumns,
    gi: np.ndarray,
    criterion: str,
    arg: str,
    marks: Collection[str] = (),
    favourites: Collection[str] = (),
) -> np.ndarray | None:
    """Which rows a group keeps under ``criterion`` (bool per row; a group with no row kept
    is one the criterion says nothing about); None: nothing anywhere (no argument)."""
    n_groups = int(gi.max()) + 1 if len(gi) else 0
    if criterion in ("resolution", "bytes"):
        value = c.width * c.height if criterion == "resolution" else c.size
        keep = np.zeros(len(c), dtype=bool)
        keep[_first_best(gi, value, c.keeper.astype(np.int64))] = True
        return keep
    if criterion in DATED:  # min/max over the dated rows, ties to the keeper, then the first
        when = c.when()
        rows = np.flatnonzero(~np.isnan(when))
        value = -when[rows] if criterion == "oldest" else when[rows]
        keep = np.zeros(len(c), dtype=bool)
        keep[rows[_first_best(gi[rows], value, c.keeper[rows].astype(np.int64))]] = True
        return keep  # a group with no dated file keeps no row: nothing said about it
    if criterion in ("marked", "keep-marked"):
        marked = _in(c.path, marks)
        if criterion == "marked":
            return ~marked
        keep = marked | _in(c.path, favourites)
        chooses = np.bincount(gi[marked], minlength=n_groups) > 0
        chooses |= np.bincount(gi[keep & c.keeper], minlength=n_groups) > 0
        return keep & chooses[gi]  # favourites alone do not choose
    needle = arg.strip().lower()
    if not needle:
        return None
    if criterion == "in-folder":
        return _folder_hit(c.path, needle)
    if criterion == "not-folder":
        gone = _folder_hit(c.path, needle)
    elif criterion == "format":
        gone = _row_test(c.format, lambda f: str(f).lower() == needle)
    elif criterion == "flag":
        gone = _row_test(c.flags, lambda fs: any(needle in str(f).lower() for f in fs))
    else:
        raise ValueError(f"unknown criterion {criterion!r}")
    touched = np.bincount(gi[gone], minlength=n_groups) > 0
    return ~gone & touched[gi]


def select_rows(
    c: MemberColumns,
    ids: Sequence[int],
    skip: Collection[int],
    criterion: str,
    arg: str = "",
    marks: Collection[str] = (),
    favourites: Collection[str] = (),
) -> tuple[dict[int, frozenset[str]], int, int]:
    """(group id → paths kept, files removed, bytes removed) over the groups ``ids`` (in that
    order), leaving out ``skip`` and every group the criterion would keep whole or empty."""
    uniq, gi = np.unique(c.ords, return_inverse=True)
    keep = kept_rows(c, gi, criterion, arg, marks, favourites)
    if keep is None or not len(c):
        return {}, 0, 0
    members = np.bincount(gi, minlength=len(uniq))
    kept = np.bincount(gi[keep], minlength=len(uniq))
    chosen = (kept > 0) & (kept < members)
    skip_ords = np.asarray([gid - 1 for gid in skip], dtype=np.int64)
    chosen &= ~np.isin(uniq, skip_ords)
    in_chosen = chosen[gi]
    gone = in_chosen & ~keep
    by_ord: dict[int, list[str]] = {}
    for o, p in zip(c.ords[in_chosen & keep].tolist(), c.path[in_chosen & keep], strict=True):
        by_ord.setdefault(o, []).append(os.fsdecode(p))
    out = {gid: frozenset(by_ord[gid - 1]) for gid in ids if gid - 1 in by_ord}
    return out, int(gone.sum()), int(c.size[gone].sum())
