"""A video group in the app, real engine on real footage: the card shows the video's length,
Compare shows both files' contact strips, and Enter steps through the matched moments — both
panes then show the same picture, each at its own file's time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from lookalike.engine import Engine
from lookalike.ui.widgets.thumbs import duration_badge
from scan_wait import wait_scan_finished
from video_helpers import DATA, variant

pytest.importorskip("av")


async def _until(pilot, cond, timeout: float = 240.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def _diff(a, b) -> float:  # type: ignore[no-untyped-def]
    """Mean absolute difference of two pane pictures (panes may differ by a cell)."""
    a, b = (np.asarray(x.convert("RGB").resize((96, 54)), np.float32) for x in (a, b))
    return float(np.abs(a - b).mean())


def test_duration_badge() -> None:
    class M:
        duration: float | None = None

    m = M()
    assert duration_badge(m) == ""
    m.duration = 7.04
    assert duration_badge(m) == "▶ 7.0 s"
    m.duration = 65.4
    assert duration_badge(m) == "▶ 1:05"
    m.duration = 3725
    assert duration_badge(m) == "▶ 1:02:05"


async def test_compare_steps_through_matched_moments_of_a_trimmed_copy(tmp_path: Path) -> None:
    from textual_image.widget import HalfcellImage

    from lookalike.ui.app import make_app
    from lookalike.ui.screens.compare import CompareScreen
    from lookalike.ui.widgets.bars import StatusBar

    folder = tmp_path / "videos"
    folder.mkdir()
    base = variant(DATA / "bikes.mp4", folder / "bikes.mp4", scale=0.25)
    variant(base, folder / "bikes-trimmed.mp4", trim=(0.3, 0.9))
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, image_cls=HalfcellImage, roots=[folder])
    async with app.run_test(size=(140, 42)) as pilot:
        await pilot.press("1")
        await pilot.press("s")
        await wait_scan_finished(pilot, app, timeout=240.0)
        await _until(pilot, lambda: app.current_mode == "review" and len(app.review.groups) == 1)
        g = app.review.current
        assert g.keep == str(folder / "bikes.mp4")
        copy = next(i for i, m in enumerate(g.members) if m.path.endswith("trimmed.mp4"))
        # the review screen's grid mounts a frame after the mode switches (seen under CI load)
        await _until(pilot, lambda: bool(app.screen.query("#thumbgrid")))
        grid = app.screen.query_one("#thumbgrid")
        await _until(pilot, lambda: len(grid.tiles) == 2)
        card = next(c for c in grid.tiles if c.path.endswith("trimmed.mp4"))
        assert "▶ " in card.flags and " s" in card.flags

        await pilot.press(*["l"] * copy, "v")
        await _until(pilot, lambda: isinstance(app.screen, CompareScreen))
        cmp = app.screen
        await _until(pilot, lambda: cmp.frames[0] is not None and cmp.frames[1] is not None)
        status = app.screen.query_one(StatusBar)
        await _until(pilot, lambda: "contact strip" in status.message)
        assert "A from contact strip, B from contact strip" in status.message
        assert "Enter: matched moments" in status.message

        strips = cmp.frames
        await pilot.press("enter")
        await _until(
            pilot, lambda: cmp.frames is not strips and "matched moment 1/" in status.message
        )
        a, b = cmp.frames
        # the same picture in both panes: the keeper 30 % in, the trimmed copy at its start
        same = _diff(a, b)
        await pilot.press("enter", "enter", "enter")
        await _until(pilot, lambda: "matched moment 4/" in status.message)
        later_a = cmp.frames[0]
        assert same < 12 < _diff(later_a, b), (same, _diff(later_a, b))
        a_at, b_at = (float(x.split(" s")[0]) for x in status.message.split(" at ")[1:3])
        assert b_at == pytest.approx(3.0, abs=0.6) and a_at == pytest.approx(b_at + 2.7, abs=0.8)
        await pilot.press("escape", "q")


def test_a_frame_that_cannot_be_had_is_said_not_raised() -> None:
    from lookalike.ui.fake import FakeEngine
    from lookalike.ui.video_view import frame_picture

    picture, note = frame_picture(FakeEngine(), "/nowhere/clip.mp4", 2.0)
    assert picture is None and note == "no frame at 2.0 s (the fake engine has no videos)"
