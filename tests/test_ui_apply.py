"""Apply screen: every CLI operation, delete behind its own typed confirmation (and the
passphrase lock), and a real hardlink batch through the engine, undone from History."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from lookalike.engine.api import Engine
from lookalike.ui.app import make_app
from lookalike.ui.fake import FakeEngine, make_groups
from lookalike.ui.screens.apply import OPERATIONS
from lookalike.ui.screens.base import ConfirmScreen, PromptScreen
from scan_wait import wait_scan_finished

SIZE = (120, 36)


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


async def test_every_cli_operation_is_offered(tmp_path: Path) -> None:
    engine = FakeEngine(make_groups(3))
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        await pilot.press("a", "4")
        await wait_for(pilot, lambda: app.plan is not None)
        seen = [app.plan.operation]
        for _ in OPERATIONS[1:]:
            await pilot.press("o")
            if isinstance(app.screen, PromptScreen):  # move and copy ask for their folder
                await pilot.press(*str(tmp_path / "out"), "enter")
            await wait_for(pilot, lambda: app.plan is not None)
            seen.append(app.plan.operation)
        assert [s.partition(":")[0] for s in seen] == list(OPERATIONS)
        assert seen[2] == f"move:{tmp_path / 'out'}" and seen[3] == f"copy:{tmp_path / 'out'}"
        text = str(app.screen.query_one("#apply-summary").render())
        assert "cannot be undone" in text  # delete is last


async def _to_delete(pilot: Pilot, app) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: len(app.review.groups) == 3)
    await pilot.press("a", "4")
    await wait_for(pilot, lambda: app.plan is not None)
    while app.operation != "delete":
        await pilot.press("o")
        if isinstance(app.screen, PromptScreen):
            await pilot.press("escape")
    await wait_for(pilot, lambda: app.plan is not None and app.plan.operation == "delete")


async def test_delete_needs_its_own_typed_confirmation() -> None:
    engine = FakeEngine(make_groups(3))
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=SIZE) as pilot:
        await _to_delete(pilot, app)
        n = app.plan.files
        await pilot.press("a", *"apply", "enter")  # the usual word is not enough
        assert isinstance(app.screen, ConfirmScreen) and engine.applied == []
        await pilot.press("escape", "a", *f"delete {n} files", "enter")
        await wait_for(pilot, lambda: len(engine.applied) == 1 and not app.applying)
        assert engine.applied[0].operation == "delete"
        assert "batch b0001" in app.apply_text  # the batch id after


async def test_delete_asks_for_the_passphrase_when_one_is_set() -> None:
    from lookalike.engine.actions import lock

    lock.set_passphrase("sekret")
    lock.lock()
    engine = FakeEngine(make_groups(3))
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=SIZE) as pilot:
        await _to_delete(pilot, app)
        n = app.plan.files
        await pilot.press("a", *f"delete {n} files", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"wrong", "enter")
        await wait_for(
            pilot, lambda: any("wrong passphrase" in m.message for m in app._notifications)
        )
        assert engine.applied == []
        await pilot.press("a", *f"delete {n} files", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"sekret", "enter")
        await wait_for(pilot, lambda: len(engine.applied) == 1)


async def test_hardlink_through_the_real_engine_then_undo(tmp_path: Path) -> None:
    from PIL import Image
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()).save(photos / "a.png")
    shutil.copyfile(photos / "a.png", photos / "b.png")  # an exact copy
    engine = Engine(catalog_path=tmp_path / "catalog.sqlite", thumb_dir=tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", roots=[photos])
    async with app.run_test(size=SIZE) as pilot:
        app.start_scan()
        await wait_scan_finished(pilot, app)
        await wait_for(pilot, lambda: app.current_mode == "review")
        await pilot.pause(0.2)
        g = app.review.current
        gone = next(m.path for m in g.members if m.path != g.keep)
        await pilot.press("a", "4")
        await wait_for(pilot, lambda: app.plan is not None)
        while app.operation != "hardlink":
            await pilot.press("o")
            if isinstance(app.screen, PromptScreen):
                await pilot.press("escape")
        await wait_for(pilot, lambda: app.plan is not None and app.plan.files == 1)
        await pilot.press("a", *"apply", "enter")
        await wait_for(pilot, lambda: "batch" in app.apply_text and not app.applying)
        assert os.stat(gone).st_ino == os.stat(g.keep).st_ino  # now one file, two names
        await pilot.press("6")
        await wait_for(pilot, lambda: len(app.batches) == 1)
        await pilot.press("u", "y")
        await wait_for(pilot, lambda: app.batches and app.batches[0].state == "undone")
        assert os.stat(gone).st_ino != os.stat(g.keep).st_ino
        assert Path(gone).read_bytes() == Path(g.keep).read_bytes()
