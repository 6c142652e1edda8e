"""Thumbnail grid of one group. Images are PIL objects loaded by a thread worker beforehand, so
rendering never opens a file on the event loop; a card without its image yet shows a caption."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from lookalike.engine.model import Group
from lookalike.ui.widgets.grouplist import human_bytes


class ThumbCache:
    """LRU of decoded thumbnails; ``load`` is called from thread workers only."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
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
                src.load()
                im = src.convert("RGB")
        except (OSError, ValueError):
            return None
        with self._lock:
            self._items[path] = im
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return im


class ThumbCard(Vertical):
    """One member: its picture (if graphics are on) and a caption; border says keep/remove."""

    def __init__(self, image_cls: type[Widget] | None) -> None:
        super().__init__(classes="thumbcard")
        self.image_cls = image_cls
        self.path = ""
        self._data: tuple[Any, ...] | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        if self.image_cls is not None:
            yield self.image_cls(None, classes="thumbimg")  # type: ignore[call-arg]
        else:
            yield Static("", classes="thumbimg noimg")
        yield Static("", classes="caption")

    def on_mount(self) -> None:
        self._apply()

    def set_member(
        self, index: int, member: Any, keep: bool, selected: bool, image: Any, flags: str
    ) -> None:
        """Remember what to show; applied now if composed, else once mounted."""
        self.path = member.path
        # Only the title, background and opacity change here: those repaint without a relayout.
        mark = "▶" if selected else ""
        self.border_title = (
            f"[$success b]{mark}{index + 1} KEEP[/]"
            if keep
            else f"[$error]{mark}{index + 1} remove[/]"
        )
        self.border_subtitle = f"[$warning]{flags}[/]" if flags else ""
        self.set_class(keep, "-keep")
        self.set_class(not keep, "-remove")
        self.set_class(selected, "-selected")
        self.set_class(False, "-spare")
        self._data = (member, image, index, keep, flags)
        if self.is_mounted and self.children:
            self._apply()

    def set_image(self, image: Any) -> None:
        if self._data is not None:
            self._data = (self._data[0], image, *self._data[2:])
            if self.is_mounted and self.children:
                self._apply()

    def _apply(self) -> None:
        if self._data is None:
            return
        member, image, index, keep, flags = self._data
        img = self.query_one(".thumbimg")
        if self.image_cls is not None:
            if getattr(img, "image", None) is not image:
                setter = getattr(img, "set_image", None)
                if setter is not None:
                    setter(image)
                else:
                    img.image = image  # type: ignore[attr-defined]
        else:
            img.update(f"{member.format}\n{member.width}x{member.height}", layout=False)  # type: ignore[attr-defined]
        name = os.path.basename(member.path)
        self.query_one(".caption", Static).update(
            f"{name}\n{member.width}x{member.height} · {human_bytes(member.size)} · {member.format}",
            layout=False,
        )

    def clear(self) -> None:
        """A spare card: blank, no outline; kept mounted so the grid never relayouts."""
        self.set_class(True, "-spare")
        self.border_title = ""
        self.border_subtitle = ""
        self.set_class(False, "-keep")
        self.set_class(False, "-remove")
        self.set_class(False, "-selected")
        if self._data is not None:
            self._data = None
            img = self.query_one(".thumbimg")
            if self.image_cls is not None:
                setter = getattr(img, "set_image", None)
                setter(None) if setter is not None else setattr(img, "image", None)
            else:
                img.update("", layout=False)  # type: ignore[attr-defined]
            self.query_one(".caption", Static).update("", layout=False)


POOL = 3


class ThumbGrid(Widget):
    """Cards are reused when the next group has as many members: no remount on a keypress."""

    def __init__(self, image_cls: type[Widget] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.image_cls = image_cls
        self.group_id: int | None = None

    def show(
        self,
        group: Group | None,
        keep: frozenset[str],
        selected: int,
        cache: ThumbCache,
        marks: set[str],
        favourites: set[str],
    ) -> None:
        members = group.members if group else ()
        cards = list(self.query_children(ThumbCard))
        if members and len(cards) < max(len(members), POOL):
            # Grow once; cards are then reused and spare ones blanked (not hidden: hiding
            # relayouts), so moving to a group with fewer files costs one repaint.
            new = [ThumbCard(self.image_cls) for _ in range(max(len(members), POOL) - len(cards))]
            self.mount_all(new)
            cards += new
        for spare in cards[len(members) :]:
            spare.clear()
        cards = cards[: len(members)]
        self.group_id = group.id if group else None
        for i, (card, m) in enumerate(zip(cards, members, strict=True)):
            flags = ("●" if m.path in marks else "") + ("★" if m.path in favourites else "")
            card.set_member(i, m, m.path in keep, i == selected, cache.get(m.thumb), flags)

    def set_images(self, cache: ThumbCache) -> None:
        """Thumbnails arrived from the loader thread: fill the cards that still lack theirs."""
        for card in self.query_children(ThumbCard):
            if not card.has_class("-spare") and card._data is not None and card._data[1] is None:
                card.set_image(cache.get(card._data[0].thumb))
