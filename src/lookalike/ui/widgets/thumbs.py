"""Thumbnail grid of one group.

Pictures are decoded and letterboxed to their tile's shape by a thread worker beforehand (see
``imagefit``), so rendering never opens a file on the event loop and a portrait never turns into
a landscape; a card without its picture yet shows a caption only.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from rich.style import Style
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from lookalike.engine.records import Group
from lookalike.ui import imagefit
from lookalike.ui.widgets.grouplist import human_bytes

#: Cells a card spends around its picture: border + padding across, border + caption down.
CARD_CHROME_W = 4
CARD_CHROME_H = 4
MIN_TILE_W = 18
MIN_TILE_H = 9

Box = tuple[int, int]  # (columns, rows) of the picture area of a tile


class ThumbCache:
    """Decoded thumbnails (LRU) and their letterboxed versions per tile shape.

    ``load`` and ``load_fitted`` are called from thread workers only; ``get``/``fitted`` are cheap
    dictionary reads for the event loop.
    """

    def __init__(self, size: int = 256, side: int = 256) -> None:
        self.size = size
        self.side = side  # longest side kept: a small photo's own bytes serve as its thumbnail
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._fitted: OrderedDict[tuple[str, Box, imagefit.RGB], Any] = OrderedDict()
        self._lines: dict[tuple[str, Box, imagefit.RGB], Any] = {}
        self._lock = threading.Lock()  # the event loop reads while a loader thread writes

    def get(self, path: str | None) -> Any:
        if not path:
            return None
        with self._lock:
            im = self._items.get(path)
            if im is not None:
                self._items.move_to_end(path)
            return im

    def load(self, path: str | None) -> Any:
        if not path:
            return None
        im = self.get(path)
        if im is not None:
            return im
        from PIL import Image

        try:
            with Image.open(path) as src:
                im = imagefit.small_rgb(src, self.side)
        except (OSError, ValueError, Image.DecompressionBombError):
            return None
        with self._lock:
            self._items[path] = im
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return im

    def fitted(self, path: str | None, box: Box, background: imagefit.RGB) -> Any:
        if not path:
            return None
        key = (path, box, background)
        with self._lock:
            im = self._fitted.get(key)
            if im is not None:
                self._fitted.move_to_end(key)
            return im

    def load_fitted(
        self, path: str | None, box: Box, background: imagefit.RGB, lines: bool = False
    ) -> Any:
        """The thumbnail letterboxed into ``box`` cells (thread workers only); with ``lines``
        also drawn as half-cell lines ready to paint (see ``lines``)."""
        im = self.fitted(path, box, background)
        if (im is not None and (not lines or self.lines(path, box, background))) or not path:
            return im
        if im is None:
            src = self.load(path)
            if src is None:
                return None
            im = imagefit.fit(src, imagefit.box_pixels(*box), background)
        drawn = imagefit.halfcell_lines(im, *box) if lines else None
        key = (path, box, background)
        with self._lock:
            # another worker (the visible group's load beside the neighbours' prefetch) may
            # have made it meanwhile: keep its objects — tiles compare pictures by identity,
            # and a second object repainted a tile whose picture had not changed
            have, have_lines = self._fitted.get(key), self._lines.get(key)
            if have is not None and (drawn is None or have_lines is not None):
                return have
            self._fitted[key] = im if have is None else have
            if drawn is not None:
                self._lines[key] = drawn
            while len(self._fitted) > self.size:
                key, _ = self._fitted.popitem(last=False)
                self._lines.pop(key, None)
        return im

    def lines(self, path: str | None, box: Box, background: imagefit.RGB) -> Any:
        """Half-cell lines of the fitted thumbnail, if a worker made them."""
        if not path:
            return None
        with self._lock:
            return self._lines.get((path, box, background))


class LinesImage(Widget):
    """Paints half-cell lines made by a thread worker (``imagefit.halfcell_lines``): the same
    picture as textual-image's half-cell widget, but a key press only copies finished lines
    instead of scaling the picture and building a style per cell on the event loop."""

    def __init__(self, classes: str = "", id: str | None = None) -> None:  # noqa: A002
        super().__init__(classes=classes, id=id)
        self.image: Any = None
        self._lines: list[Strip] = []
        self._style: Style | None = None

    def set_image(self, image: Any, lines: list[Strip] | None = None) -> None:
        self.image = image
        self._lines = lines or []
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._style = self.rich_style  # once per repaint: it walks the ancestors
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self._style or self.rich_style
        if y < len(self._lines):
            return self._lines[y].crop_extend(0, width, style)
        return Strip.blank(width, style)


def uses_lines(image_cls: type[Widget] | None) -> bool:
    """Half-cell graphics are drawn from pre-made lines (kitty/sixel/unicode: textual-image)."""
    return image_cls is not None and "Halfcell" in image_cls.__name__


class ThumbCard(Vertical):
    """One member: its picture (if graphics are on) and a caption; the title says keep/remove.

    The children are made in ``__init__`` and held directly, so a card can be updated or cleared
    at any moment, before or after Textual has mounted them (a quick ``t t`` used to query
    children that did not exist yet).
    """

    def __init__(self, image_cls: type[Widget] | None) -> None:
        super().__init__(classes="thumbcard")
        self.image_cls = image_cls
        self.path = ""
        self._data: tuple[Any, ...] | None = None
        self._img: Widget
        if uses_lines(image_cls):
            self._img = LinesImage(classes="thumbimg")
        elif image_cls is not None:
            self._img = image_cls(None, classes="thumbimg")  # type: ignore[call-arg]
        else:
            self._img = Static("", classes="thumbimg noimg")
        self._lines: Any = None
        self._caption = Static("", classes="caption")
        self._caption_text = ""
        self._titles = ("", "")

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._img
        yield self._caption

    def on_mount(self) -> None:
        self._apply()

    def set_member(
        self,
        index: int,
        member: Any,
        keep: bool,
        selected: bool,
        image: Any,
        flags: str,
        lines: Any = None,
    ) -> None:
        """Remember what to show; applied now if mounted, else once mounted."""
        self.path = member.path
        # Only the title, classes and contents change here: those repaint without a relayout.
        mark = "▶" if selected else ""
        self._set_titles(
            f"[$success b]{mark}{index + 1} KEEP[/]"
            if keep
            else f"[$error]{mark}{index + 1} remove[/]",
            f"[$warning]{flags}[/]" if flags else "",
        )
        # No classes on the card itself: a class change restyles the card and its children,
        # which cost more per key than painting them; only the caption's highlight needs one.
        self._caption.set_class(selected, "-selected")
        self.display = True
        self._data = (member, image, index, keep, flags)
        self._lines = lines
        if self.is_mounted:
            self._apply()

    def set_image(self, image: Any, lines: Any = None) -> None:
        if self._data is not None:
            self._data = (self._data[0], image, *self._data[2:])
            self._lines = lines
            if self.is_mounted:
                self._apply()

    @property
    def image(self) -> Any:
        """The (letterboxed) picture shown, or None."""
        return self._data[1] if self._data is not None else None

    @property
    def flags(self) -> str:
        """The badges in the bottom border, plain text (as ``TileGrid``'s tiles have them)."""
        return self._data[4] if self._data is not None else ""

    def _apply(self) -> None:
        if self._data is None:
            return
        member, image, index, keep, flags = self._data
        img = self._img
        if isinstance(img, LinesImage):
            if img.image is not image or (image is not None and not img._lines and self._lines):
                img.set_image(image, self._lines)
        elif self.image_cls is not None:
            if getattr(img, "image", None) is not image:
                setter = getattr(img, "set_image", None)
                if setter is not None:
                    setter(image)
                else:
                    img.image = image  # type: ignore[attr-defined]
        else:
            img.update(f"{member.format}\n{member.width}x{member.height}", layout=False)  # type: ignore[attr-defined]
        name = os.path.basename(member.path)
        self._set_caption(
            f"{name}\n{member.width}x{member.height} · {human_bytes(member.size)} · {member.format}"
        )

    def _set_titles(self, title: str, subtitle: str) -> None:
        """Setting a border title parses markup and repaints the whole card: only on change."""
        if (title, subtitle) != self._titles:
            self._titles = (title, subtitle)
            self.border_title = title
            self.border_subtitle = subtitle

    def _set_caption(self, text: str) -> None:
        if text != self._caption_text:
            self._caption_text = text
            self._caption.update(text, layout=False)

    def clear(self) -> None:
        """A card this group does not need: hidden (no empty frame is left on screen)."""
        self.display = False
        self._set_titles("", "")
        if self._data is not None:
            self._data = None
            self._lines = None
            if isinstance(self._img, LinesImage):
                self._img.set_image(None)
            elif self.image_cls is not None:
                setter = getattr(self._img, "set_image", None)
                if setter is not None:
                    setter(None)
                else:
                    self._img.image = None  # type: ignore[attr-defined]
            else:
                self._img.update("", layout=False)  # type: ignore[attr-defined]
            self._set_caption("")


def plan_grid(members: int, width: int, height: int, single: bool) -> tuple[int, int, int]:
    """(columns, tile width, tile height) that give the largest pictures for ``members`` files
    in ``width`` × ``height`` cells. ``single``: one tile fills the area (small terminals)."""
    width, height = max(MIN_TILE_W, width), max(MIN_TILE_H, height)
    if single or members <= 1:
        return 1, width, height
    best = (-1.0, 1, width, height)
    cw, ch = imagefit.DEFAULT_CELL
    for cols in range(1, members + 1):
        tile_w = (width - (cols - 1)) // cols
        if tile_w < MIN_TILE_W:
            break
        rows = math.ceil(members / cols)
        tile_h = max(MIN_TILE_H, height // rows)
        # Area of a 4:3 picture letterboxed into the picture part of the tile, in pixels;
        # tiles below the fold count for less (they need scrolling).
        pw, ph = (tile_w - CARD_CHROME_W) * cw, (tile_h - CARD_CHROME_H) * ch
        scale = min(pw / 4, ph / 3)
        visible = min(1.0, height / (rows * tile_h))
        score = scale * scale * visible
        if score > best[0] + 1e-9:
            best = (score, cols, tile_w, tile_h)
    return best[1], best[2], best[3]


# Card badges for the engine's flags (what a copy is relative to the keeper), shortest first.
BADGES = (
    ("letterboxed", "letterbox"),
    ("bordered", "border"),
    ("mirrored", "mirror"),
    ("rotated", "turned"),
    ("EXIF-rotated", "exif-turn"),
    ("downscaled", "small"),
    ("upscaled", "upscaled"),
    ("re-encoded", "re-saved"),
    ("greyscale", "grey"),
    ("recoloured", "colour"),
    ("overlay", "overlay"),
    ("noisier", "noisy"),
    ("blurrier", "blurry"),
    ("metadata stripped", "no-exif"),
    ("edited by", "edited"),
    ("modified after capture", "edited"),
)


def duration_badge(member: Any) -> str:
    """A video's length on its card ("▶ 1:05", "▶ 7.0 s"); nothing for a photo."""
    seconds = getattr(member, "duration", None)
    if seconds is None:
        return ""
    if seconds < 60:
        return f"▶ {seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return (
        f"▶ {minutes // 60}:{minutes % 60:02d}:{rest:02d}"
        if minutes >= 60
        else f"▶ {minutes}:{rest:02d}"
    )


def badges(flags: tuple[str, ...], limit: int = 2) -> str:
    """Two short words for a card's border ("letterbox·re-saved"); details list them all."""
    out: list[str] = []
    for f in flags:
        word = next((b for prefix, b in BADGES if f.startswith(prefix)), None)
        if word and word not in out:
            out.append(word)
    more = "+" if len(out) > limit else ""
    return "·".join(out[:limit]) + more


class TilePlan:
    """The geometry both tile widgets share (ThumbGrid here, TileGrid for half-cell pictures):
    the picture box under the current plan and the colour letterbox bars are painted with."""

    area: tuple[int, int]
    single: bool
    _plan: tuple[int, int, int]
    background_colors: Any

    @property
    def box(self) -> Box:
        """Cells of the picture area of one tile under the current plan."""
        _, tile_w, tile_h = self._plan
        return max(1, tile_w - CARD_CHROME_W), max(1, tile_h - CARD_CHROME_H)

    @property
    def background(self) -> imagefit.RGB:
        """The colour letterbox bars are painted with: the widget's own background."""
        try:
            r, g, b = self.background_colors[1].rgb
            return int(r), int(g), int(b)
        except Exception:
            return (0, 0, 0)

    def plan_for(self, members: int) -> Box:
        """The picture box a group of ``members`` files would get (for prefetching)."""
        _, tile_w, tile_h = plan_grid(members, *self.area, self.single)
        return max(1, tile_w - CARD_CHROME_W), max(1, tile_h - CARD_CHROME_H)


class ThumbGrid(TilePlan, Widget):
    """Cards are reused from group to group; the grid is re-planned only when the number of
    files or the terminal size changes (a relayout), never on a plain next-group key."""

    def __init__(self, image_cls: type[Widget] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_cls = image_cls
        self.group_id: int | None = None
        self.single = False
        self.area: tuple[int, int] = (0, 0)  # cells available for tiles (set by the screen)
        self._plan: tuple[int, int, int] = (0, 0, 0)
        self._count = -1

    def set_area(self, width: int, height: int, single: bool) -> bool:
        """The screen's layout changed; returns whether the tiles changed shape."""
        if (width, height, single) == (*self.area, self.single):
            return False
        self.area, self.single = (width, height), single
        return self._replan(self._count, force=True)

    def _replan(self, members: int, force: bool = False) -> bool:
        if members == self._count and not force:
            return False
        self._count = members
        plan = plan_grid(max(1, members), *self.area, self.single)
        if plan == self._plan:
            return False
        self._plan = plan
        cols, tile_w, tile_h = plan
        self.styles.grid_size_columns = cols
        self.styles.grid_columns = str(tile_w)
        self.styles.grid_rows = str(tile_h)
        return True

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
        members = group.members if group else ()
        self._replan(len(members))
        cards = list(self.query_children(ThumbCard))
        if len(cards) < len(members):
            new = [ThumbCard(self.image_cls) for _ in range(len(members) - len(cards))]
            self.mount_all(new)
            cards += new
        for spare in cards[len(members) :]:
            spare.clear()
        self.group_id = group.id if group else None
        box, bg = self.box, self.background
        for i, (card, m) in enumerate(zip(cards, members, strict=False)):
            flags = ("●" if m.path in marks else "") + ("★" if m.path in favourites else "")
            if rule_hits and m.path in rule_hits:  # a content rule fires on it
                flags += f"⚑{rule_hits[m.path][:12]}"
            flags = " ".join(
                x for x in (duration_badge(m), flags, badges(getattr(m, "flags", ()))) if x
            )
            card.set_member(
                i,
                m,
                m.path in keep,
                i == selected,
                cache.fitted(m.thumb, box, bg),
                flags,
                cache.lines(m.thumb, box, bg),
            )
        if members and 0 <= selected < len(cards):
            # Keep the selected file in sight (one large tile on a small terminal).
            self.call_after_refresh(self._follow, cards[selected])

    @property
    def tiles(self) -> list[ThumbCard]:
        """The cards on show, one per file of the group (as ``TileGrid.tiles``)."""
        return [c for c in self.query_children(ThumbCard) if c.display and c._data is not None]

    def _follow(self, card: ThumbCard) -> None:
        if card.is_attached and card.display:
            self.scroll_to_widget(card, animate=False, immediate=True)

    def set_images(self, cache: ThumbCache) -> None:
        """Thumbnails arrived from the loader thread: fill the cards that still lack theirs."""
        box, bg = self.box, self.background
        for card in self.query_children(ThumbCard):
            if card._data is not None and card._data[1] is None:
                thumb = card._data[0].thumb
                card.set_image(cache.fitted(thumb, box, bg), cache.lines(thumb, box, bg))

    def refit(self, cache: ThumbCache) -> None:
        """Tiles changed shape: pictures of the old shape are replaced by fitted ones (or none
        until the loader has made them)."""
        box, bg = self.box, self.background
        for card in self.query_children(ThumbCard):
            if card._data is not None:
                thumb = card._data[0].thumb
                card.set_image(cache.fitted(thumb, box, bg), cache.lines(thumb, box, bg))
