"""SVG snapshots of every screen (pytest-textual-snapshot's SVG format, stored in tests/snapshots).

Thumbnails use explicit HalfcellImage/UnicodeImage, never auto-detected graphics, and the fake
engine's fixed paths and dates, so the pictures do not depend on the terminal or the clock.
Update with ``pytest tests/test_ui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from textual._doc import take_svg_screenshot
from textual.pilot import Pilot
from textual_image.widget import HalfcellImage, UnicodeImage

from lookalike.ui.app import LookalikeApp, make_app
from lookalike.ui.fake import FakeEngine, make_groups, make_thumbs

SIZE = (120, 36)
FIXED = Path("/tmp/lookalike-ui-snapshot")  # fixed so absolute paths in the tree are stable


class UiSvg(SVGImageExtension):
    """Same SVG format and normalisation; files live in tests/snapshots/test_ui_snapshots/."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


@pytest.fixture
def ui_snap(snapshot: Any) -> Callable[..., bool]:
    snap = snapshot.use_extension(UiSvg)

    def compare(
        app: LookalikeApp,
        press: Iterable[str] = (),
        run_before: Callable[[Pilot], Awaitable[None] | None] | None = None,
        size: tuple[int, int] = SIZE,
    ) -> bool:
        svg = take_svg_screenshot(app=app, press=press, terminal_size=size, run_before=run_before)
        return snap == svg

    return compare


@pytest.fixture
def thumbs() -> list[str]:
    folder = FIXED / "thumbs"
    shutil.rmtree(folder, ignore_errors=True)
    return make_thumbs(folder)


def settle(seconds: float = 0.3) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        await pilot.pause(seconds)
        await pilot.wait_for_scheduled_animations()

    return run


def review_app(thumbs: list[str], image_cls: type = HalfcellImage, **kw: Any) -> LookalikeApp:
    return make_app(
        kw.pop("settings", {}), FakeEngine(make_groups(12, thumbs)), image_cls=image_cls, **kw
    )


def test_review_halfcell(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    assert ui_snap(review_app(thumbs), press=["j", "l"], run_before=settle())


LAYOUTS = [(80, 24), (120, 40), (200, 60)]


@pytest.mark.parametrize("size", LAYOUTS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_review_layouts(
    ui_snap: Callable[..., bool], thumbs: list[str], size: tuple[int, int]
) -> None:
    """80×24: list, one large picture, every file's label on one line; wider: the grid and the
    details pane grow with the terminal."""
    assert ui_snap(review_app(thumbs), press=["j", "l"], run_before=settle(), size=size)


@pytest.mark.parametrize("size", LAYOUTS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_layouts(
    ui_snap: Callable[..., bool], thumbs: list[str], size: tuple[int, int]
) -> None:
    """Keeper (A) and the selected file (B) side by side, each with its numbers and flags."""
    assert ui_snap(review_app(thumbs), press=["l", "v"], run_before=settle(0.5), size=size)


def test_compare_difference(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    assert ui_snap(review_app(thumbs), press=["l", "v", "x"], run_before=settle(0.5))


def test_review_decided_unicode(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    app = review_app(thumbs, UnicodeImage)
    assert ui_snap(app, press=["a", "l", "c", "n", "m", "f"], run_before=settle())


def test_review_light_theme(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    app = review_app(thumbs, settings={"ui": {"theme": "lookalike-light"}})
    assert ui_snap(app, press=["G"], run_before=settle())


def test_review_help(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    assert ui_snap(review_app(thumbs), press=["question_mark"], run_before=settle())


def test_full_view(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    assert ui_snap(review_app(thumbs), press=["enter", "plus"], run_before=settle(0.5))


def test_scan_in_progress(ui_snap: Callable[..., bool]) -> None:
    engine = FakeEngine(scan_groups=3)
    engine.pause_after = 5
    app = make_app({}, engine, graphics="none", roots=[FIXED / "photos"], start_mode="scan")

    async def run(pilot: Pilot) -> None:
        engine.step_gate = asyncio.Event()
        app.start_scan()
        await pilot.pause(0.3)

    assert ui_snap(app, run_before=run)


def test_scan_finished(ui_snap: Callable[..., bool]) -> None:
    engine = FakeEngine(scan_groups=3)
    app = make_app({}, engine, graphics="none", roots=[FIXED / "photos"], start_mode="scan")

    async def run(pilot: Pilot) -> None:
        app.start_scan()
        await pilot.pause(0.3)
        app.switch_mode("scan")
        await pilot.pause(0.2)
        app.clear_notifications()
        await pilot.pause(0.1)

    assert ui_snap(app, run_before=run)


def test_browse(ui_snap: Callable[..., bool]) -> None:
    photos = FIXED / "photos"
    shutil.rmtree(photos, ignore_errors=True)
    for sub in ("2021", "2022", "phone"):
        (photos / sub).mkdir(parents=True)
        for i in range(3):
            (photos / sub / f"IMG_{i}.jpg").write_bytes(b"x")
    app = make_app({}, FakeEngine(), graphics="none", roots=[photos / "2021"], browse_start=photos)
    assert ui_snap(app, press=["down", "down", "a"], run_before=settle(0.5))


def test_apply_plan_and_confirm(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    app = review_app(thumbs)
    assert ui_snap(app, press=["a", "a", "a", "4", "_", "a"], run_before=settle())


@pytest.mark.parametrize("size", LAYOUTS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_apply_layouts(
    ui_snap: Callable[..., bool], thumbs: list[str], size: tuple[int, int]
) -> None:
    """The plan summary before anything is done: operation and what it does, files, bytes."""
    app = review_app(thumbs)
    assert ui_snap(app, press=["a", "a", "a", "4", "o"], run_before=settle(), size=size)


def test_rules(ui_snap: Callable[..., bool]) -> None:
    app = make_app({"rules": {"reference": ["/photos/originals"]}}, FakeEngine(), graphics="none")
    assert ui_snap(app, press=["5", "J"], run_before=settle())


def test_history(ui_snap: Callable[..., bool], thumbs: list[str]) -> None:
    engine = FakeEngine(make_groups(6, thumbs))
    app = make_app({}, engine, graphics="none")

    async def run(pilot: Pilot) -> None:
        await pilot.press("a", "a", "4")
        await pilot.pause(0.3)
        await pilot.press("a", *"apply", "enter")
        await pilot.pause(0.3)
        await pilot.press("6")
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.1)

    assert ui_snap(app, run_before=run)
