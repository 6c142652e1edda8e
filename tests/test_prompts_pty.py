"""Confirmation prompts typed into a real terminal: each command runs with a pty as its
controlling terminal (``/dev/tty``), and the test types the answer once the prompt shows."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from PIL import Image
from skimage import data


def _make_controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A lookalike process on a fresh pty; ``expect`` reads until text appears."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lookalike", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_make_controlling_tty,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb"},
        )
        os.close(slave)
        self.seen = b""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is closed
            return False
        self.seen += chunk
        return bool(chunk)

    def expect(self, text: str, limit: float = 240) -> None:
        # a safety limit against a hung child, not a timing assumption
        while text.encode() not in self.seen:
            if not self._read(limit):
                pytest.fail(f"never saw {text!r}; got:\n{self.seen.decode(errors='replace')}")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def finish(self) -> int:
        while self._read(240):
            pass
        code = self.proc.wait(timeout=240)
        os.close(self.master)
        return code


@pytest.fixture
def twins(tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir()
    Image.fromarray(data.chelsea()).save(lib / "cat.jpg", quality=90)
    (lib / "cat-copy.jpg").write_bytes((lib / "cat.jpg").read_bytes())
    os.utime(lib / "cat-copy.jpg", ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    return lib


def test_typed_confirmation_deletes_permanently(twins, tmp_path):
    t = Terminal(
        "scan", "--no-ui", str(twins), "--db", str(tmp_path / "c.db"), "--progress", "none",
        "--action", "delete", "--permanently",
    )  # fmt: skip
    t.expect("Type 'delete 1 files' to go on: ")
    t.type("delete 1 files")
    code = t.finish()
    assert code == 0, t.seen.decode(errors="replace")
    assert (twins / "cat.jpg").exists()  # the keeper (older file)
    assert not (twins / "cat-copy.jpg").exists()


def test_wrong_confirmation_deletes_nothing(twins, tmp_path):
    t = Terminal(
        "scan", "--no-ui", str(twins), "--db", str(tmp_path / "c.db"), "--progress", "none",
        "--action", "delete", "--permanently",
    )  # fmt: skip
    t.expect("to go on: ")
    t.type("yes")
    assert t.finish() == 3
    assert b"confirmation did not match; nothing was deleted" in t.seen
    assert (twins / "cat.jpg").exists() and (twins / "cat-copy.jpg").exists()


def test_yes_no_prompt_of_undo(twins, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(twins), "--db",
         str(tmp_path / "c.db"), "--action", "trash", "--yes"],
        capture_output=True, timeout=240,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    assert not (twins / "cat-copy.jpg").exists()
    t = Terminal("undo")
    t.expect("(trash, 1 file(s))? [y/N] ")
    t.type("y")
    assert t.finish() == 0, t.seen.decode(errors="replace")
    assert (twins / "cat-copy.jpg").exists()


def test_lock_clear_asks_for_the_passphrase_on_the_terminal(tmp_path):
    from lookalike.engine.actions import lock as passlock

    passlock.set_passphrase("open sesame")
    t = Terminal("lock", "clear")
    t.expect("passphrase: ")
    t.type("wrong one")
    assert t.finish() == 3
    assert passlock.configured() is not None
    t = Terminal("lock", "clear")
    t.expect("passphrase: ")
    t.type("open sesame")
    assert t.finish() == 0, t.seen.decode(errors="replace")
    assert passlock.configured() is None
