"""Content rules' ``hide`` action: catalog state by file identity, out of scans and review."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

data = pytest.importorskip("skimage.data")

PROMPT = "a tabby cat on a sofa, masterpiece\nNegative prompt: dog\nSteps: 20, Seed: 1"


def _photos(inbox: Path) -> None:
    """A generated-looking PNG of a real photo (with an A1111 prompt) and two JPEG copies of
    it; a second real photo with a copy, untouched by the rule."""
    inbox.mkdir()
    chelsea = Image.fromarray(data.chelsea()).convert("RGB")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", PROMPT)
    chelsea.save(inbox / "chelsea.png", pnginfo=info)
    chelsea.save(inbox / "chelsea-copy.jpg", quality=92)
    (inbox / "chelsea-copy2.jpg").write_bytes((inbox / "chelsea-copy.jpg").read_bytes())
    coffee = Image.fromarray(data.coffee()).convert("RGB")
    coffee.save(inbox / "coffee.jpg", quality=95)
    coffee.resize((300, 200)).save(inbox / "coffee-small.jpg", quality=90)


def _grouped(runner: CliRunner, inbox: Path, db: Path, *extra: str) -> set[str]:
    from lookalike.cli import main

    r = runner.invoke(
        main, ["scan", "--no-ui", str(inbox), "--db", str(db), "--format", "json", *extra]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    names = {Path(f["path"]).name for g in doc["groups"] for f in g["files"]}
    return names


def test_hide_keeps_files_out_of_scans_across_renames_until_unhidden(tmp_path: Path) -> None:
    from lookalike import config
    from lookalike.cli import main
    from lookalike.engine.api import Engine

    inbox, db = tmp_path / "inbox", tmp_path / "cat.sqlite"
    _photos(inbox)
    config.save_config(
        {
            "content_rules": [
                {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "hide"}
            ]
        }
    )
    runner = CliRunner()
    names = _grouped(runner, inbox, db)
    assert {"chelsea.png", "chelsea-copy.jpg", "coffee.jpg"} <= names

    before = {p.name: p.read_bytes() for p in inbox.iterdir()}
    r = runner.invoke(main, ["rules", "run", str(inbox), "--db", str(db), "--yes"])
    assert r.exit_code == 0, r.output
    assert r.stdout.split("\t")[0] == "cats" and "chelsea.png" in r.stdout
    assert "hid 1 file(s)" in r.stderr
    assert {p.name: p.read_bytes() for p in inbox.iterdir()} == before  # no file touched

    # review shows the stored groups without it, before any rescan (its group had it as
    # keeper, so it waits for the next scan to be regrouped; the coffee group stays)
    stored = {Path(m.path).name for g in Engine(db).last_groups() for m in g.members}
    assert "chelsea.png" not in stored and "coffee.jpg" in stored
    assert "chelsea.png" in {
        Path(m.path).name for g in Engine(db).last_groups(show_hidden=True) for m in g.members
    }

    names = _grouped(runner, inbox, db)
    assert "chelsea.png" not in names and {"chelsea-copy.jpg", "chelsea-copy2.jpg"} <= names
    assert {"coffee.jpg", "coffee-small.jpg"} <= names
    from lookalike.engine.events import Notice
    from lookalike.engine.options import ScanOptions

    notes = [
        ev.message
        for ev in Engine(db).scan_sync(ScanOptions(roots=(inbox,), workers=1))
        if isinstance(ev, Notice)
    ]
    assert any("1 file(s) hidden by content rules" in n and "--show-hidden" in n for n in notes)
    names = _grouped(runner, inbox, db, "--show-hidden")
    assert "chelsea.png" in names

    os.rename(inbox / "chelsea.png", inbox / "renamed.png")  # identity, not name
    names = _grouped(runner, inbox, db)
    assert "renamed.png" not in names
    r = runner.invoke(main, ["rules", "hidden", "--db", str(db), "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["rule"] == "cats", r.output

    r = runner.invoke(main, ["rules", "unhide", "--db", str(db)])
    assert r.exit_code == 2 and "--rule NAME or --all" in r.output
    r = runner.invoke(main, ["rules", "unhide", "--rule", "cats", "--db", str(db)])
    assert r.exit_code == 0 and "1 file(s) back" in r.stdout, r.output
    names = _grouped(runner, inbox, db)
    assert "renamed.png" in names


def test_a_hidden_file_whose_content_changes_comes_back(tmp_path: Path) -> None:
    """The rule saw the old content: a rewritten file is no longer hidden."""
    from lookalike.engine import hidden
    from lookalike.engine.catalog import Catalog

    inbox = tmp_path / "inbox"
    _photos(inbox)
    p = str(inbox / "chelsea-copy.jpg")
    with Catalog(tmp_path / "c.sqlite") as cat:
        assert hidden.hide(cat.db, [(p, "r", 1.0), (str(inbox / "gone.jpg"), "r", 1.0)]) == 1
        ids = hidden.identities(cat.db)
        assert hidden.is_hidden(p, ids)
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        assert not hidden.is_hidden(p, hidden.identities(cat.db))
        assert hidden.unhide(cat.db, [p]) == 1  # by the path it was hidden under
        assert hidden.hidden_files(cat.db) == []


def test_mark_adds_hits_to_the_shared_marked_set_and_unmark_takes_them_out(
    tmp_path: Path,
) -> None:
    from lookalike import config
    from lookalike.cli import main
    from lookalike.engine import marks
    from lookalike.engine.catalog import Catalog

    inbox, db = tmp_path / "inbox", tmp_path / "cat.sqlite"
    _photos(inbox)
    config.save_config(
        {
            "content_rules": [
                {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "mark"}
            ]
        }
    )
    runner = CliRunner()
    r = runner.invoke(main, ["rules", "run", str(inbox), "--db", str(db), "--dry-run"])
    assert r.exit_code == 0 and "cats" in r.stdout, r.output
    with Catalog(db) as cat:
        assert marks.marked(cat) == []  # a dry run marks nothing
    r = runner.invoke(main, ["rules", "run", str(inbox), "--db", str(db), "--yes"])
    assert r.exit_code == 0 and "marked 1 file(s)" in r.stderr, r.output
    with Catalog(db) as cat:
        assert marks.marked(cat) == [str(inbox / "chelsea.png")]
    r = runner.invoke(main, ["rules", "unmark", str(inbox / "chelsea.png"), "--db", str(db)])
    assert r.exit_code == 0, r.output
    with Catalog(db) as cat:
        assert marks.marked(cat) == []
