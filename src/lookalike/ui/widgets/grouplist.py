"""Virtual group list: renders only the visible lines, so 10,000 groups cost nothing per key.

A paged review (ui/group_pages.py) decodes its groups a page at a time. The keys read the
pages they go to in a worker (ui/screens/review_loads.py); the mouse wheel scrolls the list
without a key, so a line whose page is not decoded shows "loading …" and a thread worker
decodes the page, never the event loop (issue 13).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from lookalike.engine.records import Group
from lookalike.ui.group_pages import PAGE, GroupPages
from lookalike.ui.state import ReviewState

STATUS_MARK = {"pending": " ", "accepted": "✓", "changed": "✎", "not-dup": "≠", "applied": "⌫"}


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class GroupList(Widget, can_focus=False):
    """Lines: status, index, tier, file count, bytes to free. The cursor line is highlighted.

    Scrolls itself (``top``, the first group shown) by half a page when the cursor leaves it
    (see ``follow_cursor``), with no layout pass of the screen as a Textual scroll view has.
    No scroll bar (the title says "Group n/N"): with 10,000 groups its thumb is one cell.
    Styles are looked up once per repaint, not per line (a widget's style walks its ancestors).
    """

    COMPONENT_CLASSES = {"grouplist--cursor", "grouplist--done", "grouplist--notdup"}

    def __init__(self, state: ReviewState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self.top = 0
        self._rows = -1  # len(view) at the last full repaint
        self._line_styles: tuple[Style, ...] | None = None
        self._wanted: set[int] = set()  # pages a drawn line needs, not decoded yet
        self._reading: set[tuple[int, int]] = set()  # (id of the view's pages, page) in a worker

    def _height(self) -> int:
        return self.content_size.height or self.size.height or 1

    def refresh_rows(self) -> None:
        self._rows = len(self.state.view)
        self.follow_cursor()

    def cursor_moved(self, old: int) -> None:
        """Only the cursor moved: repaint its old and new line, or all when the list scrolls."""
        if self.follow_cursor(repaint=False) or len(self.state.view) != self._rows:
            self.refresh_rows()
            return
        for index in {old, self.state.cursor}:
            self.refresh_lines(index)

    def refresh_lines(self, index: int, count: int = 1) -> None:
        """Repaint the lines of groups ``index`` … ``index + count - 1`` (view positions)."""
        y = index - self.top
        if y + count > 0 and y < self._height():
            self.refresh(Region(0, max(0, y), self.size.width, count))

    def follow_cursor(self, repaint: bool = True) -> bool:
        """Scroll so the cursor's line is in sight; returns whether the list scrolled.

        A cursor leaving the list lands in its middle (half a page of scroll at once): every
        line of a scrolled list is repainted, and Textual then re-cuts all the pictures on those
        lines too, so scrolling by one line made every ``j`` past the first screenful twice as
        slow as one that only moves the cursor."""
        h = self._height()
        top, cur = self.top, self.state.cursor
        if cur < top or cur >= top + h:
            top = cur - h // 2
        top = max(0, min(top, len(self.state.view) - h))
        moved = top != self.top
        self.top = top
        if repaint:
            self.refresh()
        return moved

    def on_resize(self) -> None:
        self.follow_cursor()

    def _scroll_by(self, lines: int) -> None:
        top = max(0, min(self.top + lines, len(self.state.view) - self._height()))
        if top != self.top:
            self.top = top
            self.refresh()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll_by(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll_by(-3)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_styles = (
            self.rich_style,
            self.get_component_rich_style("grouplist--notdup"),
            self.get_component_rich_style("grouplist--done"),
            self.get_component_rich_style("grouplist--cursor"),
        )
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width or self.size.width
        index = y + self.top
        view = self.state.view
        base, notdup, done, cursor = self._line_styles or (self.rich_style,) * 4
        if index >= len(view):
            return Strip.blank(width, base)
        group = self._group_at(index)
        if group is None:  # its page is being read in a worker
            text = f"  {index + 1:>5} loading …"
            return Strip([Segment(text[:width].ljust(width), base + Style(dim=True))], width)
        status = self.state.status(group)
        text = (
            f"{'▶' if index == self.state.cursor else ' '}{STATUS_MARK.get(status, '!')}"
            f"{index + 1:>5} {group.tier:<7}"
            f"{len(group.members):>3} {human_bytes(group.bytes_to_free):>9}"
        )
        style: Style = base
        if status == "not-dup":
            style = style + notdup
        elif status != "pending":
            style = style + done
        if index == self.state.cursor:
            style = style + cursor
        return Strip([Segment(text[:width].ljust(width), style)], width)

    # -- pages a drawn line needs, read in a worker ---------------------------------------------
    def _group_at(self, index: int) -> Group | None:
        """The group on a line; None (and its page asked for) when decoding it would block
        the event loop."""
        stored = self.state.stored
        if stored is not None and not stored.view.has_page(index // PAGE):
            if not self._wanted:
                self.call_later(self._read_wanted)
            self._wanted.add(index // PAGE)
            return None
        return self.state.by_id[self.state.view[index]]

    def _read_wanted(self) -> None:
        stored = self.state.stored
        wanted, self._wanted = self._wanted, set()
        if stored is None:
            return
        pages = stored.view
        todo = sorted(n for n in wanted if (id(pages), n) not in self._reading)
        if not todo:
            return
        self._reading.update((id(pages), n) for n in todo)
        keep = self.state.cursor // PAGE  # the cursor's page stays held while these load
        self.run_worker(lambda: self._read_pages(pages, todo, keep), thread=True,
                        group="grouplist-read", exit_on_error=False)  # fmt: skip

    def _read_pages(self, pages: GroupPages, numbers: list[int], keep: int) -> None:
        """Decode these pages of a view (a thread worker); then the list repaints."""
        error = None
        try:
            for n in numbers:
                pages.touch(keep)
                if n * PAGE < len(pages):
                    pages[n * PAGE]
        except LookupError:  # the stored review changed: the reload that follows repaints
            error = ""
        except Exception as exc:  # noqa: BLE001 - said on screen; no repaint, so no retry loop
            error = str(exc) or type(exc).__name__
        self.post_message(RowsRead(id(pages), numbers, error))

    def on_rows_read(self, message: RowsRead) -> None:
        self._reading.difference_update((message.pages, n) for n in message.numbers)
        if message.error is None:
            self.refresh()
        elif message.error:
            self.notify(f"The review could not be read: {message.error}", severity="error")


class RowsRead(Message):
    """A worker decoded the pages some lines of the list wait for."""

    def __init__(self, pages: int, numbers: list[int], error: str | None) -> None:
        super().__init__()
        self.pages = pages
        self.numbers = numbers
        self.error = error
