"""The app's open shows the first page of a stored review before its stored decisions are
matched (issue 13: a review with every group decided took a minute to open at 100,000 groups).
Through the REAL engine on real photos: matching is gated, the first page is on screen, the
status says "matching decisions …", a key that only moves acts at once while a decision key (and
every key typed after it) waits; then the decisions come back exactly as the review that
matches at once finds them, each waiting key acts once on the group it was typed on, and no
stored decision is lost or rewritten (a quit during matching saves them unchanged)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from lookalike.engine import Engine
from lookalike.ui import app_decisions
from lookalike.ui.engine_port import EngineAdapter
from lookalike.ui.group_pages import open_stored, record_keys
from lookalike.ui.state import ReviewState


@pytest.fixture
def decided(tmp_path: Path) -> Engine:
    """A real scan's review (4 groups) with every group decided: one not a duplicate."""
    pytest.importorskip("skimage.data")
    from test_decisions_rescan import make_library, scan

    root = tmp_path / "lib"
    make_library(root)
    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")
    scan(engine, root)
    state = ReviewState()
    state.set_stored(open_stored(EngineAdapter(engine)))
    state.accept_all_remaining()
    state.goto_index(1)
    state.not_duplicate()
    engine.save_decisions(*state.take_changes())
    return engine


def matched_at_once(engine: Engine) -> dict:
    port = EngineAdapter(engine)
    records = port.load_decisions()
    state = ReviewState()
    state.set_stored(open_stored(port, record_keys(records)))
    state.load_records(records)
    return {gid: (d.status, d.keep, d.new, d.record) for gid, d in state.decisions.items()}


async def test_first_page_shows_before_decisions_are_matched(decided, monkeypatch) -> None:
    from lookalike.ui.app import make_app
    from lookalike.ui.widgets.bars import StatusBar
    from test_decisions_rescan import wait_for

    engine = decided
    want = matched_at_once(engine)
    assert len(want) == 4 and {s for s, *_ in want.values()} == {"accepted", "not-dup"}
    stored_before = sorted(engine.load_decisions(), key=lambda d: d["key"])
    gate, threads = threading.Event(), []
    match = app_decisions.match_stored

    def gated(stored, records):
        threads.append(threading.current_thread())
        collecting.append(gc.isenabled())
        assert gate.wait(60)
        return match(stored, records)

    collecting: list[bool] = []
    monkeypatch.setattr(app_decisions, "match_stored", gated)
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", start_mode="review")
    try:
        async with app.run_test(size=(130, 40)) as pilot:
            r = app.review
            await wait_for(pilot, lambda: r.current is not None and bool(threads), 30)
            await pilot.pause(0.1)
            assert collecting == [False]  # no cyclic collection while the worker matches
            assert r.stored is not None and r.stored.view.loads == 1  # the first page shown
            assert r.decisions == {} and app.matching  # ...while matching waits at the gate
            status = app.screen.query_one(StatusBar).message
            assert "matching decisions" in status
            await pilot.press("j")  # only moves: acts at once, matching or not
            await wait_for(pilot, lambda: r.cursor == 1, 5)
            on = r.view[1]
            await pilot.press("u", "k")  # a decision waits, and the move typed after it too
            await pilot.pause(0.2)
            assert r.cursor == 1 and r.decisions == {} and app.matching
            gate.set()
            await wait_for(pilot, lambda: not app.matching and r.cursor == 0, 30)
            await pilot.pause(0.1)
            got = {gid: (d.status, d.keep, d.new, d.record) for gid, d in r.decisions.items()}
            assert got == {gid: d for gid, d in want.items() if gid != on}  # u on its group
            assert r.cursor == 0  # each held key acted once, in order
            assert "matching" not in app.screen.query_one(StatusBar).message
            assert threads[0] is not threading.main_thread()  # matched in a worker
            assert gc.isenabled()  # back on once it is done
            await pilot.press("q")
    finally:
        gate.set()
    undone = want[on][3]  # the record of the group "u" undecided is deleted, no other
    assert sorted(engine.load_decisions(), key=lambda d: d["key"]) == [
        d for d in stored_before if d["key"] != undone
    ]


async def test_a_quit_while_decisions_are_matched_saves_them_unchanged(decided, monkeypatch):
    """Moving, then q, while matching: q waits for the decisions, then quits and saves; the
    stored decisions are exactly as before (none lost, none rewritten)."""
    from lookalike.ui.app import make_app
    from test_decisions_rescan import wait_for

    engine = decided
    stored_before = sorted(engine.load_decisions(), key=lambda d: d["key"])
    gate, threads = threading.Event(), []
    match = app_decisions.match_stored

    def gated(stored, records):
        threads.append(threading.current_thread())
        assert gate.wait(60)
        return match(stored, records)

    monkeypatch.setattr(app_decisions, "match_stored", gated)
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", start_mode="review")
    quit_called = []
    try:
        async with app.run_test(size=(130, 40)) as pilot:
            r = app.review
            await wait_for(pilot, lambda: r.current is not None and bool(threads), 30)
            await pilot.press("G")
            await wait_for(pilot, lambda: r.cursor == len(r.view) - 1, 5)
            real_exit = app.exit
            app.exit = lambda *a, **k: (quit_called.append(1), real_exit(*a, **k))
            await pilot.press("q", "k")
            await pilot.pause(0.2)
            assert app.matching and not quit_called  # q waits for the decisions
            gate.set()
            await wait_for(pilot, lambda: bool(quit_called), 30)
            assert len(r.decisions) == 4  # matched before q acted
    finally:
        gate.set()
    assert sorted(engine.load_decisions(), key=lambda d: d["key"]) == stored_before


async def test_decisions_that_cannot_be_read_are_said_and_the_keys_go_on() -> None:
    """The worker's read fails: one message says so, the held key acts, nothing is saved."""
    from lookalike.ui.fake import FakeEngine, make_groups
    from test_ui_app import SIZE, app_with, wait_for

    engine = FakeEngine(make_groups(5))
    engine.decisions = {"k": {"key": "k"}}

    def broken() -> list[dict]:
        raise OSError("disk I/O error")

    engine.load_decisions = broken  # type: ignore[method-assign]
    app = app_with(engine, start_mode="review")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: app.review.cursor == 1 and not app.matching)
        said = [n.message for n in app._notifications if "decisions" in n.message]
        assert said == ["could not read the saved review decisions: disk I/O error"]
        assert app.review.records == {} and app.review.decisions == {}
        await pilot.press("q")
    assert engine.decisions == {"k": {"key": "k"}}  # nothing deleted
