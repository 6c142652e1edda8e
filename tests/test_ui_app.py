"""Pilot behaviour tests of the terminal app against the fake engine (no real files touched)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from lookalike.ui.app import LookalikeApp, make_app
from lookalike.ui.fake import FakeEngine, make_groups, make_thumbs
from lookalike.ui.screens.base import ConfirmScreen, HelpScreen
from lookalike.ui.state import STATE_KEY
from lookalike.ui.widgets.bars import StatusBar
from scan_wait import wait_scan_finished

SIZE = (130, 40)


@pytest.fixture
def thumbs(tmp_path: Path) -> list[str]:
    return make_thumbs(tmp_path / "thumbs")


def app_with(engine: FakeEngine, **kwargs: object) -> LookalikeApp:
    kwargs.setdefault("graphics", "none")
    return make_app(kwargs.pop("settings", {}), engine, **kwargs)  # type: ignore[arg-type]


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


async def test_scan_shows_progress_then_review(tmp_path: Path) -> None:
    engine = FakeEngine(scan_groups=3)
    engine.step_gate = asyncio.Event()
    app = app_with(engine, roots=[tmp_path])
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_mode == "browse"
        await pilot.press("s")
        await wait_for(pilot, lambda: engine.scan_started)
        assert app.current_mode == "scan"
        assert app.scan_model.state == "running"
        engine.step_gate.set()
        await wait_scan_finished(pilot, app)
        assert app.scan_model.groups == 3
        assert app.scan_model.errors == [("/photos/broken.jpg", "truncated JPEG")]
        assert app.scan_model.stages["discover"]["finished"]
        assert app.scan_model.stages["extract"]["total"] == 40
        await wait_for(pilot, lambda: app.current_mode == "review")
        assert len(app.review.groups) == 3


async def test_cancel_scan_asks_first(tmp_path: Path) -> None:
    engine = FakeEngine(scan_groups=3)
    engine.step_gate = asyncio.Event()
    app = app_with(engine, roots=[tmp_path])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await wait_for(pilot, lambda: engine.scan_started)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")  # a lone Esc means no
        assert app._cancel is not None and not app._cancel.is_set()
        await pilot.press("c", "y")
        assert app._cancel.is_set()
        engine.step_gate.set()
        await wait_for(pilot, lambda: app.scan_model.state == "cancelled")


async def test_review_navigation_keep_and_not_duplicate(thumbs: list[str]) -> None:
    engine = FakeEngine(make_groups(50, thumbs))
    app = app_with(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 50)
        assert app.current_mode == "review"
        await pilot.press("j", "down", "j")
        assert app.review.cursor == 3
        await pilot.press("k")
        assert app.review.cursor == 2
        await pilot.press("G")
        assert app.review.cursor == 49
        await pilot.press("g")
        g = app.review.current
        await pilot.press("space")  # the only keeper: refused, group unchanged
        assert app.review.keep_set(g) == {g.keep}
        await pilot.press("l", "space")  # keep the second file too
        assert app.review.keep_set(g) == {g.members[0].path, g.members[1].path}
        await pilot.press("c")  # the second file becomes the only keeper
        assert app.review.keep_set(g) == {g.members[1].path}
        assert app.review.status(g) == "changed"
        await pilot.press("j", "n")
        g2 = app.review.by_id[2]
        assert app.review.status(g2) == "not-dup"
        await wait_for(pilot, lambda: engine.not_dups == [[m.path for m in g2.members]])
        await pilot.press("a")
        assert app.review.status(app.review.by_id[3]) == "accepted"
        await pilot.press("m", "f")
        assert app.review.marks and app.review.favourites


async def test_find_filter_and_sort() -> None:
    app = app_with(FakeEngine(make_groups(30)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 30)
        await pilot.press("slash")
        await pilot.press(*"IMG_00021", "enter")
        assert app.review.current.id == 21
        await pilot.press("t")
        assert app.review.tier_filter == "exact"
        await pilot.press("o")
        assert app.review.sort == "bytes"


async def test_apply_needs_typed_confirmation_and_undo_from_history() -> None:
    engine = FakeEngine(make_groups(5))
    app = app_with(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 5)
        await pilot.press("a", "a")  # accept groups 1 and 2
        await pilot.press("4")
        await wait_for(pilot, lambda: app.plan is not None)
        removed = sum(len(app.review.by_id[g].members) - 1 for g in (1, 2))
        assert app.plan.files == removed and app.plan.groups == 2
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.press("escape", "escape")
        assert engine.applied == []
        await pilot.press("a", *"nope", "enter")
        assert isinstance(app.screen, ConfirmScreen) and engine.applied == []
        await pilot.press("escape")
        await pilot.press("a", "y", "enter")  # y alone is not the word either
        assert engine.applied == []
        await pilot.press("escape")
        await pilot.press("a", *"apply", "enter")
        await wait_for(pilot, lambda: len(engine.applied) == 1 and not app.applying)
        assert app.review.status(app.review.by_id[1]) == "applied"
        await wait_for(pilot, lambda: app.plan is not None and app.plan.files == 0)

        await pilot.press("6")
        await wait_for(pilot, lambda: len(app.batches) == 1)
        await pilot.press("u")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert engine.undone == []
        await pilot.press("u", "y")
        await wait_for(pilot, lambda: engine.undone == ["b0001"])
        await wait_for(pilot, lambda: app.batches and app.batches[0].state == "undone")
        assert app.review.status(app.review.by_id[1]) == "accepted"


async def test_lone_escape_never_acts() -> None:
    engine = FakeEngine(make_groups(3))
    app = app_with(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        await pilot.press("A", "y")  # decide everything
        for mode in "3456":
            await pilot.press(mode, "escape", "escape")
        assert engine.applied == [] and engine.undone == []


async def test_review_state_persists_across_runs() -> None:
    engine = FakeEngine(make_groups(20))
    app = app_with(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 20)
        await pilot.press("j", "j", "l", "c", "m", "f", "j")
        await pilot.press("q")
    saved = engine.state[STATE_KEY]
    assert saved["position"] == 4
    assert [d["status"] for d in engine.decisions.values()] == ["changed"]

    again = app_with(engine)
    async with again.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(again.review.groups) == 20)
        await wait_for(pilot, lambda: again.review.current.id == 4)
        await wait_for(pilot, lambda: not again.matching)  # decisions come after the page
        assert again.review.status(again.review.by_id[3]) == "changed"
        assert len(again.review.marks) == 1 and len(again.review.favourites) == 1


async def test_help_per_screen_lists_keys() -> None:
    app = app_with(FakeEngine(make_groups(3)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-body").query("Static").first().render())
        assert "Next group" in text and "Not dup" in text
        await pilot.press("escape")
        await pilot.press("6", "f1")
        text = str(app.screen.query_one("#help-body").query("Static").first().render())
        assert "Undo batch" in text


@pytest.mark.parametrize(
    "keymap", [{"review.next_group": "x"}, {"review": {"next_group": "x"}}], ids=["flat", "nested"]
)
async def test_user_keymap_overrides_binding_ids(keymap: dict) -> None:
    settings = {"keymap": keymap}
    app = app_with(FakeEngine(make_groups(5)), settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 5)
        await pilot.press("x")
        assert app.review.cursor == 1
        await pilot.press("j")
        assert app.review.cursor == 1


async def test_bad_theme_file_gives_one_notice_and_default(tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\n')
    app = app_with(FakeEngine(), themes_dir=themes, settings={"ui": {"theme": "broken"}})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "lookalike-dark"
        notes = [n for n in app._notifications if "broken.toml" in n.message]
        assert len(notes) == 1
        assert "mine" in app.available_themes and "lookalike-light" in app.available_themes


async def test_full_view_zoom_and_back(thumbs: list[str]) -> None:
    app = app_with(FakeEngine(make_groups(3, thumbs)), graphics="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        await pilot.press("enter")
        from lookalike.ui.screens.fullview import FullView

        assert isinstance(app.screen, FullView)
        await pilot.press("plus", "plus", "l")
        assert app.screen.zoom == 4 and app.screen.cx > 0.5
        await pilot.press("0")
        assert app.screen.zoom == 1
        await pilot.press("escape")
        assert app.current_mode == "review" and not isinstance(app.screen, FullView)


async def test_full_view_is_reused_and_shows_the_new_file(thumbs: list[str]) -> None:
    """Enter pushes one installed FullView (a repaint, not a compose): each push must still
    start at fit and show the file selected now, not the last one."""
    from lookalike.ui.screens.fullview import FullView

    app = app_with(FakeEngine(make_groups(3, thumbs)), graphics="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        await pilot.press("enter")
        first = app.screen
        assert isinstance(first, FullView)
        await wait_for(pilot, lambda: first.frame is not None)
        await pilot.press("plus", "escape", "j", "l")
        member = app.review.current_member
        assert member is not None and member.path != first._source_path
        await pilot.press("enter")
        assert app.screen is first and first.zoom == 1
        await wait_for(pilot, lambda: first._source_path == member.path and first.frame is not None)
        title = str(first.query_one("#full-title").render())
        assert os.path.basename(member.path) in title and "zoom 1x" in title


async def test_graphics_renderer_shown_in_footer(thumbs: list[str]) -> None:
    app = app_with(FakeEngine(make_groups(3, thumbs)), graphics="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "graphics: halfcell" in str(app.screen.query_one(StatusBar).render())


async def test_command_palette_offers_screen_actions() -> None:
    app = app_with(FakeEngine(make_groups(3)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Next group" in titles and "Go: History / undo" in titles


async def test_rules_reorder_and_save(tmp_path: Path) -> None:
    from lookalike import config

    app = app_with(FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        first = app.keep_rules[0]
        await pilot.press("J")
        assert app.keep_rules[1] == first
        await pilot.press("o", *"/photos/phone: newest, bytes", "enter")
        assert app.overrides == {"/photos/phone": ["newest", "bytes"]}
        await pilot.press("o", *"/x: nonsense", "enter")
        assert "/x" not in app.overrides
        await pilot.press("w")
        await wait_for(pilot, lambda: not app.rules_dirty)
    saved = config.load_config()["rules"]
    assert saved["keep"][1] == first
    assert saved["overrides"] == {"/photos/phone": ["newest", "bytes"]}


async def test_palette_go_to_file_and_theme_is_remembered() -> None:
    from lookalike import config
    from lookalike.ui.commands import GoToFileProvider

    app = app_with(FakeEngine(make_groups(30)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 30)
        provider = GoToFileProvider(app.screen)
        hits = [h async for h in provider.search("IMG_00025_copy")]
        assert hits and hits[0].text == "Go to file: IMG_00025_copy.jpg"
        hits[0].command()
        await pilot.pause()
        assert app.review.current.id == 25 and app.review.member == 1
        app.theme = "lookalike-light"
        await wait_for(pilot, lambda: config.get_key(config.load_config(), "ui.theme") is not None)
    assert config.load_config()["ui"]["theme"] == "lookalike-light"


async def test_interrupted_batch_is_reported_at_start() -> None:
    engine = FakeEngine(make_groups(2))
    engine.recovery = ["Batch b9 (trash, apply) was interrupted: 3 files done, 2 not."]
    app = app_with(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: any("b9" in n.message for n in app._notifications))


async def test_browse_pick_roots_file_list_and_scan(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for sub in ("a", "b"):
        (photos / sub).mkdir(parents=True)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{photos / 'a' / 'x.jpg'}\n")
    engine = FakeEngine(scan_groups=2)
    app = app_with(engine, browse_start=photos, start_mode="browse")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)
        await pilot.press("down", "a")  # the first sub-folder
        assert app.roots == [(photos / "a").resolve()]
        await pilot.press("d")
        assert app.roots == []
        await pilot.press("right_square_bracket")
        assert app.scan_settings["sensitivity"] == 55
        await pilot.press("t", "e")
        assert app.scan_settings["same"] is False and app.scan_settings["similar"] is True
        await pilot.press("f", *str(listing), "enter")
        assert app.files_from == listing
        await pilot.press("down", "a", "s")
        await wait_scan_finished(pilot, app)
        options = app.scan_options()
        assert options.files_from == (photos / "a" / "x.jpg",)
        assert options.sensitivity == 55 and options.same is False
        assert options.ml is not None and options.ml.similar
        assert str((photos / "b").resolve()) in app.recent


async def test_no_blocking_engine_call_on_the_event_loop(tmp_path: Path) -> None:
    """Every catalog/journal call goes through a thread worker (the fake records any that don't)."""
    engine = FakeEngine(make_groups(8), scan_groups=2)
    app = app_with(engine, roots=[tmp_path], start_mode="review")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 8)
        await pilot.press("a", "n", "l", "c", "m")
        await pilot.press("4")
        await wait_for(pilot, lambda: app.plan is not None and app.plan.files > 0)
        await pilot.press("a", *"apply", "enter")
        await wait_for(pilot, lambda: len(engine.applied) == 1 and not app.applying)
        await pilot.press("6")
        await wait_for(pilot, lambda: len(app.batches) == 1)
        await pilot.press("u", "y")
        await wait_for(pilot, lambda: engine.undone == ["b0001"])
        await pilot.press("r", "y", "5", "2", "s")
        await wait_scan_finished(pilot, app)
        await pilot.press("q")
    assert engine.loop_calls == []
    assert STATE_KEY in engine.state


def test_progress_messages_of_one_stage_coalesce() -> None:
    from lookalike.engine.events import GroupFound, StageProgress
    from lookalike.ui.messages import ScanEvent

    newer = ScanEvent(StageProgress("extract", 20, 40))
    assert newer.can_replace(ScanEvent(StageProgress("extract", 10, 40)))
    assert not newer.can_replace(ScanEvent(StageProgress("exact", 10, 40)))
    group = make_groups(1)[0]
    assert not ScanEvent(GroupFound(group)).can_replace(ScanEvent(GroupFound(group)))


@pytest.mark.parametrize("saved_tier", [None, "similar"])
async def test_hammer_tier_sort_filter_keys_on_empty_and_full_sets(
    thumbs: list[str], saved_tier: str | None
) -> None:
    """`t` to an empty tier then `t t` at once used to crash (cards cleared before their
    children were mounted); a saved empty tier made every start land in the same trap."""
    groups = [g for g in make_groups(9, thumbs) if g.tier != "similar"]  # "similar" is empty
    engine = FakeEngine(groups)
    engine.state[STATE_KEY] = {"tier": saved_tier}
    app = app_with(engine, graphics="halfcell")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == len(groups))
        screen = app.screen
        title = screen.query_one("#group-title")
        if saved_tier:
            assert app.review.current is None
            text = str(title.render())
            assert "No similar groups" in text and "Press t" in text
        for _ in range(3):  # synchronous bursts: no refresh between the keys
            screen.action_tier()
            screen.action_tier()
            screen.action_sort()
            screen.action_group(1)
            screen.action_member(1)
            screen.action_tier()
            screen.action_details()
        for keys in ("ttt", "tjtlt", "ototo", "tttt"):
            await pilot.press(*keys)
        await pilot.press("d", *"nowhere", "enter")
        assert app.review.current is None
        assert "folder containing 'nowhere'" in str(title.render())
        await pilot.press("t", "o", "j", "l", "space", "d", "ctrl+u", "enter")
        await pilot.pause(0.1)
        assert app.review.folder_filter is None and app.review.current is not None
        shown = screen.query_one("#thumbgrid").tiles
        assert len(shown) == len(app.review.current.members)


async def test_app_started_by_scan_command_scans_with_its_options(tmp_path: Path) -> None:
    from lookalike.engine.options import ScanOptions

    seen: list[ScanOptions] = []

    class Recording(FakeEngine):
        def scan(self, options, cancel=None):  # type: ignore[no-untyped-def]
            seen.append(options)
            return super().scan(options, cancel)

    base = ScanOptions(roots=(tmp_path,), include=("*.jpg",), min_size=1000, workers=1)
    app = app_with(Recording(scan_groups=2), scan_base=base, start_scan=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_scan_finished(pilot, app)
        # the finished scan reloads the groups in a worker and then opens Review: wait for that
        # end state, so the test never exits while the app is switching screens
        await wait_for(pilot, lambda: app.current_mode == "review")
        assert seen[0].include == ("*.jpg",) and seen[0].min_size == 1000
        assert seen[0].roots == (tmp_path.resolve(),)


async def test_embedding_stage_skipped_is_not_shown_as_done() -> None:
    from lookalike.engine.events import Notice, StageDone
    from lookalike.ui.messages import ScanEvent
    from lookalike.ui.screens.scan import stage_line

    app = app_with(FakeEngine(), start_mode="scan")
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(ScanEvent(Notice("embeddings off: torch is not installed", "warning")))
        app.post_message(ScanEvent(StageDone("embed", 6.8, 71)))
        await wait_for(pilot, lambda: app.scan_model.stages.get("embed", {}).get("finished"))
        line = stage_line("embed", app.scan_model.stages["embed"])
        assert "skipped: torch is not installed" in line and "✓" not in line
        stages = app.screen.query_one("#scan-stages")
        await wait_for(pilot, lambda: "skipped" in str(stages.render()))


async def test_browse_shows_what_is_known_of_the_start_folder_at_once(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "2021").mkdir(parents=True)
    from lookalike.engine.records import Group, Member

    folder = photos / "2021"
    groups = [
        Group(
            gid,
            "exact",
            str(folder / f"{gid}a.jpg"),
            "oldest",
            tuple(Member(str(folder / f"{gid}{x}.jpg"), 1, 1, 1, "JPEG", 1.0) for x in "ab"),
        )
        for gid in (1, 2, 3)
    ]
    engine = FakeEngine(groups)
    engine.state["ui.dirs"] = {str(photos): {"last_scan": "2026-11-20 10:00"}}
    app = app_with(engine, browse_start=photos, start_mode="browse")
    async with app.run_test(size=SIZE) as pilot:
        info = app.screen.query_one("#dirinfo")
        await wait_for(pilot, lambda: "groups with files here: 3" in str(info.render()))
        assert "last scan: 2026-11-20 10:00" in str(info.render())  # before any key


async def test_rules_status_line_clears_after_save() -> None:
    app = app_with(FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "J")
        status = app.screen.query_one(StatusBar)
        assert "unsaved changes" in str(status.render())
        await pilot.press("w")
        await wait_for(pilot, lambda: not app.rules_dirty)
        await wait_for(pilot, lambda: "unsaved" not in str(status.render()))


async def test_open_and_reveal_use_the_system_viewer_only_with_a_display(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "opened.txt"
    viewer = tmp_path / "bin" / "xdg-open"
    viewer.parent.mkdir()
    viewer.write_text(f'#!/bin/sh\necho "$1" >> {record}\n')
    viewer.chmod(0o755)
    monkeypatch.setenv("PATH", f"{viewer.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    app = app_with(FakeEngine(make_groups(3)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.review.groups) == 3)
        await pilot.press("O")  # over plain SSH: no viewer, a hint instead
        assert any("No display here" in n.message for n in app._notifications)
        monkeypatch.setenv("DISPLAY", ":0")
        await pilot.press("O", "R")
        path = app.review.current_member.path
        await wait_for(pilot, lambda: record.exists() and len(record.read_text().split()) == 2)
        assert sorted(record.read_text().split()) == sorted([path, os.path.dirname(path)])
