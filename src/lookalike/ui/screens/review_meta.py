"""Review's keys for what the catalog keeps about a file (issue 15), kept apart from review.py:
``m`` marks (saved in the catalog's marked set, shared with ``lookalike marks`` and the rules'
``mark`` action), ``N`` a note, ``I`` the raw-metadata panel, ``F`` the favourites view, ``P``
a PDF of the marked files; ``y`` copies the file's path, ``O``/``R`` open it or its folder. On
mount the catalog's marks, favourites and notes are read (thread worker) into the review state,
so what the CLI or a rule marked shows here too."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from textual import work
from textual.binding import Binding
from textual.message import Message

from lookalike.ui.screens.base import ModeScreen, PromptScreen
from lookalike.ui.screens.favourites import FavouritesScreen
from lookalike.ui.screens.metadata import MetadataScreen


class CatalogMarks(Message):
    def __init__(self, marks: dict[str, Any]) -> None:
        super().__init__()
        self.marks = marks


class ReviewMetaKeys(ModeScreen):
    """Base of ReviewScreen: the keys above and the catalog load; the screen redraws itself."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("m", "mark", "Mark", show=False, id="review.mark"),
        Binding("I", "metadata", "Metadata", show=False, id="review.metadata"),
        Binding("F", "favourites", "Favourites", show=False, id="review.favourites"),
        Binding("N", "note", "Note", show=False, id="review.note"),
        Binding("P", "pdf", "PDF of marked", show=False, id="review.pdf"),
    ]

    def _on_mount(self) -> None:
        # Textual calls each class's mount handler along the MRO; this one only starts the load
        self._load_catalog_marks()

    @work(thread=True, exclusive=True, group="catalog-marks")
    def _load_catalog_marks(self) -> None:
        try:
            self.post_message(CatalogMarks(self.lk.engine.catalog_marks()))
        except Exception:  # a new or unreadable catalog: the session's own marks still show
            return

    def on_catalog_marks(self, message: CatalogMarks) -> None:
        state = self.lk.review
        state.marks |= set(message.marks.get("marked") or ())
        state.favourites |= set(message.marks.get("favourites") or ())
        state.notes = dict(message.marks.get("notes") or {})
        self.refresh_meta()

    def refresh_meta(self) -> None:
        """Redraw what shows marks, favourites and notes (ReviewScreen gives it)."""

    @work(thread=True, group="catalog-write")
    def _save(self, what: str, path: str, value: Any) -> None:
        try:
            getattr(self.lk.engine, what)(path, value)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"not saved: {exc}", severity="error")

    def action_mark(self) -> None:
        member = self.lk.review.current_member
        on = self.lk.review.toggle_mark()
        if member is not None:
            self._save("set_mark", member.path, on)
        self.refresh_meta()

    def action_metadata(self) -> None:
        member = self.lk.review.current_member
        if member is not None:
            self.app.push_screen(MetadataScreen(self.lk.engine, member.path))

    def action_favourites(self) -> None:
        def done(removed: set[str] | None) -> None:
            self.lk.review.forget_favourites(removed or set())
            self.refresh_meta()

        self.app.push_screen(FavouritesScreen(self.lk.engine), done)

    def action_note(self) -> None:
        member = self.lk.review.current_member
        if member is None:
            return
        path = member.path
        old = self.lk.review.notes.get(path, "")

        def done(text: str | None) -> None:
            if text is None:
                return
            if text.strip():
                self.lk.review.notes[path] = text.strip()
            else:
                self.lk.review.notes.pop(path, None)
            self._save("set_note", path, text)
            self.refresh_meta()

        self.app.push_screen(PromptScreen("Note on this file (empty removes it):", old), done)

    def action_pdf(self) -> None:
        """A PDF of the marked files (``lookalike pdf OUT --marked``), written in a worker."""
        paths = sorted(self.lk.review.marks)
        if not paths:
            self.notify("Nothing marked: m marks the selected file", severity="warning")
            return

        def done(out: str | None) -> None:
            if out and out.strip():
                self._pdf(paths, os.path.abspath(os.path.expanduser(out.strip())))

        default = os.path.join(os.path.expanduser("~"), "lookalike-marked.pdf")
        self.app.push_screen(PromptScreen(f"PDF of {len(paths)} marked file(s) to:", default), done)

    @work(thread=True, exclusive=True, group="pdf")
    def _pdf(self, paths: list[str], out: str) -> None:
        try:
            said = self.lk.engine.make_pdf(paths, out)
        except Exception as exc:  # PdfError says what to do; anything else in one line too
            self.app.call_from_thread(self.notify, f"no PDF: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, said, title="PDF written")

    def action_copy_path(self) -> None:
        """Copy the selected file's path to the clipboard (OSC 52: works over SSH)."""
        m = self.lk.review.current_member
        if m is not None:
            self.app.copy_to_clipboard(m.path)
            self.notify(f"Copied: {m.path}")

    def action_open_file(self, folder: bool) -> None:
        """Open the file (or its folder) in the system viewer, where there is a display."""
        from lookalike.ui.opener import opener

        m = self.lk.review.current_member
        if m is None:
            return
        command = opener()
        if command is None:
            self.notify(
                "No display here (over SSH?): y copies the path to your own clipboard instead",
                severity="warning",
            )
            return
        target = os.path.dirname(m.path) if folder else m.path
        self._open(command, target)

    @work(thread=True, group="open")
    def _open(self, command: list[str], target: str) -> None:
        import subprocess

        try:  # detached: the viewer outlives nothing here and never blocks the app
            subprocess.Popen(
                [*command, target],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"Could not open {target}: {exc.strerror}", severity="error"
            )
