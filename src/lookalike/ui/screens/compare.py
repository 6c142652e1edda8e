"""Compare: the keeper and the selected file side by side, zoom and pan locked together, an A/B
flip and a difference picture — to judge a crop, a letterbox, a watermark or a re-encode.

Decoding, cropping and the difference are made in one thread worker (``_make_frames``); the event
loop only swaps finished pictures in. Both pictures are seen through the same window (zoom and
centre as fractions of the picture), so the same detail is under the same cell in both panes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from lookalike.engine.records import Group, Member
from lookalike.ui import imagefit
from lookalike.ui.video_view import frame_picture, is_video, matched_moments, video_picture
from lookalike.ui.widgets.bars import KeyFooter, StatusBar
from lookalike.ui.widgets.grouplist import human_bytes
from lookalike.ui.zoompan import ZoomPan

if TYPE_CHECKING:
    from lookalike.ui.app import LookalikeApp

MAX_SIDE = 2048
#: A pixel counts as "different" when a channel differs by more than this (JPEG noise is below).
DIFF_THRESHOLD = 24


@dataclass(frozen=True)
class DiffStats:
    mean: float  # mean absolute difference, 0..255
    changed: float  # share of pixels with a channel off by more than DIFF_THRESHOLD
    box: tuple[int, int, int, int] | None  # where they differ, in A's pixels (None: nowhere)


class CompareFrames(Message):
    """Finished pictures for the panes (posted by the worker)."""

    def __init__(self, a: Any, b: Any, stats: DiffStats | None, notes: tuple[str, str]) -> None:
        super().__init__()
        self.a, self.b, self.stats, self.notes = a, b, stats, notes


def load_picture(path: str, thumb: str | None, thumbs: Any) -> tuple[Any, str]:
    """The original (reduced-size draft decode, upright by EXIF), else the cached thumbnail."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im.draft("RGB", (MAX_SIDE, MAX_SIDE))
            im.thumbnail((MAX_SIDE, MAX_SIDE))
            return ImageOps.exif_transpose(im).convert("RGB"), "original"
    except (OSError, ValueError, Image.DecompressionBombError):
        return thumbs.load(thumb), "thumbnail"


def difference(a: Any, b: Any) -> tuple[Any, DiffStats]:
    """Where A and B differ. Both are brought to the smaller of the two sizes (an antialiased
    downscale, so a resized copy does not light up every edge), then the absolute difference
    per channel is brightened so small changes show. The picture returned has A's size; the
    box is in A's pixels. Thread workers only: this is numpy on whole pictures."""
    import numpy as np
    from PIL import Image, ImageFilter

    size = a.size if a.width * a.height <= b.width * b.height else b.size
    small_a = a if a.size == size else a.resize(size, Image.Resampling.BOX)
    small_b = b if b.size == size else b.resize(size, Image.Resampling.BOX)
    diff = np.abs(np.asarray(small_a, dtype=np.int16) - np.asarray(small_b, dtype=np.int16)).astype(
        np.uint8
    )
    # Where they differ is judged on slightly blurred copies: resampling filters disagree by
    # more than the threshold on sharp edges, a real change does not go away with a blur.
    soft_a = np.asarray(small_a.filter(ImageFilter.GaussianBlur(1)), dtype=np.int16)
    soft_b = np.asarray(small_b.filter(ImageFilter.GaussianBlur(1)), dtype=np.int16)
    mask = np.abs(soft_a - soft_b).max(axis=2) > DIFF_THRESHOLD
    ys, xs = np.nonzero(mask)
    box = None
    if len(xs):
        sx, sy = a.width / size[0], a.height / size[1]
        box = (
            int(xs.min() * sx),
            int(ys.min() * sy),
            min(a.width, int(np.ceil((xs.max() + 1) * sx))),
            min(a.height, int(np.ceil((ys.max() + 1) * sy))),
        )
    stats = DiffStats(float(diff.mean()), float(mask.mean()), box)
    shown = Image.fromarray(np.clip(diff.astype(np.uint16) * 4, 0, 255).astype(np.uint8), "RGB")
    return (shown if shown.size == a.size else shown.resize(a.size)), stats


def facts(member: Member, keep: bool) -> str:
    """The numbers that matter for judging one copy, plus its flags as badges."""
    flags = list(getattr(member, "flags", ()) or ())
    badges = " ".join(f"[reverse $warning] {f} [/]" for f in flags)
    verdict = "[$success b]KEEP[/]" if keep else "[$error]remove[/]"
    taken = member.capture_time or "no date"
    camera = member.camera or "no camera"
    length = f" · {member.duration:.1f} s video" if member.duration is not None else ""
    return (
        f"{verdict} [b]{os.path.basename(member.path)}[/]\n"
        f"{member.width}x{member.height} px · {human_bytes(member.size)} · {member.format} · "
        f"{taken} · {camera} · similar {member.score:.3f}{length}\n"
        + (badges or "[dim]no flags[/]")
    )


class CompareScreen(ZoomPan, Screen[None]):
    MODE = "compare"
    HELP = """
The file the group keeps (A, left) and the selected file (B, right), side by side. Zoom and
pan move both pictures together, so the same detail sits in the same place. b flips: A alone,
then B alone (press b again and again to blink between them), then both again. x shows where
they differ: B is scaled to A's size and the difference per pixel is brightened; the status line
says how much of the picture differs and where. [ and ] pick another file as B; space toggles
keep/remove for B. Above each picture: its pixels, bytes, format, date, camera and the flags the
engine found (letterboxed, re-encoded, downscaled ...).
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,q,v", "close", "Back", id="compare.close"),
        Binding("b", "flip", "A/B flip", id="compare.flip"),
        Binding("x", "diff", "Difference", id="compare.diff"),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in", id="compare.zoom_in"),
        Binding("minus", "zoom(-1)", "Zoom out", id="compare.zoom_out"),
        Binding("0", "fit", "Fit", show=False, id="compare.fit"),
        Binding("h,left", "pan(-1,0)", "Pan left", show=False, id="compare.pan_left"),
        Binding("l,right", "pan(1,0)", "Pan right", show=False, id="compare.pan_right"),
        Binding("k,up", "pan(0,-1)", "Pan up", show=False, id="compare.pan_up"),
        Binding("j,down", "pan(0,1)", "Pan down", show=False, id="compare.pan_down"),
        Binding("left_square_bracket", "other(-1)", "Prev B", id="compare.prev_b"),
        Binding("right_square_bracket", "other(1)", "Next B", id="compare.next_b"),
        Binding("space", "toggle_keep", "Keep/remove B", id="compare.toggle_keep"),
        Binding("enter", "moment(1)", "Next matched moment", show=False, id="compare.next_moment"),
        Binding("backspace", "moment(-1)", "Prev moment", show=False, id="compare.prev_moment"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.reset_view()
        self.flip = False  # one pane at a time
        self.showing_b = False  # in flip mode: which one
        self.diff = False
        self.a_index = 0
        self.b_index = 0
        self.frames: tuple[Any, Any] = (None, None)  # what the two panes show now
        self.stats: DiffStats | None = None
        self._sources: dict[str, tuple[Any, str]] = {}  # worker-side cache, by path
        self._diff_cache: dict[tuple[str, str], tuple[Any, DiffStats]] = {}
        self.moment: int | None = None  # videos: which matched moment both panes show

    @property
    def lk(self) -> LookalikeApp:
        return self.app  # type: ignore[return-value]

    # -- members -----------------------------------------------------------------------------
    @property
    def group(self) -> Group | None:
        return self.lk.review.current

    def _pick(self) -> None:
        """A: the first file the group keeps; B: the selected file (or the next one if that is
        A itself)."""
        g = self.group
        if g is None:
            return
        keep = self.lk.review.keep_set(g)
        paths = [m.path for m in g.members]
        self.a_index = next((i for i, p in enumerate(paths) if p in keep), 0)
        b = min(self.lk.review.member, len(paths) - 1)
        if b == self.a_index:
            b = (b + 1) % len(paths)
        self.b_index = b
        self.moment = None

    # -- widgets -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static("", id="cmp-title")
        with Horizontal(id="cmp-body"):
            for side in ("a", "b"):
                with Vertical(id=f"cmp-{side}", classes="cmp-pane"):
                    yield Static("", id=f"cmp-{side}-facts", classes="cmp-facts")
                    if self.lk.image_cls is not None:
                        yield self.lk.image_cls(None, id=f"cmp-{side}-image", classes="cmp-image")  # type: ignore[call-arg]
                    else:
                        yield Static(
                            "(graphics are off)", id=f"cmp-{side}-image", classes="cmp-image"
                        )
        yield StatusBar()
        yield KeyFooter()

    def on_mount(self) -> None:
        self._pick()
        self.call_after_refresh(self.reload)

    def on_resize(self) -> None:
        self.call_after_refresh(self.reload)

    def _image(self, side: str) -> Widget:
        return self.query_one(f"#cmp-{side}-image")

    def pane_box(self, side: str) -> tuple[int, int]:
        size = self._image(side).content_size
        if size.width and size.height:
            return size.width, size.height
        width, height = self.app.size
        return max(1, width // 2 - 2), max(1, height - 8)

    def background(self) -> imagefit.RGB:
        try:
            r, g, b = self._image("a").background_colors[1].rgb
            return int(r), int(g), int(b)
        except Exception:
            return (0, 0, 0)

    # -- drawing -----------------------------------------------------------------------------
    def reload(self) -> None:
        g = self.group
        if g is None or len(g.members) < 2:
            self.query_one("#cmp-title", Static).update("Nothing to compare: a group of one file")
            return
        a, b = g.members[self.a_index], g.members[self.b_index]
        keep = self.lk.review.keep_set(g)
        # Flip mode: one pane (A or B) takes the whole width; the other is hidden.
        self.query_one("#cmp-a").display = not self.flip or not self.showing_b
        self.query_one("#cmp-b").display = not self.flip or self.showing_b
        self.query_one("#cmp-a-facts", Static).update(f"[b]A[/] {facts(a, a.path in keep)}")
        right = "A−B difference" if self.diff else "B"
        self.query_one("#cmp-b-facts", Static).update(f"[b]{right}[/] {facts(b, b.path in keep)}")
        mode = "A/B flip" if self.flip else "side by side"
        shown = (" · showing " + ("B" if self.showing_b else "A")) if self.flip else ""
        self.query_one("#cmp-title", Static).update(
            f"Compare · group {self.lk.review.cursor + 1} · {mode}{shown} · zoom {self.zoom:g}x"
            + (" · difference" if self.diff else "")
        )
        # Each pane gets a frame of its own shape (they may differ by a cell); the window into
        # both pictures is the same fraction (zoom, centre), so they stay locked together.
        boxes = (imagefit.box_pixels(*self.pane_box("a")), imagefit.box_pixels(*self.pane_box("b")))
        at = None
        if self.moment is not None:
            moments = matched_moments(g, a, b)
            at = moments[self.moment] if self.moment < len(moments) else None
        self._make_frames(
            a, b, self.zoom, self.cx, self.cy, boxes, self.background(), self.diff, at
        )

    @work(thread=True, exclusive=True, group="compare")
    def _make_frames(
        self,
        a: Member,
        b: Member,
        zoom: float,
        cx: float,
        cy: float,
        boxes: tuple[tuple[int, int], tuple[int, int]],
        bg: imagefit.RGB,
        diff: bool,
        at: tuple[float, float] | None = None,
    ) -> None:
        src = []
        for m, t in zip((a, b), at or (None, None), strict=True):
            if t is not None:  # a matched moment of a video: that frame of this file
                src.append(frame_picture(self.lk.engine, m.path, t))
                continue
            if m.path not in self._sources:
                self._sources[m.path] = (
                    video_picture(m, self.lk.thumbs)
                    if is_video(m)
                    else load_picture(m.path, m.thumb, self.lk.thumbs)
                )
            src.append(self._sources[m.path])
        (pa, note_a), (pb, note_b) = src
        stats = None
        if diff and pa is not None and pb is not None:
            key = (a.path, b.path)
            if key not in self._diff_cache:
                self._diff_cache[key] = difference(pa, pb)
            pb, stats = self._diff_cache[key]
        common = (min(boxes[0][0], boxes[1][0]), min(boxes[0][1], boxes[1][1]))
        fa = imagefit.view(pa, boxes[0], bg, zoom, cx, cy, common) if pa is not None else None
        fb = imagefit.view(pb, boxes[1], bg, zoom, cx, cy, common) if pb is not None else None
        self.post_message(CompareFrames(fa, fb, stats, (note_a, note_b)))

    def on_compare_frames(self, message: CompareFrames) -> None:
        self.frames = (message.a, message.b)
        self.stats = message.stats
        if self.lk.image_cls is not None:
            for side, frame in (("a", message.a), ("b", message.b)):
                self._image(side).image = frame  # type: ignore[attr-defined]
        notes = (
            ""
            if message.notes == ("original", "original")
            else (f" · A from {message.notes[0]}, B from {message.notes[1]}")
        )
        if self.moment is not None and self.group is not None:
            g = self.group
            n = len(matched_moments(g, g.members[self.a_index], g.members[self.b_index]))
            text = (
                f"matched moment {self.moment + 1}/{n}: A at {message.notes[0]} = B at "
                f"{message.notes[1]} · Enter next, Backspace back"
            )
            notes = ""
        elif message.stats is not None:
            s = message.stats
            where = (
                "nowhere"
                if s.box is None
                else f"inside {s.box[2] - s.box[0]}x{s.box[3] - s.box[1]} px at ({s.box[0]},{s.box[1]})"
            )
            text = f"differs: {100 * s.changed:.1f}% of pixels, mean {s.mean:.1f}/255, {where}"
        else:
            text = "b A/B flip · x difference · +/- zoom · arrows pan (both) · [ ] other B"
            g = self.group
            if g is not None and matched_moments(
                g, g.members[self.a_index], g.members[self.b_index]
            ):
                text += " · Enter: matched moments"
        self.query_one(StatusBar).show(text + notes)

    # -- actions -----------------------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def action_flip(self) -> None:
        if not self.flip:
            self.flip, self.showing_b = True, False
        elif not self.showing_b:
            self.showing_b = True
        else:
            self.flip = self.showing_b = False
        self.reload()

    def action_diff(self) -> None:
        self.diff = not self.diff
        self.reload()

    def action_fit(self) -> None:
        self.reset_view()
        self.reload()

    def action_other(self, delta: int) -> None:
        g = self.group
        if g is None or len(g.members) < 2:
            return
        n = len(g.members)
        b = self.b_index
        for _ in range(n):
            b = (b + delta) % n
            if b != self.a_index:
                break
        self.b_index = b
        self.moment = None
        self.lk.review.select_member(b)
        self.reload()

    def action_moment(self, delta: int) -> None:
        """Videos: step through the moments the engine matched (both files' frame at it)."""
        g = self.group
        if g is None:
            return
        n = len(matched_moments(g, g.members[self.a_index], g.members[self.b_index]))
        if not n:
            self.notify(
                "No matched moments here: Enter steps through a video copy's footage shared "
                "with the suggested keeper (A must be that keeper)",
                severity="warning",
            )
            return
        now = -1 if self.moment is None else self.moment
        self.moment = (now + delta) % n
        self.reload()

    def action_toggle_keep(self) -> None:
        g = self.group
        if g is None:
            return
        error = self.lk.review.toggle_keep(g.members[self.b_index].path)
        if error:
            self.notify(error, severity="warning")
        self.lk.schedule_save()
        self.reload()
