"""Review state: pure Python, no Textual, so it is cheap to test and to persist.

Holds the groups, the reviewer's decisions, position, marks and favourites, plus the filtered and
sorted view. Every method is O(1) or O(groups) at worst, never O(groups x members) on a keypress,
so moving through 10,000 groups stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lookalike.engine.model import Group, Member

TIERS = (None, "exact", "same", "similar")
SORTS = ("order", "bytes", "size", "tier")
STATE_KEY = "ui.review"


@dataclass
class Decision:
    """What the reviewer chose for one group; ``keep`` is the set of paths to keep."""

    status: str  # accepted | changed | not-dup
    keep: frozenset[str]
    batch: str | None = None  # journal batch that acted on it (cleared again by undo)


class ReviewState:
    def __init__(self, groups: Sequence[Group] = ()) -> None:
        self.groups: list[Group] = []
        self.by_id: dict[int, Group] = {}
        self.decisions: dict[int, Decision] = {}
        self.marks: set[str] = set()
        self.favourites: set[str] = set()
        self.tier_filter: str | None = None
        self.folder_filter: str | None = None
        self.sort: str = "order"
        self.view: list[int] = []  # group ids in display order
        self._pos_of: dict[int, int] = {}
        self.cursor: int = 0
        self.member: int = 0
        self.set_groups(groups)

    # -- groups and view -------------------------------------------------------------------
    def set_groups(self, groups: Sequence[Group]) -> None:
        current = self.current.id if self.current else None
        self.groups = list(groups)
        self.by_id = {g.id: g for g in self.groups}
        self.decisions = {k: v for k, v in self.decisions.items() if k in self.by_id}
        self.rebuild_view(keep_group=current)

    def add_group(self, group: Group) -> None:
        """A group found while scanning; appended without re-sorting so the cursor stays."""
        if group.id in self.by_id:
            return
        self.groups.append(group)
        self.by_id[group.id] = group
        if self._matches(group):
            self._pos_of[group.id] = len(self.view)
            self.view.append(group.id)

    def _matches(self, g: Group) -> bool:
        if self.tier_filter and g.tier != self.tier_filter:
            return False
        if self.folder_filter:
            needle = self.folder_filter
            return any(needle in os.path.dirname(m.path) for m in g.members)
        return True

    def rebuild_view(self, keep_group: int | None = None) -> None:
        items = [g for g in self.groups if self._matches(g)]
        if self.sort == "bytes":
            items.sort(key=lambda g: -g.bytes_to_free)
        elif self.sort == "size":
            items.sort(key=lambda g: -len(g.members))
        elif self.sort == "tier":
            order = {"exact": 0, "same": 1, "similar": 2}
            items.sort(key=lambda g: order.get(g.tier, 3))
        self.view = [g.id for g in items]
        self._pos_of = {gid: i for i, gid in enumerate(self.view)}
        if keep_group is not None and keep_group in self._pos_of:
            self.cursor = self._pos_of[keep_group]
        self.cursor = max(0, min(self.cursor, len(self.view) - 1))
        self.member = 0

    def cycle_tier(self) -> str:
        i = TIERS.index(self.tier_filter)
        self.tier_filter = TIERS[(i + 1) % len(TIERS)]
        self.rebuild_view(keep_group=self.current.id if self.current else None)
        return self.tier_filter or "all"

    def cycle_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.rebuild_view(keep_group=self.current.id if self.current else None)
        return self.sort

    def set_folder_filter(self, text: str | None) -> None:
        self.folder_filter = text or None
        self.rebuild_view(keep_group=self.current.id if self.current else None)

    # -- position ---------------------------------------------------------------------------
    @property
    def current(self) -> Group | None:
        if not self.view:
            return None
        return self.by_id[self.view[self.cursor]]

    @property
    def current_member(self) -> Member | None:
        g = self.current
        if g is None or not g.members:
            return None
        return g.members[min(self.member, len(g.members) - 1)]

    def move(self, delta: int) -> bool:
        """Move the group cursor; returns whether it moved."""
        if not self.view:
            return False
        new = max(0, min(len(self.view) - 1, self.cursor + delta))
        if new == self.cursor:
            return False
        self.cursor, self.member = new, 0
        return True

    def goto_index(self, index: int) -> bool:
        if not self.view:
            return False
        return self.move(max(0, min(len(self.view) - 1, index)) - self.cursor) or True

    def move_member(self, delta: int) -> bool:
        g = self.current
        if g is None:
            return False
        new = max(0, min(len(g.members) - 1, self.member + delta))
        moved = new != self.member
        self.member = new
        return moved

    def next_undecided(self) -> bool:
        for i in range(self.cursor + 1, len(self.view)):
            if self.view[i] not in self.decisions:
                self.cursor, self.member = i, 0
                return True
        return self.move(1)

    def find(self, query: str) -> bool:
        """Go to a group by 1-based index (``#12`` or ``12``) or by a file-name substring."""
        q = query.strip()
        if not q:
            return False
        digits = q.lstrip("#")
        if digits.isdigit():
            return self.goto_index(int(digits) - 1)
        q = q.lower()
        n = len(self.view)
        for step in range(1, n + 1):
            i = (self.cursor + step) % n
            g = self.by_id[self.view[i]]
            for j, m in enumerate(g.members):
                if q in os.path.basename(m.path).lower():
                    self.cursor, self.member = i, j
                    return True
        return False

    # -- decisions --------------------------------------------------------------------------
    def keep_set(self, group: Group) -> frozenset[str]:
        d = self.decisions.get(group.id)
        if d is None:
            return frozenset({group.keep})
        if d.status == "not-dup":
            return frozenset(m.path for m in group.members)
        return d.keep

    def status(self, group: Group) -> str:
        d = self.decisions.get(group.id)
        if d is None:
            return "pending"
        return "applied" if d.batch else d.status

    def mark_applied(self, group_ids: Iterable[int], batch: str) -> None:
        for gid in group_ids:
            d = self.decisions.get(gid)
            if d is not None:
                d.batch = batch

    def mark_undone(self, batch: str) -> int:
        n = 0
        for d in self.decisions.values():
            if d.batch == batch:
                d.batch = None
                n += 1
        return n

    def toggle_keep(self, path: str | None = None) -> str | None:
        """Flip keep/remove for a member; returns an error text if the group would keep nothing."""
        g = self.current
        m = self.current_member
        if g is None or m is None:
            return "no group"
        path = path or m.path
        keep = set(self.keep_set(g))
        if path in keep:
            if len(keep) == 1:
                return "every group keeps at least one file"
            keep.discard(path)
        else:
            keep.add(path)
        self.decisions[g.id] = Decision(self._changed_status(g, keep), frozenset(keep))
        return None

    def set_keeper(self) -> None:
        """Keep only the selected member; the rest of the group is removed."""
        g, m = self.current, self.current_member
        if g is None or m is None:
            return
        keep = {m.path}
        self.decisions[g.id] = Decision(self._changed_status(g, keep), frozenset(keep))

    def _changed_status(self, g: Group, keep: set[str]) -> str:
        return "accepted" if keep == {g.keep} else "changed"

    def accept(self) -> None:
        g = self.current
        if g is not None and g.id not in self.decisions:
            self.decisions[g.id] = Decision("accepted", frozenset({g.keep}))

    def accept_all_remaining(self) -> int:
        n = 0
        for gid in self.view:
            if gid not in self.decisions:
                self.decisions[gid] = Decision("accepted", frozenset({self.by_id[gid].keep}))
                n += 1
        return n

    def not_duplicate(self) -> list[str]:
        g = self.current
        if g is None:
            return []
        paths = [m.path for m in g.members]
        self.decisions[g.id] = Decision("not-dup", frozenset(paths))
        return paths

    def reset(self) -> None:
        g = self.current
        if g is not None:
            self.decisions.pop(g.id, None)

    def toggle_mark(self) -> bool:
        return _toggle(self.marks, self.current_member)

    def toggle_favourite(self) -> bool:
        return _toggle(self.favourites, self.current_member)

    def removals(self) -> dict[int, list[str]]:
        """Paths to act on, per decided group; undecided and not-dup groups are left alone."""
        out: dict[int, list[str]] = {}
        for gid, d in self.decisions.items():
            g = self.by_id.get(gid)
            if g is None or d.status == "not-dup" or d.batch:
                continue
            gone = [m.path for m in g.members if m.path not in d.keep]
            if gone and len(gone) < len(g.members):
                out[gid] = gone
        return out

    def counts(self) -> dict[str, int]:
        c = {"groups": len(self.groups), "shown": len(self.view), "decided": 0, "not-dup": 0}
        for d in self.decisions.values():
            c["not-dup" if d.status == "not-dup" else "decided"] += 1
        return c

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        cur = self.current
        return {
            "position": cur.id if cur else None,
            "member": self.member,
            "decisions": {
                str(k): {"status": d.status, "keep": sorted(d.keep), "batch": d.batch}
                for k, d in self.decisions.items()
            },
            "marks": sorted(self.marks),
            "favourites": sorted(self.favourites),
            "tier": self.tier_filter,
            "folder": self.folder_filter,
            "sort": self.sort,
        }

    def load_json(self, data: Any) -> None:
        """Restore saved state; entries for groups that no longer exist are dropped."""
        if not isinstance(data, dict):
            return
        self.marks = set(_strs(data.get("marks")))
        self.favourites = set(_strs(data.get("favourites")))
        decisions = data.get("decisions") or {}
        if isinstance(decisions, dict):
            for k, v in decisions.items():
                try:
                    gid = int(k)
                    batch = v.get("batch")
                    d = Decision(
                        str(v["status"]),
                        frozenset(_strs(v["keep"])),
                        batch if isinstance(batch, str) else None,
                    )
                except (ValueError, KeyError, TypeError):
                    continue
                g = self.by_id.get(gid)
                if g is not None and d.keep and d.keep <= {m.path for m in g.members}:
                    self.decisions[gid] = d
        tier = data.get("tier")
        self.tier_filter = tier if tier in TIERS else None
        folder = data.get("folder")
        self.folder_filter = folder if isinstance(folder, str) and folder else None
        self.sort = data.get("sort") if data.get("sort") in SORTS else "order"
        pos = data.get("position")
        self.rebuild_view(keep_group=pos if isinstance(pos, int) else None)
        member = data.get("member")
        if isinstance(member, int) and self.current:
            self.member = max(0, min(member, len(self.current.members) - 1))


def _toggle(bag: set[str], member: Member | None) -> bool:
    if member is None:
        return False
    if member.path in bag:
        bag.discard(member.path)
        return False
    bag.add(member.path)
    return True


def _strs(value: Any) -> Iterable[str]:
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in value if isinstance(v, str)]
    return []
