"""End to end: the real app (``python -m lookalike PATH``) in a detached tmux session.

Scan a small folder of real photos, review a group, change the keeper, apply to quarantine,
check the filesystem, undo from history, check again. Each step waits for text on the screen
(capture-pane), never for a fixed time, so a slow machine only makes it slower.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

if shutil.which("tmux") is None:
    pytest.skip("tmux is not installed (.ci/run installs it)", allow_module_level=True)
pytest.importorskip("skimage", reason="scikit-image (test extra) makes the sample photos")
try:
    import lookalike.engine.actions  # noqa: F401
    import lookalike.engine.pipeline  # noqa: F401
except ImportError as exc:  # pragma: no cover - only while the engine is being written
    pytest.skip(f"the real engine is not available: {exc}", allow_module_level=True)

WIDTH, HEIGHT = 160, 45


def make_photos(root: Path) -> None:
    from PIL import Image
    from skimage import data

    (root / "copies").mkdir(parents=True)
    for name in ("astronaut", "coffee", "chelsea"):
        im = Image.fromarray(getattr(data, name)()).convert("RGB")
        im.save(root / f"{name}.jpg", quality=92)
        small = im.resize((im.width // 2, im.height // 2))
        small.save(root / "copies" / f"{name}_small.jpg", quality=90)
    im = Image.fromarray(data.astronaut()).convert("RGB")
    im.rotate(90, expand=True).save(root / "copies" / "astronaut_rot.jpg", quality=90)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class Tmux:
    def __init__(self, socket: str, session: str) -> None:
        self.base = ["tmux", "-L", socket]
        self.session = session

    def run(self, *args: str) -> str:
        out = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=30)
        return out.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", self.session, key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.15)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def wait_for(self, *needles: str, timeout: float = 60.0) -> str:
        end = time.monotonic() + timeout
        text = ""
        while time.monotonic() < end:
            text = self.screen()
            if all(n in text for n in needles):
                return text
            time.sleep(0.2)
        raise AssertionError(f"never saw {needles!r}; the screen was:\n{text}")


def start_app(tmp_path: Path, folder: Path, prefix: str) -> Tmux:
    """The real app on FOLDER in a detached tmux pane of WIDTH×HEIGHT, with its own config,
    cache and data dirs under TMP_PATH and half-cell graphics."""
    env = {
        "LOOKALIKE_CONFIG_DIR": str(tmp_path / "config"),
        "LOOKALIKE_CACHE_DIR": str(tmp_path / "cache"),
        "LOOKALIKE_DATA_DIR": str(tmp_path / "data"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "TERM": "xterm-256color",
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text('[ui]\ngraphics = "halfcell"\n')
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # COLUMNS/LINES inherited from the test runner would pin Textual to their size (it asks
    # shutil.get_terminal_size, which prefers them): unset them so the pane's size counts.
    command = (
        f"cd {shlex.quote(str(tmp_path))} && env -u COLUMNS -u LINES {assignments} "
        f"{shlex.quote(sys.executable)} -m lookalike {shlex.quote(str(folder))}; "
        "echo LOOKALIKE-EXITED; sleep 600"
    )
    tmux = Tmux(f"{prefix}-{uuid.uuid4().hex[:8]}", "e2e")
    tmux.run("new-session", "-d", "-s", "e2e", "-x", str(WIDTH), "-y", str(HEIGHT), command)
    # A detached session may ignore -x/-y (tmux >= 3.1 uses default-size): size it explicitly.
    tmux.run("resize-window", "-t", "e2e", "-x", str(WIDTH), "-y", str(HEIGHT))
    return tmux


@pytest.fixture
def app_in_tmux(tmp_path: Path):  # type: ignore[no-untyped-def]
    photos = tmp_path / "photos"
    make_photos(photos)
    tmux = start_app(tmp_path, photos, "lookalike-test")
    try:
        yield tmux, photos, tmp_path / "data"
    finally:
        tmux.run("kill-server")


def test_scan_review_apply_undo_in_tmux(app_in_tmux) -> None:  # type: ignore[no-untyped-def]
    tmux, photos, data_dir = app_in_tmux
    before = tree(photos)

    tmux.wait_for("Roots to scan", "graphics: halfcell", "s Start scan")
    tmux.keys("s")
    tmux.wait_for("Group 1/", "KEEP", timeout=180)  # scan done, review opened

    # Review: go to the astronaut group via search and make the rotated copy the keeper.
    tmux.keys("/")
    tmux.wait_for("Go to")
    tmux.type("astronaut_rot")
    tmux.keys("Enter")
    tmux.wait_for("file    astronaut_rot.jpg")
    tmux.keys("c")
    tmux.wait_for("changed")

    # Apply to quarantine, with the typed confirmation.
    tmux.keys("4")
    tmux.wait_for("Operation: trash")
    tmux.keys("o")
    tmux.wait_for("Operation: quarantine", "2 files in 1 groups")
    tmux.keys("a")
    tmux.wait_for("Type apply")
    tmux.type("apply")
    tmux.keys("Enter")
    tmux.wait_for("Done: batch", timeout=60)

    after = tree(photos)
    assert "astronaut.jpg" not in after and "copies/astronaut_small.jpg" not in after
    assert after["copies/astronaut_rot.jpg"] == before["copies/astronaut_rot.jpg"]
    assert {k: v for k, v in before.items() if "astronaut" not in k} == {
        k: v for k, v in after.items() if "astronaut" not in k
    }
    quarantined = {p.name: p for p in (data_dir / "quarantine").rglob("*.jpg")}
    assert set(quarantined) == {"astronaut.jpg", "astronaut_small.jpg"}
    assert (
        hashlib.sha256(quarantined["astronaut.jpg"].read_bytes()).hexdigest()
        == (before["astronaut.jpg"])
    )

    # Undo from history: everything is back, byte for byte.
    tmux.keys("6")
    tmux.wait_for("quarantine", "done")
    tmux.keys("u")
    tmux.wait_for("Undo batch")
    tmux.keys("y")
    tmux.wait_for("undone", timeout=60)
    assert tree(photos) == before

    # Redo (a new batch), then undo that one too.
    tmux.keys("r")
    tmux.wait_for("Redo batch")
    tmux.keys("y")
    tmux.wait_for("redone", timeout=60)
    assert "astronaut.jpg" not in tree(photos)
    tmux.keys("g")  # newest batch first: the redo is on top
    tmux.keys("u")
    tmux.wait_for("Undo batch")
    tmux.keys("y")
    end = time.monotonic() + 60
    while tree(photos) != before and time.monotonic() < end:
        time.sleep(0.2)
    assert tree(photos) == before

    tmux.keys("q")
    tmux.wait_for("LOOKALIKE-EXITED", timeout=30)


def test_compare_select_hardlink_undo_in_tmux(app_in_tmux) -> None:  # type: ignore[no-untyped-def]
    """scan → review → compare (difference) → select by criteria → apply as hardlinks → undo."""
    tmux, photos, _ = app_in_tmux
    for name in ("chelsea", "coffee"):  # byte-identical copies: links replace only those
        shutil.copyfile(photos / f"{name}.jpg", photos / "copies" / f"{name}_dup.jpg")
    before = tree(photos)

    tmux.wait_for("Roots to scan", "graphics: halfcell", "s Start scan")
    tmux.keys("s")
    tmux.wait_for("Group 1/", "KEEP", timeout=180)

    # Compare the keeper with the selected copy, then look at the difference.
    tmux.keys("l", "v")
    tmux.wait_for("Compare ·", "side by side", "px ·")
    tmux.keys("x")
    tmux.wait_for("differs:")
    tmux.keys("Escape")
    tmux.wait_for("Group ", "KEEP")

    # Select across every group: keep the highest resolution, remove the rest.
    tmux.keys("*")
    tmux.wait_for("Select across", "files to remove")
    tmux.keys("Enter")
    tmux.wait_for("Selected")

    # Apply as hard links (o cycles: quarantine, move and copy ask for a folder: Esc).
    tmux.keys("4")
    tmux.wait_for("Operation: trash")
    tmux.keys("o")
    tmux.wait_for("Operation: quarantine")
    for op in ("move", "copy"):
        tmux.keys("o")
        tmux.wait_for(f"Folder for {op}")
        tmux.keys("Escape")
        end = time.monotonic() + 30
        while "Folder for" in tmux.screen() and time.monotonic() < end:  # the prompt is gone
            time.sleep(0.1)
        tmux.wait_for(f"Operation: {op}")
    tmux.keys("o")
    # Only the byte-identical copies can become links; the re-encoded ones are refused.
    tmux.wait_for("Operation: hardlink", "2 files in", "links only")
    tmux.keys("a")
    tmux.wait_for("Type apply")
    tmux.type("apply")
    tmux.keys("Enter")
    tmux.wait_for("Done: batch", timeout=60)
    for name in ("chelsea", "coffee"):
        dup = photos / "copies" / f"{name}_dup.jpg"
        assert dup.stat().st_ino == (photos / f"{name}.jpg").stat().st_ino
    assert tree(photos) == before  # same names, same bytes: only the storage is shared

    # Undo from History: every file its own again, byte for byte.
    tmux.keys("6")
    tmux.wait_for("hardlink", "done")
    tmux.keys("u")
    tmux.wait_for("Undo batch")
    tmux.keys("y")
    tmux.wait_for("undone", timeout=60)
    assert tree(photos) == before
    assert all(p.stat().st_nlink == 1 for p in photos.rglob("*.jpg"))  # separate files again

    tmux.keys("q")
    tmux.wait_for("LOOKALIKE-EXITED", timeout=30)
