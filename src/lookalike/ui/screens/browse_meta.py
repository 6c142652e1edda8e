"""Browse's keys for what the catalog keeps (issue 15), apart from browse.py: ``i`` the raw
metadata of the highlighted file, ``N`` a note on the highlighted folder or file, ``F`` the
favourites view. Folder notes show under "what is known" of a folder; the catalog's notes are
read once on mount (thread worker) and kept up to date here, so a cursor move reads nothing."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DirectoryTree

from lookalike.ui.screens.base import ModeScreen, PromptScreen
from lookalike.ui.screens.favourites import FavouritesScreen
from lookalike.ui.screens.metadata import MetadataScreen


class BrowseNotes(Message):
    def __init__(self, notes: dict[str, str]) -> None:
        super().__init__()
        self.notes = notes


class BrowseMetaKeys(ModeScreen):
    """Base of BrowseScreen; it calls :meth:`note_line` where it describes a folder."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("i", "metadata", "Metadata", show=False, id="browse.metadata"),
        Binding("N", "note", "Note", show=False, id="browse.note"),
        Binding("F", "favourites", "Favourites", show=False, id="browse.favourites"),
    ]
    notes: dict[str, str]

    def _on_mount(self) -> None:
        self.notes = {}
        self._load_notes()

    @work(thread=True, exclusive=True, group="browse-notes")
    def _load_notes(self) -> None:
        try:
            got: dict[str, Any] = self.lk.engine.catalog_marks()
        except Exception:  # no catalog yet: nothing noted
            return
        self.post_message(
            BrowseNotes({**(got.get("notes") or {}), **(got.get("folder_notes") or {})})
        )

    def on_browse_notes(self, message: BrowseNotes) -> None:
        self.notes = message.notes
        self.notes_changed()

    def notes_changed(self) -> None:
        """Redraw what shows a note (BrowseScreen gives it)."""

    def note_line(self, path: str) -> str:
        note = getattr(self, "notes", {}).get(os.path.abspath(path), "")
        return f"\n  note: {note}" if note else ""

    def _cursor_path(self) -> str | None:
        node = self.query_one(DirectoryTree).cursor_node
        data = getattr(node, "data", None)
        return str(data.path) if data is not None and getattr(data, "path", None) else None

    def action_metadata(self) -> None:
        path = self._cursor_path()
        if path is None or os.path.isdir(path):
            self.notify("Highlight a file: i shows what a file says about itself")
            return
        self.app.push_screen(MetadataScreen(self.lk.engine, path))

    def action_favourites(self) -> None:
        self.app.push_screen(FavouritesScreen(self.lk.engine))

    def action_note(self) -> None:
        path = self._cursor_path()
        if path is None:
            return
        path = os.path.abspath(path)
        what = "folder" if os.path.isdir(path) else "file"

        def done(text: str | None) -> None:
            if text is None:
                return
            if text.strip():
                self.notes[path] = text.strip()
            else:
                self.notes.pop(path, None)
            self._save_note(path, text)
            self.notes_changed()

        self.app.push_screen(
            PromptScreen(f"Note on this {what} (empty removes it):", self.notes.get(path, "")), done
        )

    @work(thread=True, group="browse-note-write")
    def _save_note(self, path: str, text: str) -> None:
        try:
            self.lk.engine.set_note(path, text)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"note not saved: {exc}", severity="error")
