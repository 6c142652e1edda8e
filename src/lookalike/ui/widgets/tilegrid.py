"""The review's tiles drawn by ONE widget: frames, titles, pictures and captions, line by line.

The grid of cards (``thumbs.ThumbGrid``: a card, a picture and a caption widget per file) made
Textual lay the screen out again whenever the next group had another number of files, and
restyle and composite three widgets per file on every key. Here a key only changes what the
lines say: moving to a 3-file group from a 5-file one repaints the grid's lines, with no layout
pass, and ``l``/``space`` repaint only the lines of the tiles whose title or caption changed.
Pictures are the half-cell lines the loader thread drew (``imagefit.halfcell_lines``), so a
paint copies finished lines; without graphics a tile shows the format and size instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.color import Color
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from lookalike.engine.records import Group
from lookalike.ui.widgets.grouplist import human_bytes
from lookalike.ui.widgets.thumbs import (
    CARD_CHROME_H,
    ThumbCache,
    TilePlan,
    badges,
    duration_badge,
    plan_grid,
)

MARGIN = 1  # blank column left of the tiles; the right one shows the scroll position
GUTTER = 1  # blank column between tiles


@dataclass
class Tile:
    """What one file's tile shows (compared between keys to repaint only what changed)."""

    index: int
    member: Any
    keep: bool
    selected: bool
    flags: str  # the badges in the bottom border, plain text
    image: Any  # the letterboxed picture (PIL) or None while the loader works
    lines: Any  # its half-cell lines, or None

    @property
    def path(self) -> str:
        return str(self.member.path)

    @property
    def title(self) -> str:
        mark = "▶" if self.selected else ""
        return f"{mark}{self.index + 1} {'KEEP' if self.keep else 'remove'}"

    @property
    def caption(self) -> tuple[str, str]:
        m = self.member
        return (
            os.path.basename(m.path),
            f"{m.width}x{m.height} · {human_bytes(m.size)} · {m.format}",
        )


class TileClicked(Message):
    """A tile was clicked: the review selects that file."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


class TileGrid(TilePlan, Widget):
    """Every tile of the current group, drawn in ``render_line`` (see the module docstring).

    Same interface as ``thumbs.ThumbGrid``: the review calls ``set_area`` on resize, ``show``
    on every key, ``set_images``/``refit`` when the loader thread has pictures.
    """

    def __init__(self, image_cls: type[Widget] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_cls = image_cls
        self.group_id: int | None = None
        self.single = False
        self.area: tuple[int, int] = (0, 0)  # cells available for tiles (set by the screen)
        self._plan: tuple[int, int, int] = (1, 0, 0)
        self.tiles: list[Tile] = []
        self.top = 0  # first line shown: a group taller than the pane scrolls
        self._selected = -1
        self._styles: tuple[Any, dict[str, Style]] | None = None
        self._st: dict[str, Style] = {}

    # -- geometry ---------------------------------------------------------------------------

    def set_area(self, width: int, height: int, single: bool) -> bool:
        """The screen's layout changed; returns whether the tiles changed shape."""
        if (width, height, single) == (*self.area, self.single):
            return False
        self.area, self.single = (width, height), single
        changed = self._replan(len(self.tiles))
        self.refresh()
        return changed

    def _replan(self, members: int) -> bool:
        plan = plan_grid(max(1, members), *self.area, self.single)
        if plan == self._plan:
            return False
        self._plan = plan
        return True

    def _tile_at(self, index: int) -> tuple[int, int]:
        """(x, first line) of tile ``index`` in the grid's own coordinates (not scrolled)."""
        cols, tile_w, tile_h = self._plan
        row, col = divmod(index, cols)
        return MARGIN + col * (tile_w + GUTTER), row * tile_h

    def _content_height(self) -> int:
        cols, _, tile_h = self._plan
        return -(-len(self.tiles) // max(1, cols)) * tile_h

    # -- state ------------------------------------------------------------------------------
    def show(
        self,
        group: Group | None,
        keep: frozenset[str],
        selected: int,
        cache: ThumbCache,
        marks: set[str],
        favourites: set[str],
        rule_hits: Mapping[str, str] | None = None,
    ) -> None:
        """Show ``group``: repaints only the lines of tiles that changed."""
        members = group.members if group else ()
        replanned = self._replan(len(members))
        box, bg = self.box, self.background
        tiles = []
        for i, m in enumerate(members):
            flags = ("●" if m.path in marks else "") + ("★" if m.path in favourites else "")
            if rule_hits and m.path in rule_hits:  # a content rule fires on it
                flags += f"⚑{rule_hits[m.path][:12]}"
            flags = " ".join(
                x for x in (duration_badge(m), flags, badges(getattr(m, "flags", ()))) if x
            )
            image = cache.fitted(m.thumb, box, bg) if self.image_cls is not None else None
            lines = cache.lines(m.thumb, box, bg) if self.image_cls is not None else None
            tiles.append(Tile(i, m, m.path in keep, i == selected, flags, image, lines))
        self.group_id = group.id if group else None
        old, self.tiles = self.tiles, tiles
        moved = self._follow(selected)
        if replanned or moved or len(old) != len(tiles):
            self.refresh()
        else:
            self._refresh_changed(old, tiles)

    def on_resize(self) -> None:
        """The pane's size is settled now (``show`` may have run with the old one)."""
        self._follow(self._selected)
        self.refresh()

    def _follow(self, selected: int) -> bool:
        """Scroll so the selected tile is in sight; True if the view moved. The height is the
        area the screen planned for (on a resize this runs before the new layout)."""
        self._selected = selected
        height = self.area[1] or self.size.height
        top = self.top
        if 0 <= selected < len(self.tiles):
            _, y = self._tile_at(selected)
            tile_h = self._plan[2]
            if y < top:
                top = y
            elif y + tile_h > top + height:
                top = y + tile_h - height
        top = max(0, min(top, self._content_height() - height))
        if top != self.top:
            self.top = top
            return True
        return False

    def _refresh_changed(self, old: list[Tile], new: list[Tile]) -> None:
        """Repaint the lines of the tiles whose title, picture, caption or badges changed."""
        _, tile_w, tile_h = self._plan
        for a, b in zip(old, new, strict=True):
            x, y = self._tile_at(b.index)
            y -= self.top
            spans: list[tuple[int, int]] = []
            if (a.title, a.member.path) != (b.title, b.member.path):
                spans.append((y, 1))
            if a.image is not b.image or a.lines is not b.lines or a.member is not b.member:
                spans.append((y + 1, tile_h - 2))
            elif a.caption != b.caption or a.selected != b.selected:
                spans.append((y + tile_h - 3, 2))
            if a.flags != b.flags:
                spans.append((y + tile_h - 1, 1))
            for line, count in spans:
                self.refresh(Region(x, line, tile_w, count))

    def set_images(self, cache: ThumbCache) -> None:
        """Thumbnails arrived from the loader thread: fill the tiles that still lack theirs."""
        self._set_images(cache, only_missing=True)

    def refit(self, cache: ThumbCache) -> None:
        """Tiles changed shape: pictures of the old shape are replaced by fitted ones (or none
        until the loader has made them)."""
        self._set_images(cache, only_missing=False)

    def _set_images(self, cache: ThumbCache, only_missing: bool) -> None:
        if self.image_cls is None:
            return
        box, bg = self.box, self.background
        old = [Tile(**vars(t)) for t in self.tiles]
        for t in self.tiles:
            if only_missing and t.image is not None and t.lines:
                continue
            t.image = cache.fitted(t.member.thumb, box, bg)
            t.lines = cache.lines(t.member.thumb, box, bg)
        self._refresh_changed(old, self.tiles)

    # -- input ------------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        cols, tile_w, tile_h = self._plan
        col, x_in = divmod(event.x - MARGIN, tile_w + GUTTER)
        row = (event.y + self.top) // tile_h
        index = row * cols + col
        if event.x >= MARGIN and x_in < tile_w and col < cols and 0 <= index < len(self.tiles):
            self.post_message(TileClicked(index))

    def _scroll_by(self, lines: int) -> None:
        top = max(0, min(self.top + lines, self._content_height() - self.size.height))
        if top != self.top:
            self.top = top
            self.refresh()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll_by(3)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll_by(-3)

    # -- drawing ----------------------------------------------------------------------------
    def _palette(self) -> dict[str, Style]:
        """Rich styles from the theme, made once per theme and background."""
        base = self.rich_style
        key = (self.app.theme, base)
        if self._styles is not None and self._styles[0] == key:
            return self._styles[1]
        colors = self.app.theme_variables
        bg = self.background_colors[1]

        def fg(name: str, default: str) -> Color:
            try:
                return bg + Color.parse(colors.get(name, default))
            except Exception:
                return Color.parse(default)

        back = bg.rich_color
        accent = bg.blend(fg("accent", "#ffa62b"), 0.4)
        styles = {
            "base": base,
            "border": Style(color=fg("panel-lighten-2", "#555555").rich_color, bgcolor=back),
            "keep": base + Style(color=fg("success", "#4EBF71").rich_color, bold=True),
            "remove": base + Style(color=fg("error", "#ba3c5b").rich_color),
            "flags": base + Style(color=fg("warning", "#ffa62b").rich_color),
            "caption": Style(color=fg("foreground", "#e0e0e0").rich_color, bgcolor=back),
            "selected": Style(
                color=fg("foreground", "#e0e0e0").rich_color,
                bgcolor=accent.rich_color,
                bold=True,
            ),
            "muted": Style(color=fg("foreground-muted", "#909090").rich_color, bgcolor=back),
        }
        self._styles = (key, styles)
        return styles

    def render_lines(self, crop: Region) -> list[Strip]:
        self._st = self._palette()  # once per paint: the widget's style walks the ancestors
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        st = self._st or self._palette()
        cols, tile_w, tile_h = self._plan
        if not tile_h or not self.tiles:
            return Strip.blank(width, st["base"])
        row, ty = divmod(y + self.top, tile_h)
        parts = [Strip.blank(MARGIN, st["base"])]
        for col in range(cols):
            index = row * cols + col
            if index >= len(self.tiles):
                break
            if col:
                parts.append(Strip.blank(GUTTER, st["base"]))
            parts.append(self._tile_line(self.tiles[index], ty, tile_w, tile_h, st))
        line = Strip.join(parts).crop_extend(0, width - 1, st["base"])
        return Strip.join([line, self._scroll_cell(y, st)])

    def _scroll_cell(self, y: int, st: dict[str, Style]) -> Strip:
        """The right margin: a thumb where the view is, when the group is taller than it."""
        height, total = self.size.height, self._content_height()
        if total <= height or not height:
            return Strip.blank(1, st["base"])
        start = self.top * height // total
        end = max(start + 1, (self.top + height) * height // total)
        return Strip([Segment("┃" if start <= y < end else "│", st["border"])], 1)

    def _tile_line(
        self, tile: Tile, ty: int, tile_w: int, tile_h: int, st: dict[str, Style]
    ) -> Strip:
        """Line ``ty`` of one tile: the frame with the title or badges, a picture line or a
        caption line, ``tile_w`` cells."""
        inner = tile_w - 2
        border = st["border"]
        if ty == 0:
            title = Segment(tile.title, st["keep" if tile.keep else "remove"])
            return _edge("╭", "╮", inner, [title], "left", border, st["base"])
        if ty == tile_h - 1:
            label = [Segment(tile.flags, st["flags"])] if tile.flags else []
            return _edge("╰", "╯", inner, label, "right", border, st["base"])
        side = Segment("│", border)
        pad = Segment(" ", st["base"])
        pic_w = max(0, inner - 2)
        caption_row = ty - (tile_h - 3)
        if caption_row >= 0:
            text = tile.caption[caption_row]
            style = st["selected" if tile.selected else "caption"]
            body = Strip([Segment(_fit(text, pic_w), style)], pic_w)
        else:
            body = self._picture_line(tile, ty - 1, pic_w, tile_h - CARD_CHROME_H, st)
        return Strip.join([Strip([side, pad], 2), body, Strip([pad, side], 2)])

    def _picture_line(
        self, tile: Tile, y: int, width: int, height: int, st: dict[str, Style]
    ) -> Strip:
        if self.image_cls is not None:
            if tile.lines and y < len(tile.lines):
                return tile.lines[y].crop_extend(0, width, st["base"])
            return Strip.blank(width, st["base"])
        m = tile.member  # graphics off: the format and size, centred
        text = {height // 2 - 1: str(m.format), height // 2: f"{m.width}x{m.height}"}.get(y, "")
        text = _fit(text, width)
        left = (width - len(text)) // 2
        return Strip(
            [
                Segment(" " * left, st["muted"]),
                Segment(text, st["muted"]),
                Segment(" " * (width - left - len(text)), st["muted"]),
            ],
            width,
        )


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis, padded with spaces."""
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…" if width else ""
    return text.ljust(width)


def _edge(
    left: str,
    right: str,
    inner: int,
    label: list[Segment],
    align: str,
    border: Style,
    base: Style,
) -> Strip:
    """A top or bottom frame line with a label (title left, badges right), as Textual draws
    a round border's title: ``╭─ 1 KEEP ───╮`` and ``╰─── letterbox ─╯``."""
    room = inner - 4  # a rule cell and a space each side of the label
    text = "".join(s.text for s in label)
    if label and room > 0:
        if len(text) > room:
            text = text[: room - 1] + "…"
        label = [Segment(" ", base), Segment(text, label[0].style), Segment(" ", base)]
        fill = inner - len(text) - 2
        lead = 1 if align == "left" else fill - 1
        segments = [
            Segment(left + "─" * lead, border),
            *label,
            Segment("─" * (fill - lead) + right, border),
        ]
    else:
        segments = [Segment(left + "─" * max(0, inner) + right, border)]
    return Strip(segments, inner + 2)
