"""A fast typist's keys are never lost: keys that arrive right behind a prompt's Enter (or a
dialog's closing key) act on the screen underneath, in order. Real engine on real photos; the
keys are sent as a terminal delivers them — back to back, without waiting for the app to catch
up (Pilot's press() waits for idle between keys and so hides the race)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input

from lookalike.engine.api import Engine
from lookalike.ui.app import LookalikeApp, make_app
from lookalike.ui.screens.base import ConfirmScreen, HelpScreen
from lookalike.ui.screens.review import ReviewScreen
from scan_wait import wait_scan_finished


async def wait_for(pilot: Pilot, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


async def typing_ready(pilot: Pilot) -> None:
    """Wait until a dialog's Input has focus (no idle wait: keys may follow at once)."""
    await wait_for(pilot, lambda: isinstance(pilot.app.focused, Input))


def burst(app: LookalikeApp, *keys: str) -> None:
    """Queue keys on the app all at once, as a terminal does for a fast typist."""
    for key in keys:
        name = _character_to_key(key) if len(key) == 1 else key
        app.post_message(events.Key(name, key if len(key) == 1 else None))


def photos(tmp_path: Path) -> Path:
    """Two real photos, each with a re-encoded copy (two groups), and a different photo."""
    from skimage import data

    folder = tmp_path / "photos"
    folder.mkdir()
    for name, pixels in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
        im = Image.fromarray(pixels)
        im.save(folder / f"{name}.png")
        im.save(folder / f"{name}-copy.jpg", quality=85)
    Image.fromarray(data.chelsea()).save(folder / "chelsea.png")  # no duplicate: no group
    return folder


def decided(app: LookalikeApp) -> set[str]:
    """Names of the keepers of the groups decided so far."""
    review = app.review
    return {
        Path(g.keep).stem.removesuffix("-copy") for g in review.groups if g.id in review.decisions
    }


async def test_keys_typed_right_after_a_dialog_closes_reach_review(tmp_path: Path) -> None:
    engine = Engine(catalog_path=tmp_path / "catalog.sqlite", thumb_dir=tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, roots=[photos(tmp_path)])
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_scan()
        await wait_scan_finished(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert len(app.review.groups) == 2 and not app.review.decisions

        # Go to: the name and Enter, then `a` at once. The `a` accepts that group; it is not
        # typed into the closing prompt (which would also have spoilt the name).
        for target in ("coffee", "astronaut"):
            await pilot.press("slash")
            await typing_ready(pilot)
            burst(app, *target, "enter", "a")
            await wait_for(pilot, lambda target=target: target in decided(app))
            assert isinstance(app.screen, ReviewScreen)
        assert decided(app) == {"coffee", "astronaut"}

        # The whole line at once, the prompt's key included: typed before the prompt is there.
        burst(app, "u", "slash", *"astronaut", "enter", "u", "slash", *"coffee", "enter", "a")
        await wait_for(pilot, lambda: decided(app) == {"coffee"})
        assert isinstance(app.screen, ReviewScreen)
        burst(app, "slash", *"astronaut", "enter", "a")
        await wait_for(pilot, lambda: decided(app) == {"coffee", "astronaut"})

        # Several keys behind Enter keep their order: `u` undecides, then `a` decides again
        # (the other way round would leave it undecided); the last `/` opens the prompt again.
        await pilot.press("slash")
        await typing_ready(pilot)
        burst(app, *"coffee", "enter", "u", "a", "slash")
        await typing_ready(pilot)
        assert decided(app) == {"coffee", "astronaut"}
        for target in ("coffee", "astronaut"):
            if target == "astronaut":  # the prompt for coffee is open already
                await pilot.press("slash")
            await typing_ready(pilot)
            burst(app, *target, "enter", "u")
            await wait_for(pilot, lambda target=target: target not in decided(app))
        assert not decided(app) and isinstance(app.screen, ReviewScreen)

        # Folder filter prompt: the key after Enter acts in the filtered list.
        await pilot.press("d")
        await typing_ready(pilot)
        burst(app, *"photos", "enter", "a")
        await wait_for(pilot, lambda: len(decided(app)) == 1)
        assert app.review.folder_filter == "photos" and isinstance(app.screen, ReviewScreen)

        # Yes/no confirmation (accept all) and help: the key after the closing key acts too.
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        burst(app, "y", "u", "slash")  # accept all, undecide the current group, open Go to
        await typing_ready(pilot)
        assert len(decided(app)) == 1
        burst(app, "escape", "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        burst(app, "escape", "a")
        await wait_for(pilot, lambda: decided(app) == {"coffee", "astronaut"})


async def test_typed_confirmation_keeps_keys_after_enter(tmp_path: Path) -> None:
    """A typed confirmation: right word + Enter closes it and the next key acts underneath; a
    wrong word keeps it open and the keys behind Enter are typed into it, in order."""
    engine = Engine(catalog_path=tmp_path / "catalog.sqlite", thumb_dir=tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, roots=[photos(tmp_path)])
    results: list[bool | None] = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.start_scan()
        await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await wait_for(pilot, lambda: len(app.review.groups) == 2)
        app.push_screen(ConfirmScreen("Delete?", word="delete"), results.append)
        await typing_ready(pilot)
        burst(app, *"delte", "enter", *"dele")
        await wait_for(pilot, lambda: app.screen.query_one("#confirm-input", Input).value == "dele")
        assert not results and isinstance(app.screen, ConfirmScreen)
        burst(app, *"te", "enter", "a")
        await wait_for(pilot, lambda: len(decided(app)) == 1)
        assert results == [True] and isinstance(app.screen, ReviewScreen)
