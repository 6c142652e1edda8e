"""Every command an error message suggests works: each error path below is triggered for real,
the commands in its message are collected (the text after "with: ", "again: ", "first: " …
that starts with `lookalike` or `mv`), their placeholders filled in, and then they are run.
A hint is followed the way a user would: when it answers "add --yes", --yes is added."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

HINT = re.compile(r":\s+((?:lookalike|mv) [^;\n()]+?)\s*(?=$|[;\n()]|, or |\. )")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        capture_output=True,
        timeout=300,
        cwd=cwd,
    )


def hints(stderr: bytes) -> list[str]:
    return [m.group(1).strip().rstrip(".") for m in HINT.finditer(stderr.decode())]


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    lib = tmp_path / "lib"
    lib.mkdir()
    Image.fromarray(data.chelsea()).save(lib / "cat.jpg", quality=90)
    (lib / "cat-copy.jpg").write_bytes((lib / "cat.jpg").read_bytes())
    os.utime(lib / "cat-copy.jpg", ns=(2_000_000_000_000_000_000,) * 2)
    return {"PATH": str(lib), "OP": "trash", "PLAN.json": str(tmp_path / "plan.json")}


def follow(hint: str, fill: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run a suggested command (placeholders filled) like a user at a shell would."""
    words = [fill.get(w, w) for w in shlex.split(hint)]
    if words[0] == "mv":
        return subprocess.run(words, capture_output=True, cwd=cwd, timeout=60)
    r = run(*words[1:], cwd=cwd)
    if r.returncode == 3 and b"add --yes" in r.stderr:
        r = run(*words[1:], "--yes", cwd=cwd)
    return r


def check_all(
    stderr: bytes, fill: dict[str, str], cwd: Path, expect: int
) -> list[tuple[str, subprocess.CompletedProcess]]:
    """Follow every hint in ``stderr`` (at least ``expect`` of them); each must succeed."""
    found = hints(stderr)
    assert len(found) >= expect, stderr.decode()
    done = []
    for h in found:
        r = follow(h, fill, cwd)
        assert r.returncode == 0, f"hint {h!r} failed ({r.returncode}): {r.stderr.decode()}"
        done.append((h, r))
    return done


def test_hints_of_scan_and_action_paths_work(world, tmp_path):
    db = str(tmp_path / "cache" / "catalog.sqlite")
    lib = world["PATH"]

    # a plan written with --plan-out: "carry it out with: lookalike apply PLAN"
    r = run(
        "scan", "--no-ui", lib, "--db", db, "--action", "trash", "--plan-out", world["PLAN.json"]
    )
    assert r.returncode == 0, r.stderr.decode()
    [(hint, applied)] = check_all(r.stderr, world, tmp_path, 1)
    assert hint == f"lookalike apply {world['PLAN.json']}"
    assert not Path(lib, "cat-copy.jpg").exists()

    # applying says "undo with: lookalike undo BATCH"
    [(hint, _)] = check_all(applied.stderr, world, tmp_path, 1)
    assert hint.startswith("lookalike undo ")
    assert Path(lib, "cat-copy.jpg").exists()

    # a file that is not a plan: "make one with: lookalike scan --no-ui PATH --action OP …"
    Path(world["PLAN.json"]).unlink()
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')
    r = run("apply", str(bogus))
    assert r.returncode == 2
    done = check_all(r.stderr, world, tmp_path, 1)
    assert any("--plan-out PLAN.json" in h for h, _ in done), r.stderr.decode()
    assert Path(world["PLAN.json"]).exists()


def test_hint_of_a_damaged_catalog_recovers(world, tmp_path):
    db = tmp_path / "c.db"
    assert run("scan", "--no-ui", world["PATH"], "--db", str(db)).returncode == 0
    db.write_bytes(db.read_bytes()[:4096] + os.urandom(8192) + db.read_bytes()[12288:])
    r = run("scan", "--no-ui", world["PATH"], "--db", str(db))
    assert r.returncode == 4
    assert [h.split()[0] for h, _ in check_all(r.stderr, world, tmp_path, 1)] == ["mv"]
    assert run("scan", "--no-ui", world["PATH"], "--db", str(db)).returncode == 0


def test_hint_of_a_bad_memory_budget_setting(world, tmp_path):
    from lookalike import config

    config.save_config({"scan": {"max_decode_mb": "lots"}})
    r = run("scan", "--no-ui", world["PATH"], "--db", str(tmp_path / "c.db"))
    assert r.returncode == 2
    [(hint, _)] = check_all(r.stderr, world, tmp_path, 1)
    assert hint == "lookalike config set scan.max_decode_mb 512"
    assert run("scan", "--no-ui", world["PATH"], "--db", str(tmp_path / "c.db")).returncode == 0


def test_hint_when_nothing_is_left_to_undo(world, tmp_path):
    r = run("undo", "--yes")
    assert r.returncode == 6
    assert b"lookalike history" in r.stderr
    assert run("history").returncode == 0
