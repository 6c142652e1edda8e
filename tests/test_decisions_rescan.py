"""Review decisions survive rescans, through the REAL engine on real photos.

A library of skimage photos with edited copies in two folders is scanned; the reviewer accepts a
group, picks a keeper, marks a group "not a duplicate"; then a copy is added, a file renamed, a
subfolder rescanned, a filtered scan run. Every earlier decision must stay on the right files,
a group that gained a file says so and does not put the new file on the removal list, and
groups the scan did not look at stay as they were.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import ScanFinished
from lookalike.engine.records import Group
from lookalike.ui.engine_port import EngineAdapter
from lookalike.ui.group_pages import open_stored, record_keys
from lookalike.ui.state import ReviewState
from scan_wait import wait_scan_finished


def _save(path: Path, img, quality: int = 92, scale: float = 1.0) -> None:
    from PIL import Image

    im = Image.fromarray(img).convert("RGB")
    if scale != 1.0:
        im = im.resize((int(im.width * scale), int(im.height * scale)), Image.LANCZOS)
    im.save(path, quality=quality)


def make_library(root: Path) -> dict[str, Path]:
    """one/: astronaut + coffee (each with a copy); two/: chelsea + rocket (each with a copy)."""
    from skimage import data

    one, two = root / "one", root / "two"
    one.mkdir(parents=True)
    two.mkdir()
    files = {
        "astronaut": one / "astronaut.jpg",
        "astronaut_small": one / "astronaut_small.jpg",
        "coffee": one / "coffee.jpg",
        "coffee_q40": one / "coffee_q40.jpg",
        "chelsea": two / "chelsea.jpg",
        "chelsea_small": two / "chelsea_small.jpg",
        "rocket": two / "rocket.jpg",
        "rocket_small": two / "rocket_small.jpg",
    }
    _save(files["astronaut"], data.astronaut())
    _save(files["astronaut_small"], data.astronaut(), scale=0.6)
    _save(files["coffee"], data.coffee())
    _save(files["coffee_q40"], data.coffee(), quality=40)
    _save(files["chelsea"], data.chelsea())
    _save(files["chelsea_small"], data.chelsea(), scale=0.6)
    _save(files["rocket"], data.rocket())
    _save(files["rocket_small"], data.rocket(), scale=0.6)
    return files


def add_astronaut_copy(root: Path) -> Path:
    from skimage import data

    new = root / "one" / "astronaut_q50.jpg"
    _save(new, data.astronaut(), quality=50, scale=0.8)
    return new


def scan(engine: Engine, *roots: Path, **kw: object) -> ScanFinished:
    events = list(engine.scan_sync(ScanOptions(roots=tuple(roots), workers=1, **kw)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return fin


def group_with(groups: list[Group], path: Path) -> Group:
    return next(g for g in groups if str(path) in {m.path for m in g.members})


def paths(g: Group) -> set[str]:
    return {m.path for m in g.members}


def review(engine: Engine) -> ReviewState:
    """A fresh review session as the app opens it: the stored review in pages and the stored
    decisions — checked against the review that decodes every group (the way before pages):
    the same decisions on the same files, the same removals."""
    every = ReviewState(engine.last_groups())
    every.load_records(engine.load_decisions())
    stored = open_stored(EngineAdapter(engine), record_keys(engine.load_decisions()))
    if stored is None:
        assert not every.groups
        return every
    state = ReviewState()
    state.set_stored(stored)
    state.load_records(engine.load_decisions())
    assert decided(state) == decided(every)
    assert state.removals() == every.removals()
    assert [g.id for g in state.groups] == [g.id for g in every.groups]
    return state


def decided(state: ReviewState) -> dict[int, tuple]:
    return {gid: (d.status, d.keep, d.new, d.record) for gid, d in state.decisions.items()}


def save(engine: Engine, state: ReviewState) -> None:
    engine.save_decisions(*state.take_changes())


def goto(state: ReviewState, path: Path) -> Group:
    """Put the cursor on the file ``path`` (as / in the app does)."""
    for i, gid in enumerate(state.view):
        for j, m in enumerate(state.by_id[gid].members):
            if m.path == str(path):
                state.cursor, state.member = i, j
                return state.by_id[gid]
    raise AssertionError(f"{path} is in no group")


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, dict[str, Path], Engine]:
    root = tmp_path / "lib"
    files = make_library(root)
    return root, files, Engine(tmp_path / "catalog.db", tmp_path / "thumbs")


def test_decisions_follow_files_through_a_new_copy_a_rename_and_a_subfolder_scan(library):
    root, f, engine = library
    first = scan(engine, root)
    assert len(first.groups) == 4
    assert [len(g.members) for g in first.groups] == [2, 2, 2, 2]

    s = review(engine)
    goto(s, f["astronaut"])
    s.accept()  # keeper: the full-size astronaut
    goto(s, f["chelsea_small"])
    s.set_keeper()  # the reviewer prefers the small chelsea
    goto(s, f["rocket"])
    engine.mark_not_duplicate(s.not_duplicate())
    save(engine, s)

    new = add_astronaut_copy(root)
    renamed = f["chelsea_small"].with_name("chelsea_renamed.jpg")
    os.rename(f["chelsea_small"], renamed)

    # 1. only one/ is rescanned: two/'s groups and decisions stay exactly as they were
    sub = scan(engine, root / "one")
    assert {len(g.members) for g in sub.groups} == {3, 2}  # the scan's own groups only
    s = review(engine)
    assert len(s.groups) == 4
    astro = group_with(s.groups, f["astronaut"])
    assert paths(astro) == {str(f["astronaut"]), str(f["astronaut_small"]), str(new)}
    assert s.status(astro) == "changed: 1 new file"
    assert s.removals()[astro.id] == [str(f["astronaut_small"])]  # the new copy is not on it
    assert s.status(group_with(s.groups, f["coffee"])) == "pending"
    chelsea = group_with(s.groups, f["chelsea"])  # not scanned: as it was, old name and all
    assert s.status(chelsea) == "changed" and s.keep_set(chelsea) == {str(f["chelsea_small"])}
    assert s.status(group_with(s.groups, f["rocket"])) == "not-dup"

    # 2. the whole library: the renamed file keeps its decision, not-dup stays apart
    scan(engine, root)
    s = review(engine)
    chelsea = group_with(s.groups, f["chelsea"])
    assert paths(chelsea) == {str(f["chelsea"]), str(renamed)}
    assert s.status(chelsea) == "changed" and s.keep_set(chelsea) == {str(renamed)}
    assert s.removals()[chelsea.id] == [str(f["chelsea"])]
    assert not any({str(f["rocket"]), str(f["rocket_small"])} <= paths(g) for g in s.groups)
    astro = group_with(s.groups, f["astronaut"])
    assert s.status(astro) == "changed: 1 new file"
    assert s.status(group_with(s.groups, f["coffee"])) == "pending"

    # 3. the reviewer looks at the new copy: accepting removes it too, and that is stored
    goto(s, new)
    s.accept()
    save(engine, s)
    s = review(engine)
    astro = group_with(s.groups, f["astronaut"])
    assert s.status(astro) == "accepted"
    assert sorted(s.removals()[astro.id]) == sorted([str(f["astronaut_small"]), str(new)])


def test_a_filtered_scan_evicts_nothing_and_keeps_the_other_groups(library):
    root, f, engine = library
    scan(engine, root)
    s = review(engine)
    goto(s, f["coffee"])
    s.accept()
    save(engine, s)
    with Catalog(engine.catalog_path) as cat:
        before = {r.path for r in cat.all_files()}

    only = scan(engine, root, include=("*_small.jpg",))
    assert only.stats.files_seen == 3 and only.stats.files_removed == 0
    assert only.groups == ()
    with Catalog(engine.catalog_path) as cat:
        assert {r.path for r in cat.all_files()} == before
    s = review(engine)
    assert len(s.groups) == 4
    assert s.status(group_with(s.groups, f["coffee"])) == "accepted"

    excluded = scan(engine, root, exclude=("one",))
    assert excluded.stats.files_removed == 0 and len(excluded.groups) == 2
    s = review(engine)
    assert len(s.groups) == 4 and s.status(group_with(s.groups, f["coffee"])) == "accepted"

    # a file that is really gone is still forgotten, and its group with it
    f["coffee_q40"].unlink()
    full = scan(engine, root)
    assert full.stats.files_removed == 1
    s = review(engine)
    assert len(s.groups) == 3 and not any(str(f["coffee"]) in paths(g) for g in s.groups)


def test_not_a_duplicate_holds_when_a_new_exact_copy_changes_the_representative(library):
    root, f, engine = library
    scan(engine, root)
    engine.mark_not_duplicate([str(f["rocket"]), str(f["rocket_small"])])
    # a byte-identical copy whose name sorts first now stands for rocket.jpg in grouping
    twin = f["rocket"].with_name("a_rocket_twin.jpg")
    shutil.copy(f["rocket"], twin)
    fin = scan(engine, root)
    g = group_with(list(fin.groups), twin)
    assert g.tier == "exact" and paths(g) == {str(twin), str(f["rocket"])}
    # renaming a marked file keeps the mark (catalog ids follow renames)
    moved = f["rocket_small"].with_name("rocket_moved.jpg")
    os.rename(f["rocket_small"], moved)
    fin = scan(engine, root)
    assert not any(str(moved) in paths(g) for g in fin.groups)


def test_undeciding_a_not_duplicate_group_lets_it_group_again(library):
    root, f, engine = library
    scan(engine, root)
    s = review(engine)
    goto(s, f["rocket"])
    marked = s.not_duplicate()
    engine.mark_not_duplicate(marked)
    assert not any(str(f["rocket"]) in paths(g) for g in scan(engine, root).groups)
    engine.forget_not_duplicate(marked)
    fin = scan(engine, root)
    assert paths(group_with(list(fin.groups), f["rocket"])) == set(marked)


# -- the terminal app on the real engine (Pilot) ----------------------------------------------


async def wait_for(pilot, cond: Callable[[], bool], timeout: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def pairs(engine: Engine) -> int:
    with Catalog(engine.catalog_path) as cat:
        return len(cat.not_duplicate_pairs())


def text_of(widget) -> str:
    """What a Static shows, as plain text."""
    from rich.console import Console

    console = Console(width=60, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()


async def find(pilot, app, path: Path) -> None:
    """Walk to the file with the review keys (g, j, l) as a user would."""
    r = app.review
    index, member = next(
        (i, j)
        for i, gid in enumerate(r.view)
        for j, m in enumerate(r.by_id[gid].members)
        if m.path == str(path)
    )
    await pilot.press("g", *["j"] * index, *["l"] * member)
    await wait_for(pilot, lambda: r.current_member.path == str(path), 5)


async def scan_in_app(pilot, app, *roots: Path) -> None:
    app.roots = list(roots)
    before = app.review.groups
    await pilot.press("1")
    await pilot.press("s")
    await wait_scan_finished(pilot, app)
    await wait_for(pilot, lambda: app.review.groups is not before and app.current_mode == "review")


async def test_pilot_real_engine_decisions_survive_rescans(library, tmp_path):
    from lookalike.ui.app import make_app
    from lookalike.ui.widgets.details import Details

    root, f, engine = library
    settings = {"scan": {"workers": 1}}
    app = make_app(settings, engine, graphics="none", roots=[root])
    async with app.run_test(size=(130, 40)) as pilot:
        await scan_in_app(pilot, app, root)
        assert len(app.review.groups) == 4
        await find(pilot, app, f["astronaut"])
        await pilot.press("a")
        await find(pilot, app, f["chelsea_small"])
        await pilot.press("c")
        await find(pilot, app, f["rocket"])
        await pilot.press("n")
        await wait_for(pilot, lambda: pairs(engine) == 1, 10)
        await find(pilot, app, f["rocket"])
        await pilot.press("u")  # taken back: the mark is forgotten too
        await wait_for(pilot, lambda: pairs(engine) == 0, 10)
        assert app.review.status(app.review.current) == "pending"
        await pilot.press("n")
        await wait_for(pilot, lambda: pairs(engine) == 1, 10)
        await pilot.press("q")
    decided = {d["status"] for d in engine.load_decisions()}
    assert decided == {"accepted", "changed", "not-dup"}

    new = add_astronaut_copy(root)
    renamed = f["chelsea_small"].with_name("chelsea_renamed.jpg")
    os.rename(f["chelsea_small"], renamed)

    app = make_app(settings, engine, graphics="none", roots=[root])
    async with app.run_test(size=(130, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 4 and app.review.decisions)
        await pilot.press("3")
        await scan_in_app(pilot, app, root / "one")  # a subfolder: two/ stays as it was
        r = app.review
        assert len(r.groups) == 4
        assert r.status(group_with(r.groups, f["rocket"])) == "not-dup"
        assert r.keep_set(group_with(r.groups, f["chelsea"])) == {str(f["chelsea_small"])}
        await find(pilot, app, new)
        astro = r.current
        assert r.status(astro) == "changed: 1 new file"
        assert str(new) not in r.removals()[astro.id]
        assert "changed: 1 new file" in text_of(app.screen.query_one(Details))
        assert "KEEP" in text_of(app.screen.query_one(Details))

        await scan_in_app(pilot, app, root)  # everything: the rename is followed
        r = app.review
        chelsea = group_with(r.groups, f["chelsea"])
        assert r.keep_set(chelsea) == {str(renamed)} and r.status(chelsea) == "changed"
        assert r.removals()[chelsea.id] == [str(f["chelsea"])]
        assert not any({str(f["rocket"]), str(f["rocket_small"])} <= paths(g) for g in r.groups)
        assert r.status(group_with(r.groups, f["coffee"])) == "pending"
        await find(pilot, app, new)
        await pilot.press("a")  # looked at: the new copy follows the suggestion
        assert r.status(group_with(r.groups, new)) == "accepted"
        await pilot.press("q")
    s = review(engine)
    astro = group_with(s.groups, f["astronaut"])
    assert s.status(astro) == "accepted" and str(new) in s.removals()[astro.id]


# -- pieces: what a rescan may forget, the catalog's decision rows, the old state format ------


def test_walk_would_list_follows_the_walk_filters() -> None:
    from lookalike.engine.media.discover import Filters, walk_would_list

    roots = ["/lib"]
    plain = Filters()
    assert walk_would_list("/lib/a/b.jpg", 10, roots, plain)
    assert not walk_would_list("/other/b.jpg", 10, roots, plain)  # not under a scanned root
    assert not walk_would_list("/lib/.hidden/b.jpg", 10, roots, plain)
    assert not walk_would_list("/lib/a/.b.jpg", 10, roots, plain)
    assert walk_would_list("/lib/.hidden/b.jpg", 10, roots, Filters(hidden=True))
    assert not walk_would_list("/lib/a/b.jpg", 0, roots, plain)  # below --min-size
    only_png = Filters(include=("*.png",))
    assert not walk_would_list("/lib/a/b.jpg", 10, roots, only_png)
    assert walk_would_list("/lib/a/b.png", 10, roots, only_png)
    no_raw = Filters(exclude=("raw",))
    assert not walk_would_list("/lib/raw/b.jpg", 10, roots, no_raw)
    assert walk_would_list("/lib/b/raw.jpg", 10, roots, Filters(exclude=("raw",)))


def test_catalog_stores_decisions_and_forgets_pairs_of_deleted_files(tmp_path: Path) -> None:
    with Catalog(tmp_path / "c.db") as cat:
        ids = [cat.add_file(f"/lib/{n}.jpg", 1, i, 10, 5, 1) for i, n in enumerate("abc")]
        cat.add_not_duplicate(["/lib/a.jpg", "/lib/b.jpg", "/lib/c.jpg"])
        assert len(cat.not_duplicate_pairs()) == 3
        cat.remove_files([ids[2]])
        assert cat.not_duplicate_pairs() == {(ids[0], ids[1])}
        assert cat.remove_not_duplicate(["/lib/a.jpg", "/lib/b.jpg"]) == 1
        rec = {
            "key": "k1",
            "status": "accepted",
            "members": ["1:10:5", "2:10:5"],
            "keep": ["1:10:5"],
        }
        cat.save_review_decisions([rec], [])
        cat.save_review_decisions([{**rec, "key": "k2", "status": "not-dup"}], ["k1"])
        (got,) = cat.review_decisions()
        assert got["key"] == "k2" and got["status"] == "not-dup" and got["undecided"] == []
        assert got["members"] == ["1:10:5", "2:10:5"]


async def test_pilot_real_engine_moves_old_state_decisions_to_the_catalog(tmp_path: Path):
    """Decisions saved by group number (the old ui.review format) become stored records."""
    from lookalike.engine.records import Member
    from lookalike.ui.app import make_app
    from lookalike.ui.state import STATE_KEY

    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")

    def m(fid: int, name: str) -> Member:
        return Member(f"/lib/{name}", 100 + fid, 10, 10, "JPEG", 1.0, 5, file_id=fid)

    groups = [
        Group(1, "same", "/lib/a.jpg", "r", (m(1, "a.jpg"), m(2, "b.jpg"))),
        Group(2, "same", "/lib/c.jpg", "r", (m(3, "c.jpg"), m(4, "d.jpg"))),
    ]
    with Catalog(engine.catalog_path) as cat:
        cat.finish_scan(cat.start_scan(["/lib"]), {}, groups)
    legacy = {
        "position": 2,
        "decisions": {
            "1": {"status": "accepted", "keep": ["/lib/a.jpg"], "batch": None},
            "2": {"status": "not-dup", "keep": ["/lib/c.jpg"]},  # does not fit: dropped
        },
    }
    engine.save_state(STATE_KEY, legacy)
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=(130, 40)) as pilot:
        await wait_for(pilot, lambda: 1 in app.review.decisions, 10)
        assert app.review.current.id == 2 and 2 not in app.review.decisions
        await pilot.press("q")
    (rec,) = engine.load_decisions()
    assert rec["status"] == "accepted" and rec["keep"] == ["1:101:5"]
    assert "decisions" not in engine.load_state(STATE_KEY)


async def test_a_failed_save_is_reported_and_nothing_is_lost() -> None:
    """The catalog is locked (a scan in another process): the decision stays unsaved, is said
    to be, goes out with the next save; quitting with unsaved decisions asks for a second q."""
    from lookalike.ui.app import make_app
    from lookalike.ui.fake import FakeEngine, make_groups

    class LockedEngine(FakeEngine):
        locked = True

        def save_decisions(self, upserts: list[dict], deletes: list[str]) -> None:
            if self.locked:
                raise OSError("database is locked")
            super().save_decisions(upserts, deletes)

    engine = LockedEngine(make_groups(5))
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=(130, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 5, 10)
        await pilot.press("3", "a")
        await wait_for(pilot, lambda: any("not saved" in n.message for n in app._notifications))
        assert app.review.unsaved and engine.decisions == {}
        await pilot.press("q")  # still locked: the app stays and says so
        await wait_for(pilot, lambda: any("q again" in n.message for n in app._notifications))
        assert app.is_running
        engine.locked = False
        await pilot.press("a")  # the next change saves both decisions
        await wait_for(pilot, lambda: len(engine.decisions) == 2, 10)
        await pilot.press("q")
    assert not app.is_running


def test_byte_identical_files_marked_not_a_duplicate_stay_apart(library):
    root, f, engine = library
    twin = f["coffee"].with_name("coffee_twin.jpg")
    third = f["coffee"].with_name("coffee_third.jpg")
    shutil.copy(f["coffee"], twin)
    fin = scan(engine, root)
    assert str(twin) in paths(group_with(list(fin.groups), f["coffee"]))
    engine.mark_not_duplicate([str(f["coffee"]), str(twin)])
    shutil.copy(f["coffee"], third)  # an unmarked third copy may join one of them
    fin = scan(engine, root)
    assert not any({str(f["coffee"]), str(twin)} <= paths(g) for g in fin.groups)
    assert any(str(third) in paths(g) for g in fin.groups)


def test_a_group_across_folders_survives_a_scan_of_one_of_them(library):
    root, f, engine = library
    other = root / "two" / "astronaut_copy.jpg"
    shutil.copy(f["astronaut_small"], other)
    scan(engine, root)
    s = review(engine)
    goto(s, f["astronaut"])
    s.accept()
    save(engine, s)
    moved = other.with_name("astronaut_moved.jpg")
    os.rename(other, moved)
    fin = scan(engine, root / "two")  # sees the moved copy, not its group's other files
    assert fin.stats.files_moved == 1 and not any(str(moved) in paths(g) for g in fin.groups)
    s = review(engine)
    astro = group_with(s.groups, f["astronaut"])
    assert str(moved) in paths(astro) and str(other) not in paths(astro)
    assert s.status(astro) == "accepted"
    assert sorted(s.removals()[astro.id]) == sorted([str(f["astronaut_small"]), str(moved)])
