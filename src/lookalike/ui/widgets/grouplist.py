"""Virtual group list: renders only the visible lines, so 10,000 groups cost nothing per key."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lookalike.ui.state import ReviewState

STATUS_MARK = {"pending": " ", "accepted": "✓", "changed": "✎", "not-dup": "≠", "applied": "⌫"}


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class GroupList(ScrollView, can_focus=False):
    """Lines: status, index, tier, file count, bytes to free. The cursor line is highlighted.

    No scroll bar (the title says "Group n/N"): with 10,000 groups its thumb is one cell and
    repainting it cost as much as the list itself. Styles are looked up once per repaint, not
    per line (a widget's style walks its ancestors).
    """

    COMPONENT_CLASSES = {"grouplist--cursor", "grouplist--done", "grouplist--notdup"}

    def __init__(self, state: ReviewState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self._line_styles: tuple[Style, ...] | None = None

    def refresh_rows(self) -> None:
        self.virtual_size = Size(self.size.width or 30, len(self.state.view))
        self.follow_cursor()
        self.refresh()

    def cursor_moved(self, old: int) -> None:
        """Only the cursor moved: repaint its old and new line, or all when the list scrolls."""
        top = int(self.scroll_offset.y)
        self.follow_cursor(repaint=False)
        if int(self.scroll_offset.y) != top or len(self.state.view) != self.virtual_size.height:
            self.refresh_rows()
            return
        for index in {old, self.state.cursor}:
            self.refresh_lines(index)

    def follow_cursor(self, repaint: bool = True) -> None:
        h = self.scrollable_content_region.height or self.size.height or 1
        top = int(self.scroll_offset.y)
        cur = self.state.cursor
        if cur < top:
            self.scroll_to(y=cur, animate=False, immediate=True)
        elif cur >= top + h:
            self.scroll_to(y=cur - h + 1, animate=False, immediate=True)
        if repaint:
            self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_styles = (
            self.rich_style,
            self.get_component_rich_style("grouplist--notdup"),
            self.get_component_rich_style("grouplist--done"),
            self.get_component_rich_style("grouplist--cursor"),
        )
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        index = y + int(self.scroll_offset.y)
        view = self.state.view
        base, notdup, done, cursor = self._line_styles or (self.rich_style,) * 4
        if index >= len(view):
            return Strip.blank(width, base)
        group = self.state.by_id[view[index]]
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
