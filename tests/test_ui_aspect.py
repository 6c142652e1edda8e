"""True-shape pictures: a portrait and a panorama keep their aspect ratio in a tile (any
layout) and in the full view, through the real engine's scan and thumbnails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from textual.pilot import Pilot
from textual_image.widget import HalfcellImage

from lookalike.engine.api import Engine
from lookalike.ui import imagefit
from lookalike.ui.app import make_app
from lookalike.ui.widgets.tilegrid import TileGrid
from scan_wait import wait_scan_finished


def real_photo(kind: str) -> Image.Image:
    """A portrait (2:3, like a 2560×3837 phone shot) and a 4:1 panorama cut from real photos."""
    from skimage import data

    if kind == "portrait":
        im = Image.fromarray(data.astronaut())  # 512×512
        return im.crop((96, 0, 437, 512))  # 341×512
    im = Image.fromarray(data.coffee())  # 600×400
    return im.crop((0, 125, 600, 275))  # 600×150


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def shape_of(content: tuple[int, int, int, int] | None) -> float:
    assert content is not None, "the picture is blank"
    left, top, right, bottom = content
    return (right - left) / (bottom - top)


def assert_keeps_aspect(frame: Image.Image, cells: tuple[int, int], bg, source: float) -> None:
    # The frame has the exact shape of the widget's cells (so the renderer does not stretch it)
    # and the picture inside has the shape of the photo.
    assert (
        abs(
            frame.width / frame.height
            - imagefit.box_pixels(*cells)[0] / imagefit.box_pixels(*cells)[1]
        )
        < 0.01
    )
    assert shape_of(imagefit.content_box(frame, bg)) == pytest.approx(source, rel=0.06)


def test_fit_keeps_shape_and_centres() -> None:
    portrait = real_photo("portrait")
    out = imagefit.fit(portrait, (400, 200), (1, 2, 3))
    assert out.size == (400, 200)
    left, top, right, bottom = imagefit.content_box(out, (1, 2, 3))
    assert (top, bottom) == (0, 200)
    assert (right - left) / 200 == pytest.approx(341 / 512, rel=0.02)
    assert abs(left - (400 - right)) <= 1  # centred
    zoomed = imagefit.view(portrait, (400, 200), (1, 2, 3), zoom=4, cx=0.5, cy=0.5)
    assert zoomed.size == (400, 200) and imagefit.content_box(zoomed, (1, 2, 3)) is not None


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_portrait_and_panorama_keep_their_shape(tmp_path: Path, size) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shapes = {}
    for kind in ("portrait", "panorama"):
        im = real_photo(kind)
        shapes[kind] = im.width / im.height
        im.save(photos / f"{kind}.png")
        im.save(photos / f"{kind}_copy.jpg", quality=90)  # a re-encoded copy: same photo
    engine = Engine(catalog_path=tmp_path / "catalog.sqlite", thumb_dir=tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, image_cls=HalfcellImage, roots=[photos])
    async with app.run_test(size=size) as pilot:
        app.start_scan()
        await wait_scan_finished(pilot, app)
        await wait_for(pilot, lambda: bool(app.screen.query(TileGrid)))
        assert len(app.review.groups) == 2
        grid = app.screen.query_one(TileGrid)
        bg = grid.background
        for _ in range(2):
            g = app.review.current
            kind = "portrait" if "portrait" in Path(g.keep).name else "panorama"
            # j paints the group's text first and its tiles in the next frame
            await wait_for(
                pilot,
                lambda g=g: grid.group_id == g.id and len(grid.tiles) == len(g.members),
            )
            assert len(grid.tiles) == len(g.members) == 2
            # asked of the grid's tiles each time: a re-layout may replace the cards meanwhile
            # (holding the first ones, the wait timed out about once in 7 runs)
            await wait_for(
                pilot,
                lambda g=g: (
                    grid.group_id == g.id
                    and len(grid.tiles) == 2
                    and all(c.image is not None for c in grid.tiles)
                ),
            )
            for card in grid.tiles:
                assert_keeps_aspect(card.image, grid.box, bg, shapes[kind])
            await pilot.press("enter")
            full = app.screen
            await wait_for(pilot, lambda full=full: getattr(full, "frame", None) is not None)
            image = full.query_one("#full-image")
            assert_keeps_aspect(full.frame, full.view_box(), full.background(), shapes[kind])
            assert full.view_box() == (image.content_size.width, image.content_size.height)
            await pilot.press("escape", "j")
