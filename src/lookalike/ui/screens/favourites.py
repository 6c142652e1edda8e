"""The favourites view (``F``): every favourite file across folders, from the catalog, with its
note; Enter shows its metadata, x takes it out of the favourites. Loaded in a thread worker."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from lookalike.engine.actions.fsutil import safe_text
from lookalike.ui.screens.metadata import MetadataScreen

if TYPE_CHECKING:
    from lookalike.ui.engine_port import EnginePort


class MarksRead(Message):
    def __init__(self, marks: dict[str, Any] | None, error: str = "") -> None:
        super().__init__()
        self.marks, self.error = marks, error


def _label(path: str, note: str) -> Text:
    """Plain text, never markup: file names may hold brackets (and bytes that are not UTF-8)."""
    shown = safe_text(path)
    name = f"★ {os.path.basename(shown)}  ({os.path.dirname(shown)})"
    return Text(name + (f"\n    {note.splitlines()[0]}" if note else ""))


class FavouritesScreen(ModalScreen[set[str]]):
    """Dismisses with the set of files taken out of the favourites here."""

    DEFAULT_CSS = """
    FavouritesScreen { align: center middle; }
    #fav-body {
        width: 110; max-width: 100%; height: 85%; max-height: 100%;
        padding: 0 1; border: thick $primary; background: $surface;
    }
    #fav-list { height: 1fr; }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,F", "close", "Close", id="favourites.close"),
        Binding("x,f", "remove", "Not a favourite", id="favourites.remove"),
        Binding("i,I", "info", "Metadata", id="favourites.info"),
        Binding("j", "cursor(1)", "Down", show=False, id="favourites.down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="favourites.up"),
    ]

    def __init__(self, engine: EnginePort) -> None:
        super().__init__()
        self.engine = engine
        self.paths: list[str] = []
        self.removed: set[str] = set()

    def compose(self) -> ComposeResult:
        with Vertical(id="fav-body"):
            yield Label("Favourites — never trashed, moved or linked; Enter/i metadata, x remove")
            yield OptionList(id="fav-list")

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="favourites")
    def _read(self) -> None:
        try:
            self.post_message(MarksRead(self.engine.catalog_marks()))
        except Exception as exc:
            self.post_message(MarksRead(None, f"favourites could not be read: {exc}"))

    def on_marks_read(self, message: MarksRead) -> None:
        ol = self.query_one(OptionList)
        ol.clear_options()
        if message.marks is None:
            ol.add_option(Option(message.error, disabled=True))
            return
        notes = message.marks.get("notes") or {}
        self.paths = sorted(message.marks.get("favourites") or [])
        if not self.paths:
            ol.add_option(
                Option("No favourites yet: f on a file in Review makes one.", disabled=True)
            )
        for p in self.paths:
            ol.add_option(Option(_label(p, notes.get(p, "")), id=p))
        ol.focus()
        if self.paths:
            ol.highlighted = 0

    def _current(self) -> str | None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None or not self.paths:
            return None
        return ol.get_option_at_index(ol.highlighted).id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_info()

    def action_info(self) -> None:
        path = self._current()
        if path:
            self.app.push_screen(MetadataScreen(self.engine, path))

    def action_remove(self) -> None:
        path = self._current()
        if not path:
            return
        self.removed.add(path)
        self._unfavourite(path)
        ol = self.query_one(OptionList)
        i = self.paths.index(path)
        self.paths.pop(i)
        ol.remove_option_at_index(i)

    @work(thread=True, group="favourites-write")
    def _unfavourite(self, path: str) -> None:
        try:
            self.engine.set_favourite(path, False)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"not saved: {exc}", severity="error")

    def action_cursor(self, delta: int) -> None:
        ol = self.query_one(OptionList)
        (ol.action_cursor_down if delta > 0 else ol.action_cursor_up)()

    def action_close(self) -> None:
        self.dismiss(self.removed)
