"""The "select by criteria" dialog: pick a criterion (and its folder/format/flag), watch the
live count of files and bytes it would mark for removal across the groups shown, Enter records
it as decisions (undo with U in Review). Counting runs in a thread worker."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from lookalike.ui import select
from lookalike.ui.keyhold import SubmitInput
from lookalike.ui.widgets.grouplist import human_bytes

if TYPE_CHECKING:
    from lookalike.ui.app import LookalikeApp


class Counted(Message):
    def __init__(self, key: tuple[str, str], selection: select.Selection) -> None:
        super().__init__()
        self.key, self.selection = key, selection


class SelectScreen(ModalScreen["select.Selection | None"]):
    """Returns the selection to record, or None (Esc)."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "cancel", "Cancel", id="select.cancel"),
        Binding("enter", "choose", "Select", id="select.choose", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selection: select.Selection | None = None
        self._key: tuple[str, str] = ("", "")

    @property
    def lk(self) -> LookalikeApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(
                f"Select across the {len(self.lk.review.view):,} groups shown "
                "(decisions only; Apply acts):"
            )
            yield OptionList(
                *[Option(label, id=cid) for cid, label, _ in select.CRITERIA], id="select-list"
            )
            yield SubmitInput(
                lambda _: self.action_choose(),
                placeholder="folder part / format / flag",
                id="select-arg",
            )
            yield Static("", id="select-count")
            yield Label("[b]Enter[/b] records it · [b]Esc[/b] cancels · U in Review undoes it")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = 0
        ol.focus()
        self._recount()

    @property
    def criterion(self) -> tuple[str, str, str]:
        i = self.query_one(OptionList).highlighted or 0
        return select.CRITERIA[i]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._recount()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.criterion[2]:  # this one needs its argument: go type it
            self.query_one(Input).focus()
        else:
            self.action_choose()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._recount()

    def _recount(self) -> None:
        cid, _, needs = self.criterion
        arg = self.query_one(Input).value if needs else ""
        self._key = (cid, arg)
        self.query_one(Input).placeholder = needs or "(nothing to type for this one)"
        self.query_one("#select-count", Static).update("counting…")
        self.selection = None
        self._count(cid, arg)

    @work(thread=True, exclusive=True, group="select-count")
    def _count(self, cid: str, arg: str) -> None:
        self.post_message(Counted((cid, arg), select.select(self.lk.review, cid, arg)))

    def on_counted(self, message: Counted) -> None:
        if message.key != self._key:
            return  # an older count; a newer one is on its way
        s = self.selection = message.selection
        text = (
            f"[b]{s.files:,}[/b] files to remove · [b]{human_bytes(s.bytes)}[/b] · "
            f"in {s.groups:,} groups"
            if s.groups
            else "[dim]no group changes with this criterion[/]"
        )
        self.query_one("#select-count", Static).update(text)

    def action_choose(self) -> None:
        if self.selection is None:
            self.notify("Still counting…", severity="warning")
            return
        self.dismiss(self.selection if self.selection.groups else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
