"""History: the journal's batches; undo and redo them (each asks first)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from lookalike.ui.screens.base import ConfirmScreen, ModeScreen
from lookalike.ui.widgets.grouplist import human_bytes


class HistoryScreen(ModeScreen):
    MODE = "history"
    HELP = """
Every batch of file operations from the journal, newest first, across sessions. u undoes the
highlighted batch (files come back where they were), r redoes an undone one. Both ask first.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("u", "undo", "Undo batch", id="history.undo"),
        Binding("r", "redo", "Redo batch", id="history.redo"),
        Binding("f5,ctrl+r", "reload", "Reload", id="history.reload"),
        Binding("j", "cursor(1)", "Down", show=False, id="history.down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="history.up"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="history-body"):
            table: DataTable[str] = DataTable(id="batches", cursor_type="row", zebra_stripes=True)
            table.add_columns("batch", "time", "operation", "files", "bytes", "state")
            yield table
            yield Static("", id="batch-details")

    def on_mount(self) -> None:
        super().on_mount()
        self.lk.load_history()
        self.redraw()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.lk.load_history()

    def on_app_changed(self, what: str) -> None:
        if what == "history" and self.is_attached:
            self.redraw()

    def redraw(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for b in self.lk.batches:
            table.add_row(
                b.batch_id,
                b.time,
                b.operation,
                f"{b.files:,}",
                human_bytes(b.bytes),
                b.state,
                key=b.batch_id,
            )
        if self.lk.batches:
            table.move_cursor(row=min(row, len(self.lk.batches) - 1))
        self._details()
        err = self.lk.history_error
        self.say(err or f"{len(self.lk.batches)} batches · u undo · r redo")

    def _selected(self):  # type: ignore[no-untyped-def]
        table = self.query_one(DataTable)
        if not self.lk.batches:
            return None
        return self.lk.batches[min(table.cursor_row, len(self.lk.batches) - 1)]

    def _details(self) -> None:
        b = self._selected()
        text = (
            "No batches yet."
            if b is None
            else (
                f"[b]{b.batch_id}[/b] · {b.operation} · {b.state}\n{b.time}\n"
                f"{b.files:,} files · {human_bytes(b.bytes)}\n\n" + "\n".join(b.details[:40])
            )
        )
        self.query_one("#batch-details", Static).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._details()

    def action_cursor(self, delta: int) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=max(0, table.cursor_row + delta))

    def action_reload(self) -> None:
        self.lk.load_history()

    def _ask(self, verb: str) -> None:
        b = self._selected()
        if b is None:
            self.notify("No batch selected", severity="warning")
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.lk.run_undo_redo(verb, b.batch_id)

        self.app.push_screen(
            ConfirmScreen(f"{verb.title()} batch {b.batch_id} ({b.operation}, {b.files:,} files)?"),
            done,
        )

    def action_undo(self) -> None:
        self._ask("undo")

    def action_redo(self) -> None:
        self._ask("redo")
