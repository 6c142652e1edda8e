"""The review reads a stored review in pages (issue 13, docs/scale.md): ``ReviewState`` over
``StoredReview`` shows the same groups, in the same order, with the same decisions, as the
review that decodes every group — while only a few pages are ever decoded. Through the fake
engine (many groups, several pages) and through the REAL engine on real photos (scan →
review in pages → select by criteria → apply → the same files gone as before)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lookalike.engine import Engine
from lookalike.ui import select
from lookalike.ui.engine_port import EngineAdapter
from lookalike.ui.fake import FakeEngine, make_groups
from lookalike.ui.group_pages import PAGE, PAGES_HELD, StoredReview, open_stored, record_keys
from lookalike.ui.state import ReviewState
from lookalike.ui.state_store import SORTS, TIERS

N = 2 * PAGE + 57  # three pages, the last one short


def paged(engine, records=None) -> ReviewState:
    stored = open_stored(engine, record_keys(records))
    assert stored is not None
    state = ReviewState()
    state.set_stored(stored)
    if records is not None:
        state.load_records(records)
    return state


def every(engine, records=None) -> ReviewState:
    state = ReviewState(engine.last_groups())
    if records is not None:
        state.load_records(records)
    return state


def shown(state: ReviewState) -> list:
    return [state.by_id[gid] for gid in state.view]


def test_every_filter_and_sort_shows_what_the_whole_review_shows() -> None:
    engine = FakeEngine(make_groups(N))
    a, b = paged(engine), every(engine)
    assert len(a.groups) == len(b.groups) == N
    for tier in TIERS:
        for folder in (None, "trip3", "2022/trip1", "nowhere"):
            for sort in SORTS:
                for s in (a, b):
                    s.tier_filter, s.folder_filter, s.sort = tier, folder, sort
                    s.rebuild_view()
                assert list(a.view) == list(b.view), (tier, folder, sort)
                assert shown(a) == shown(b), (tier, folder, sort)
                assert a.counts() == b.counts()


def test_moving_decodes_a_few_pages_and_prefetches_the_next() -> None:
    engine = FakeEngine(make_groups(N))
    state = paged(engine)
    view = state.stored.view
    assert view.loads == 1  # the first page, read in the worker (open_stored)
    state.goto_index(PAGE - 10)  # near the end of page 0
    assert state.current.id == state.view[PAGE - 10]
    assert state.prefetch() and view.has_page(1)  # what the review screen's worker calls
    assert not state.prefetch()  # already there
    before = view.loads
    state.move(20)  # onto page 1: no catalog read on the event loop
    assert view.loads == before and state.current.id == PAGE + 10 + 1
    state.goto_index(N - 1)
    assert state.current.id == N
    assert len(view._pages) <= PAGES_HELD


def test_decisions_made_in_pages_survive_a_rescan_that_reorders_the_review() -> None:
    groups = make_groups(N)
    engine = FakeEngine(groups)
    state = paged(engine)
    state.goto_index(3)
    state.accept()
    state.goto_index(PAGE + 5)  # a group on another page
    state.set_keeper() if state.move_member(1) else None
    state.goto_index(N - 1)
    state.not_duplicate()
    upserts, dropped = state.take_changes()
    assert len(upserts) == 3 and not dropped
    decided = {
        frozenset(m.path for m in state.by_id[gid].members): d.keep
        for gid, d in state.decisions.items()
    }

    engine.groups = list(reversed(groups))  # a rescan stored the groups in another order
    again = paged(engine, upserts)
    assert again.stored.view.loads == 1  # matching read only the groups with decided files
    got = {
        frozenset(m.path for m in again.by_id[gid].members): d.keep
        for gid, d in again.decisions.items()
    }
    assert got == decided
    # the review that decodes every group (the ids a stored review gets: ord + 1)
    ref = every(FakeEngine(again.groups), upserts)
    assert {gid: d.keep for gid, d in ref.decisions.items()} == {
        gid: d.keep for gid, d in again.decisions.items()
    }
    assert again.removals() == ref.removals()


def test_found_groups_wait_while_a_stored_review_is_shown() -> None:
    engine = FakeEngine(make_groups(5))
    state = paged(engine)
    extra = make_groups(9)[8]
    state.add_group(extra)
    assert len(state.view) == 5 and 9 not in state.view


def test_a_page_the_catalog_no_longer_holds_is_refused_not_swapped() -> None:
    engine = FakeEngine(make_groups(N))
    stored = StoredReview(engine)
    engine.groups = engine.groups[:10]
    with pytest.raises(LookupError):
        stored.view[PAGE + 1]


# -- the real engine, real photos ------------------------------------------------------------
@pytest.fixture
def scanned(tmp_path: Path) -> tuple[Engine, dict[str, Path]]:
    pytest.importorskip("skimage.data")
    from test_decisions_rescan import make_library, scan

    root = tmp_path / "lib"
    files = make_library(root)
    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")
    scan(engine, root)
    return engine, files


def test_group_facts_are_the_pages_without_what_only_the_json_holds(scanned) -> None:
    engine, _ = scanned
    ords = engine.group_columns().tolist()
    full = engine.group_page(ords)
    light = engine.group_facts(ords)
    assert len(full) == len(light) == 4
    for g, f in zip(full, light, strict=True):
        assert (f.id, f.tier, f.keep, f.reason) == (g.id, g.tier, g.keep, "")
        strip = [replace(m, capture_time=None, camera=None, thumb=None) for m in g.members]
        assert [replace(m, evidence=None, segments=(), strip=None) for m in f.members] == [
            replace(m, evidence=None, segments=(), strip=None, content_hash=None, duration=None,
                    fps=None, codec=None) for m in strip
        ]  # fmt: skip
    fake = FakeEngine(make_groups(7))
    assert [g.keep for g in fake.group_facts(range(7))] == [g.keep for g in fake.groups]


@pytest.mark.parametrize(
    "criterion, arg", [("resolution", ""), ("bytes", ""), ("oldest", ""), ("format", "JPEG")]
)
def test_real_scan_reviewed_in_pages_selects_and_applies_as_before(scanned, criterion, arg):
    engine, files = scanned
    port = EngineAdapter(engine)
    state, ref = paged(port, port.load_decisions()), every(port, port.load_decisions())
    assert len(state.groups) == len(ref.groups) == 4
    pick = select.select(state, criterion, arg)
    assert pick == select.select(ref, criterion, arg)
    if criterion == "format":  # every file is a JPEG: never every file of a group
        assert pick.files == 0
        return
    assert pick.files >= 2
    select.apply(state, pick)
    select.apply(ref, select.select(ref, criterion, arg))
    removals, groups = state.removal_plan()
    assert removals == ref.removals() and [g.id for g in groups] == sorted(removals)
    engine.save_decisions(*state.take_changes())

    plan = port.plan(groups, removals, "quarantine")
    want = sorted(p for gone in removals.values() for p in gone)
    assert sorted(i.source for i in plan.items) == want
    result = port.apply(plan, lambda p: None)
    assert result.done == len(want) and result.failed == 0
    assert not any(Path(p).exists() for p in want)
    assert all(Path(g.keep).exists() or g.keep in want for g in groups)
    # a new session in pages finds every decision again, now acted on
    state.mark_applied(removals, result.batch_id)
    engine.save_decisions(*state.take_changes())
    later = paged(port, port.load_decisions())
    assert {gid for gid, d in later.decisions.items() if d.batch} == set(removals)


def test_a_review_with_every_group_decided_opens_decoding_only_the_first_page(scanned):
    """Stored decisions on every group of a real scan: the open matches them over the
    groups' member facts (``group_files``), so the only JSON rows decoded are the first
    page's — the same decisions as the every-group review."""
    engine, _ = scanned
    port = EngineAdapter(engine)
    first = paged(port)
    first.accept_all_remaining()
    first.goto_index(1)
    first.not_duplicate()
    engine.save_decisions(*first.take_changes())
    records = port.load_decisions()
    assert len(records) == 4
    pages: list[list[int]] = []
    read = port.group_page
    port.group_page = lambda ords: pages.append(list(ords)) or read(ords)  # type: ignore[method-assign]
    again = paged(port, records)
    assert pages == [[0, 1, 2, 3]]  # the first page, once (its 4 groups), for the screen
    ref = every(port, records)
    assert {gid: (d.status, d.keep) for gid, d in again.decisions.items()} == {
        gid: (d.status, d.keep) for gid, d in ref.decisions.items()
    }
    assert len(again.decisions) == 4 and again.removals() == ref.removals()


def test_find_by_name_goes_where_the_whole_review_goes_reading_only_the_hit() -> None:
    engine = FakeEngine(make_groups(N))
    a, b = paged(engine), every(engine)
    for s in (a, b):
        s.sort = "bytes"
        s.rebuild_view()
    for query in ("IMG_00417_copy", "img_00003", "IMG_0000", "IMG_0000", "no such file", "#5"):
        assert a.find(query) == b.find(query), query
        assert (a.cursor, a.member) == (b.cursor, b.member), query
        assert a.current == b.current
    loads = a.stored.view.loads
    a.goto_index(0)
    assert a.find("IMG_00452_copy_copy") and a.current_member.path.endswith("452_copy_copy.jpg")
    assert a.stored.view.loads <= loads + 2  # the hit's page, not every page on the way


def test_the_next_tier_and_sort_views_are_read_ahead_off_the_loop() -> None:
    engine = FakeEngine(make_groups(N))
    state = paged(engine)
    for key in ("tier", "tier", "tier", "tier", "sort", "tier", "sort"):
        state.prefetch()  # the review screen's worker, after each redraw
        engine.loop_calls.clear()
        state.cycle_tier() if key == "tier" else state.cycle_sort()
        assert "group_columns" not in engine.loop_calls, key  # the key read no columns
    assert (state.tier_filter, state.sort) == ("exact", "size")
    ref = every(engine)
    ref.tier_filter, ref.sort = "exact", "size"
    ref.rebuild_view()
    assert list(state.view) == list(ref.view) and shown(state) == shown(ref)
