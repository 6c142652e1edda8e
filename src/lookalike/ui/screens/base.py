"""Shared screen frame (mode bar, status line, key footer) and the small modal dialogs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, Static

from lookalike.ui.keyhold import SubmitInput, hold_for_dialog
from lookalike.ui.widgets.bars import KeyFooter, ModeBar, StatusBar

if TYPE_CHECKING:
    from lookalike.ui.app import LookalikeApp


class ModeScreen(Screen[None]):
    """A mode's screen: subclasses give MODE, HELP and compose_body()."""

    MODE: ClassVar[str] = ""
    HELP: ClassVar[str] = ""

    @property
    def lk(self) -> LookalikeApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar(self.MODE)
        yield from self.compose_body()
        yield StatusBar()
        yield KeyFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.lk.changed.subscribe(self, self._on_changed)

    def _on_changed(self, what: str) -> None:
        self.on_app_changed(what)

    def on_app_changed(self, what: str) -> None:
        """Called when shared state changed: 'groups', 'review', 'scan', 'plan', 'history'."""

    def say(self, message: str) -> None:
        self.query_one(StatusBar).show(message)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no, or typed confirmation when ``word`` is given. Escape always means no."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "no", "Cancel", id="confirm.cancel"),
        Binding("y", "yes", "Yes", id="confirm.yes", show=False),
        Binding("n", "no", "No", id="confirm.no", show=False),
    ]

    def __init__(self, message: str, word: str | None = None) -> None:
        super().__init__()
        self.message = message
        self.word = word
        if word:
            hold_for_dialog()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.message, id="dialog-text")
            if self.word:
                yield Label(f"Type [b]{self.word}[/b] and press Enter to go ahead; Esc cancels.")
                yield SubmitInput(self._typed, placeholder=self.word, id="confirm-input")
            else:
                yield Label("[b]y[/b] yes   [b]n[/b] / [b]Esc[/b] no")

    def action_yes(self) -> None:
        if self.word is None:
            self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)

    def _typed(self, value: str) -> None:
        if value.strip().lower() == (self.word or "").lower():
            self.dismiss(True)
        else:
            self.query_one(Input).value = ""
            self.notify(f"Type {self.word} exactly, or press Esc", severity="warning")


class PromptScreen(ModalScreen[str | None]):
    """One line of text (a search, a folder, a file list path); Escape gives None."""

    BINDINGS: ClassVar[list[Binding]] = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(
        self, title: str, value: str = "", placeholder: str = "", password: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.password = password  # typed characters are not shown (a passphrase)
        hold_for_dialog()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text)
            yield SubmitInput(
                self.dismiss,
                value=self.value,
                placeholder=self.placeholder,
                password=self.password,
                id="prompt-input",
            )

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Help for the screen underneath: what it is for and every key that works there."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="help.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="help.up"),
    ]

    def __init__(self, target: Screen[Any]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        text = Text()
        help_text = getattr(self.target, "HELP", "") or ""
        title = getattr(self.target, "MODE", "") or self.target.__class__.__name__
        text.append(f"{title.title()} — help\n\n", style="bold")
        for paragraph in help_text.strip().split("\n\n"):
            text.append(" ".join(paragraph.split()) + "\n\n")
        ours: dict[str, list[str]] = {}
        other: dict[str, list[str]] = {}
        for active in self.target.active_bindings.values():
            b = active.binding
            if not b.description:
                continue
            bucket = ours if b.id and "." in b.id else other
            keys = bucket.setdefault(b.description, [])
            shown = self.app.get_key_display(b)
            if shown not in keys:
                keys.append(shown)
        for heading, table in (("Keys", ours), ("Also", other)):
            if not table:
                continue
            text.append(f"{heading}\n", style="bold")
            for desc, keys in table.items():
                text.append(f"  {' / '.join(keys):<18}", style="bold")
                text.append(f"{desc}\n")
            text.append("\n")
        text.append("ctrl+p opens the command palette: every action by name.\n")
        text.append("Keys can be changed in config.toml under [keymap] (see docs/tui.md).")
        with VerticalScroll(id="help-body"):
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, delta: int) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_relative(y=delta, animate=False)
