"""Review keys that need the catalog read it in a worker, never on the event loop (issue 13):
the real app on the real engine, over a stored review of 457 groups (three pages) copied from
the groups a real scan finds on real photos. The engine's reads are held at a gate while the
keys come back to back, as a terminal sends them: nothing is applied before the read is done,
then every key acts once, in order, on the new view — the same as the in-memory review."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from textual import events

from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.ui.app import make_app
from lookalike.ui.screens.review import ReviewScreen
from lookalike.ui.state import ReviewState
from lookalike.ui.widgets.grouplist import GroupList
from test_ui_fast_keys import burst, typing_ready, wait_for

N = 457


class GatedEngine(Engine):
    """The real engine; its reads wait at ``gate`` off the loop and are noted on it."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.gate = threading.Event()
        self.gate.set()
        self.loop_calls: list[str] = []
        self.worker_calls: list[str] = []
        self.fail = ""  # a worker's read raises this (a catalog that went away)

    def _enter(self, name: str) -> None:
        if threading.current_thread() is threading.main_thread():
            self.loop_calls.append(name)
            return
        self.worker_calls.append(name)
        if self.fail:
            raise RuntimeError(self.fail)
        if not self.gate.wait(30):  # the test never opened it: the loop was stuck
            raise TimeoutError("the event loop did not go on while a worker read")

    def group_columns(self, *a, **kw):
        self._enter("group_columns")
        return super().group_columns(*a, **kw)

    def group_page(self, *a, **kw):
        self._enter("group_page")
        return super().group_page(*a, **kw)


def stored_review(tmp: Path) -> GatedEngine:
    """N groups copied from a real scan of real photos (a byte copy, a smaller copy and a
    PNG re-encode of each), each under its own folder /photos/NNNN/ (100 groups a folder)."""
    from skimage import data

    lib = tmp / "lib"
    lib.mkdir()
    for name in ("astronaut", "coffee"):
        img = Image.fromarray(getattr(data, name)())
        img.save(lib / f"{name}.jpg", quality=92)
        img.save(lib / f"{name}-copy.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg")
        img.save(lib / f"{name}.png")
    engine = GatedEngine(tmp / "catalog.sqlite", tmp / "thumbs")
    done = [e for e in engine.scan_sync(ScanOptions(roots=(lib,), workers=1))
            if isinstance(e, ScanFinished)]  # fmt: skip
    templates = list(done[0].groups)
    assert templates
    out = []
    for n in range(N):
        t = templates[n % len(templates)]
        d = f"/photos/{n // 100:04d}/{n:05d}"
        members = tuple(replace(m, path=f"{d}-{os.path.basename(m.path)}", file_id=None)
                        for m in t.members)  # fmt: skip
        out.append(replace(t, id=n + 1, keep=f"{d}-{os.path.basename(t.keep)}", members=members))
    with Catalog(engine.catalog_path) as cat:
        cat.finish_scan(cat.start_scan(["/photos"]), {}, out, seen=None)
    return engine


@pytest.fixture
def app_on(tmp_path: Path, monkeypatch):
    for var in ("LOOKALIKE_CONFIG_DIR", "LOOKALIKE_CACHE_DIR", "LOOKALIKE_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    engine = stored_review(tmp_path)
    yield engine, make_app({}, engine)
    engine.gate.set()  # a failed test leaves no worker waiting at the gate


def reference(engine: Engine) -> ReviewState:
    return ReviewState(engine.last_groups())


async def opened(pilot, app) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
    await wait_for(pilot, lambda: app.review.stored is not None and len(app.review.view) == N)
    await pilot.pause(0.3)  # the read-ahead worker's first round


async def released(pilot, app, engine: GatedEngine, done) -> None:
    """Open the gate; wait until the held keys were replayed and the last one acted."""
    engine.gate.set()
    await wait_for(pilot, lambda: not app._busy and app._busy_keys is None and done())


async def test_tier_and_sort_keys_read_in_a_worker_and_keep_the_keys_typed_meanwhile(app_on):
    engine, app = app_on
    ref = reference(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        state = app.review
        engine.loop_calls.clear()
        engine.gate.clear()
        burst(app, "o", "t", "j", "t")  # o: its view's ords were read ahead, not its pages
        await wait_for(pilot, lambda: bool(app._busy))
        await pilot.pause(0.3)
        assert (state.tier_filter, state.sort, state.cursor) == (None, "order", 0)  # held
        assert len(app._busy_keys) == 3
        await released(pilot, app, engine, lambda: state.tier_filter == "same")
        ref.cycle_sort()
        ref.cycle_tier()
        ref.move(1)
        ref.cycle_tier()
        assert (state.tier_filter, state.sort) == (ref.tier_filter, ref.sort) == ("same", "bytes")
        assert list(state.view) == list(ref.view) and state.cursor == ref.cursor
        assert state.current.id == ref.current.id
        assert engine.loop_calls == []


async def test_a_far_jump_and_a_typed_folder_filter_read_off_the_loop(app_on):
    engine, app = app_on
    ref = reference(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        state = app.review
        engine.loop_calls.clear()
        engine.gate.clear()
        burst(app, "G", "k", "k")  # the last page is not decoded yet
        await wait_for(pilot, lambda: bool(app._busy))
        await pilot.pause(0.3)
        assert state.cursor == 0
        await released(pilot, app, engine, lambda: state.cursor == N - 3)
        assert state.cursor == N - 3 and state.current.id == ref.by_id[ref.view[N - 3]].id

        burst(app, "d")
        await typing_ready(pilot)
        engine.gate.clear()
        burst(app, *"0002", "enter", "j")  # groups 200–299: a view not read yet
        await wait_for(pilot, lambda: bool(app._busy))
        await pilot.pause(0.3)
        assert state.folder_filter is None and state.cursor == N - 3
        ref.goto_index(N - 3)
        ref.set_folder_filter("0002")
        ref.move(1)
        await released(pilot, app, engine, lambda: state.current.id == ref.current.id)
        assert state.folder_filter == "0002" and list(state.view) == list(ref.view)
        assert len(ref.view) == 100 and state.current.id == ref.current.id
        assert engine.loop_calls == []


def _lines(app) -> list[str]:
    lst = app.screen.query_one(GroupList)
    return ["".join(s.text for s in lst.render_line(y)) for y in range(lst.content_size.height)]


async def test_the_mouse_wheel_onto_a_page_not_decoded_reads_it_in_a_worker(app_on):
    """The wheel scrolls the list without a key: the lines of a page not decoded say
    "loading …" while a thread worker decodes it, and the event loop never reads."""
    engine, app = app_on
    ref = reference(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        state, lst = app.review, app.screen.query_one(GroupList)
        assert not state.stored.view.has_page(2)
        engine.loop_calls.clear()
        engine.worker_calls.clear()
        engine.gate.clear()
        for _ in range(N // 3):  # to the end of the list: the third page (groups 400–456)
            lst.post_message(events.MouseScrollDown(lst, 2, 2, 0, 1, 0, False, False, False))
        await wait_for(pilot, lambda: lst.top == N - lst.content_size.height)
        await wait_for(pilot, lambda: "group_page" in engine.worker_calls)
        await pilot.pause(0.2)
        assert all("loading …" in line for line in _lines(app)[-10:])  # held at the gate
        assert state.cursor == 0 and engine.loop_calls == []
        engine.gate.set()
        await wait_for(pilot, lambda: "loading" not in "".join(_lines(app)))
        last = _lines(app)[-1]
        assert f"{N:>5} {ref.by_id[ref.view[N - 1]].tier:<7}" in last
        assert state.stored.view.has_page(2) and state.stored.view.has_page(0)  # cursor's kept
        assert engine.loop_calls == [] and state.cursor == 0


async def test_a_wheel_read_that_fails_is_said_once_not_retried_in_a_loop(app_on):
    engine, app = app_on
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        lst = app.screen.query_one(GroupList)
        engine.worker_calls.clear()
        engine.fail = "the catalog's disk went away"
        for _ in range(N // 3):
            lst.post_message(events.MouseScrollDown(lst, 2, 2, 0, 1, 0, False, False, False))
        await wait_for(pilot, lambda: lst.top == N - lst.content_size.height)
        await wait_for(pilot, lambda: any("disk went away" in str(n.message)
                                          for n in app._notifications))  # fmt: skip
        calls = len(engine.worker_calls)
        await pilot.pause(0.5)
        assert len(engine.worker_calls) == calls <= 3  # no repaint, so no retry loop
        assert "loading …" in _lines(app)[-1] and engine.loop_calls == []
