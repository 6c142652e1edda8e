"""Select by criteria across groups: what each criterion keeps, the live count, never a group
without a file, acted-on and not-duplicate groups left alone, and undo as a whole."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot

from lookalike.engine.records import Group, Member
from lookalike.ui import select
from lookalike.ui.app import make_app
from lookalike.ui.fake import FakeEngine, make_groups
from lookalike.ui.state import ReviewState


def member(path: str, w: int, size: int, fmt: str = "JPEG", taken: str | None = None) -> Member:
    return Member(path, size, w, w * 3 // 4, fmt, 0.9, capture_time=taken)


def groups() -> list[Group]:
    return [
        Group(
            1,
            "same",
            "/p/a.jpg",
            "r",
            (
                member("/p/a.jpg", 1000, 500, taken="2020:01:02 10:00:00"),
                member("/p/dl/a_big.webp", 4000, 400, "WEBP", "2021:01:01 10:00:00"),
                member("/p/dl/a_small.jpg", 500, 900, taken="2019:05:05 10:00:00"),
            ),
        ),
        Group(
            2,
            "exact",
            "/p/dl/b.jpg",
            "r",
            (
                member("/p/dl/b.jpg", 800, 100),
                member("/p/dl/b2.jpg", 800, 100),
            ),
        ),
        Group(
            3,
            "same",
            "/p/c.jpg",
            "r",
            (
                member("/p/c.jpg", 800, 300),
                member("/p/c.webp", 800, 200, "WEBP"),
            ),
        ),
    ]


def test_each_criterion_keeps_what_it_says() -> None:
    state = ReviewState(groups())
    s = select.select(state, "resolution")
    assert s.keep[1] == {"/p/dl/a_big.webp"} and s.keep[3] == {"/p/c.jpg"}  # tie: the keeper
    assert select.select(state, "bytes").keep[1] == {"/p/dl/a_small.jpg"}
    assert select.select(state, "oldest").keep[1] == {"/p/dl/a_small.jpg"}
    assert select.select(state, "newest").keep[1] == {"/p/dl/a_big.webp"}
    inf = select.select(state, "in-folder", "dl")
    assert inf.keep[1] == {"/p/dl/a_big.webp", "/p/dl/a_small.jpg"}
    assert 2 not in inf.keep  # every file is in dl: nothing to remove there
    nf = select.select(state, "not-folder", "dl")
    assert nf.keep == {1: frozenset({"/p/a.jpg"})}  # group 2 would lose every file: skipped
    assert (nf.files, nf.bytes) == (2, 1300)
    fm = select.select(state, "format", "webp")
    assert fm.keep == {1: {"/p/a.jpg", "/p/dl/a_small.jpg"}, 3: {"/p/c.jpg"}}
    assert select.select(state, "format", "").groups == 0  # no argument: no change


def test_flags_criterion_reads_the_engines_flags() -> None:
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Flagged(Member):
        flags: tuple[str, ...] = ()

    g = Group(
        1,
        "same",
        "/p/a.jpg",
        "r",
        (
            Flagged("/p/a.jpg", 10, 100, 75, "JPEG", 1.0),
            Flagged("/p/b.png", 10, 100, 75, "PNG", 0.9, flags=("letterboxed",)),
        ),
    )
    s = select.select(ReviewState([g]), "flag", "letterbox")
    assert s.keep == {1: {"/p/a.jpg"}} and s.files == 1


def test_selection_skips_acted_and_not_duplicate_groups_and_undoes() -> None:
    state = ReviewState(groups())
    state.goto_index(2)
    state.not_duplicate()  # group 3
    state.goto_index(0)
    state.set_keeper()  # group 1: keeps a.jpg only (member 0)
    before = {gid: (d.status, d.keep) for gid, d in state.decisions.items()}
    s = select.select(state, "resolution")
    assert 3 not in s.keep
    token = select.apply(state, s)
    assert state.keep_set(state.by_id[1]) == {"/p/dl/a_big.webp"}
    assert state.status(state.by_id[2]) == "accepted"  # the keeper itself had the max
    assert select.undo(state, token) == len(s.keep)
    assert {gid: (d.status, d.keep) for gid, d in state.decisions.items()} == before


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


async def test_select_dialog_counts_live_and_u_undoes() -> None:
    app = make_app({}, FakeEngine(make_groups(30)), graphics="none")
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 30)
        await pilot.press("asterisk")
        count = app.screen.query_one("#select-count")
        await wait_for(pilot, lambda: "files to remove" in str(count.render()))
        expected = select.select(app.review, "resolution")
        assert f"{expected.files:,} files to remove" in str(count.render())
        await pilot.press(*["down"] * 6)  # "remove the files of a format…"
        await wait_for(pilot, lambda: "no group changes" in str(count.render()))
        await pilot.press("tab", *"webp")  # the count follows each key typed
        want = select.select(app.review, "format", "webp")
        assert want.groups
        await wait_for(pilot, lambda: f"{want.files:,} files to remove" in str(count.render()))
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(app.review.decisions) == want.groups)
        for gid in want.keep:
            g = app.review.by_id[gid]
            kept = [m for m in g.members if m.path in app.review.keep_set(g)]
            assert kept and all(m.format != "WEBP" for m in kept)
        await pilot.press("U")
        assert app.review.decisions == {}
        await pilot.press("y")  # the selected file's path to the clipboard (OSC 52)
        assert app.clipboard == app.review.current_member.path


def test_marked_files_as_a_selection() -> None:
    """The marked set (issue 15) works like any criterion: remove the marked files, or keep
    them (with favourites) and remove the rest; a group is never emptied."""
    state = ReviewState(groups())
    state.marks = {"/p/dl/a_big.webp", "/p/dl/b.jpg", "/p/dl/b2.jpg"}
    s = select.select(state, "marked")
    assert s.keep == {1: frozenset({"/p/a.jpg", "/p/dl/a_small.jpg"})}  # group 2: all marked
    s = select.select(state, "keep-marked")
    assert s.keep[1] == frozenset({"/p/dl/a_big.webp"}) and 3 not in s.keep
