"""``scan --rules`` inside the scan: this very run's groups leave out what a rule hides or moves
away (a moved original is no keeper), the rules read the vectors the scan computed (nothing
decoded twice), and the hits stay in the catalog so the app badges them from its first paint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

data = pytest.importorskip("skimage.data")

PROMPT = "a tabby cat on a sofa, masterpiece\nNegative prompt: dog\nSteps: 20, Seed: 1"


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _scan(inbox: Path, db: Path, *extra: str) -> tuple[dict, str]:
    from lookalike.cli import main

    args = ["scan", "--no-ui", str(inbox), "--db", str(db), "--format", "json", *extra]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r.stderr


def _cat_inbox(tmp_path: Path) -> tuple[Path, Path]:
    """inbox/ with a generated PNG of chelsea (an A1111 prompt naming a cat) and a JPEG copy."""
    inbox, db = tmp_path / "inbox", tmp_path / "cat.sqlite"
    inbox.mkdir()
    chelsea = _photo("chelsea")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PROMPT)
    chelsea.save(inbox / "chelsea.png", pnginfo=info)
    chelsea.save(inbox / "chelsea-copy.jpg", quality=92)
    return inbox, db


def _members(doc: dict) -> list[set[str]]:
    return [{Path(f["path"]).name for f in g["files"]} for g in doc["groups"]]


def test_hide_hits_leave_this_runs_groups(tmp_path: Path) -> None:
    """A generated PNG of chelsea (with an A1111 prompt) and two byte-identical JPEG copies,
    coffee with a resized copy: the hide rule's hit is out of the groups of the same run."""
    from lookalike import config
    from lookalike.cli import main

    inbox, db = _cat_inbox(tmp_path)
    (inbox / "chelsea-copy2.jpg").write_bytes((inbox / "chelsea-copy.jpg").read_bytes())
    coffee = _photo("coffee")
    coffee.save(inbox / "coffee.jpg", quality=95)
    coffee.resize((300, 200)).save(inbox / "coffee-small.jpg", quality=90)
    rule = {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "hide"}
    config.save_config({"content_rules": [rule]})

    doc, err = _scan(inbox, db, "--rules", "--dry-run")  # reports only: groups as without rules
    assert "rule cats (1.0000): hide" in err and "chelsea.png" in err
    assert any("chelsea.png" in m for m in _members(doc))

    doc, err = _scan(inbox, db, "--rules")
    groups = _members(doc)
    assert not any("chelsea.png" in m for m in groups), groups
    assert {"chelsea-copy.jpg", "chelsea-copy2.jpg"} in groups
    assert {"coffee.jpg", "coffee-small.jpg"} in groups
    assert "hid 1 file(s)" in err
    r = CliRunner().invoke(main, ["rules", "hidden", "--db", str(db)])
    assert r.stdout.startswith("cats\t1.0000\t") and "chelsea.png" in r.stdout
    doc, _ = _scan(inbox, db, "--rules", "--show-hidden")  # hidden, grouped this once
    assert any("chelsea.png" in m for m in _members(doc))


def _texture_inbox(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Samples: crops of brick. Inbox: the full brick photo in incoming/ (the best copy, the
    keeper without rules) with two smaller copies beside it, and coffee with a copy."""
    samples, inbox = tmp_path / "samples", tmp_path / "inbox"
    samples.mkdir()
    brick = _photo("brick")
    w, h = brick.size
    for i, c in enumerate((0.5, 0.7)):
        brick.crop((0, 0, int(w * c), int(h * c))).resize((160, 160)).save(samples / f"b{i}.jpg")
    (inbox / "incoming").mkdir(parents=True)
    brick.save(inbox / "incoming" / "brick.png")
    (inbox / "zcopy").mkdir()  # a byte-identical copy that stays (sorts after incoming/)
    (inbox / "zcopy" / "brick.png").write_bytes((inbox / "incoming" / "brick.png").read_bytes())
    brick.resize((384, 384)).save(inbox / "brick-384.jpg", quality=90)
    brick.resize((320, 320)).save(inbox / "brick-320.jpg", quality=85)
    coffee = _photo("coffee")
    coffee.save(inbox / "coffee.jpg", quality=95)
    coffee.resize((300, 200)).save(inbox / "coffee-small.jpg", quality=90)
    return samples, inbox, tmp_path / "sorted"


def test_moved_original_is_no_keeper_and_no_second_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from lookalike import config
    from lookalike.cli import main
    from lookalike.engine.embedders import cached_weights, resolve
    from lookalike.engine.rules import evaluate

    if cached_weights(resolve("effnet-lite0")) is None:
        pytest.skip("effnet-lite0 weights package not installed")
    samples, inbox, sorted_dir = _texture_inbox(tmp_path)
    db = tmp_path / "cat.sqlite"
    doc, _ = _scan(inbox, db, "--model", "effnet-lite0")
    (brick,) = [g for g in doc["groups"] if any("brick" in f["path"] for f in g["files"])]
    assert Path(brick["keep"]).name == "brick.png"  # the keeper without rules

    rule = {
        "name": "bricks",
        "folders": [str(inbox / "incoming")],
        "when": {"prototype": str(samples), "threshold": 0.4},
        "action": f"move:{sorted_dir}",
    }
    config.save_config({"content_rules": [rule]})

    load_rgb = evaluate.load_rgb

    def no_decode(path: str, size: int) -> object:  # scanned files: the scan's vectors only
        assert str(inbox) not in path, f"the rules decoded {path} a second time"
        return load_rgb(path, size)  # the sample folder is not scanned: embedded here

    monkeypatch.setattr(evaluate, "load_rgb", no_decode)
    doc, err = _scan(inbox, db, "--model", "effnet-lite0", "--rules", "--yes")
    assert "rule bricks (" in err and "undo with: lookalike undo" in err, err
    assert (sorted_dir / "brick.png").exists() and not (inbox / "incoming" / "brick.png").exists()
    groups = _members(doc)
    assert {"coffee.jpg", "coffee-small.jpg"} in groups
    (brick,) = [g for g in doc["groups"] if any("brick" in f["path"] for f in g["files"])]
    paths = {f["path"] for f in brick["files"]}
    assert str(inbox / "incoming" / "brick.png") not in paths  # moved: in no group, no keeper
    # the copy that stayed took over the cluster (and its features): grouped and the keeper
    assert brick["keep"] == str(inbox / "zcopy" / "brick.png"), brick
    assert {Path(p).name for p in paths} == {"brick.png", "brick-384.jpg", "brick-320.jpg"}
    assert CliRunner().invoke(main, ["undo", "--yes"]).exit_code == 0
    assert (inbox / "incoming" / "brick.png").exists()


def test_scan_rules_hits_badge_review_from_the_first_paint(tmp_path: Path) -> None:
    """Pilot, real engine: after ``scan --rules`` (a notify rule) in the same catalog, the
    review's cards carry the rule's badge without opening the content rules screen; a file
    changed since loses its badge (the rule has not seen the new content)."""
    import os

    from lookalike import config
    from lookalike.engine.api import Engine
    from lookalike.ui.app import make_app

    inbox, db = tmp_path / "inbox", tmp_path / "cat.sqlite"
    inbox.mkdir()
    chelsea = _photo("chelsea")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PROMPT)
    chelsea.save(inbox / "chelsea.png", pnginfo=info)
    chelsea.resize((300, 225)).save(inbox / "chelsea-small.png", pnginfo=info)
    coffee = _photo("coffee")
    coffee.save(inbox / "coffee.jpg", quality=95)
    coffee.resize((300, 200)).save(inbox / "coffee-small.jpg", quality=90)
    rule = {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "notify"}
    config.save_config({"content_rules": [rule]})
    doc, _ = _scan(inbox, db, "--rules")
    assert len(doc["groups"]) == 2  # notify leaves the groups alone
    engine = Engine(db)
    assert set(engine.rule_hits().values()) == {"cats"} and len(engine.rule_hits()) == 2
    st = os.stat(inbox / "chelsea-small.png")
    os.utime(inbox / "chelsea-small.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert {Path(p).name for p in engine.rule_hits()} == {"chelsea.png"}

    app = make_app({}, engine, graphics="none")
    seen: dict[str, str] = {}

    async def run() -> None:
        async with app.run_test(size=(140, 40)) as pilot:
            loop = asyncio.get_running_loop()
            end = loop.time() + 60
            while len(app.review.groups) < 2:
                assert loop.time() < end, "the stored groups did not load"
                await pilot.pause(0.05)
            for _ in range(len(app.review.groups)):
                await pilot.pause(0.2)
                for c in app.screen.query_one("#thumbgrid").tiles:
                    seen[Path(c.path).name] = c.flags
                await pilot.press("j")

    asyncio.run(run())
    assert "⚑cats" in seen.get("chelsea.png", ""), seen
    assert "⚑cats" not in seen.get("chelsea-small.png", "-"), seen
    assert not any("⚑" in seen.get(n, "") for n in ("coffee.jpg", "coffee-small.jpg")), seen


def test_rules_run_keeps_hits_for_the_badges_and_forgets_what_no_longer_fires(
    tmp_path: Path,
) -> None:
    """``rules run`` (also ``--dry-run``) stores its hits; a run of every rule drops the hit
    of a file no rule fires on any more, a run of one rule leaves the other rules' hits."""
    from lookalike import config
    from lookalike.cli import main
    from lookalike.engine.api import Engine

    inbox, db = tmp_path / "inbox", tmp_path / "cat.sqlite"
    inbox.mkdir()
    for name, words in (("chelsea", "a tabby cat"), ("coffee", "a cup of coffee")):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"{words}, masterpiece\nSteps: 20")
        _photo(name).resize((200, 150)).save(inbox / f"{name}.png", pnginfo=info)
    cats = {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "notify"}
    cups = {"name": "cups", "when": {"generation_prompt": ["coffee"]}, "action": "notify"}
    config.save_config({"content_rules": [cats, cups]})
    run = ["rules", "run", str(inbox), "--dry-run", "--db", str(db)]
    assert CliRunner().invoke(main, run).exit_code == 0
    named = lambda: {Path(p).name: r for p, r in Engine(db).rule_hits().items()}  # noqa: E731
    assert named() == {"chelsea.png": "cats", "coffee.png": "cups"}

    cups["when"] = {"generation_prompt": ["tea"]}  # fires on nothing now
    config.save_config({"content_rules": [cats, cups]})
    one = ["rules", "run", "cats", str(inbox), "--dry-run", "--db", str(db)]
    assert CliRunner().invoke(main, one).exit_code == 0
    assert named() == {"chelsea.png": "cats", "coffee.png": "cups"}  # only cats was run
    assert CliRunner().invoke(main, run).exit_code == 0
    assert named() == {"chelsea.png": "cats"}


def test_rules_without_no_ui_apply_off_a_terminal_and_are_refused_for_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scan PATH --rules`` without --no-ui: piped, it runs headless WITH the rules (they were
    silently dropped before); on a terminal, where the app would open, it says what to do."""
    from lookalike import config
    from lookalike.cli import main

    inbox, db = _cat_inbox(tmp_path)
    config.save_config(
        {
            "content_rules": [
                {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "hide"}
            ]
        }
    )
    args = ["scan", str(inbox), "--db", str(db), "--format", "json", "--rules"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "hid 1 file(s)" in r.stderr
    assert not any("chelsea.png" in m for m in _members(json.loads(r.stdout)))

    monkeypatch.setattr("lookalike.commands.scan._on_a_terminal", lambda: True)
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "add --no-ui" in r.stderr and "lookalike rules run PATH" in r.stderr
