"""The scan screen lists every stage the scan will run from the start (videos, content rules,
look-alike re-checks included), says "up to" for the re-check count (an upper bound), and marks
a stage that had nothing to do as "not needed" once the scan is over."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from textual.pilot import Pilot

from lookalike.engine.api import Engine
from lookalike.engine.ml_stage import MLOptions
from lookalike.engine.options import ContentRulesOptions, ScanOptions
from lookalike.ui.app import make_app
from lookalike.ui.fake import FakeEngine
from lookalike.ui.screens.scan import planned_stages, stage_line
from scan_wait import wait_scan_finished


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached in time"
        await pilot.pause(0.05)


def test_planned_stages_follow_the_options() -> None:
    base = ScanOptions()
    assert planned_stages(base) == (
        "discover", "catalog", "exact", "extract", "video", "recheck", "group", "rank"
    )  # fmt: skip
    assert "video" not in planned_stages(dataclasses.replace(base, video=False))
    assert "recheck" not in planned_stages(dataclasses.replace(base, same=False))
    rules = ContentRulesOptions(rules=("stand-in rule",))  # type: ignore[arg-type]
    full = dataclasses.replace(base, ml=MLOptions(similar=True), content_rules=rules)
    names = planned_stages(full)
    assert names == (
        "discover", "catalog", "exact", "extract", "embed", "video", "rules", "recheck",
        "group", "verify", "rank",
    )  # fmt: skip
    assert "rules" not in planned_stages(
        dataclasses.replace(base, content_rules=ContentRulesOptions(rules=()))
    )


def test_recheck_counts_are_an_upper_bound_and_idle_stages_say_why() -> None:
    running = stage_line("recheck", {"done": 12, "total": 400, "rate": 30.0, "eta": 1.0})
    assert "12 of up to 400 pairs" in running and "%" not in running
    assert "up to 400 in 2.0 s" in stage_line(
        "recheck", {"finished": True, "done": 400, "seconds": 2.0}
    )
    assert "3/4 (75%)" in stage_line("extract", {"done": 3, "total": 4})
    assert "waiting" in stage_line("video", None, "running")
    assert "not needed" in stage_line("video", None, "finished")
    assert "not reached" in stage_line("group", None, "cancelled")


def _text(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one("#scan-stages").render())


def test_running_scan_lists_the_stages_still_to_come() -> None:
    engine = FakeEngine(scan_groups=2)
    engine.pause_after = 3  # stops after discover and exact: nothing about the later stages yet
    app = make_app({}, engine, graphics="none", roots=[Path("/photos")], start_mode="scan")

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            engine.step_gate = asyncio.Event()
            app.start_scan()
            await wait_for(pilot, lambda: "exact" in app.scan_model.stages)
            await wait_for(pilot, lambda: bool(app.scan_model.planned))
            await pilot.pause(0.1)
            lines = _text(app).splitlines()
            names = [line.split()[1] if line[0] != " " else line.split()[0] for line in lines]
            assert names == list(planned_stages(app.scan_options()))
            assert "video" in names and "recheck" in names
            assert all("waiting" in line for line in lines if "recheck" in line or "video" in line)
            engine.step_gate.set()
            await wait_scan_finished(pilot, app)

    asyncio.run(run())


def test_real_scan_reports_only_stages_it_listed(tmp_path: Path) -> None:
    """The real engine, real photos: every stage it reports was in the list from the start, and
    the ones it had no work for (no videos here) end as "not needed"."""
    from skimage import data

    root = tmp_path / "photos"
    root.mkdir()
    for name, arr in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
        im = Image.fromarray(arr)
        im.save(root / f"{name}.png")
        im.resize((im.width // 2, im.height // 2)).save(root / f"{name}_half.jpg", quality=88)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", roots=[root])

    async def run() -> None:
        async with app.run_test(size=(120, 36)) as pilot:
            app.start_scan()
            await wait_scan_finished(pilot, app)
            # The app moves to the review a moment after the scan ends: read the scan screen once
            # that move is over (switching back until the scan screen stays).
            text = ""
            for _ in range(100):
                app.switch_mode("scan")
                await pilot.pause(0.1)
                if app.screen.query("#scan-stages"):
                    text = _text(app)
                    break
            assert text, "the scan screen never stayed shown"
            model = app.scan_model
            assert set(model.stages) <= set(model.planned), (model.stages, model.planned)
            assert "video" in text and "not needed" in text
            assert "waiting" not in text

    asyncio.run(run())
