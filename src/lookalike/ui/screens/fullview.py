"""Full-size view of one file with zoom and pan.

The picture is decoded in a thread worker (reduced-size draft decode of the original, or the
cached thumbnail when the original is gone); the zoomed, letterboxed frame for the view's shape
is made there too (``imagefit.view``), so the picture keeps its aspect ratio.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from lookalike.ui import imagefit
from lookalike.ui.widgets.bars import KeyFooter, StatusBar
from lookalike.ui.widgets.thumbs import LinesImage, uses_lines
from lookalike.ui.zoompan import ZoomPan

if TYPE_CHECKING:
    from lookalike.ui.app import LookalikeApp

MAX_SIDE = 2048


class FrameReady(Message):
    def __init__(self, image: Any, note: str, lines: Any = None) -> None:
        super().__init__()
        self.image = image
        self.note = note
        self.lines = lines  # half-cell lines drawn by the worker (see LinesImage)


class FullView(ZoomPan, Screen[None]):
    MODE = "full view"
    HELP = """
The selected file, as large as the terminal allows. Zoom in and pan to compare details; the
picture is the original file decoded in the background (or the cached thumbnail if the original
cannot be read). Space still toggles keep/remove for this file.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,z,enter", "close", "Back", id="full.close"),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in", id="full.zoom_in"),
        Binding("minus", "zoom(-1)", "Zoom out", id="full.zoom_out"),
        Binding("0", "reset", "Fit", id="full.fit"),
        Binding("h,left", "pan(-1,0)", "Pan left", show=False, id="full.pan_left"),
        Binding("l,right", "pan(1,0)", "Pan right", show=False, id="full.pan_right"),
        Binding("k,up", "pan(0,-1)", "Pan up", show=False, id="full.pan_up"),
        Binding("j,down", "pan(0,1)", "Pan down", show=False, id="full.pan_down"),
        Binding("left_square_bracket", "member(-1)", "Prev file", id="full.prev_file"),
        Binding("right_square_bracket", "member(1)", "Next file", id="full.next_file"),
        Binding("space", "toggle_keep", "Keep/remove", id="full.toggle_keep"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reset_view()
        self._source: Any = None
        self._source_path = ""
        self.frame: Any = None  # the letterboxed picture on screen (None until decoded)

    @property
    def lk(self) -> LookalikeApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="full-title")
        if uses_lines(self.lk.image_cls):  # drawn by the worker: no repaint cost on the loop
            yield LinesImage(id="full-image")
        elif self.lk.image_cls is not None:
            yield self.lk.image_cls(None, id="full-image")  # type: ignore[call-arg]
        else:
            yield Static("(graphics are off: --graphics none)", id="full-image")
        yield StatusBar()
        yield KeyFooter()

    def on_screen_resume(self) -> None:
        """Each push (the review keeps one FullView installed, so Enter costs a repaint, not a
        compose): start at fit, drop the last file's picture, and start the new render."""
        self.reset_view()
        m = self.lk.review.current_member
        widget = self.query_one("#full-image")
        if m is not None and m.path != self._source_path and isinstance(widget, LinesImage):
            widget.set_image(None, None)
        # The picture is drawn after the first frame: the first push needs the layout for the
        # picture's size, and on every push the worker drawing it (Python, holding the GIL)
        # would otherwise delay the frame that shows the screen.
        self.call_after_refresh(self.reload)

    def on_resize(self) -> None:
        self.call_after_refresh(self.reload)

    def view_box(self) -> tuple[int, int]:
        """Cells of the picture area (the frame is letterboxed to exactly this shape)."""
        size = self.query_one("#full-image").content_size
        if size.width and size.height:
            return size.width, size.height
        width, height = self.app.size
        return max(1, width), max(1, height - 3)

    def background(self) -> imagefit.RGB:
        try:
            r, g, b = self.query_one("#full-image").background_colors[1].rgb
            return int(r), int(g), int(b)
        except Exception:
            return (0, 0, 0)

    def reload(self) -> None:
        m = self.lk.review.current_member
        g = self.lk.review.current
        if m is None or g is None:
            return
        keep = "KEEP" if m.path in self.lk.review.keep_set(g) else "remove"
        self.query_one("#full-title", Static).update(
            f"[b]{os.path.basename(m.path)}[/b] · {m.width}x{m.height} · {keep} · "
            f"zoom {self.zoom:g}x · {os.path.dirname(m.path)}"
        )
        cells = self.view_box()
        lines = uses_lines(self.lk.image_cls)
        self._render_frame(
            m.path, m.thumb, self.zoom, self.cx, self.cy, cells, self.background(), lines
        )

    @work(thread=True, exclusive=True, group="fullview")
    def _render_frame(
        self,
        path: str,
        thumb: str | None,
        zoom: float,
        cx: float,
        cy: float,
        cells: tuple[int, int],
        bg: imagefit.RGB,
        lines: bool = False,
    ) -> None:
        from PIL import Image, ImageOps

        box = imagefit.box_pixels(*cells)
        if self._source_path != path:
            self._source, note = None, ""
            try:
                with Image.open(path) as im:
                    im.draft("RGB", (MAX_SIDE, MAX_SIDE))
                    im.thumbnail((MAX_SIDE, MAX_SIDE))
                    # Upright as the camera meant it (the thumbnails are upright too).
                    self._source = ImageOps.exif_transpose(im).convert("RGB")
                    note = "original"
            except (OSError, ValueError, Image.DecompressionBombError):
                self._source = self.lk.thumbs.load(thumb)
                note = "thumbnail (original not readable)"
            self._source_path = path
            self._note = note
        src = self._source
        if src is None:
            self.post_message(FrameReady(None, "no picture available"))
            return
        frame = imagefit.view(src, box, bg, zoom, cx, cy)
        drawn = imagefit.halfcell_lines(frame, *cells) if lines else None
        self.post_message(FrameReady(frame, self._note, drawn))

    def on_frame_ready(self, message: FrameReady) -> None:
        widget = self.query_one("#full-image")
        self.frame = message.image
        if isinstance(widget, LinesImage):
            widget.set_image(message.image, message.lines)
        elif self.lk.image_cls is not None:
            widget.image = message.image  # type: ignore[attr-defined]
        self.query_one(StatusBar).show(f"{message.note} · +/- zoom, arrows pan, 0 fit, Esc back")

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reset(self) -> None:
        self.reset_view()
        self.reload()

    def action_member(self, delta: int) -> None:
        if self.lk.review.move_member(delta):
            self.reset_view()
            self.reload()

    def action_toggle_keep(self) -> None:
        error = self.lk.review.toggle_keep()
        if error:
            self.notify(error, severity="warning")
        self.lk.schedule_save()
        self.reload()
