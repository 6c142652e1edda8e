"""Review state: pure Python, no Textual, so it is cheap to test and to persist.

Holds the groups, decisions, position, marks, favourites and the filtered, sorted view; no
keypress costs O(groups x members), so moving through 10,000 groups stays instant.

Decisions outlive the scan that showed them. Group numbers are per scan, so a decision is stored
as a :class:`Record` keyed by its group's member set, each member by :func:`file_key` (the
catalog's file id, which follows a renamed or moved file, plus size and mtime, so a file whose
content changed is a new file). After a rescan :meth:`ReviewState.set_groups` matches records to
the new groups: a decision goes back to the group that holds its files, files that joined since
are undecided (kept, flagged "changed: N new files") until the reviewer looks, and a decision
whose files were split over several groups or merged with another decided group is dropped
rather than moved onto files the reviewer never judged.

A stored review is held as pages (:meth:`ReviewState.set_stored`, ui/group_pages.py): a view
of group ords from the catalog's columns, groups decoded a page at a time, records matched
against only the groups holding their files (docs/scale.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.records import Group, Member
from lookalike.ui.group_pages import FACTS_CHUNK, PAGE, PagedById, PagedIds, StoredReview
from lookalike.ui.state_store import (
    NEW_FILES,
    SORTS,
    TIERS,
    Decision,
    Record,
    ReviewStore,
    file_key,
    group_key,
)
from lookalike.ui.state_store import (
    STATE_KEY as STATE_KEY,  # the settings key of the review state (app, tests)
)

LIVE_HELD = PAGE  # groups a first scan shows while it runs; the rest wait for its stored review


class ReviewState(ReviewStore):
    def __init__(self, groups: Sequence[Group] = ()) -> None:
        self.stored: StoredReview | None = None  # a stored review read in pages
        self.live_more = 0  # groups a running first scan found past LIVE_HELD (not held)
        self._groups: list[Group] = []  # otherwise every group (a live scan's, tests)
        self._by_id: dict[int, Group] = {}
        self.decisions: dict[int, Decision] = {}
        self.records: dict[str, Record] = {}
        self._paths: set[str] = set()  # every file shown, so a rescan never shows one twice
        self._dirty: set[str] = set()  # record keys written since the last save
        self._dropped: set[str] = set()  # record keys deleted since the last save
        self._released: list[list[str]] = []  # not-dup groups the reviewer took back
        self.marks: set[str] = set()
        self.favourites: set[str] = set()
        self.notes: dict[str, str] = {}  # the catalog's file notes (ui/screens/review_meta.py)
        self.tier_filter: str | None = None
        self.folder_filter: str | None = None
        self.sort: str = "order"
        self._view: list[int] = []  # group ids in display order (not paged)
        self._pos_of: dict[int, int] = {}
        self.cursor: int = 0
        self.member: int = 0
        self.set_groups(groups)

    # -- groups and view -------------------------------------------------------------------
    @property
    def groups(self) -> Sequence[Group]:
        """Every group shown unfiltered (paged: decoded a page at a time as it is read)."""
        return self.stored.all if self.stored is not None else self._groups

    @property
    def by_id(self) -> Any:
        """Group id → group (a dict, or the paged review's lookup with the same get/[])."""
        return PagedById(self.stored) if self.stored is not None else self._by_id

    @property
    def view(self) -> Sequence[int]:
        """Group ids in display order."""
        return PagedIds(self.stored) if self.stored is not None else self._view

    def set_groups(self, groups: Sequence[Group]) -> None:
        """Show these groups (a live scan's, or a server's); decisions come back from the
        stored records."""
        anchor = self._anchor()
        self.stored, self.live_more = None, 0
        self._groups = list(groups)
        self._by_id = {g.id: g for g in self._groups}
        self._paths = {m.path for g in self._groups for m in g.members}
        self._reopen(anchor)

    def set_stored(self, stored: StoredReview) -> None:
        """Show the catalog's stored review a page at a time (after a scan stored it, or at
        start); ords are positions in that review, so a new one always comes as a new object."""
        anchor = self._anchor()
        self.stored, self.live_more = stored, 0
        self._groups, self._by_id, self._paths, self._view = [], {}, set(), []
        self._reopen(anchor)

    def _anchor(self) -> set[str]:
        cur = self.current
        return {file_key(m) for m in cur.members} if cur else set()

    def _reopen(self, anchor: set[str]) -> None:
        self.decisions = self._match_records()
        # stay on the group that holds the files the cursor was on
        keep_group = self._group_with(anchor) if anchor else None
        self.rebuild_view(keep_group=keep_group)

    def add_group(self, group: Group) -> None:
        """A group found while scanning; appended without re-sorting so the cursor stays.

        During a rescan the review still shows the stored groups: a found group whose number
        or files are already shown waits for the stored review that follows the scan, and so
        does every found group while a stored review is shown in pages, and every one past
        the first ``LIVE_HELD`` of a first scan (counted: ``live_more``; issue 13)."""
        if self.stored is not None:
            return
        if group.id in self._by_id or any(m.path in self._paths for m in group.members):
            return
        if len(self._groups) >= LIVE_HELD:
            self.live_more += 1
            return
        self._groups.append(group)
        self._by_id[group.id] = group
        self._paths.update(m.path for m in group.members)
        if self._matches(group):
            self._pos_of[group.id] = len(self._view)
            self._view.append(group.id)

    def _matches(self, g: Group) -> bool:
        if self.tier_filter and g.tier != self.tier_filter:
            return False
        if self.folder_filter:
            needle = self.folder_filter
            return any(needle in os.path.dirname(m.path) for m in g.members)
        return True

    def rebuild_view(self, keep_group: int | None = None) -> None:
        if self.stored is not None:  # the catalog's columns filter and sort (ui/group_pages)
            self.stored.set_view(GroupFilter(self.tier_filter, self.folder_filter), self.sort)
            pos = self.stored.position(keep_group) if keep_group is not None else None
            self._place(pos)
            return
        items = [g for g in self._groups if self._matches(g)]
        if self.sort == "bytes":
            items.sort(key=lambda g: -g.bytes_to_free)
        elif self.sort == "size":
            items.sort(key=lambda g: -len(g.members))
        elif self.sort == "tier":
            order = {"exact": 0, "same": 1, "similar": 2}
            items.sort(key=lambda g: order.get(g.tier, 3))
        self._view = [g.id for g in items]
        self._pos_of = {gid: i for i, gid in enumerate(self._view)}
        self._place(self._pos_of.get(keep_group) if keep_group is not None else None)

    def _place(self, pos: int | None) -> None:
        if pos is not None:
            self.cursor = pos
        self.cursor = max(0, min(self.cursor, len(self.view) - 1))
        self.member = 0

    def prefetch(self) -> bool:
        """Decode the next page when the cursor nears its page's end; read the views the tier
        and sort keys go to next (a thread worker calls this: ui/screens/review.py)."""
        if self.stored is None:
            return False
        page = self.stored.prefetch(self.cursor)
        tier, folder = TIERS[(TIERS.index(self.tier_filter) + 1) % len(TIERS)], self.folder_filter
        sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        flts = (GroupFilter(tier, folder), GroupFilter(self.tier_filter, folder))
        return self.stored.warm_views([(flts[0], self.sort), (flts[1], sort)]) > 0 or page

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
        view = self.view
        if not view:
            return None
        return self.by_id[view[self.cursor]]

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

    def forget_favourites(self, paths: set[str]) -> None:
        """Favourites removed elsewhere (the favourites view) stop showing here."""
        self.favourites -= paths

    def select_member(self, index: int) -> bool:
        """Point at member INDEX of the current group (clamped); True when it changed."""
        return self.move_member(index - self.member)

    def next_undecided(self) -> bool:
        """The next group that needs a look: undecided, or decided before new files joined."""
        for i in range(self.cursor + 1, len(self.view)):
            d = self.decisions.get(self.view[i])
            if d is None or (d.new and d.status != "not-dup"):
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
        order: Iterable[int] = ((self.cursor + step) % n for step in range(1, n + 1))
        if self.stored is not None:  # only the groups whose paths match, from the columns
            hits = self.stored.positions_with_path(lambda p: q in os.path.basename(p).lower())
            if hits is not None:
                after = hits[hits > self.cursor].tolist()
                order = after + hits[hits <= self.cursor].tolist()
        for i in order:
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
        """pending | accepted | changed | not-dup | applied | "changed: N new file(s)"."""
        d = self.decisions.get(group.id)
        if d is None:
            return "pending"
        if d.new and d.status != "not-dup":
            n = len(d.new)
            return f"{NEW_FILES} {n} new file{'s' if n != 1 else ''}"
        return "applied" if d.batch else d.status

    def _decide(
        self,
        g: Group,
        status: str,
        keep: Iterable[str],
        new: Iterable[str] = (),
        batch: str | None = None,
    ) -> None:
        """Record a decision for ``g`` under its current member set (replacing the old one)."""
        keys = {m.path: file_key(m) for m in g.members}
        keep_paths = frozenset(p for p in keep if p in keys)
        new_paths = frozenset(p for p in new if p in keys)
        old = self.decisions.get(g.id)
        if old is not None and old.record is not None:
            self._drop_record(old.record)
        if old is not None and old.status == "not-dup" and status != "not-dup":
            self._released.append([m.path for m in g.members])
        rk = group_key(keys.values())
        self.records[rk] = Record(
            rk,
            status,
            frozenset(keys.values()),
            frozenset(keys[p] for p in keep_paths),
            frozenset(keys[p] for p in new_paths),
            batch,
        )
        self._dirty.add(rk)
        self._dropped.discard(rk)
        self.decisions[g.id] = Decision(status, keep_paths, batch, new_paths, rk)

    def _drop_record(self, rk: str) -> None:
        if self.records.pop(rk, None) is not None:
            self._dropped.add(rk)
        self._dirty.discard(rk)

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
        d = self.decisions.get(g.id)
        new = (d.new if d is not None and d.status != "not-dup" else frozenset()) - {path}
        self._decide(g, self._changed_status(g, keep), keep, new)
        return None

    def set_keeper(self) -> None:
        """Keep only the selected member; the rest of the group is removed."""
        g, m = self.current, self.current_member
        if g is None or m is None:
            return
        keep = {m.path}
        self._decide(g, self._changed_status(g, keep), keep)

    def _changed_status(self, g: Group, keep: set[str]) -> str:
        return "accepted" if keep == {g.keep} else "changed"

    def accept(self) -> None:
        """Accept the suggestion; on a decided group that gained files, settle the new files:
        they follow the suggestion (removed unless one is the suggested keeper)."""
        g = self.current
        if g is None:
            return
        d = self.decisions.get(g.id)
        if d is None:
            self._decide(g, "accepted", {g.keep})
        elif d.new and d.status != "not-dup":
            keep = (set(d.keep) - set(d.new)) | ({g.keep} & set(d.new))
            self._decide(g, self._changed_status(g, keep), keep, (), d.batch)

    def accept_all_remaining(self) -> int:
        n = 0
        todo = [gid for gid in self.view if gid not in self.decisions]
        for g in self.iter_view(todo, facts=True):  # keeper and file keys are enough
            self._decide(g, "accepted", {g.keep})
            n += 1
        return n

    def not_duplicate(self) -> list[str]:
        g = self.current
        if g is None:
            return []
        paths = [m.path for m in g.members]
        self._decide(g, "not-dup", paths)
        return paths

    def reset(self) -> None:
        """Undecide the current group."""
        g = self.current
        if g is None:
            return
        d = self.decisions.pop(g.id, None)
        if d is None:
            return
        if d.record is not None:
            self._drop_record(d.record)
        if d.status == "not-dup":
            self._released.append([m.path for m in g.members])

    def decide_keep(self, g: Group, keep: Iterable[str]) -> None:
        """Keep exactly ``keep`` in ``g`` (select by criteria across groups)."""
        keep = set(keep)
        self._decide(g, self._changed_status(g, keep), keep)

    def restore(self, g: Group, old: Decision | None) -> None:
        """Put back a decision taken from ``decisions`` earlier (None: undecided)."""
        if old is None:
            d = self.decisions.pop(g.id, None)
            if d is not None and d.record is not None:
                self._drop_record(d.record)
        else:
            self._decide(g, old.status, old.keep, old.new, old.batch)

    def take_released(self) -> list[list[str]]:
        """Files of "not a duplicate" groups the reviewer undecided or re-decided since the
        last call: their pairs must be forgotten, or later scans would keep them apart."""
        out, self._released = self._released, []
        return out

    def toggle_mark(self) -> bool:
        return _toggle(self.marks, self.current_member)

    def toggle_favourite(self) -> bool:
        return _toggle(self.favourites, self.current_member)

    def removals(self) -> dict[int, list[str]]:
        """Paths to act on, per decided group; undecided and not-dup groups are left alone, and
        so are files that joined a decided group since (``Decision.new``)."""
        return self.removal_plan()[0]

    def removal_plan(self) -> tuple[dict[int, list[str]], list[Group]]:
        """:meth:`removals` and the groups they are in (a paged review reads the decided
        groups a page at a time, not one by one)."""
        out: dict[int, list[str]] = {}
        wanted = [gid for gid, d in self.decisions.items() if d.status != "not-dup" and not d.batch]
        found = self.groups_by_id(wanted)
        for gid, d in self.decisions.items():
            g = found.get(gid)
            if g is None or d.status == "not-dup" or d.batch:
                continue
            gone = [m.path for m in g.members if m.path not in d.keep and m.path not in d.new]
            if gone and len(gone) < len(g.members):
                out[gid] = gone
        return out, [found[gid] for gid in out]

    def iter_view(self, ids: Sequence[int] | None = None, facts: bool = False) -> Iterator[Group]:
        """The groups of the view (or of ``ids``) in order; a paged review reads them a page
        at a time beside the pages around the cursor (held pages are reused), so a thread
        worker can walk every group without evicting what is on screen. ``facts``: only the
        members' columns are needed (no capture time, thumbnail or evidence), read without
        decoding the JSON rows (``Engine.group_facts``)."""
        ids = self.view if ids is None else ids
        if self.stored is None:
            yield from (self._by_id[gid] for gid in ids if gid in self._by_id)
            return
        read, step = (self.stored.facts, FACTS_CHUNK) if facts else (self.stored.groups, PAGE)
        for i in range(0, len(ids), step):
            yield from read(list(ids[i : i + step]))

    def groups_by_id(self, group_ids: Iterable[int], facts: bool = False) -> dict[int, Group]:
        """These groups, id → group (the ones no longer shown are left out); ``facts`` as in
        :meth:`iter_view`."""
        if self.stored is None:
            return {gid: self._by_id[gid] for gid in group_ids if gid in self._by_id}
        read = self.stored.facts if facts else self.stored.groups
        return {g.id: g for g in read(sorted(set(group_ids)))}

    def counts(self) -> dict[str, int]:
        c = {"groups": len(self.groups), "shown": len(self.view), "decided": 0, "not-dup": 0}
        for d in self.decisions.values():
            c["not-dup" if d.status == "not-dup" else "decided"] += 1
        return c


def _toggle(bag: set[str], member: Member | None) -> bool:
    if member is None:
        return False
    if member.path in bag:
        bag.discard(member.path)
        return False
    bag.add(member.path)
    return True
