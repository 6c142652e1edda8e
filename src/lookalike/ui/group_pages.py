"""The stored review as a read-only sequence of groups decoded a page at a time (issue 13).

Why: ``Engine.last_groups()`` decodes every stored group before the first shows (≈ 2.7 KB
per file, 40 s per 100,000 groups; docs/scale.md). :class:`GroupPages` holds only the view —
an int32 array of group ords from ``engine.group_columns`` — and an LRU of decoded pages of
``PAGE`` groups from ``engine.group_page``, so code that indexes a list of groups can index
this instead. The review (ui/state.py) does not use it yet: its record matching, folder
counts and select-by-criteria still iterate every group (docs/scale.md, "Remaining").
Ords are positions in the stored review, so a view must be read again after a scan stores a
new review (the app reloads the review then); a page that comes back short raises.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, overload

import numpy as np

from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.records import Group

PAGE = 200  # groups per page: a screenful many times over, ≈ 2 MB decoded (docs/scale.md)
PAGES_HELD = 4  # the page on screen, the ones either side, and one more


class PagePort(Protocol):
    """What paging needs from an engine (lookalike.engine.api.Engine, ui/fake.FakeEngine)."""

    def group_columns(self, flt: GroupFilter | None = None, sort: str = "order") -> Any: ...

    def group_page(self, ords: Sequence[int]) -> list[Group]: ...


class GroupPages(Sequence[Group]):
    """The groups of one view (filter + sort) by position; pages load on first use."""

    def __init__(
        self,
        engine: PagePort,
        flt: GroupFilter | None = None,
        sort: str = "order",
        held: int = PAGES_HELD,
    ) -> None:
        self.engine = engine
        self.ords: np.ndarray = np.asarray(engine.group_columns(flt, sort), dtype=np.int32)
        self.held = max(1, held)
        self._pages: OrderedDict[int, list[Group]] = OrderedDict()
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

    def _page(self, number: int) -> list[Group]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        ords = self.ords[number * PAGE : (number + 1) * PAGE]
        page = self.engine.group_page(ords.tolist())
        if len(page) != len(ords):  # the catalog changed under the view (a scan stored)
            raise LookupError(
                "the stored review changed while it was read (a scan stored new groups); "
                "read it again from the engine"
            )
        self._pages[number] = page
        self.loads += 1
        while len(self._pages) > self.held:
            self._pages.popitem(last=False)
        return page
