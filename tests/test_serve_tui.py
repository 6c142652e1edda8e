"""``lookalike --server URL``: the real terminal app (Pilot) on a real server — scan from the app,
review, apply the plan through the server's journal, undo it from History, files restored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from textual.pilot import Pilot  # noqa: E402

from lookalike.ui.app import make_app  # noqa: E402
from lookalike.ui.remote_port import RemotePort  # noqa: E402
from scan_wait import wait_scan_finished
from serve_helpers import Server, make_library, snapshot  # noqa: E402

SIZE = (120, 36)


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


async def test_scan_review_apply_undo_in_the_app_on_a_server(tmp_path: Path) -> None:
    lib = make_library(tmp_path)
    before = snapshot(lib)
    server = Server(tmp_path, lib)
    try:
        port = RemotePort(server.url, cache=tmp_path / "remote-thumbs")
        app = make_app({"scan": {"workers": 1}}, port, graphics="none", roots=[lib])
        async with app.run_test(size=SIZE) as pilot:
            app.start_scan()
            await wait_scan_finished(pilot, app)
            await wait_for(pilot, lambda: app.current_mode == "review")
            await pilot.pause(0.2)
            assert len(app.review.groups) == 2
            await pilot.press("a", "4")
            await wait_for(pilot, lambda: app.plan is not None)
            assert app.plan.operation == "trash" and app.plan.files == 1  # "a": this group
            await pilot.press("a", *"apply", "enter")
            await wait_for(pilot, lambda: "batch" in app.apply_text and not app.applying)
            assert len(snapshot(lib)) == len(before) - 1  # gone from the server's disk
            await pilot.press("6")
            await wait_for(pilot, lambda: len(app.batches) == 1)
            await pilot.press("u", "y")
            await wait_for(pilot, lambda: app.batches and app.batches[0].state == "undone")
        assert snapshot(lib) == before  # byte-identical restore
    finally:
        server.stop()
