"""The mode bar (top) and the status line (bottom, beside the key footer)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

MODES = (
    ("1", "browse", "Browse"),
    ("2", "scan", "Scan"),
    ("3", "review", "Review"),
    ("4", "apply", "Apply"),
    ("5", "rules", "Rules"),
    ("6", "history", "History"),
)


class ModeBar(Static):
    """Shows the number key of each mode so a new user sees how to switch."""

    def __init__(self, current: str) -> None:
        super().__init__(id="modebar")
        self.current = current

    def on_mount(self) -> None:
        text = Text()
        for key, mode, label in MODES:
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key} {label} ", style=style)
            text.append(" ")
        text.append("  ? help  ctrl+p commands", style="dim")
        self.update(text)


class StatusBar(Static):
    """One line under the content: the graphics renderer and what the screen wants to say."""

    def __init__(self) -> None:
        super().__init__(id="statusbar")
        self.message = ""
        self._shown: str | None = None

    def on_mount(self) -> None:
        self.show(self.message)

    def show(self, message: str) -> None:
        """Repaints only on change: the review says the same counts after most keys."""
        self.message = message
        graphics = getattr(self.app, "graphics_label", "?")
        text = Text()
        text.append(f" graphics: {graphics} ", style="bold")
        text.append("│ ")
        text.append(message)
        if text.plain == self._shown:
            return
        self._shown = text.plain
        self.update(text, layout=False)
