"""Select by criteria across all shown groups ("keep the highest resolution everywhere",
"remove the copies in Downloads", "remove the WebP copies") — pure functions over the review
state, so the live count and the undo are testable without a terminal.

A selection only records decisions (what to keep); nothing is touched until Apply. It never
leaves a group without a file, skips groups already acted on and "not a duplicate" groups,
and can be undone as a whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from lookalike.engine.member_columns import when_seconds
from lookalike.engine.records import Group, Member
from lookalike.ui.select_columns import COLUMN_CRITERIA, DATED, select_rows
from lookalike.ui.state import Decision, ReviewState

#: (id, label, what the argument is or "" for none)
CRITERIA: tuple[tuple[str, str, str], ...] = (
    ("resolution", "keep the highest resolution, remove the rest", ""),
    ("bytes", "keep the largest file, remove the rest", ""),
    ("oldest", "keep the oldest (date taken, else modified), remove the rest", ""),
    ("newest", "keep the newest, remove the rest", ""),
    ("in-folder", "keep the files in a folder containing…, remove the rest", "folder part"),
    ("not-folder", "remove the files in a folder containing…", "folder part"),
    ("format", "remove the files of a format…", "format, e.g. WEBP"),
    ("flag", "remove the files with an engine flag…", "flag, e.g. letterboxed"),
    ("marked", "remove the marked files (m)", ""),
    ("keep-marked", "keep the marked files and favourites, remove the rest of their groups", ""),
)


@dataclass(frozen=True)
class Selection:
    keep: dict[int, frozenset[str]]  # group id → paths to keep
    files: int  # files it removes
    bytes: int

    @property
    def groups(self) -> int:
        return len(self.keep)


def _when(m: Member) -> float | None:
    """Date taken, else modification time (whole seconds), as epoch seconds; None when
    neither is known. Numbers, not text: a capture time ("…T10:00:00") and a modification
    time ("… 10:00:00") compared as text put every capture after a same-day mtime."""
    return when_seconds(m.capture_time, m.mtime_ns)


def _keepers(g: Group, criterion: str, arg: str) -> set[str] | None:
    """What ``g`` keeps under ``criterion``; None when the criterion says nothing about it."""
    members = list(g.members)
    needle = arg.strip().lower()
    if criterion == "resolution":
        best = max(members, key=lambda m: (m.width * m.height, m.path == g.keep))
        return {best.path}
    if criterion == "bytes":
        return {max(members, key=lambda m: (m.size, m.path == g.keep)).path}
    if criterion in ("oldest", "newest"):
        dated = [m for m in members if _when(m) is not None]
        if not dated:
            return None
        pick = min if criterion == "oldest" else max
        sign = 1 if criterion == "oldest" else -1  # ties go to the suggested keeper
        return {pick(dated, key=lambda m: (_when(m), sign * (m.path != g.keep))).path}
    if not needle:
        return None
    if criterion == "in-folder":
        keep = {m.path for m in members if needle in os.path.dirname(m.path).lower()}
        return keep or None
    if criterion == "not-folder":
        gone = {m.path for m in members if needle in os.path.dirname(m.path).lower()}
    elif criterion == "format":
        gone = {m.path for m in members if m.format.lower() == needle}
    elif criterion == "flag":
        gone = {
            m.path
            for m in members
            if any(needle in str(f).lower() for f in (getattr(m, "flags", ()) or ()))
        }
    else:
        raise ValueError(f"unknown criterion {criterion!r}")
    if not gone:
        return None
    keep = {m.path for m in members} - gone
    return keep or None  # never every file of a group


def _by_marks(g: Group, criterion: str, state: ReviewState) -> set[str] | None:
    """The marked set (the catalog's, shared with ``lookalike marks``) as a selection."""
    paths = {m.path for m in g.members}
    if criterion == "marked":
        keep = paths - state.marks
    else:
        keep = paths & (state.marks | state.favourites)
        if keep and g.keep not in keep and not (paths & state.marks):
            keep = None  # favourites alone do not choose
    return keep or None  # never every file of a group


def select(state: ReviewState, criterion: str, arg: str = "") -> Selection:
    """What ``criterion`` would keep in every group shown (O(files); call it off the loop for
    very large collections). A paged review evaluates it over the member columns
    (ui/select_columns.py), the same keep sets as the per-group pass below."""
    stored = state.stored
    # paged: over the columns; a port without them has no capture time in its facts
    columns = stored is not None and callable(getattr(stored.port, "group_member_columns", None))
    if stored is not None and criterion in COLUMN_CRITERIA and (columns or criterion not in DATED):
        ids = list(state.view)
        skip = {gid for gid, d in state.decisions.items() if d.batch or d.status == "not-dup"}
        cols = stored.member_columns(ids)
        keep, n, size = select_rows(cols, ids, skip, criterion, arg, state.marks, state.favourites)
        return Selection(keep, n, size)
    out: dict[int, frozenset[str]] = {}
    files = size = 0
    dated = criterion in DATED  # capture times are in the decoded groups only
    for g in state.iter_view(list(state.view), facts=not dated):  # paged: a page at a time
        gid = g.id
        d = state.decisions.get(gid)
        if d is not None and (d.batch or d.status == "not-dup"):
            continue  # acted on already, or not a duplicate: left alone
        if criterion in ("marked", "keep-marked"):
            keep = _by_marks(g, criterion, state)
        else:
            keep = _keepers(g, criterion, arg)
        if not keep or len(keep) == len(g.members):
            continue
        out[gid] = frozenset(keep)
        for m in g.members:
            if m.path not in keep:
                files += 1
                size += m.size
    return Selection(out, files, size)


Undo = list[tuple[int, Decision | None]]


def apply(state: ReviewState, selection: Selection) -> Undo:
    """Record the selection as decisions; returns what :func:`undo` needs to put them back."""
    undo: Undo = []
    found = state.groups_by_id(selection.keep, facts=True)  # paths and file keys suffice
    for gid, keep in selection.keep.items():
        g = found.get(gid)
        if g is None:
            continue
        undo.append((gid, state.decisions.get(gid)))
        state.decide_keep(g, keep)
    return undo


class Selections:
    """The selections applied in this session, newest last, each undoable in turn (``U``)."""

    def __init__(self) -> None:
        self._undo: list[Undo] = []

    def apply(self, state: ReviewState, selection: Selection) -> None:
        self._undo.append(apply(state, selection))

    def undo_last(self, state: ReviewState) -> int | None:
        """Put back the decisions the newest selection replaced: groups restored, or None."""
        return undo(state, self._undo.pop()) if self._undo else None


def undo(state: ReviewState, token: Iterable[tuple[int, Decision | None]]) -> int:
    n = 0
    token = list(token)
    found = state.groups_by_id((gid for gid, _ in token), facts=True)
    for gid, old in token:
        g = found.get(gid)
        if g is not None:
            state.restore(g, old)
            n += 1
    return n
