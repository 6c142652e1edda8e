"""What a review key must read before it can act, and the reads a thread worker does for it
(issue 13: no catalog read on the event loop).

A paged review (ui/group_pages.py) has in memory the view on screen, the ords of a few views
read ahead, and 4 decoded pages of 200. A tier/sort key or a folder filter whose view is not
held, or a jump to a page not decoded (g, G, a page down past the read-ahead), would read the
catalog's columns (3 s at 100,000 groups) or decode a page on the event loop. The review
screen asks :func:`view_ready`/:func:`jump_ready` first; when they say no, a worker runs
:func:`prepare_view`/:func:`load_around` while the app holds the keys typed meanwhile
(ui/keyhold.py), and the key then acts on what is in memory.
"""

from __future__ import annotations

import numpy as np

from lookalike.engine.catalog_groups import GroupFilter
from lookalike.ui.group_pages import PAGE, GroupPages, StoredReview

LIST_MARGIN = 60  # rows the group list may show around the cursor


def target(ords: np.ndarray, keep_id: int | None, cursor: int) -> int | None:
    """Where the cursor lands in a view (as ``ReviewState.rebuild_view`` places it): on the
    group it was on if the view has it, else at the same index, clamped."""
    if not len(ords):
        return None
    if keep_id is not None:
        hit = np.flatnonzero(ords == keep_id - 1)
        if len(hit):
            return int(hit[0])
    return max(0, min(cursor, len(ords) - 1))


def _pages_near(n: int, pos: int, margin: int) -> set[int]:
    return {p // PAGE for p in (max(0, pos - margin), pos, min(n - 1, pos + margin))}


def view_ready(
    stored: StoredReview, flt: GroupFilter | None, sort: str, keep_id: int | None, cursor: int
) -> bool:
    """Whether showing this view reads nothing: its ords held and the pages around where the
    cursor lands decoded."""
    pages = stored.pages_for(flt, sort)
    if pages is None:
        return False
    pos = target(pages.ords, keep_id, cursor)
    return pos is None or all(pages.has_page(p) for p in _pages_near(len(pages), pos, LIST_MARGIN))


def prepare_view(
    stored: StoredReview, flt: GroupFilter | None, sort: str, keep_id: int | None, cursor: int
) -> None:
    """Read the view's ords and decode the pages where the cursor will land (a worker)."""
    pages = stored.prepare(flt, sort)
    pos = target(pages.ords, keep_id, cursor)
    if pos is not None:
        _decode(pages, _pages_near(len(pages), pos, LIST_MARGIN))


def jump_ready(stored: StoredReview, index: int, margin: int = LIST_MARGIN) -> bool:
    """Whether moving the cursor to ``index`` of the view on screen decodes nothing."""
    view = stored.view
    if not len(view):
        return True
    index = max(0, min(index, len(view) - 1))
    return all(view.has_page(p) for p in _pages_near(len(view), index, margin))


def load_around(stored: StoredReview, index: int, margin: int = LIST_MARGIN) -> None:
    """Decode the pages around ``index`` of the view on screen (a worker)."""
    view = stored.view
    if len(view):
        index = max(0, min(index, len(view) - 1))
        _decode(view, _pages_near(len(view), index, margin))


def _decode(pages: GroupPages, numbers: set[int]) -> None:
    for p in sorted(numbers):
        pages[p * PAGE]
