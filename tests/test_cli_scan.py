"""`lookalike scan --no-ui`: stdout carries only data, stderr diagnostics, documented exits."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from skimage import data


def lookalike(*args: str, stdin: bytes | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture
def library(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name, arr in (("cat", data.chelsea()), ("cup", data.coffee()), ("man", data.astronaut())):
        img = Image.fromarray(arr)
        img.save(lib / f"{name}.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=80)
        img.transpose(Image.Transpose.ROTATE_90).save(lib / f"{name}-turned.png")
    shutil.copy(lib / "cat.jpg", lib / "cat-copy.jpg")
    (lib / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    return lib


def test_json_output_schema_and_exit_code(library, tmp_path):
    r = lookalike("scan", "--no-ui", str(library), "--db", str(tmp_path / "c.db"), "--workers", "1")
    assert r.returncode == 3, r.stderr.decode()  # one unreadable file
    doc = json.loads(r.stdout)
    assert doc["version"] == 1
    assert len(doc["groups"]) == 3
    for g in doc["groups"]:
        assert g["tier"] in ("exact", "same")
        assert os.path.isabs(g["keep"])
        assert g["reason"]
        for f in g["files"]:
            assert {"path", "size", "width", "height", "format", "score"} <= set(f)
    cat = next(g for g in doc["groups"] if any("cat.jpg" in f["path"] for f in g["files"]))
    assert len(cat["files"]) == 4
    assert [e["path"] for e in doc["errors"]] == [str(library / "broken.jpg")]
    assert "broken.jpg" in r.stderr.decode()
    assert doc["stats"]["groups"] == 3


def test_only_exact_copies_with_exact_only(library, tmp_path):
    r = lookalike("scan", "--no-ui", str(library), "--exact-only", "--db", str(tmp_path / "c.db"))
    doc = json.loads(r.stdout)
    assert [g["tier"] for g in doc["groups"]] == ["exact"]


def test_csv_text_and_jsonl(library, tmp_path):
    db = str(tmp_path / "c.db")
    r = lookalike("scan", "--no-ui", str(library), "--db", db, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert len(rows) == 10
    assert sum(int(row["keep"]) for row in rows) == 3
    r = lookalike("scan", "--no-ui", str(library), "--db", db, "--format", "text")
    assert "Group 1" in r.stdout.decode() and "reason:" in r.stdout.decode()
    r = lookalike("scan", "--no-ui", str(library), "--db", db, "--format", "jsonl")
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("group") == 3 and "error" in kinds and "progress" in kinds


def test_files_from_stdin_nul_separated_and_output_file(library, tmp_path):
    paths = b"\0".join(os.fsencode(p) for p in sorted(library.glob("cat*")))
    out = tmp_path / "groups.json"
    r = lookalike(
        "scan",
        "--no-ui",
        "--files-from",
        "-",
        "-0",
        "-o",
        str(out),
        "--db",
        str(tmp_path / "c.db"),
        stdin=paths,
    )
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b""
    doc = json.loads(out.read_text())
    assert len(doc["groups"]) == 1 and len(doc["groups"][0]["files"]) == 4


def test_filters_and_link_dir(library, tmp_path):
    links = tmp_path / "links"
    r = lookalike(
        "scan",
        "--no-ui",
        str(library),
        "--exclude",
        "*-turned.png",
        "--db",
        str(tmp_path / "c.db"),
        "--link-dir",
        str(links),
    )
    doc = json.loads(r.stdout)
    assert all(not f["path"].endswith("-turned.png") for g in doc["groups"] for f in g["files"])
    folders = sorted(p.name for p in links.iterdir())
    assert len(folders) == len(doc["groups"])
    first = links / folders[0]
    assert any(p.name.startswith("keep--") for p in first.iterdir())
    assert all(p.is_symlink() and p.resolve().exists() for p in first.iterdir())


def test_sensitivity_100_keeps_only_resized_copies(library, tmp_path):
    r = lookalike(
        "scan", "--no-ui", str(library), "--sensitivity", "100", "--db", str(tmp_path / "c.db")
    )
    doc = json.loads(r.stdout)
    assert doc["groups"], "resized copies still match at 100"


def test_usage_errors_are_clear(tmp_path):
    r = lookalike("scan", "--no-ui")
    assert r.returncode == 2 and b"PATH" in r.stderr
    r = lookalike("scan", "--no-ui", str(tmp_path), "--keep-rule", "biggest-smile")
    assert r.returncode == 2 and b"unknown rule" in r.stderr
    r = lookalike("scan", "--no-ui", str(tmp_path / "nope"), "--db", str(tmp_path / "c.db"))
    assert r.returncode == 2 and b"no such file or folder" in r.stderr  # usage, not exit 3
    assert b"Traceback" not in r.stderr


def test_help_is_complete():
    r = lookalike("--help")
    assert r.returncode == 0
    for cmd in (b"scan",):
        assert cmd in r.stdout
    r = lookalike("scan", "--help")
    for opt in (
        b"--files-from",
        b"--include",
        b"--exclude",
        b"--min-size",
        b"--follow-symlinks",
        b"--one-file-system",
        b"--workers",
        b"--db",
        b"--format",
        b"--output",
        b"--link-dir",
        b"--sensitivity",
        b"--keep-rule",
        b"--reference",
        b"Exit codes",
    ):
        assert opt in r.stdout, opt


def test_kill_9_mid_scan_then_resume(tmp_path):
    lib = tmp_path / "many"
    lib.mkdir()
    base = Image.fromarray(data.astronaut())
    for i in range(60):
        base.rotate(i * 3, expand=False).save(lib / f"p{i:03d}.jpg", quality=90)
    db = tmp_path / "c.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lookalike",
            "scan",
            "--no-ui",
            str(lib),
            "--db",
            str(db),
            "--workers",
            "1",
            "--format",
            "jsonl",
            "--progress",
            "none",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        ev = json.loads(line)
        if ev["event"] == "progress" and ev["stage"] == "extract":
            seen = ev["done"]
            if seen >= 10:
                break
    time.sleep(0.6)  # let one batch commit
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen >= 10
    r = lookalike("scan", "--no-ui", str(lib), "--db", str(db), "--workers", "1")
    assert r.returncode == 0, r.stderr.decode()
    stats = json.loads(r.stdout)["stats"]
    assert stats["images_decoded"] < 60  # resumed: what was committed was not decoded again
    assert stats["files_seen"] == 60


def test_scan_action_quarantine_then_undo_restores_every_file(library, tmp_path):
    before = {p.name: p.read_bytes() for p in library.iterdir()}
    r = lookalike(
        "scan",
        "--no-ui",
        str(library),
        "--db",
        str(tmp_path / "c.db"),
        "--action",
        "quarantine",
        "--yes",
        "--reference",
        str(library),
    )
    # everything is under the reference folder: nothing may be acted on
    assert {p.name for p in library.iterdir()} == set(before)
    r = lookalike(
        "scan",
        "--no-ui",
        str(library),
        "--db",
        str(tmp_path / "c.db"),
        "--action",
        "quarantine",
        "--yes",
        "-o",
        str(tmp_path / "g.json"),
    )
    assert r.returncode == 3, r.stderr.decode()  # broken.jpg is still reported
    groups = json.loads((tmp_path / "g.json").read_text())["groups"]
    keepers = {os.path.basename(g["keep"]) for g in groups}
    left = {p.name for p in library.iterdir()}
    assert keepers <= left
    assert len(left) == len(before) - sum(len(g["files"]) - 1 for g in groups)
    r = lookalike("undo", "--yes")
    assert r.returncode == 0, r.stderr.decode()
    assert {p.name: p.read_bytes() for p in library.iterdir()} == before


def test_keep_rules_from_config_and_per_directory_overrides(library, tmp_path):
    from lookalike import config

    sub = library / "phone"
    sub.mkdir()
    for name in ("cup.jpg", "cup-small.jpg"):
        shutil.copy(library / name, sub / f"p-{name}")
    config.save_config({"rules": {"keep": ["smallest"], "overrides": {str(sub): ["resolution"]}}})
    r = lookalike("scan", "--no-ui", str(library), "--db", str(tmp_path / "c.db"))
    doc = json.loads(r.stdout)
    cat = next(g for g in doc["groups"] if any("cat.jpg" in f["path"] for f in g["files"]))
    assert cat["keep"].endswith("cat-small.jpg")
    assert cat["reason"].startswith("smallest file")
    r = lookalike("scan", "--no-ui", str(sub), "--db", str(tmp_path / "d.db"))
    (phone,) = json.loads(r.stdout)["groups"]
    assert phone["keep"].endswith("p-cup.jpg")
    assert f"(rules for {sub})" in phone["reason"]
    # the command line still wins over the config
    r = lookalike(
        "scan", "--no-ui", str(library), "--db", str(tmp_path / "c.db"), "--keep-rule", "resolution"
    )
    doc = json.loads(r.stdout)
    cat = next(g for g in doc["groups"] if any("cat.jpg" in f["path"] for f in g["files"]))
    assert cat["keep"].endswith(("cat.jpg", "cat-copy.jpg", "cat-turned.png"))
    config.save_config({"rules": {"keep": ["biggest-smile"]}})
    r = lookalike("scan", "--no-ui", str(library), "--db", str(tmp_path / "c.db"))
    assert r.returncode == 2 and b"biggest-smile" in r.stderr
