"""The engine's page port (issue 13): ``group_columns`` + ``group_page`` give the review the
same groups, in the same order, as ``last_groups()`` through ``ReviewState`` — for every tier
filter, folder filter and sort — through the REAL engine on real photos; hidden files are left
out as today. The fake engine's port (UI tests) is held to the same reference."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lookalike.engine import Engine
from lookalike.engine.catalog import Catalog
from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.records import Group
from lookalike.ui.fake import FakeEngine, make_groups
from lookalike.ui.state import ReviewState
from lookalike.ui.state_store import SORTS, TIERS

pytest.importorskip("skimage.data")
from test_group_columns import make_library, scan  # noqa: E402  (same real-photo library)

FOLDERS = (None, "one", f"{os.sep}two", "no such folder")


def reference(groups: list[Group], tier: str | None, folder: str | None, sort: str) -> list:
    """What the review shows today: every group through ReviewState's filters and sort."""
    state = ReviewState(groups)
    state.tier_filter, state.folder_filter, state.sort = tier, folder, sort
    state.rebuild_view()
    return [state.by_id[i] for i in state.view]


def paged(engine, flt: GroupFilter, sort: str, size: int = 2) -> list[Group]:
    ords = engine.group_columns(flt, sort)
    assert isinstance(ords, np.ndarray) and ords.dtype.kind == "i"
    out: list[Group] = []
    for i in range(0, len(ords), size):  # pages smaller than the review so there are several
        out.extend(engine.group_page(ords[i : i + size]))
    return out


def assert_pages_match(engine) -> None:
    groups = engine.last_groups()
    assert engine.group_count() == len(groups)
    for tier in TIERS:
        for folder in FOLDERS:
            for sort in SORTS:
                want = reference(groups, tier, folder, sort)
                got = paged(engine, GroupFilter(tier, folder), sort)
                assert got == want, (tier, folder, sort)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("pages")
    make_library(tmp / "lib")
    db = tmp / "cat.sqlite"
    scan(Engine(db, tmp / "thumbs"), tmp / "lib")
    return tmp / "lib", db


def test_pages_equal_last_groups_for_every_filter_and_sort(scanned: tuple[Path, Path]) -> None:
    _, db = scanned
    engine = Engine(db)
    groups = engine.last_groups()
    assert len(groups) >= 3 and len({g.tier for g in groups}) >= 2
    # the filters really filter and the sorts really differ on this library
    assert 0 < len(engine.group_columns(GroupFilter(folder=f"{os.sep}two"))) < len(groups)
    assert len(engine.group_columns(GroupFilter(tier=groups[0].tier))) < len(groups)
    assert len(engine.group_columns(GroupFilter(folder="no such folder"))) == 0
    assert engine.group_columns(sort="bytes").tolist() != engine.group_columns().tolist()
    assert_pages_match(engine)
    assert engine.group_page([]) == [] and engine.group_page([10_000]) == []
    with pytest.raises(ValueError, match="unknown sort"):
        engine.group_columns(sort="name")


def test_hidden_files_are_left_out_as_in_last_groups(
    scanned: tuple[Path, Path], tmp_path: Path
) -> None:
    from lookalike.engine import hidden

    _, db = scanned
    engine = Engine(db)
    groups = engine.last_groups()
    big = next(g for g in groups if len(g.members) >= 3)
    other = next(g for g in groups if g is not big)
    spare = next(m.path for m in big.members if m.path != big.keep)
    with Catalog(db) as cat:
        hidden.hide(cat.db, [(spare, "test", 1.0), (other.keep, "test", 1.0)])
    try:
        shown = engine.last_groups()
        assert len(shown) == len(groups) - 1  # the group whose keeper is hidden is dropped
        assert spare not in {m.path for g in shown for m in g.members}
        assert_pages_match(engine)
        by_ord = engine.group_page(engine.group_columns())
        assert [g.id for g in by_ord] == [g.id for g in shown]
        assert engine.group_count(show_hidden=True) == len(groups)
        everything = engine.group_page(engine.group_columns(show_hidden=True), show_hidden=True)
        assert everything == engine.last_groups(show_hidden=True)
    finally:
        with Catalog(db) as cat:
            hidden.unhide(cat.db, everything=True)
    assert engine.group_page(engine.group_columns()) == groups


def test_the_fake_engine_pages_like_the_engine() -> None:
    engine = FakeEngine(make_groups(12))
    assert_pages_match(engine)
    assert engine.group_page([3, 99]) == [engine.groups[3]]


def test_group_pages_reads_the_real_engine_a_page_at_a_time(
    scanned: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.ui import group_pages

    _, db = scanned
    engine = Engine(db)
    groups = engine.last_groups()
    monkeypatch.setattr(group_pages, "PAGE", 1)  # one group a page: several pages here
    for sort in SORTS:
        pages = group_pages.GroupPages(engine, GroupFilter(), sort, held=2)
        want = reference(groups, None, None, sort)
        assert len(pages) == len(want) and pages.loads == 0  # nothing decoded on open
        assert pages[-1] == want[-1] and pages[0] == want[0]
        assert list(pages) == want and pages[1:] == want[1:]
        assert len(pages._pages) <= 2  # the LRU holds at most ``held`` pages
        assert [pages.id_at(i) for i in range(len(pages))] == [g.id for g in want]
        assert pages.position_of(want[-1].id) == len(want) - 1
    assert pages.position_of(10_000) is None
    with pytest.raises(IndexError):
        pages[len(pages)]


def test_group_pages_over_the_fake_engine_and_a_changed_catalog() -> None:
    from lookalike.ui.group_pages import PAGE, GroupPages

    fake = FakeEngine(make_groups(2 * PAGE + 50))
    pages = GroupPages(fake, GroupFilter(), "bytes")
    want = reference(fake.groups, None, None, "bytes")
    assert pages[2 * PAGE + 10] == want[2 * PAGE + 10] and pages.loads == 1
    assert pages[2 * PAGE + 49] == want[-1] and pages.loads == 1  # same page: no read
    assert list(pages) == want and pages.loads == 3  # pages 0 and 1 read, page 2 held
    fresh = GroupPages(fake, GroupFilter())
    fake.groups = fake.groups[:10]  # a scan stored a smaller review under the open view
    with pytest.raises(LookupError, match="changed while it was read"):
        fresh[PAGE]
