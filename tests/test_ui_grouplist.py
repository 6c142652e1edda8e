"""The review's group list keeps the cursor in sight and scrolls by half a page at once, so
most ``j``/``k`` presses past the first screenful repaint two lines, not the whole list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual import events
from textual.pilot import Pilot

from lookalike.ui.app import make_app
from lookalike.ui.fake import FakeEngine, make_groups
from lookalike.ui.widgets.grouplist import GroupList


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached in time"
        await pilot.pause(0.05)


def _shown(app) -> list[str]:  # type: ignore[no-untyped-def]
    lst = app.screen.query_one(GroupList)
    return [
        "".join(s.text for s in lst.render_line(y)).strip() for y in range(lst.content_size.height)
    ]


def test_list_follows_the_cursor_half_a_page_at_a_time() -> None:
    app = make_app({}, FakeEngine(make_groups(200)), graphics="none")

    async def run() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_for(pilot, lambda: len(app.review.groups) == 200)
            await pilot.pause(0.2)
            lst = app.screen.query_one(GroupList)
            height = lst.content_size.height
            tops = set()
            for _ in range(3 * height):
                await pilot.press("j")
                tops.add(lst.top)
                cur = app.review.cursor
                assert lst.top <= cur < lst.top + height, "the cursor left the list"
            # scrolled a few times by half a page, not once per press
            assert len(tops) <= 7 and max(tops) > 0
            assert f"▶  {app.review.cursor + 1:>4} " in "\n".join(_shown(app))
            for _ in range(height):
                await pilot.press("k")
                assert lst.top <= app.review.cursor < lst.top + height
            await pilot.press("G")
            assert lst.top == len(app.review.view) - height
            assert _shown(app)[-1].startswith("▶")
            # the wheel scrolls without moving the cursor; j brings the cursor back in sight
            lst.post_message(events.MouseScrollUp(lst, 2, 2, 0, -1, 0, False, False, False))
            await wait_for(pilot, lambda: lst.top < len(app.review.view) - height)
            assert not _shown(app)[-1].startswith("▶")
            await pilot.press("k")
            assert lst.top <= app.review.cursor < lst.top + height

    asyncio.run(run())
