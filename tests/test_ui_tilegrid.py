"""The review's tiles drawn by one widget (ui/widgets/tilegrid.py): a group of another size is
repainted without a layout pass, a key repaints only the tiles it changed, a click selects a
file, and the selected tile stays in sight when the group is taller than the pane."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual_image.widget import HalfcellImage

from lookalike.ui.app import make_app
from lookalike.ui.fake import FakeEngine, make_groups, make_thumbs
from lookalike.ui.widgets.tilegrid import TileGrid


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached in time"
        await pilot.pause(0.05)


def app_for(tmp_path: Path, image_cls: Any = HalfcellImage) -> Any:
    thumbs = make_thumbs(tmp_path / "thumbs")
    return make_app({}, FakeEngine(make_groups(9, thumbs)), image_cls=image_cls)


def screen_text(app: Any) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def settled(pilot: Pilot, app: Any) -> TileGrid:
    await wait_for(pilot, lambda: app.current_mode == "review" and bool(app.screen.query(TileGrid)))
    grid = app.screen.query_one(TileGrid)
    g = app.review.current
    # every tile's picture in (the loader thread fills them in any order)
    await wait_for(
        pilot,
        lambda: grid.group_id == g.id and all(t.lines and t.image is not None for t in grid.tiles),
    )
    await wait_for(pilot, lambda: not app.matching)  # stored decisions back (app_decisions.py)
    await pilot.pause(0.2)
    return grid


def test_next_group_of_another_size_needs_no_layout(tmp_path: Path) -> None:
    """Groups of 3, 4 and 2 files in a row: the tiles are re-planned and painted with their
    pictures, but the screen is never laid out again (that pass cost more than the paint)."""
    app = app_for(tmp_path)

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            grid = await settled(pilot, app)
            layouts: list[int] = []
            original = app.screen._refresh_layout

            def counting(*args: Any, **kwargs: Any) -> None:
                layouts.append(1)
                original(*args, **kwargs)

            app.screen._refresh_layout = counting  # type: ignore[method-assign]
            seen = set()
            for _ in range(3):
                await pilot.press("j")
                g = app.review.current
                await wait_for(pilot, lambda g=g: grid.group_id == g.id)
                await wait_for(pilot, lambda: all(t.lines for t in grid.tiles))
                await pilot.pause(0.1)
                seen.add(len(g.members))
                text = screen_text(app)
                # every file's tile is on screen: its title and its caption
                for i, m in enumerate(g.members):
                    assert f"{i + 1} KEEP" in text or f"{i + 1} remove" in text
                    assert Path(m.path).name in text
                assert len(grid.tiles) == len(g.members)
            assert seen == {2, 3, 4}
            assert not layouts, f"{len(layouts)} layout passes for three j presses"

    asyncio.run(run())


def test_l_and_space_repaint_only_the_tiles_they_change(tmp_path: Path) -> None:
    app = app_for(tmp_path)

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            grid = await settled(pilot, app)
            dirty: list[Any] = []
            original = grid.refresh

            def recording(*regions: Any, **kwargs: Any) -> Any:
                dirty.append(regions)
                return original(*regions, **kwargs)

            grid.refresh = recording  # type: ignore[method-assign]
            await pilot.press("l")
            await pilot.pause(0.1)
            # file 1 loses the marker, file 2 gets it: their titles and captions, nothing else
            assert dirty and all(regions for regions in dirty), "the whole grid was repainted"
            lines = sum(r.height for regions in dirty for r in regions)
            assert lines == 2 * (1 + 2)
            assert "▶2 remove" in screen_text(app)
            dirty.clear()
            await pilot.press("space")
            await pilot.pause(0.1)
            assert dirty and all(regions for regions in dirty)
            assert "▶2 KEEP" in screen_text(app)
            # the group list repaints only this group's line, which now says "changed"
            assert "▶✎    1 " in screen_text(app)
            await pilot.press("u")
            await pilot.pause(0.1)
            assert "▶     1 " in screen_text(app) and "▶✎" not in screen_text(app)

    asyncio.run(run())


def test_click_selects_the_file_and_the_selected_tile_stays_in_sight(tmp_path: Path) -> None:
    app = app_for(tmp_path)

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            grid = await settled(pilot, app)
            cols, tile_w, tile_h = grid._plan
            assert len(grid.tiles) >= 2 and cols >= 2
            # a click in the middle of the second tile
            await pilot.click(TileGrid, offset=(1 + tile_w + 1 + tile_w // 2, tile_h // 2))
            await wait_for(pilot, lambda: app.review.member == 1)
            assert grid.tiles[1].selected and not grid.tiles[0].selected
        # 80×24: one large tile at a time; l scrolls to the next one
        app2 = app_for(tmp_path / "small")
        async with app2.run_test(size=(80, 24)) as pilot:
            grid = await settled(pilot, app2)
            assert grid._plan[0] == 1 and grid.top == 0
            await pilot.press("l")
            await wait_for(pilot, lambda: grid.top == grid._plan[2])
            text = screen_text(app2)
            assert "╭─ ▶2 remove" in text and "╭─ 1 KEEP" not in text

    asyncio.run(run())


def test_without_graphics_a_tile_shows_format_and_size(tmp_path: Path) -> None:
    app = make_app({}, FakeEngine(make_groups(3)), graphics="none")

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for(pilot, lambda: bool(app.screen.query(TileGrid)))
            grid = app.screen.query_one(TileGrid)
            await wait_for(pilot, lambda: len(grid.tiles) == len(app.review.current.members))
            await pilot.pause(0.1)
            text = screen_text(app)
            for m in app.review.current.members:
                assert f"{m.width}x{m.height}" in text
            assert "WEBP" in text and "JPEG" in text

    asyncio.run(run())


def test_a_change_made_in_the_full_view_shows_on_its_tile_after_esc(tmp_path: Path) -> None:
    """Coming back from the full view repaints the review once (on resume): a file turned to
    KEEP there is titled KEEP on its tile."""
    app = app_for(tmp_path)

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            grid = await settled(pilot, app)
            await pilot.press("l")
            await wait_for(pilot, lambda: "▶2 remove" in screen_text(app))
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is not grid.screen)
            await pilot.press("space", "escape")
            await wait_for(pilot, lambda: app.screen is grid.screen)
            await wait_for(pilot, lambda: "▶2 KEEP" in screen_text(app))
            assert grid.tiles[1].keep

    asyncio.run(run())


def test_the_full_view_key_line_is_not_rebuilt_when_shown_again(tmp_path: Path) -> None:
    """Textual's footer unmounted and mounted its key widgets on every push (a relayout before
    the keys showed); the app's footer keeps them while the keys are the same."""
    from textual.widgets._footer import FooterKey

    app = app_for(tmp_path)

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await settled(pilot, app)
            await pilot.press("enter")
            full = app.screen
            assert "Zoom in" in [k.description for k in full.query(FooterKey)]
            first = list(full.query(FooterKey))
            await pilot.press("escape")
            await pilot.pause(0.1)
            await pilot.press("enter")
            assert app.screen is full and list(full.query(FooterKey)) == first

    asyncio.run(run())


def test_after_a_resize_the_selected_tile_is_in_sight(tmp_path: Path) -> None:
    """The review re-plans the tiles before Textual lays the pane out again: the scroll position
    must come from the new size, not the old one (160×45 → 80×24 → 120×40)."""
    app = app_for(tmp_path)

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            grid = await settled(pilot, app)
            await pilot.press("j", "l", "l")
            await wait_for(pilot, lambda: "╭─ ▶3 " in screen_text(app))
            await pilot.resize_terminal(80, 24)
            await wait_for(pilot, lambda: grid._plan[0] == 1)
            await pilot.pause(0.2)
            assert "╭─ ▶3 " in screen_text(app)
            await pilot.resize_terminal(120, 40)
            await wait_for(pilot, lambda: grid._plan[0] > 1)
            await pilot.pause(0.2)
            text = screen_text(app)
            assert "╭─ ▶3 " in text and grid.top <= grid._tile_at(2)[1]

    asyncio.run(run())


def test_the_wheel_scrolls_a_group_taller_than_the_pane(tmp_path: Path) -> None:
    from textual import events

    app = app_for(tmp_path / "wheel")

    async def run() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            grid = await settled(pilot, app)
            assert grid.top == 0 and grid._content_height() > grid.size.height
            grid.post_message(events.MouseScrollDown(grid, 5, 5, 0, 1, 0, False, False, False))
            await wait_for(pilot, lambda: grid.top > 0)
            assert "╭─ ▶1 " not in screen_text(app)  # the first tile's top edge scrolled away
            grid.post_message(events.MouseScrollUp(grid, 5, 5, 0, -1, 0, False, False, False))
            await wait_for(pilot, lambda: grid.top == 0)

    asyncio.run(run())
