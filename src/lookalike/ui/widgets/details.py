"""Details of the selected file: what a reviewer needs to judge a copy.

Drawn as plain wrapped lines (label column + value) rather than a Rich table: a table measures
and lays out every cell on every key, which cost more than the rest of the pane's repaint.
"""

from __future__ import annotations

import os
import textwrap

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lookalike.engine.records import Group, Member
from lookalike.ui.widgets.grouplist import human_bytes

LABEL_W = 7  # the longest label ("suggest", "because", "matched")


def _rows(
    group: Group, member: Member, keep: frozenset[str], status: str, mine: str
) -> list[tuple[str, str]]:
    rows = [
        ("file", os.path.basename(member.path)),
        ("folder", os.path.dirname(member.path)),
        ("action", "KEEP" if member.path in keep else "REMOVE"),
        ("size", f"{human_bytes(member.size)} ({member.size:,} bytes)"),
        ("pixels", f"{member.width}x{member.height}"),
        ("format", member.format),
        ("taken", member.capture_time or "-"),
        ("camera", member.camera or "-"),
        ("similar", f"{member.score:.3f}"),
    ]
    if member.duration is not None:  # a video: probe, and the footage it shares
        fps = f" · {member.fps:g} fps" if member.fps else ""
        rows.append(("video", f"{member.duration:.1f} s{fps} · {member.codec or '?'}"))
        rows.append(
            (
                "matched",
                "; ".join(
                    f"{s['a_start']:.1f}–{s['a_end']:.1f} s = keeper "
                    f"{s['b_start']:.1f}–{s['b_end']:.1f} s"
                    for s in member.segments
                )
                or "-",
            )
        )
    # what this copy is relative to the keeper, as measured by the scan; then the user's
    rows.append(("flags", "; ".join([*member.flags, *([mine] if mine else [])]) or "-"))
    rows.append(("", ""))
    rows.append(("group", f"{group.tier} · {len(group.members)} files · {status}"))
    free = sum(m.size for m in group.members if m.path not in keep)
    rows.append(("free", human_bytes(free)))
    rows.append(("suggest", os.path.basename(group.keep)))
    rows.append(("because", group.reason))
    return rows


def _wrap(rows: list[tuple[str, str]], width: int) -> list[list[tuple[str, bool]]]:
    """Lines of (text, bold) parts: the label column, then the value wrapped under itself."""
    value_w = max(8, width - LABEL_W - 1)
    lines: list[list[tuple[str, bool]]] = []
    for label, value in rows:
        parts = textwrap.wrap(value, value_w, break_on_hyphens=False) or [""]
        for i, part in enumerate(parts):
            head = (label if i == 0 else "").ljust(LABEL_W) + " "
            lines.append([(head, True), (part, label == "action")])
    return lines


def details_text(rows: list[tuple[str, str]], width: int) -> Content:
    """Label column in bold, values wrapped (long names folded) under their own column."""
    return Content("\n").join(
        Content.assemble(*((text, "bold") if strong else text for text, strong in line))
        for line in _wrap(rows, width)
    )


class Details(Widget):
    """Painted from ready-made lines: a Static re-measures and re-wraps its whole text on every
    key, which made this pane the most expensive part of a j/k repaint."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rows: list[tuple[str, str]] = []
        self._message = ""
        self._shown: object = None
        self._lines: list[list[tuple[str, bool]]] = []

    @property
    def content(self) -> Content:
        """What the pane says, one line per field, unwrapped (for tests and exports)."""
        if not self._rows:
            return Content(self._message)
        return details_text(self._rows, 10_000)

    def _width(self) -> int:
        return self.content_region.width or self.size.width or 46

    def show(
        self,
        group: Group | None,
        member: Member | None,
        keep: frozenset[str],
        status: str,
        marked: bool = False,
        favourite: bool = False,
        note: str = "",
    ) -> None:
        if group is None or member is None:
            self._set([], "No groups. Press 1 to choose folders, then s to scan.")
            return
        mine = " ".join(f for f, on in (("marked", marked), ("favourite", favourite)) if on)
        rows = _rows(group, member, keep, status, mine)
        if note:  # the reviewer's own words first under the flags
            rows.insert(rows.index(("", "")), ("note", note))
        self._set(rows, "")

    def _set(self, rows: list[tuple[str, str]], message: str) -> None:
        """Repaint only when what the pane says changed (l/h within a group often keeps it)."""
        key = (tuple(rows), message, self._width())
        if key == self._shown:
            return
        self._shown, self._rows, self._message = key, rows, message
        before = self._lines
        self._lines = (
            _wrap(rows, self._width())
            if rows
            else [[(part, False)] for part in textwrap.wrap(message, max(8, self._width()))]
        )
        # Only the lines that say something new are repainted (each costs a styled strip).
        width = self.size.width
        changed = [
            Region(0, y, width, 1)
            for y in range(max(len(before), len(self._lines)))
            if y >= len(before) or y >= len(self._lines) or before[y] != self._lines[y]
        ]
        if changed:
            self.refresh(*changed)

    def on_resize(self) -> None:
        if self._rows or self._message:
            self._set(self._rows, self._message)

    def render_lines(self, crop: Region) -> list[Strip]:
        base = self.rich_style  # once per repaint: it walks the ancestors
        self._styles = (base, base + Style(bold=True))
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width or self.size.width
        base, bold = getattr(self, "_styles", None) or (self.rich_style,) * 2
        if y >= len(self._lines):
            return Strip.blank(width, base)
        segments = [Segment(text, bold if strong else base) for text, strong in self._lines[y]]
        return Strip(segments).crop_extend(0, width, base)
