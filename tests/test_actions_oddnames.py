"""Odd file names through the real CLI: scan → plan → apply → undo → redo → undo for every
operation, with names that are not UTF-8, hold a newline, start with a dash, are 255 bytes
long, differ only by Unicode normalisation, or sit ~3,100 bytes deep. Every step must exit 0,
print without crashing, keep the exact bytes of every name (journal, .trashinfo, plan JSON,
history JSON) and end with the tree exactly as it was.

The commands run in-process through click (the same ``lookalike`` group the console script
runs) to keep the file fast; one round per file goes through a real ``lookalike`` process so
the real stdout encoding is exercised too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lookalike.engine import actions as A
from lookalike.engine.actions import trash

ODD = [
    b"bad\xff\xfename.jpg",  # not UTF-8
    b"new\nline.jpg",
    b"-leading-dash.jpg",
    b"a" * 251 + b".jpg",  # 255 bytes: NAME_MAX
    b"with space.jpg",
    "caf\u00e9.jpg".encode(),  # NFC
    "cafe\u0301.jpg".encode(),  # NFD: another name for the eye, another file for the disk
]
KEEP = b"keep.jpg"


@pytest.fixture(scope="module")
def photo() -> bytes:
    import io

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((96, 96)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, sub in (
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_CACHE_HOME", "xdg-cache"),
        ("XDG_CONFIG_HOME", "xdg-config"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("LOOKALIKE_DATA_DIR", "LOOKALIKE_CONFIG_DIR", "LOOKALIKE_JOURNAL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    return tmp_path


def make_corpus(root: bytes, photo: bytes) -> list[bytes]:
    """The keeper (oldest) plus one exact copy under every odd name and one very deep."""
    os.makedirs(root)
    keep = os.path.join(root, KEEP)
    with open(keep, "wb") as fh:
        fh.write(photo)
    os.utime(keep, (1_000_000_000, 1_000_000_000))  # the oldest: always the keeper
    deep = root
    while len(deep) < 3100:
        deep = os.path.join(deep, b"d" * 240)
    os.makedirs(deep)
    dups = [os.path.join(root, n) for n in ODD] + [os.path.join(deep, b"deep.jpg")]
    for p in dups:
        with open(p, "wb") as fh:
            fh.write(photo)
    assert len(dups[-1]) > 3000
    return dups


def snapshot(root: bytes) -> dict[bytes, tuple[str, bytes]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                out[os.path.relpath(p, root)] = ("link", os.fsencode(os.readlink(p)))
            else:
                with open(p, "rb") as fh:
                    kind = "file" if os.fstat(fh.fileno()).st_nlink == 1 else "hardlinked"
                    out[os.path.relpath(p, root)] = (kind, fh.read())
    return out


def lookalike(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    from lookalike.cli import main

    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code in ok, (args, r.exit_code, r.stdout, r.stderr)
    return r.stdout


def history_items(batch: str) -> list[dict]:
    return json.loads(lookalike("history", batch, "--format", "json"))


def check_applied(op: str, items: list[dict], dups: list[bytes], keep: bytes) -> None:
    """The operation really happened to every odd name (paths compared as bytes)."""
    assert sorted(os.fsencode(i["source"]) for i in items) == sorted(dups), op
    assert all(i["state"] == "done" for i in items), items
    kst = os.stat(keep)
    for i in items:
        src, dest = os.fsencode(i["source"]), i["dest"] and os.fsencode(i["dest"])
        if op in ("trash", "quarantine", "move", "delete"):
            assert not os.path.lexists(src), (op, src)
        if op in ("quarantine", "move", "copy", "trash"):
            assert os.path.isfile(dest), (op, dest)
        if op == "trash":
            info = trash.info_path_for(os.fsdecode(dest))
            assert trash.read_info(info)[0] == os.fsdecode(src)  # Path= unquotes to the bytes
        if op == "hardlink":
            assert os.lstat(src).st_ino == kst.st_ino
        if op == "symlink":
            assert os.readlink(src) == os.fsencode(i["keeper"]) == keep
        if op == "shrink":
            assert os.path.isfile(dest) and os.path.getsize(dest) < os.path.getsize(src)
        if op == "shrink-replace":
            assert os.path.isfile(src) and os.path.isfile(dest)  # smaller file; original kept


OPS = [
    ("trash", []),
    ("quarantine", []),
    ("move:{out}", []),
    ("copy:{out}", []),
    ("hardlink", []),
    ("symlink", []),
    ("shrink", ["--quality", "30"]),
    ("shrink-replace", ["--quality", "30", "--shrink-replace"]),
]


@pytest.mark.parametrize("op,extra", OPS, ids=[o for o, _ in OPS])
def test_odd_names_round_trip_every_operation(
    env: Path, photo: bytes, op: str, extra: list[str]
) -> None:
    root = os.path.join(os.fsencode(env), b"pics")
    dups = make_corpus(root, photo)
    keep = os.path.join(root, KEEP)
    before = snapshot(root)
    action = "shrink" if op == "shrink-replace" else op.format(out=env / "out")
    plan = env / "plan.json"
    lookalike(
        "scan", "--no-ui", os.fsdecode(root), "--exact-only", "--workers", "1",
        "--action", action, *extra, "--plan-out", str(plan),
    )  # fmt: skip
    planned = json.loads(plan.read_text())  # ASCII JSON: \udcNN escapes, lossless
    assert sorted(os.fsencode(i["source"]) for i in planned["items"]) == sorted(dups)
    assert {os.fsencode(i["keeper"]) for i in planned["items"]} == {keep}
    assert "pics/" in lookalike("apply", str(plan), "--dry-run")  # the text preview prints

    out = lookalike("apply", str(plan), "--yes")
    batch = out.split()[1].rstrip(":")
    check_applied(op.split(":")[0], history_items(batch), dups, keep)
    text = lookalike("history", batch)
    assert "bad\\xff\\xfename.jpg" in text and "new\\nline.jpg" in text  # one line per file
    assert len(text.splitlines()) == len(dups)

    lookalike("undo", "--yes")
    assert snapshot(root) == before, op
    out = lookalike("redo", "--yes")
    redone = out.split()[1].rstrip(":")
    check_applied(op.split(":")[0], history_items(redone), dups, keep)
    lookalike("undo", "--yes")
    assert snapshot(root) == before, op
    lookalike("undo", "--yes", ok=(6,))  # nothing left: the documented code

    # nothing left behind: no temp names, no copies, no orphan .trashinfo
    assert not [p for p in (env / "out").rglob("*") if p.is_file()]
    info_dir = env / "xdg-data" / "Trash" / "info"
    assert not (info_dir.exists() and list(info_dir.iterdir()))
    lookalike("stats")
    lookalike("quarantine", "list")


def _on_a_pty(args: list[str], answer: str, prompt: bytes) -> tuple[int, bytes]:
    """Run ``lookalike ARGS`` with a fresh pty as its controlling terminal; type ``answer``
    once ``prompt`` shows. Returns (exit code, everything the terminal showed)."""
    import fcntl
    import select
    import termios

    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from lookalike.cli import run; run()", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb"},
    )
    os.close(slave)
    seen, typed = b"", False
    while True:
        ready, _, _ = select.select([master], [], [], 240)  # a guard, not a timing assumption
        if not ready:
            proc.kill()
            pytest.fail(f"the terminal went quiet; it showed:\n{seen!r}")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the process closed its side
            chunk = b""
        if not chunk:
            break
        seen += chunk
        if not typed and prompt in seen:
            os.write(master, answer.encode() + b"\r")
            typed = True
    os.close(master)
    return proc.wait(timeout=240), seen


def test_odd_names_delete_applies(env: Path, photo: bytes) -> None:
    """delete is apply-only: a real `lookalike apply PLAN --permanently` on a terminal, with
    the typed confirmation typed into it."""
    root = os.path.join(os.fsencode(env), b"pics")
    dups = make_corpus(root, photo)
    plan = env / "plan.json"
    lookalike(
        "scan", "--no-ui", os.fsdecode(root), "--exact-only", "--workers", "1",
        "--action", "delete", "--permanently", "--plan-out", str(plan),
    )  # fmt: skip
    expected = f"delete {len(dups)} files"
    code, seen = _on_a_pty(["apply", str(plan), "--permanently"], expected, b"to go on:")
    assert code == 0, seen.decode(errors="replace")
    assert expected.encode() in seen
    batch = seen.split(b"batch ")[1].split(b":")[0].decode()
    items = history_items(batch)
    assert sorted(os.fsencode(i["source"]) for i in items) == sorted(dups)
    assert all(i["state"] == "done" for i in items)
    assert not any(os.path.lexists(p) for p in dups)
    assert os.path.isfile(os.path.join(root, KEEP))
    assert "bad\\xff\\xfename.jpg" in lookalike("history", batch)
    lookalike("undo", "--yes", ok=(6,))  # a delete cannot be undone: nothing to undo


def test_odd_names_through_a_real_process(env: Path, photo: bytes) -> None:
    """The console script itself (real argv, real stdout encoding): trash, history, undo."""
    root = os.path.join(os.fsencode(env), b"pics")
    make_corpus(root, photo)
    before = snapshot(root)
    exe = [sys.executable, "-c", "from lookalike.cli import run; run()"]

    def run(*args: str | bytes) -> subprocess.CompletedProcess:
        r = subprocess.run([*exe, *args], capture_output=True, env=os.environ, timeout=300)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    run("scan", "--no-ui", root, "--exact-only", "--workers", "1", "--action", "trash", "--yes")
    hist = run("history").stdout.decode()
    batch = hist.split()[0]
    listing = run("history", batch).stdout.decode()
    assert "bad\\xff\\xfename.jpg" in listing
    run("undo", "--yes")
    assert snapshot(root) == before


def test_odd_names_export_folder_and_zip(env: Path, photo: bytes) -> None:
    """Export keeps every odd name: exact bytes in a folder, an escaped form in a ZIP."""
    import zipfile

    root = os.path.join(os.fsencode(env), b"pics")
    dups = make_corpus(root, photo)
    groups = env / "groups.json"
    lookalike(
        "scan", "--no-ui", os.fsdecode(root), "--exact-only", "--workers", "1",
        "--format", "json", "-o", str(groups),
    )  # fmt: skip
    out = env / "out"
    assert "exported 9 file(s)" in lookalike("export", str(out), "--groups", str(groups))
    got = snapshot(os.fsencode(out))
    assert {os.path.join(root, k) for k in got} == {*dups, os.path.join(root, KEEP)}
    assert all(v == ("file", photo) for v in got.values())
    lookalike("export", str(env / "kept.zip"), "--zip", "--groups", str(groups))
    with zipfile.ZipFile(env / "kept.zip") as zf:
        names = zf.namelist()
        assert len(names) == 9 and "bad\\xff\\xfename.jpg" in names
        assert all(zf.read(n) == photo for n in names)


def test_odd_names_quarantine_list_and_empty(env: Path, photo: bytes) -> None:
    """`quarantine list` prints every odd name on one line; `quarantine empty` (confirmation
    typed on a real terminal) re-checks and deletes each of them; the keeper stays."""
    root = os.path.join(os.fsencode(env), b"pics")
    dups = make_corpus(root, photo)
    lookalike(
        "scan", "--no-ui", os.fsdecode(root), "--exact-only", "--workers", "1",
        "--action", "quarantine", "--yes",
    )  # fmt: skip
    listing = lookalike("quarantine", "list")
    assert len(listing.splitlines()) == len(dups)
    assert "bad\\xff\\xfename.jpg" in listing and "new\\nline.jpg" in listing
    listed = json.loads(lookalike("quarantine", "list", "--format", "json"))
    assert sorted(os.fsencode(r["source"]) for r in listed) == sorted(dups)
    code, seen = _on_a_pty(["quarantine", "empty"], f"empty {len(dups)} files", b"Type '")
    assert code == 0, seen.decode(errors="replace")
    assert f"deleted {len(dups)} file(s)".encode() in seen
    assert not any(os.path.lexists(os.fsencode(r["dest"])) for r in listed)
    with open(os.path.join(root, KEEP), "rb") as fh:
        assert fh.read() == photo


def test_interrupted_batch_with_odd_names_is_reported(env: Path, photo: bytes) -> None:
    """The crash report at the start of any command prints odd names escaped, one per line."""
    from lookalike.engine.actions import journal as jn

    root = os.path.join(os.fsencode(env), b"pics")
    dups = make_corpus(root, photo)
    plan = env / "plan.json"
    lookalike(
        "scan", "--no-ui", os.fsdecode(root), "--exact-only", "--workers", "1",
        "--action", "trash", "--plan-out", str(plan),
    )  # fmt: skip
    p = A.load_plan(plan)
    with A.Journal() as j:  # as a SIGKILL right after the intents were written leaves it
        j.begin_batch(p.id, "trash", [i.to_json() for i in p.items])
        for i in p.items:
            j.set_item(p.id, i.seq, jn.STARTED, detail={"info": None, "topdir": None})
    from lookalike.cli import main

    r = CliRunner().invoke(main, ["history"])
    assert r.exit_code == 0, r.stderr
    assert "was interrupted during apply" in r.stderr
    assert "bad\\xff\\xfename.jpg" in r.stderr and "new\\nline.jpg" in r.stderr
    assert all(os.path.exists(d) for d in dups)
