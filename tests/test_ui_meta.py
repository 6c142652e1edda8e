"""The app's keys for marks, notes, favourites and raw metadata (issue 15), with the fake engine
for the UI flow and the real engine for what it stores: review `m`/`N` save to the catalog, `I`
shows a real photo's EXIF, `F` lists favourites and x takes one out, Apply `M` merges a copy's
metadata into the keeper's sidecar before trashing it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image
from skimage import data
from textual.pilot import Pilot

from lookalike.engine.api import Engine
from lookalike.engine.metadata import exiv
from lookalike.engine.records import Group, Member
from lookalike.ui.app import make_app
from lookalike.ui.engine_port import EngineAdapter
from lookalike.ui.fake import FakeEngine
from lookalike.ui.screens.favourites import FavouritesScreen
from lookalike.ui.screens.metadata import MetadataScreen
from lookalike.ui.widgets.details import Details

SIZE = (130, 40)


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def _photos(d: Path) -> Group:
    d.mkdir(parents=True, exist_ok=True)
    keep, copy = d / "IMG_0001.jpg", d / "sent.jpg"
    Image.fromarray(data.astronaut()).save(keep, quality=95)
    keep.write_bytes(exiv.rewrite(keep.read_bytes(), exif={"Exif.Image.Make": "Canon"}, xmp={}))
    Image.fromarray(data.astronaut()).save(copy, quality=70)
    copy.write_bytes(
        exiv.rewrite(copy.read_bytes(), exif={}, xmp={"Xmp.dc.subject": ["space", "nasa"]})
    )
    members = tuple(
        Member(str(p), p.stat().st_size, 512, 512, "JPEG", 1.0, mtime_ns=p.stat().st_mtime_ns)
        for p in (keep, copy)
    )
    return Group(1, "same", str(keep), "camera original", members)


async def test_review_mark_note_metadata_and_favourites(tmp_path: Path) -> None:
    group = _photos(tmp_path / "p")
    keeper = group.keep
    engine = FakeEngine([group])
    engine.favourites[group.members[1].path] = True  # a favourite the CLI made earlier
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: group.members[1].path in app.review.favourites)
        await pilot.press("m")
        await wait_for(pilot, lambda: engine.marks.get(keeper) is True)
        await pilot.press("N")
        await pilot.press(*"sharpest", "enter")
        await wait_for(pilot, lambda: engine.notes.get(keeper) == "sharpest")
        rows = dict(app.screen.query_one(Details)._rows)
        assert rows["note"] == "sharpest" and "marked" in rows["flags"]
        await pilot.press("I")
        assert isinstance(app.screen, MetadataScreen)
        await wait_for(pilot, lambda: any("Exif.Image.Make = Canon" in x for x in app.screen.lines))
        await pilot.press("escape", "F")
        assert isinstance(app.screen, FavouritesScreen)
        await wait_for(pilot, lambda: app.screen.paths == [group.members[1].path])
        await pilot.press("x")
        await wait_for(pilot, lambda: engine.favourites[group.members[1].path] is False)
        await pilot.press("escape")
        assert group.members[1].path not in app.review.favourites
        assert not engine.loop_calls


def test_real_engine_stores_marks_notes_and_merges_on_apply(tmp_path: Path) -> None:
    """The same calls through the real engine adapter: the catalog keeps them, and an apply
    with merge='sidecar' writes the copy's keywords to the keeper's sidecar, undoable."""
    group = _photos(tmp_path / "p")
    port = EngineAdapter(Engine(catalog_path=tmp_path / "cat.db"))
    port.set_mark(group.keep, True)
    port.set_note(group.keep, "sharpest")
    port.set_favourite(group.members[1].path, True)
    got = port.catalog_marks()
    assert got["marked"] == [group.keep] and got["notes"] == {group.keep: "sharpest"}
    assert got["favourites"] == [group.members[1].path]
    port.set_favourite(group.members[1].path, False)
    assert port.file_info(group.keep)["exif"]["Exif.Image.Make"] == "Canon"
    # a plan from groups the catalog never saw is only possible without a catalog file
    port = EngineAdapter(Engine(catalog_path=tmp_path / "no-catalog.db"))
    plan = port.plan([group], {1: [group.members[1].path]}, "trash")
    result = port.apply(replace(plan, merge="sidecar"), lambda p: None)
    assert result.done == 1 and any("metadata → " in m for m in result.messages)
    side = Path(group.keep + ".xmp")
    assert exiv.read(side.read_bytes()).xmp["Xmp.dc.subject"] == ["space", "nasa"]
    port.undo(result.batch_id)
    merge_batch = [b for b in port.history() if b.operation == "merge-metadata"][0]
    port.undo(merge_batch.batch_id)
    assert not side.exists() and Path(group.members[1].path).exists()


async def test_apply_M_cycles_the_merge_and_passes_it_to_the_engine() -> None:
    from lookalike.ui.fake import make_groups

    engine = FakeEngine(make_groups(3))
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        await pilot.press("3", "a", "4")
        await wait_for(pilot, lambda: app.plan is not None and app.plan.items)
        await pilot.press("M")
        assert "NAME.EXT.xmp" in str(app.screen.query_one("#apply-op").render())
        await pilot.press("M")
        assert "keeper itself" in str(app.screen.query_one("#apply-op").render())
        await pilot.press("M", "M", "a", *"apply", "enter")
        await wait_for(pilot, lambda: bool(engine.applied))
        assert engine.applied[-1].merge == "sidecar"


async def test_browse_folder_note_metadata_and_favourites(tmp_path: Path) -> None:
    """Browse: N on the highlighted folder saves a note that shows under the folder's info; i on
    a highlighted photo opens its metadata; F opens the favourites."""
    group = _photos(tmp_path / "p")
    engine = FakeEngine([group])
    app = make_app({}, engine, graphics="none", browse_start=tmp_path / "p")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")  # results exist, so the app opened in Review
        await pilot.pause(0.2)
        await pilot.press("N", *"phone backup", "enter")
        folder = str(tmp_path / "p")
        await wait_for(pilot, lambda: engine.notes.get(folder) == "phone backup")
        info = app.screen.query_one("#dirinfo")
        await wait_for(pilot, lambda: "note: phone backup" in str(info.render()))
        tree = app.screen.query_one("DirectoryTree")
        await wait_for(pilot, lambda: len(tree.root.children) == 2)
        await pilot.press("j")
        await pilot.press("i")
        assert isinstance(app.screen, MetadataScreen)
        await wait_for(pilot, lambda: any("Exif.Image.Make = Canon" in x for x in app.screen.lines))
        await pilot.press("escape", "F")
        assert isinstance(app.screen, FavouritesScreen)
        assert not engine.loop_calls


async def test_review_P_writes_a_pdf_of_the_marked_files(tmp_path: Path) -> None:
    group = _photos(tmp_path / "p")
    engine = FakeEngine([group])
    app = make_app({}, engine, graphics="none")
    out = tmp_path / "marked.pdf"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "m", "P")
        await pilot.press("ctrl+a", "ctrl+k", *str(out), "enter")
        await wait_for(pilot, lambda: bool(engine.pdfs))
        assert engine.pdfs == [([group.keep], str(out))]


def test_real_adapter_writes_the_pdf(tmp_path: Path) -> None:
    group = _photos(tmp_path / "p")
    port = EngineAdapter(Engine(catalog_path=tmp_path / "cat.db"))
    said = port.make_pdf([m.path for m in group.members], str(tmp_path / "o.pdf"))
    assert "2 page(s), 2 JPEG(s) embedded" in said
    assert (tmp_path / "o.pdf").read_bytes().startswith(b"%PDF")


def _tree_lines(tree: object) -> list[str]:
    """The tree as drawn on screen, one string per row."""
    return ["".join(s.text for s in tree.render_line(y)) for y in range(tree.size.height)]  # type: ignore[attr-defined]


async def test_browse_tree_shows_marks_favourites_and_notes_real_engine(tmp_path: Path) -> None:
    """Browse through the real engine and catalog: the folder tree ends each entry with ● (marked),
    ★ (favourite), ✎ (note, file or folder); N on a file adds ✎ at once and saves the note; the
    highlighted file's marks and note show in the side panel."""
    group = _photos(tmp_path / "p")
    keep, sent = group.keep, group.members[1].path
    old = tmp_path / "p" / "old"
    old.mkdir()
    (tmp_path / "p" / "plain.jpg").write_bytes(Path(keep).read_bytes())
    port = EngineAdapter(Engine(catalog_path=tmp_path / "cat.db"))
    port.set_mark(keep, True)
    port.set_note(keep, "sharpest")
    port.set_favourite(sent, True)
    port.set_note(str(old), "phone backup")
    app = make_app({}, port, graphics="none", browse_start=tmp_path / "p")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        tree = app.screen.query_one("#tree")
        await wait_for(pilot, lambda: len(tree.root.children) == 4)

        def row(name: str) -> str:
            return next(x for x in _tree_lines(tree) if name in x).rstrip()

        await wait_for(pilot, lambda: row("IMG_0001.jpg").endswith("IMG_0001.jpg ●✎"))
        assert row("sent.jpg").endswith("sent.jpg ★")
        assert row("old").endswith("old ✎") and row("plain.jpg").endswith("plain.jpg")
        # sent.jpg is the 4th row under the root: old, IMG_0001.jpg, plain.jpg, sent.jpg
        await pilot.press("j", "j", "j", "j")
        info = app.screen.query_one("#dirinfo")
        await wait_for(pilot, lambda: "★ favourite" in str(info.render()))
        await pilot.press("N", *"blurry", "enter")
        await wait_for(pilot, lambda: row("sent.jpg").endswith("sent.jpg ★✎"))
        await wait_for(pilot, lambda: port.catalog_marks()["notes"].get(sent) == "blurry")
        await wait_for(pilot, lambda: "✎ note: blurry" in str(info.render()))
