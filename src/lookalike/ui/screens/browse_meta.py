"""Browse's keys for what the catalog keeps (issue 15), apart from browse.py: ``i`` the raw
metadata of the highlighted file, ``N`` a note on the highlighted folder or file, ``F`` the
favourites view. The tree shows each entry's marks, favourite and note as glyphs (● ★ ✎,
widgets/marktree.py); notes and marks show under "what is known" of the highlighted folder or
file. The catalog's marks are read on mount and on return to Browse (thread worker) and kept up
to date here, so a cursor move reads nothing."""

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
from lookalike.ui.widgets.marktree import NOTE, MarkedTree, describe, flag_map


class BrowseNotes(Message):
    def __init__(self, notes: dict[str, str], flags: dict[str, str], edits: int) -> None:
        super().__init__()
        self.notes, self.flags, self.edits = notes, flags, edits


class BrowseMetaKeys(ModeScreen):
    """Base of BrowseScreen; it calls :meth:`note_line` where it describes a folder."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("i", "metadata", "Metadata", show=False, id="browse.metadata"),
        Binding("N", "note", "Note", show=False, id="browse.note"),
        Binding("F", "favourites", "Favourites", show=False, id="browse.favourites"),
    ]
    notes: dict[str, str]
    flags: dict[str, str]

    def _on_mount(self) -> None:
        self.notes, self.flags = {}, {}
        self._edits = 0  # local edits so far: a read started before one is stale
        self._load_notes()

    @work(thread=True, exclusive=True, group="browse-notes")
    def _load_notes(self) -> None:
        edits = self._edits
        try:
            got: dict[str, Any] = self.lk.engine.catalog_marks()
        except Exception:  # no catalog yet: nothing noted
            return
        notes = {**(got.get("notes") or {}), **(got.get("folder_notes") or {})}
        self.post_message(BrowseNotes(notes, flag_map(got), edits))

    def on_browse_notes(self, message: BrowseNotes) -> None:
        if message.edits != self._edits:
            return  # read before the last note was typed; the read after its save follows
        self.notes, self.flags = message.notes, message.flags
        self._show_flags()
        self.notes_changed()

    def _show_flags(self) -> None:
        for tree in self.query(MarkedTree):
            tree.set_flags(dict(self.flags))

    def notes_changed(self) -> None:
        """Redraw what shows a note (BrowseScreen gives it)."""

    def note_line(self, path: str) -> str:
        """What the catalog keeps about ``path``: its marks, then its note."""
        key = os.path.abspath(path)
        glyphs = getattr(self, "flags", {}).get(key, "").replace(NOTE, "")
        note = getattr(self, "notes", {}).get(key, "")
        return (f"\n  {describe(glyphs)}" if glyphs else "") + (
            f"\n  {NOTE} note: {note}" if note else ""
        )

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
            glyphs = self.flags.get(path, "").replace(NOTE, "")
            if text.strip():
                self.notes[path] = text.strip()
                glyphs += NOTE
            else:
                self.notes.pop(path, None)
            self.flags = {k: v for k, v in self.flags.items() if k != path}
            if glyphs:
                self.flags[path] = glyphs
            self._show_flags()
            self._edits += 1
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
        self.app.call_from_thread(self._load_notes)  # the catalog's view, now it holds the note
