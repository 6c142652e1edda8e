"""The stored review as a read-only sequence of groups decoded a page at a time (issue 13).

Why: ``Engine.last_groups()`` decodes every stored group before the first shows (≈ 2.7 KB
per file, 40 s per 100,000 groups; docs/scale.md). :class:`GroupPages` holds only the view —
an int32 array of group ords from ``engine.group_columns`` — and an LRU of decoded pages of
``PAGE`` groups from ``engine.group_page``, so code that indexes a list of groups can index
this instead. :class:`StoredReview` is what the review (ui/state.py) holds for a stored
review: the current view's pages, which ords exist, and the groups that stored decisions
touch (found by their files in the catalog's ``group_files``, not by decoding every group).
Ords are positions in the stored review, so a view must be read again after a scan stores a
new review (the app reloads the review then); a page that comes back short raises.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, overload

import numpy as np

from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.member_columns import MemberColumns
from lookalike.engine.records import Group
from lookalike.ui.state_store import SORTS, TIERS, Decision, Record, file_key, split_keys
from lookalike.ui.stored_match import match_stored

PAGE = 200  # groups per page: a screenful many times over, ≈ 2 MB decoded (docs/scale.md)
FACTS_CHUNK = 5000  # groups read from the member columns per call in a whole-review pass
PAGES_HELD = 4  # the page on screen, the ones either side, and one more
VIEWS_HELD = 8  # filter/sort views whose ords are kept (400 kB each per 100,000 groups)


Keyed = tuple[int, dict[str, str]]  # a group id; its members' file keys → paths


def keyed(groups: Iterable[Group]) -> list[Keyed]:
    """Groups as matching stored decisions reads them (ui/state_store.py)."""
    return [(g.id, {file_key(m): m.path for m in g.members}) for g in groups]


class PagePort(Protocol):
    """What paging needs from an engine (lookalike.engine.api.Engine, ui/fake.FakeEngine)."""

    def group_columns(self, flt: GroupFilter | None = None, sort: str = "order") -> Any: ...

    def group_page(self, ords: Sequence[int]) -> list[Group]: ...


class StoredPort(PagePort, Protocol):
    """Paging plus the lookups a stored review needs (the real engine's EngineAdapter, the fake)."""

    def group_ords_of_files(
        self, file_ids: Sequence[int], paths: Sequence[str] = ()
    ) -> list[int]: ...


PORT_METHODS = ("group_columns", "group_page")


def pages_port(engine: Any) -> StoredPort | None:
    """The engine if it pages the stored review, else None (a server without page endpoints:
    the review then holds every group, as before). ``group_ords_of_files`` is optional: without
    it (an older server) the groups a record touches are found by reading every page."""
    return engine if all(callable(getattr(engine, m, None)) for m in PORT_METHODS) else None


class GroupPages(Sequence[Group]):
    """The groups of one view (filter + sort) by position; pages load on first use."""

    def __init__(
        self,
        engine: PagePort,
        flt: GroupFilter | None = None,
        sort: str = "order",
        held: int = PAGES_HELD,
        ords: np.ndarray | None = None,
    ) -> None:
        self.engine = engine
        if ords is None:
            ords = engine.group_columns(flt, sort)
        self.ords: np.ndarray = np.asarray(ords, dtype=np.int32)
        self.held = max(1, held)
        self._pages: OrderedDict[int, list[Group]] = OrderedDict()
        self._lock = threading.Lock()  # the review's thread workers read pages too
        self.loads = 0  # pages read from the engine (tests, benchmarks)

    def __len__(self) -> int:
        return len(self.ords)

    @overload
    def __getitem__(self, index: int) -> Group: ...
    @overload
    def __getitem__(self, index: slice) -> list[Group]: ...
    def __getitem__(self, index: int | slice) -> Group | list[Group]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self.ords)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"group {index} of {n}")
        page = self._page(i // PAGE)
        return page[i % PAGE]

    def __iter__(self) -> Iterator[Group]:
        for i in range(len(self)):
            yield self[i]

    def id_at(self, index: int) -> int:
        """The group id (``Group.id``) at a position, without decoding its page."""
        return int(self.ords[index]) + 1

    def position_of(self, group_id: int) -> int | None:
        """Where a group id is in this view (None: filtered out or not stored)."""
        hit = np.flatnonzero(self.ords == group_id - 1)
        return int(hit[0]) if len(hit) else None

    def has_page(self, number: int) -> bool:
        return number in self._pages

    def touch(self, number: int) -> None:
        """Mark a held page as just used, so reading others does not push it out (the
        cursor's page while the list reads the pages the mouse wheel scrolled to)."""
        with self._lock:
            if number in self._pages:
                self._pages.move_to_end(number)

    def _page(self, number: int) -> list[Group]:
        with self._lock:
            page = self._pages.get(number)
            if page is not None:
                self._pages.move_to_end(number)
                return page
        # read without the lock: the event loop must never wait for a worker's read of
        # another page (two threads may read one page twice; the last one is kept)
        page = self._load(number)
        with self._lock:
            self._pages[number] = page
            self._pages.move_to_end(number)
            self.loads += 1
            while len(self._pages) > self.held:
                self._pages.popitem(last=False)
        return page

    def _load(self, number: int) -> list[Group]:
        ords = self.ords[number * PAGE : (number + 1) * PAGE]
        page = self.engine.group_page(ords.tolist())
        if len(page) != len(ords):  # the catalog changed under the view (a scan stored)
            raise LookupError(
                "the stored review changed while it was read (a scan stored new groups); "
                "read it again from the engine"
            )
        return page


class StoredReview:
    """A stored review as the review state holds it: the view (filter + sort) as pages, the
    ords that exist (unfiltered, to know a group id without decoding it), and a small cache of
    groups read outside the view (decided groups filtered out, apply's groups)."""

    EXTRA_HELD = 2 * PAGE

    def __init__(self, port: StoredPort, sort: str = "order") -> None:
        """Reads the unfiltered view in ``sort`` order; the review order comes from the same
        ords sorted (an unsorted view is in ord order), so the columns are read once."""
        self.port = port
        first = GroupPages(port, None, sort)
        self.all = first if sort == "order" else GroupPages(port, ords=np.sort(first.ords))
        self._known = np.zeros(int(self.all.ords.max()) + 1 if len(self.all) else 0, dtype=bool)
        self._known[self.all.ords] = True
        self.view = first
        self._view_key: tuple[GroupFilter | None, str] = (None, sort)
        self._pos = self._positions(first.ords)
        self._extra: OrderedDict[int, Group] = OrderedDict()
        self._lock = threading.Lock()
        self._found: tuple[frozenset[str], list[Keyed]] | None = None
        self._views: OrderedDict[tuple[GroupFilter | None, str], np.ndarray] = OrderedDict()
        self._views_lock = threading.Lock()  # 4 bytes a group each
        self._prepared: tuple[tuple[GroupFilter | None, str], GroupPages] | None = None
        self._prematched: tuple[dict[str, tuple], dict[int, Decision]] | None = None
        self.prematched_records: dict[str, Record] | None = None

    def _positions(self, ords: np.ndarray) -> np.ndarray:
        pos = np.full(len(self._known), -1, dtype=np.int32)
        pos[ords] = np.arange(len(ords), dtype=np.int32)
        return pos

    def set_view(self, flt: GroupFilter | None, sort: str) -> None:
        """Show another view (a filter or sort changed): the pages a worker prepared
        (``prepare``), else its ords read ahead (``warm_views``), else the catalog's columns
        read now."""
        flt = _norm(flt)
        if (flt, sort) == self._view_key:
            return  # the stored review does not change under one StoredReview
        pages = self.pages_for(flt, sort)
        self._view_key = (flt, sort)
        self.view = pages or GroupPages(self.port, ords=self._ords(flt, sort))
        self._prepared = None
        self._pos = self._positions(self.view.ords)

    def pages_for(self, flt: GroupFilter | None, sort: str) -> GroupPages | None:
        """The paging object of this view if one is held (shown, unfiltered, prepared)."""
        key = (_norm(flt), sort)
        if key == self._view_key:
            return self.view
        if key == (None, "order"):
            return self.all
        prepared = self._prepared
        return prepared[1] if prepared is not None and prepared[0] == key else None

    def prepare(self, flt: GroupFilter | None, sort: str) -> GroupPages:
        """This view's paging object, its ords read now (a thread worker: the review screen
        then shows it with ``set_view`` without reading on the event loop)."""
        got = self.pages_for(flt, sort)
        if got is None:
            key = (_norm(flt), sort)
            got = GroupPages(self.port, ords=self._ords(*key))
            self._prepared = (key, got)
        return got

    def _ords(self, flt: GroupFilter | None, sort: str) -> np.ndarray:
        key = (flt, sort)
        with self._views_lock:
            ords = self._views.get(key)
        if ords is None:
            ords = np.asarray(self.port.group_columns(flt, sort), dtype=np.int32)
            with self._views_lock:
                self._views[key] = ords
                while len(self._views) > VIEWS_HELD:
                    self._views.popitem(last=False)
        return ords

    def warm_views(self, keys: Iterable[tuple[GroupFilter | None, str]]) -> int:
        """Read these views' ords ahead (a thread worker: the next tier and the next sort), so
        pressing the key does not read the columns on the event loop; returns how many."""
        n = 0
        for flt, sort in keys:
            flt = _norm(flt)
            if (flt is None and sort == "order") or (flt, sort) in self._views:
                continue
            self._ords(flt, sort)
            n += 1
        return n

    def all_ids(self) -> list[int]:
        """Every stored group's id (unfiltered, review order)."""
        return [o + 1 for o in self.all.ords.tolist()]

    def __contains__(self, group_id: int) -> bool:
        o = group_id - 1
        return 0 <= o < len(self._known) and bool(self._known[o])

    def position(self, group_id: int) -> int | None:
        """Where a group is in the view (None: filtered out or not stored)."""
        o = group_id - 1
        if not 0 <= o < len(self._pos) or self._pos[o] < 0:
            return None
        return int(self._pos[o])

    def get(self, group_id: int) -> Group | None:
        """The group with this id: from the view's pages, else read alone (and kept a while)."""
        i = self.position(group_id)
        if i is not None:
            return self.view[i]
        if group_id not in self:
            return None
        with self._lock:
            g = self._extra.get(group_id)
            if g is None:
                found = self.port.group_page([group_id - 1])
                if not found:
                    return None
                g = self._extra[group_id] = found[0]
                while len(self._extra) > self.EXTRA_HELD:
                    self._extra.popitem(last=False)
            return g

    def groups(self, group_ids: Iterable[int]) -> list[Group]:
        """Many groups at once (a page read per ``PAGE`` of them), in the order given."""
        want = [gid for gid in group_ids if gid in self]
        held = {gid: g for gid in want if (g := self._held(gid)) is not None}
        rest = [gid for gid in want if gid not in held]
        for i in range(0, len(rest), PAGE):
            held.update(
                (g.id, g) for g in self.port.group_page([gid - 1 for gid in rest[i : i + PAGE]])
            )
        return [held[gid] for gid in want if gid in held]

    def facts(self, group_ids: Sequence[int]) -> list[Group]:
        """These groups from the member columns (``Engine.group_facts``: no capture time,
        thumbnail or evidence), else decoded; for passes over every group."""
        read = getattr(self.port, "group_facts", None)
        if read is None:
            return self.groups(group_ids)
        want = [gid for gid in group_ids if gid in self]
        out: list[Group] = []
        for i in range(0, len(want), FACTS_CHUNK):
            out.extend(read([gid - 1 for gid in want[i : i + FACTS_CHUNK]]))
        return out

    def member_columns(self, group_ids: Iterable[int]) -> MemberColumns:
        """These groups' members as numpy columns (``Engine.group_member_columns``: one pass
        over ``group_files``, no ``Member`` built), else from their facts; what select by
        criteria evaluates (ui/select_columns.py)."""
        want = [gid for gid in group_ids if gid in self]
        read = getattr(self.port, "group_member_columns", None)
        if read is None:
            return MemberColumns.of_groups(self.facts(want))
        return read([gid - 1 for gid in want])

    def positions_with_path(self, test: Callable[[str], bool]) -> np.ndarray | None:
        """View positions (ascending) of the groups with a member path passing ``test``, read
        from the member paths without decoding a group; None when the port cannot."""
        read = getattr(self.port, "group_ords_with", None)
        if read is None:
            return None
        ords = np.asarray(read(test), dtype=np.int64)
        ords = ords[(ords >= 0) & (ords < len(self._pos))]
        pos = self._pos[ords]
        return np.sort(pos[pos >= 0])

    def _held(self, group_id: int) -> Group | None:
        """The group if a page or the extra cache already holds it (no catalog read)."""
        i = self.position(group_id)
        if i is not None and self.view.has_page(i // PAGE):
            return self.view[i]
        return self._extra.get(group_id)

    def keyed_groups(self, keys: Iterable[str]) -> list[Keyed]:
        """The stored groups holding any of these file keys (``state_store.file_key``), in
        review order, each as (group id, its members' file key → path): what matching stored
        decisions reads, built from the member facts (``Engine.group_facts``, no JSON row
        decoded) a chunk at a time, so a review with every group decided holds neither a
        decoded group nor a ``Member`` per file. The last answer is kept: a question about
        some of the same files (the cursor's anchor after the records') is answered from it,
        and a thread worker asks first (``open_stored``)."""
        want = frozenset(keys)
        found = self._found
        if found is not None and want <= found[0]:
            return [kg for kg in found[1] if not want.isdisjoint(kg[1])]
        ids, paths = split_keys(want)
        lookup = getattr(self.port, "group_ords_of_files", None)
        out: list[Keyed] = []
        if lookup is not None:
            gids = [int(o) + 1 for o in lookup(sorted(set(ids)), sorted(set(paths)))]
            for i in range(0, len(gids), FACTS_CHUNK):
                out += keyed(self.facts(gids[i : i + FACTS_CHUNK]))
        else:  # a page at a time through every group
            every = self.all_ids()
            for i in range(0, len(every), PAGE):
                out += keyed(self.groups(every[i : i + PAGE]))
        out = [kg for kg in out if not want.isdisjoint(kg[1])]
        self._found = (want, out)
        return out

    def keyed_ids(self, group_ids: Sequence[int]) -> list[Keyed]:
        """These stored groups (ascending ids) as matching reads them, from their member facts
        a chunk at a time (ui/stored_match.py: the groups SQL could not pair)."""
        out: list[Keyed] = []
        for i in range(0, len(group_ids), FACTS_CHUNK):
            out += keyed(self.facts(group_ids[i : i + FACTS_CHUNK]))
        return out

    def matched(self, records: dict[str, Record]) -> dict[int, Decision]:
        """Stored decisions back to these groups (ui/stored_match.py; ``match_records``'
        rule, the common case found in SQL): what :meth:`prematch` found for records as these
        are, else matched now."""
        pre, self._prematched = self._prematched, None
        if pre is not None and pre[0] == _as_matched(records):
            return pre[1]
        return match_stored(self, records)

    def prematch(self, records: dict[str, Record]) -> None:
        """Match in a thread worker (the reload after a scan) so that the review's own call,
        on the event loop, finds the answer — used only if the records are still the same."""
        self._prematched = (_as_matched(records), match_stored(self, records))
        self.prematched_records = records  # the review takes rows it left in the catalog

    def prefetch(self, cursor: int, margin: int = PAGE // 4) -> bool:
        """Read the page after (or before) the cursor's when the cursor is within ``margin``
        of its end, so moving on finds it decoded; True when a page was read. Called from a
        thread worker (ui/screens/review.py)."""
        view = self.view
        number, at = divmod(cursor, PAGE)
        near = number + 1 if at >= PAGE - margin else number - 1 if at < margin else None
        if near is None or near < 0 or near * PAGE >= len(view) or view.has_page(near):
            return False
        view[near * PAGE]
        return True


def _as_matched(records: dict[str, Record]) -> dict[str, tuple]:
    """What matching reads of each record (the same objects: comparing them is cheap)."""
    return {
        k: (r.key, r.status, r.members, r.keep, r.undecided, r.batch) for k, r in records.items()
    }


def _norm(flt: GroupFilter | None) -> GroupFilter | None:
    """A filter that filters nothing is no filter (one key per view)."""
    return flt if flt is not None and (flt.tier or flt.folder) else None


class PagedIds(Sequence[int]):
    """A paged view's group ids in display order (ord + 1), read from its int32 ords."""

    def __init__(self, stored: StoredReview) -> None:
        self.stored = stored

    def __len__(self) -> int:
        return len(self.stored.view.ords)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> list[int]: ...
    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [int(o) + 1 for o in self.stored.view.ords[index]]
        return int(self.stored.view.ords[index]) + 1

    def __iter__(self) -> Iterator[int]:
        return (o + 1 for o in self.stored.view.ords.tolist())

    def __contains__(self, group_id: object) -> bool:
        return isinstance(group_id, int) and self.stored.position(group_id) is not None


class PagedById:
    """``by_id`` of a paged review: a group by id, decoded from its page on first use."""

    def __init__(self, stored: StoredReview) -> None:
        self.stored = stored

    def __getitem__(self, group_id: int) -> Group:
        g = self.stored.get(group_id)
        if g is None:
            raise KeyError(group_id)
        return g

    def get(self, group_id: int, default: Any = None) -> Any:
        g = self.stored.get(group_id)
        return default if g is None else g

    def __contains__(self, group_id: object) -> bool:
        return isinstance(group_id, int) and group_id in self.stored

    def __len__(self) -> int:
        return len(self.stored.all)


def open_stored(
    port: StoredPort, keys: Iterable[str] = (), saved: Any = None
) -> StoredReview | None:
    """The catalog's stored review, read in a thread worker so the event loop finds what it
    asks first already read: the view of the saved filter and sort, its first page, and the
    groups holding ``keys`` (the stored decisions' files and the cursor's). None when nothing
    is stored (a live scan's groups are then appended as found)."""
    saved = saved if isinstance(saved, dict) else None
    sort = saved.get("sort") if saved and saved.get("sort") in SORTS else "order"
    stored = StoredReview(port, sort)
    if not len(stored.all):
        return None
    if saved is not None:
        tier, folder = saved.get("tier"), saved.get("folder")
        flt = GroupFilter(
            tier if tier in TIERS else None, folder if isinstance(folder, str) and folder else None
        )
        stored.set_view(flt, sort)
        keys = {*keys, *(k for k in saved.get("position_files") or () if isinstance(k, str))}
    keys = set(keys)
    if keys:
        stored.keyed_groups(keys)
    if len(stored.view):
        stored.view[0]
    return stored


def record_keys(records: Any) -> set[str]:
    """Every file key in stored records (``Engine.load_decisions`` rows or Record objects)."""
    out: set[str] = set()
    for rec in records or ():
        members = rec.get("members") if isinstance(rec, dict) else getattr(rec, "members", ())
        out.update(k for k in members or () if isinstance(k, str))
    return out
