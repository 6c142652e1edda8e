"""The raw-metadata panel (``I`` in Review, ``i`` in Browse): what ``lookalike info`` prints for
one file — EXIF, XMP, IPTC, ICC, PNG text, generation prompts, video streams — read in a thread
worker (the file is read from disk; never on the event loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:
    from lookalike.ui.engine_port import EnginePort


class InfoRead(Message):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines


class MetadataScreen(ModalScreen[None]):
    """Scrollable text; Escape, q or I closes it."""

    DEFAULT_CSS = """
    MetadataScreen { align: center middle; }
    #meta-body {
        width: 110; max-width: 100%; height: 85%; max-height: 100%;
        padding: 0 1; border: thick $primary; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,I,i", "close", "Close", id="metadata.close"),
        Binding("j,down", "scroll(1)", "Down", show=False, id="metadata.down"),
        Binding("k,up", "scroll(-1)", "Up", show=False, id="metadata.up"),
        Binding("pagedown,space", "scroll(20)", "Page down", show=False, id="metadata.page_down"),
        Binding("pageup", "scroll(-20)", "Page up", show=False, id="metadata.page_up"),
    ]

    def __init__(self, engine: EnginePort, path: str) -> None:
        super().__init__()
        self.engine, self.path = engine, path
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="meta-body"):
            yield Static(f"Reading the metadata of {self.path} …", id="meta-text", markup=False)

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="metadata")
    def _read(self) -> None:
        from lookalike.engine.metadata.info import InfoError, info_lines

        try:
            lines = info_lines(self.engine.file_info(self.path))
        except InfoError as exc:
            lines = [f"{self.path} {exc}"]
        except Exception as exc:  # one sentence, never a traceback in the panel
            lines = [f"{self.path}: metadata could not be read ({type(exc).__name__}: {exc})"]
        self.post_message(InfoRead(lines))

    def on_info_read(self, message: InfoRead) -> None:
        self.lines = message.lines
        self.query_one("#meta-text", Static).update("\n".join(message.lines))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll(self, delta: int) -> None:
        self.query_one("#meta-body", VerticalScroll).scroll_relative(y=delta, animate=False)
