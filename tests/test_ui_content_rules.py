"""The app's content rules screen on the real engine: hit counts on the scanned catalog, a live
threshold preview that agrees with the engine, the threshold saved, badges and a notify toast."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

data = pytest.importorskip("skimage.data")
pytest.importorskip("torch")


def _save(path: Path, name: str, crop: float = 1.0, rotate: float = 0.0) -> Path:
    img = Image.fromarray(getattr(data, name)()).convert("RGB")
    w, h = img.size
    img = img.crop((0, 0, int(w * crop), int(h * crop))).rotate(rotate)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.resize((160, max(1, round(160 * img.size[1] / img.size[0])))).save(path, quality=90)
    return path


async def _wait(pilot, cond: Callable[[], bool], timeout: float = 240.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached in time"
        await pilot.pause(0.05)


def test_content_rules_screen_counts_previews_saves_and_badges(tmp_path: Path) -> None:
    from lookalike import config
    from lookalike.cli import main
    from lookalike.engine.api import Engine
    from lookalike.engine.embedders import cached_weights, resolve
    from lookalike.ui.app import make_app

    if cached_weights(resolve("effnet-lite0")) is None:
        pytest.skip("effnet-lite0 weights package not installed")
    for n in ("brick", "grass"):
        for i, c in enumerate((0.6, 0.8, 1.0)):
            _save(tmp_path / "reject" / f"{n}{i}.jpg", n, crop=c)
    for n in ("astronaut", "coffee"):
        for i, c in enumerate((0.6, 0.8, 1.0)):
            _save(tmp_path / "keep" / f"{n}{i}.jpg", n, crop=c)
    inbox = tmp_path / "inbox"
    brick = _save(inbox / "brick.jpg", "brick", rotate=3)
    shutil.copy2(brick, inbox / "brick-copy.jpg")  # a review group whose files both hit
    for n in ("gravel", "chelsea", "rocket", "camera"):
        _save(inbox / f"{n}.jpg", n, rotate=3)
    rule = {
        "name": "textures",
        "when": {
            "prototype": str(tmp_path / "reject"),
            "negative_prototype": str(tmp_path / "keep"),
            "threshold": 0.1,
        },
        "action": "notify",
    }
    config.save_config({"content_rules": [rule]})
    r = CliRunner().invoke(main, ["scan", "--no-ui", str(inbox), "--format", "json"])
    assert r.exit_code == 0, r.output
    app = make_app({}, Engine(config.default_catalog_path()), graphics="none")
    seen: dict = {}

    async def run() -> None:
        from textual.widgets import OptionList, Static

        from lookalike.ui.screens.content_rules import ContentRulesScreen

        async with app.run_test(size=(140, 40)) as pilot:
            await _wait(pilot, lambda: len(app.review.groups) == 1)
            await pilot.press("5", "c")
            screen = app.screen
            assert isinstance(screen, ContentRulesScreen)
            await _wait(pilot, lambda: not screen.busy)
            (pv,) = screen.previews
            seen["preview"] = pv
            names = {Path(s.path).name for s in pv.hits()}
            seen["hits"] = names
            label = str(screen.query_one(OptionList).get_option_at_index(0).prompt)
            assert f"textures  {len(names)} hit(s)  → notify" == label
            pane = lambda: str(screen.query_one("#content-rule-hits", Static).render())  # noqa: E731
            assert "threshold 0.10" in pane() and "brick.jpg" in pane()
            await _wait(
                pilot, lambda: any("match rule textures" in n.message for n in app._notifications)
            )
            assert set(app.rule_hits) == {s.path for s in pv.hits()}
            for _ in range(30):  # raise the bar until the count moves
                await pilot.press("right_square_bracket")
                if pv.count(screen.thresholds["textures"]) < len(names):
                    break
            t = screen.thresholds["textures"]
            seen["raised"] = (t, pv.count(t))
            assert t > 0.1 and f"threshold {t:.2f} (configured 0.1; w saves)" in pane()
            assert f"→ {pv.count(t)} hit(s)" in pane()
            await pilot.press("w")
            from lookalike.ui.widgets.bars import StatusBar

            await _wait(pilot, lambda: "saved to" in screen.query_one(StatusBar).message)
            await pilot.press("escape", "3")
            await pilot.pause(0.2)
            seen["badges"] = [c.flags for c in app.screen.query_one("#thumbgrid").tiles]

    asyncio.run(run())
    assert {"brick.jpg", "brick-copy.jpg", "gravel.jpg"} <= seen["hits"]
    assert not {"chelsea.jpg", "rocket.jpg"} & seen["hits"]
    t, n = seen["raised"]
    saved = config.load_config()["content_rules"][0]["when"]["threshold"]
    assert saved == pytest.approx(t)
    # the engine at the saved threshold says what the preview said
    from lookalike.engine.rules.content import parse_rules
    from lookalike.engine.rules.evaluate import RuleEngine

    (rule_now,) = parse_rules(config.load_config())
    files = sorted(str(p) for p in inbox.iterdir())
    with RuleEngine([rule_now], catalog=config.default_catalog_path()) as eng:
        assert sum(r.hit for r in eng.evaluate(rule_now, files)) == n
    assert len(seen["badges"]) == 2 and all("⚑textures" in b for b in seen["badges"])


def test_a_bad_rule_is_one_message_on_the_screen_and_thresholds_save_where_they_belong(
    tmp_path: Path,
) -> None:
    """Real engine, no model load: a prompt rule on a model without a text tower is refused
    with the engine's message; save_threshold writes min_probability for a classifier and
    refuses a rule with several conditions."""
    from lookalike import config
    from lookalike.engine.api import Engine
    from lookalike.ui.app import make_app
    from lookalike.ui.screens.content_rules import ContentRulesScreen, save_threshold

    config.save_config(
        {"content_rules": [{"name": "shots", "when": {"prompts": ["a screenshot"]}}]}
    )
    app = make_app({}, Engine(tmp_path / "cat.sqlite"), graphics="none")

    async def run() -> None:
        from textual.widgets import Static

        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("5", "c")
            screen = app.screen
            assert isinstance(screen, ContentRulesScreen)
            await _wait(pilot, lambda: not screen.busy)
            text = str(screen.query_one("#content-rule-hits", Static).render())
            assert "cannot score the rules" in text and "text tower" in text
            await pilot.press("right_square_bracket")  # nothing to move: says so, no crash
            assert screen.previews == []

    asyncio.run(run())
    config.save_config(
        {
            "content_rules": [
                {"name": "c", "when": {"classifier": "k", "classes": ["a"]}},
                {"name": "two", "when": {"any": [{"prototype": "/a"}, {"prototype": "/b"}]}},
            ]
        }
    )
    save_threshold("c", 0.75)
    assert config.load_config()["content_rules"][0]["when"]["min_probability"] == 0.75
    with pytest.raises(ValueError, match="no single threshold"):
        save_threshold("two", 0.2)
    with pytest.raises(ValueError, match="no content rule named"):
        save_threshold("nope", 0.2)
