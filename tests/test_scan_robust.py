"""Scan robustness: atomic -o, one scan per catalog (--wait), damaged catalogs, exit codes,
a closed stdout. Real subprocesses throughout; no test waits on a clock: each waits for a line
the other process prints, or for a pipe it does not drain."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def lookalike(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        capture_output=True,
        cwd=cwd,
        timeout=300,
        env=ENV,
    )


def popen(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lookalike", *args], env=ENV, **kw)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    lib = tmp_path / "photos"
    lib.mkdir()
    img = Image.fromarray(data.chelsea())
    img.save(lib / "cat.jpg", quality=90)
    (lib / "cat-copy.jpg").write_bytes((lib / "cat.jpg").read_bytes())
    img.resize((225, 150)).save(lib / "cat-small.png")
    return lib


@pytest.fixture
def noisy(tmp_path: Path) -> Path:
    """3000 empty .jpg files: each gives one `error` event, ~300 kB of JSON lines in all,
    far more than a pipe holds, so a scan whose stdout is not drained cannot finish."""
    lib = tmp_path / "noisy"
    lib.mkdir()
    for n in range(3000):
        (lib / f"empty-{n:04d}.jpg").touch()
    return lib


def test_output_file_replaced_only_at_the_end(photos, tmp_path):
    out = tmp_path / "groups.json"
    out.write_text("yesterday\n")
    out.chmod(0o640)
    r = lookalike("scan", "--no-ui", str(photos), "--db", str(tmp_path / "c.db"), "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(out.read_text())
    assert len(doc["groups"]) == 1 and len(doc["groups"][0]["files"]) == 3
    assert out.stat().st_mode & 0o777 == 0o640  # the user's permissions are kept
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_damaged_catalog_is_refused_untouched_and_the_hint_recovers(photos, tmp_path):
    db = tmp_path / "c.db"
    assert lookalike("scan", "--no-ui", str(photos), "--db", str(db)).returncode == 0
    raw = bytearray(db.read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 4096] = os.urandom(4096)  # garbage mid-file, header intact
    db.write_bytes(bytes(raw))
    before = sha(db)
    out = tmp_path / "groups.json"
    out.write_text("yesterday\n")

    r = lookalike("scan", "--no-ui", str(photos), "--db", str(db), "-o", str(out))
    err = r.stderr.decode()
    assert r.returncode == 4, err
    assert "damaged" in err and "internal error" not in err
    assert sha(db) == before  # never written
    assert out.read_text() == "yesterday\n"  # yesterday's results intact

    # the message ends with the command that recovers; run it as a shell would
    hint = err.strip().splitlines()[-1].split("scan again: ", 1)[1]
    assert shlex.split(hint)[0] == "mv"
    subprocess.run(hint, shell=True, check=True, cwd=tmp_path)
    assert (tmp_path / "c.db.bad").exists() and sha(tmp_path / "c.db.bad") == before
    r = lookalike("scan", "--no-ui", str(photos), "--db", str(db), "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    assert len(json.loads(out.read_text())["groups"]) == 1


def test_garbage_instead_of_a_catalog(photos, tmp_path):
    db = tmp_path / "c.db"
    db.write_bytes(b"this is not a database" * 500)
    before = sha(db)
    r = lookalike("scan", "--no-ui", str(photos), "--db", str(db))
    assert r.returncode == 4
    assert "damaged" in r.stderr.decode() and "mv " in r.stderr.decode()
    assert sha(db) == before


def test_two_concurrent_scans(noisy, photos, tmp_path):
    db = str(tmp_path / "c.db")
    out = tmp_path / "groups.json"
    out.write_text("yesterday\n")
    first = popen(
        "scan", "--no-ui", str(noisy), "--db", db, "--format", "jsonl",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert json.loads(first.stdout.readline())["event"] == "started"
        # `first` holds the catalog until its output is drained (far more than a pipe holds)

        second = lookalike("scan", "--no-ui", str(photos), "--db", db, "-o", str(out))
        err = second.stderr.decode()
        assert second.returncode == 5, err
        assert f"another scan is running on {db} (pid {first.pid})" in err
        assert "--wait" in err and "internal error" not in err
        assert out.read_text() == "yesterday\n"

        # --wait says so on stderr; Ctrl-C while waiting leaves the old results alone
        waiting = popen(
            "scan", "--no-ui", str(photos), "--db", db, "--wait", "-o", str(out),
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        line = waiting.stderr.readline().decode()
        assert "waiting for it to finish" in line and f"pid {first.pid}" in line
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(timeout=60) == 130
        assert out.read_text() == "yesterday\n"

        waiter = popen(
            "scan", "--no-ui", str(photos), "--db", db, "--wait", "-o", str(out),
            "--progress", "plain", stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert "waiting for it to finish" in waiter.stderr.readline().decode()
        first_out, _ = first.communicate(timeout=300)  # drain: the first scan can end now
        assert first.returncode == 3  # 3000 empty files
        assert first_out.decode().splitlines()[-1].startswith('{"event": "finished"')
        _, tail = waiter.communicate(timeout=300)
        assert waiter.returncode == 0, tail.decode()
        assert len(json.loads(out.read_text())["groups"]) == 1
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_missing_root_is_a_usage_error(photos, tmp_path):
    r = lookalike(
        "scan", "--no-ui", str(photos), str(tmp_path / "nope"), "--db", str(tmp_path / "c")
    )
    assert r.returncode == 2
    assert "nope: no such file or folder" in r.stderr.decode()
    assert not (tmp_path / "c").exists()


def test_closed_stdout_ends_quietly(noisy, tmp_path):
    p = popen(
        "scan", "--no-ui", str(noisy), "--db", str(tmp_path / "c.db"), "--format", "jsonl",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert json.loads(p.stdout.readline())["event"] == "started"
    p.stdout.close()  # like `| head -1`: ~300 kB are still to come
    _, err = p.communicate(timeout=300)
    err_text = err.decode()
    assert p.returncode == 141, err_text
    assert "Broken pipe" not in err_text and "lookalike: error" not in err_text
    assert "internal error" not in err_text and "Traceback" not in err_text


def test_no_write_transaction_is_held_while_the_scan_waits(photos, tmp_path, monkeypatch):
    """A scan paused at any event (a slow consumer, a blocked pipe) leaves the catalog free
    for other writers: the app's review saves never time out behind it."""
    from lookalike.engine import catalog_health
    from lookalike.engine.api import Engine
    from lookalike.engine.events import ItemError, StageProgress
    from lookalike.engine.options import ScanOptions

    for n in range(3):  # JPEG magic, garbage body: sniffed as images, fail in the decode
        (photos / f"broken-{n}.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    monkeypatch.setattr(catalog_health, "BUSY_TIMEOUT", 1.0)
    db = tmp_path / "c.db"
    engine = Engine(db)
    paused_at = []
    events = engine.scan_sync(ScanOptions(roots=(photos,), workers=1))
    for ev in events:
        if isinstance(ev, ItemError | StageProgress):
            stage = ev.stage if isinstance(ev, StageProgress) else "error"
            engine.save_state(f"saved-during-{stage}-{len(paused_at)}", 1)  # fails if locked
            paused_at.append(stage)
    assert "error" in paused_at  # paused inside the decode stage at least once
    for n, stage in enumerate(paused_at):
        assert engine.load_state(f"saved-during-{stage}-{n}") == 1


def test_catalog_check_handles_any_file_name(tmp_path):
    """The read-only check opens the catalog by URI: names with bytes that are not UTF-8,
    '?', '#' or '%' must reach the same file."""
    from lookalike.engine import catalog as catalog_mod

    path = Path(os.fsdecode(os.fsencode(str(tmp_path)) + b"/odd \xff name?#%.sqlite"))
    with catalog_mod.Catalog(path) as cat:
        cat.set_state("k", 1)
    catalog_mod._CHECKED.clear()
    with catalog_mod.Catalog(path) as cat:
        assert cat.get_state("k") == 1
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 :] = os.urandom(len(raw) - len(raw) // 2)
    path.write_bytes(bytes(raw))
    catalog_mod._CHECKED.clear()
    with pytest.raises(catalog_mod.CatalogDamaged):
        catalog_mod.Catalog(path)
    assert path.read_bytes() == bytes(raw)
