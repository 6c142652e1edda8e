"""How review decisions are kept: records keyed by their files (so they outlive the scan
that showed them), matched back to a new scan's groups, saved as changes, and the position,
marks and filters as JSON. A part of :class:`lookalike.ui.state.ReviewState`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lookalike.engine.decision_keys import record_key
from lookalike.engine.records import Member
from lookalike.engine.stored_match import member_key

TIERS = (None, "exact", "same", "similar")
SORTS = ("order", "bytes", "size", "tier")
STATE_KEY = "ui.review"
NEW_FILES = "changed:"  # prefix of the status of a decided group that gained files
# One empty set shared by every record and decision with no undecided / new file: with every
# group decided (100,000 records) an empty frozenset apiece held ≈ 43 MB (docs/scale.md).
EMPTY: frozenset[str] = frozenset()


def file_key(m: Member) -> str:
    """Stable identity of one file across rescans (see the module docstring)."""
    return member_key(m.file_id, m.path, m.size, m.mtime_ns)


def split_keys(keys: Iterable[str]) -> tuple[list[int], list[str]]:
    """The catalog file ids and the paths (of members without an id) in these file keys: what
    the catalog's ``group_files`` is searched by (``Engine.group_ords_of_files``)."""
    ids: list[int] = []
    paths: list[str] = []
    for k in keys:
        if k.startswith("path:"):
            paths.append(k[5:].rsplit(":", 2)[0])
        else:
            head = k.split(":", 1)[0]
            if head.isdigit():
                ids.append(int(head))
    return ids, paths


def group_key(keys: Iterable[str]) -> str:
    """Identity of a group: its member set, whatever number the scan gave it (the engine
    names a record it moves to file ids the same way: engine/decision_keys.py)."""
    return record_key(keys)


@dataclass(slots=True)  # no __dict__ apiece: a review may hold 100,000 (docs/scale.md)
class Decision:
    """What the reviewer chose for one group; ``keep`` is the set of paths to keep.

    ``new`` holds files that joined the group after the decision: they are kept (never put on
    the removal list) until the reviewer decides about them. ``record`` names the stored
    :class:`Record` this decision came from.
    """

    status: str  # accepted | changed | not-dup
    keep: frozenset[str]
    batch: str | None = None  # journal batch that acted on it (cleared again by undo)
    new: frozenset[str] = EMPTY
    record: str | None = None


@dataclass(slots=True)
class Record:
    """A decision as stored: by member set and file keys, never by group number."""

    key: str
    status: str
    members: frozenset[str]
    keep: frozenset[str]
    undecided: frozenset[str] = EMPTY
    batch: str | None = None
    updated: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "members": sorted(self.members),
            "keep": sorted(self.keep),
            "undecided": sorted(self.undecided),
            "batch": self.batch,
            "updated": self.updated,
        }

    @classmethod
    def from_json(cls, d: Any) -> Record | None:
        try:
            members = frozenset(_strs(d["members"]))
            rec = cls(
                str(d["key"]),
                str(d["status"]),
                members,
                _within(d["keep"], members),
                _within(d.get("undecided"), members),
                d["batch"] if isinstance(d.get("batch"), str) else None,
                float(d.get("updated") or 0.0),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if rec.status not in ("accepted", "changed", "not-dup") or len(members) < 2:
            return None
        return rec


def _within(value: Any, members: frozenset[str]) -> frozenset[str]:
    """The strings of ``value`` that are members, as the members' own string objects (a JSON
    decode gives every occurrence its own copy) and the shared empty set when none is."""
    wanted = frozenset(_strs(value))
    if not wanted:
        return EMPTY
    return frozenset(k for k in members if k in wanted)


def _strs(value: Any) -> Iterable[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in value if isinstance(v, str)]
    return []


def parse_records(data: Any) -> dict[str, Record]:
    """Stored decisions (``Engine.review_decisions`` rows) by record key; bad rows skipped."""
    out: dict[str, Record] = {}
    for d in data if isinstance(data, list) else ():
        rec = Record.from_json(d) if isinstance(d, dict) else None
        if rec is not None:
            out[rec.key] = rec
    return out


def match_records(
    records: dict[str, Record], groups: list[tuple[int, dict[str, str]]]
) -> dict[int, Decision]:
    """Each stored record goes back to at most one of these groups (id, file key → path),
    and only to the group that holds every one of its files still in a group, with at least
    two of them. A pure function of its inputs, so a thread worker may run it."""
    group_of = {k: gid for gid, keys in groups for k in keys}
    by_file: dict[str, list[str]] = {}
    for rk, rec in records.items():
        for k in rec.members:
            by_file.setdefault(k, []).append(rk)
    out: dict[int, Decision] = {}
    for gid, paths in groups:
        overlap: dict[str, int] = {}
        for k in paths:
            for rk in by_file.get(k, ()):
                overlap[rk] = overlap.get(rk, 0) + 1
        cands = [rk for rk, n in overlap.items() if n >= 2]
        same = [rk for rk in cands if records[rk].members == paths.keys()]
        if same:
            rec = records[same[0]]
        elif len(cands) == 1:
            rec = records[cands[0]]
        else:
            continue  # no decision, or several decided groups merged: decide again
        if any(group_of.get(k, gid) != gid for k in rec.members):
            continue  # its files are split over several groups now
        new = {paths[k] for k in paths.keys() - rec.members}
        new |= {paths[k] for k in rec.undecided if k in paths}
        kept = {paths[k] for k in rec.keep if k in paths}
        if rec.status != "not-dup" and not kept - new:
            continue  # every file the reviewer kept is gone: look again
        out[gid] = Decision(
            rec.status, frozenset(kept | new), rec.batch, frozenset(new) or EMPTY, rec.key
        )
    return out


class ReviewStore:
    """Persistence half of ReviewState (it provides groups, decisions, records, view…)."""

    # -- applied batches (the journal's) on the decisions and records ----------------------
    def mark_applied(self, group_ids: Iterable[int], batch: str) -> None:
        group_ids = list(group_ids)
        fetch = getattr(self.records, "fetch", None)  # rows left in the catalog: one read
        if fetch is not None:
            fetch([d.record for g in group_ids if (d := self.decisions.get(g)) and d.record])
        for gid in group_ids:
            d = self.decisions.get(gid)
            if d is not None:
                self._set_batch(d, batch)

    def mark_undone(self, batch: str) -> int:
        fetch = getattr(self.records, "fetch", None)  # rows left in the catalog: one read
        if fetch is not None:
            fetch([d.record for d in self.decisions.values() if d.batch == batch and d.record])
        n = 0
        for d in self.decisions.values():
            if d.batch == batch:
                self._set_batch(d, None)
                n += 1
        with_batch = getattr(self.records, "with_batch", None)  # decodes only those
        acted = with_batch(batch) if with_batch is not None else self.records.values()
        for rec in list(acted):  # also groups no longer shown
            if rec.batch == batch:
                rec.batch = None
                self._dirty.add(rec.key)
        return n

    def _set_batch(self, d: Decision, batch: str | None) -> None:
        d.batch = batch
        rec = self.records.get(d.record or "")
        if rec is not None:
            rec.batch = batch
            self._dirty.add(rec.key)

    # -- matching stored decisions to a scan's groups ---------------------------------------
    def _match_records(self) -> dict[int, Decision]:
        """Each stored record goes back to at most one group (:func:`match_records`)."""
        if not self.records:
            return {}
        as_dict = getattr(self.records, "as_dict", None)  # ui/stored_records.py
        if as_dict is not None:  # a new review's groups: matched over every record
            self.records = as_dict(getattr(self.stored, "prematched_records", None))
        if self.stored is not None:  # the common case in SQL (ui/stored_match.py)
            return self.stored.matched(self.records)
        groups = [(g.id, {file_key(m): m.path for m in g.members}) for g in self.groups]
        return match_records(self.records, groups)

    def _group_with(self, anchor: set[str]) -> int | None:
        """The first group (review order) holding one of these file keys."""
        if self.stored is not None:
            return next((gid for gid, _ in self.stored.keyed_groups(anchor)), None)
        return next(
            (g.id for g in self.groups if any(file_key(m) in anchor for m in g.members)), None
        )

    def load_records(self, data: Any) -> None:
        """Stored decisions (``Engine.review_decisions``); they replace the ones in memory."""
        self.records = parse_records(data)
        self._dirty, self._dropped = set(), set()
        self.decisions = self._match_records()

    def set_matched(self, records: Any, decisions: dict[int, Decision]) -> None:
        """Stored decisions a thread worker matched to the stored review on screen (the app's
        open, ui/app_decisions.py): as :meth:`load_records` would have left them."""
        self.records, self.decisions = records, decisions
        self._dirty, self._dropped = set(), set()

    def take_changes(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Records written and deleted since the last call, for the engine to store."""
        upserts = [self.records[k].to_json() for k in sorted(self._dirty) if k in self.records]
        dropped = sorted(self._dropped)
        self._dirty, self._dropped = set(), set()
        return upserts, dropped

    def give_back(self, upserts: list[dict[str, Any]], dropped: list[str]) -> None:
        """A save failed: mark those changes unsaved again (unless superseded since)."""
        for d in upserts:
            if d["key"] in self.records:
                self._dirty.add(d["key"])
        self._dropped.update(k for k in dropped if k not in self.records)

    @property
    def unsaved(self) -> bool:
        return bool(self._dirty or self._dropped)

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Position, marks, favourites, filters; decisions are stored apart (``take_changes``)."""
        cur = self.current
        return {
            "position": cur.id if cur else None,
            "position_files": sorted(file_key(m) for m in cur.members) if cur else [],
            "member": self.member,
            "marks": sorted(self.marks),
            "favourites": sorted(self.favourites),
            "tier": self.tier_filter,
            "folder": self.folder_filter,
            "sort": self.sort,
        }

    def load_json(self, data: Any) -> None:
        """Restore saved state. Decisions saved by older versions (by group number) are moved
        to records when their files still match that group exactly."""
        if not isinstance(data, dict):
            return
        self.marks = set(_strs(data.get("marks")))
        self.favourites = set(_strs(data.get("favourites")))
        decisions = data.get("decisions")
        if isinstance(decisions, dict):
            self._migrate(decisions)
        tier = data.get("tier")
        self.tier_filter = tier if tier in TIERS else None
        folder = data.get("folder")
        self.folder_filter = folder if isinstance(folder, str) and folder else None
        self.sort = data.get("sort") if data.get("sort") in SORTS else "order"
        pos = data.get("position")
        anchor = set(_strs(data.get("position_files")))
        keep_group = pos if isinstance(pos, int) else None
        if anchor:
            found = self._group_with(anchor)
            keep_group = found if found is not None else keep_group
        self.rebuild_view(keep_group=keep_group)
        member = data.get("member")
        if isinstance(member, int) and self.current:
            self.member = max(0, min(member, len(self.current.members) - 1))

    def _migrate(self, decisions: dict[str, Any]) -> None:
        """Old format: {group number: {status, keep paths, batch}}. Kept only where the number
        and the files agree, and the status fits the files (not-dup = all of them)."""
        for k, v in decisions.items():
            try:
                g = self.by_id.get(int(k))
                status, keep = str(v["status"]), frozenset(_strs(v["keep"]))
                batch = v.get("batch") if isinstance(v.get("batch"), str) else None
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if g is None or g.id in self.decisions or not keep:
                continue
            paths = {m.path for m in g.members}
            ok = {
                "not-dup": keep == paths,
                "accepted": keep == {g.keep},
                "changed": keep < paths,
            }.get(status, False)
            if ok:
                self._decide(g, status, keep, (), batch)
