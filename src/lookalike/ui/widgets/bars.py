"""The mode bar (top), the status line and the key footer (bottom)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Footer, Static

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


class KeyFooter(Footer):
    """Textual's footer, rebuilt only when the keys it shows change.

    Textual's Footer unmounts and mounts all its key widgets (a relayout of the screen) each
    time the screen's bindings are announced — on every push and pop of a screen, even when
    the keys are the same. Enter (full view) and Esc (back to the review) paid that in a second
    frame; here a screen shown again paints its key line in the first one.
    """

    _shown_keys: tuple[Any, ...] | None = None

    @staticmethod
    def _keys(screen: Screen[Any]) -> tuple[Any, ...]:
        return tuple(
            (key, b.description, b.action, b.show, enabled, tooltip)
            for key, (_, b, enabled, tooltip) in screen.active_bindings.items()
        )

    def compose(self) -> Any:
        """The keys from the first frame: Textual's footer composes empty and fills in a frame
        later (a relayout), so a screen's first showing had no key line at first."""
        if self._shown_keys is None:
            self._shown_keys = self._keys(self.screen)
            self.set_reactive(Footer._bindings_ready, True)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        keys = self._keys(screen)
        if keys == self._shown_keys:
            return
        super().bindings_changed(screen)
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown_keys = keys  # the recompose is on its way
