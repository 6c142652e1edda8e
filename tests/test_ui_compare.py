"""Compare view on a real scan: the keeper and a watermarked copy side by side, zoom locked,
A/B flip, and a difference picture that finds the watermark."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from textual.pilot import Pilot
from textual_image.widget import HalfcellImage

from lookalike.engine.api import Engine
from lookalike.ui import imagefit
from lookalike.ui.app import make_app
from lookalike.ui.screens.compare import CompareScreen, difference
from scan_wait import wait_scan_finished

MARK = (400, 440, 490, 490)  # the watermark's box in the copy


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def test_difference_finds_the_changed_region() -> None:
    a = astronaut()
    b = a.copy()
    ImageDraw.Draw(b).rectangle(MARK, fill=(255, 255, 255))
    shown, stats = difference(a, b.resize((256, 256)))  # B is scaled to A's size first
    assert shown.size == a.size
    x0, y0, x1, y1 = stats.box
    assert x0 >= MARK[0] - 12 and y0 >= MARK[1] - 12 and x1 <= MARK[2] + 12 and y1 <= MARK[3] + 12
    assert 0 < stats.changed < 0.05
    _, same = difference(a, a.copy())
    assert same.box is None and same.changed == 0 and same.mean == 0


async def test_compare_side_by_side_zoom_flip_and_difference(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    a = astronaut()
    a.save(photos / "astronaut.png")
    b = a.copy()
    ImageDraw.Draw(b).rectangle(MARK, fill=(255, 255, 255))
    b.save(photos / "astronaut_marked.png")
    engine = Engine(catalog_path=tmp_path / "catalog.sqlite", thumb_dir=tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, image_cls=HalfcellImage, roots=[photos])
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_scan()
        await wait_scan_finished(pilot, app)
        assert len(app.review.groups) == 1 and len(app.review.groups[0].members) == 2
        await wait_for(pilot, lambda: app.current_mode == "review")
        await pilot.pause(0.2)
        await pilot.press("v")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: None not in screen.frames)
        bg = screen.background()
        for side, frame in zip("ab", screen.frames, strict=True):
            box = imagefit.box_pixels(*screen.pane_box(side))
            assert frame.size == box  # exactly the pane's shape: nothing is stretched
            left, top, right, bottom = imagefit.content_box(frame, bg)
            assert (right - left) / (bottom - top) == pytest.approx(1.0, rel=0.06)  # square
        # Zoom and pan move both: same window, so the unchanged parts match.
        await pilot.press("plus", "plus", "h")
        await wait_for(pilot, lambda: screen.zoom == 4 and screen.frames[0] is not None)
        await pilot.pause(0.3)
        fa, fb = screen.frames
        # The panes may differ by a cell; both are centred on the same point of the photo.
        w = min(fa.width, fb.width)
        ca = fa.crop(((fa.width - w) // 2, 0, (fa.width - w) // 2 + w, fa.height))
        cb = fb.crop(((fb.width - w) // 2, 0, (fb.width - w) // 2 + w, fb.height))
        _, stats = difference(ca, cb)
        assert stats.mean < 3  # the watermark is bottom right; the window is left of centre
        # A/B flip: one pane at a time, then both again.
        await pilot.press("b")
        assert screen.query_one("#cmp-a").display and not screen.query_one("#cmp-b").display
        await pilot.press("b")
        assert not screen.query_one("#cmp-a").display and screen.query_one("#cmp-b").display
        await pilot.press("b", "0", "x")
        await wait_for(pilot, lambda: screen.stats is not None)
        x0, y0, x1, y1 = screen.stats.box
        assert x0 >= MARK[0] - 12 and y0 >= MARK[1] - 12 and x1 <= MARK[2] + 12
        assert "differs:" in str(screen.query_one("StatusBar").render())
        g = app.review.current
        b_path = g.members[screen.b_index].path
        await pilot.press("space")  # keep B too
        assert b_path in app.review.keep_set(g)
        await pilot.press("escape")
        assert app.current_mode == "review" and not isinstance(app.screen, CompareScreen)
