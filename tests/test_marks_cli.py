"""``lookalike marks`` and ``lookalike notes``: CLI over the catalog's marks, the export/import
round trip (text and JSON, odd names included) and the marked set as a journalled selection."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from lookalike.cli import main


def _photo(path: Path, which: str = "astronaut") -> Path:
    Image.fromarray(getattr(data, which)()).save(path, quality=90)
    return path


def _run(*args: str, db: Path, code: int = 0) -> str:
    r = CliRunner().invoke(main, [*args, "--db", str(db)])
    assert r.exit_code == code, r.output
    return r.output


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9\tx.jpg")))
    return [
        _photo(tmp_path / "a.jpg"),
        _photo(tmp_path / "b.jpg", "coffee"),
        _photo(odd, "chelsea"),
    ]


def test_export_import_round_trips_text_and_json(tmp_path: Path, photos: list[Path]) -> None:
    db, db2, db3 = tmp_path / "c.db", tmp_path / "c2.db", tmp_path / "c3.db"
    a, b, odd = (str(p) for p in photos)
    _run("marks", "add", a, odd, db=db)
    _run("marks", "add", "--favourites", b, db=db)
    _run("notes", "set", odd, "line one\nline\ttwo \\ end", db=db)
    _run("notes", "set", str(tmp_path), "phone backup 2019", db=db)
    want = json.loads(_run("notes", "list", "--format", "json", db=db))
    assert want["files"] == {odd: "line one\nline\ttwo \\ end"}
    for fmt, target in (("text", db2), ("json", db3)):
        out = tmp_path / f"notes.{fmt}"
        _run("notes", "export", str(out), "--format", fmt, db=db)
        got = _run("notes", "import", str(out), db=target)
        assert "imported 3 file" in got and "1 folder" in got
        assert json.loads(_run("notes", "list", "--format", "json", db=target)) == want
        assert _run("marks", "list", db=target) == _run("marks", "list", db=db)
        fav = json.loads(_run("marks", "list", "--favourites", "--format", "json", db=target))
        assert [f["path"] for f in fav] == [b]
    text = (tmp_path / "notes.text").read_text()
    assert "caf\\xe9\\tx.jpg" in text  # non-UTF-8 byte and tab escaped, one line per entry


def test_bad_import_is_one_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("file\tstarred\t/x.jpg\t\n")
    r = CliRunner().invoke(main, ["notes", "import", str(bad), "--db", str(tmp_path / "c.db")])
    assert r.exit_code == 2
    assert "line 1: unknown flag" in r.output and "Traceback" not in r.output
    bad.write_text('{"format": "something else"}')
    r = CliRunner().invoke(main, ["notes", "import", str(bad), "--db", str(tmp_path / "c.db")])
    assert r.exit_code == 2 and "not a lookalike notes export" in r.output


def test_marks_add_refuses_folders_and_missing_files(tmp_path: Path, photos: list[Path]) -> None:
    db = tmp_path / "c.db"
    out = _run(
        "marks", "add", str(photos[0]), str(tmp_path), str(tmp_path / "nope.jpg"), db=db, code=1
    )
    assert "a folder; mark the files in it" in out and "no such file" in out
    assert _run("marks", "list", db=db) == f"{photos[0]}\n"


def test_marked_files_as_a_selection_trash_then_undo(tmp_path: Path, photos: list[Path]) -> None:
    """The marked set drives a journalled trash; the favourite among them is left out; undo
    brings the bytes back."""
    db = tmp_path / "c.db"
    a, b, _ = photos
    before = a.read_bytes()
    _run("marks", "add", str(a), str(b), db=db)
    _run("marks", "add", "--favourites", str(b), db=db)
    plan = json.loads(_run("marks", "act", "trash", "--dry-run", "--format", "json", db=db))
    assert [i["source"] for i in plan["items"]] == [str(a)]
    out = _run("marks", "act", "trash", "--yes", db=db)
    assert "trash applied for 1 file" in out and "favourites are never acted on" in out
    assert not a.exists() and b.exists()
    r = CliRunner().invoke(main, ["undo", "--yes"])
    assert r.exit_code == 0, r.output
    assert a.read_bytes() == before


def test_favourites_can_be_copied(tmp_path: Path, photos: list[Path]) -> None:
    db = tmp_path / "c.db"
    dest = tmp_path / "out"
    dest.mkdir()
    _run("marks", "add", "--favourites", str(photos[1]), db=db)
    _run("marks", "act", f"copy:{dest}", "--favourites", "--yes", db=db)
    assert (dest / "b.jpg").read_bytes() == photos[1].read_bytes()
    assert photos[1].exists()
