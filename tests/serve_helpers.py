"""Shared by the job API tests: a small real-photo library and an SSE reader."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from PIL import Image
from skimage import data


def make_library(root: Path) -> Path:
    """Three real photos, an exact copy, a half-size re-encode, and a look-alike (hard
    negative): the two motorcycle shots are different photos and must stay apart."""
    lib = root / "lib"
    lib.mkdir(parents=True)
    for name, arr in (("cat", data.chelsea()), ("cup", data.coffee()), ("man", data.astronaut())):
        img = Image.fromarray(arr)
        img.save(lib / f"{name}.jpg", quality=92)
    Image.open(lib / "cup.jpg").resize((200, 150)).save(lib / "cup-small.jpg", quality=80)
    shutil.copy(lib / "cat.jpg", lib / "cat-copy.jpg")
    Image.fromarray(data.stereo_motorcycle()[0]).save(lib / "moto-left.jpg", quality=90)
    Image.fromarray(data.stereo_motorcycle()[1]).save(lib / "moto-right.jpg", quality=90)
    return lib


def make_folders(root: Path) -> Path:
    """Real photos in two folders: an exact copy (alpha), a re-encode (beta), an exact copy
    of a third photo (beta), and two different shots of one scene (hard negative)."""
    lib = root / "lib"
    (lib / "alpha").mkdir(parents=True)
    (lib / "beta").mkdir()
    Image.fromarray(data.chelsea()).save(lib / "alpha" / "cat.jpg", quality=92)
    shutil.copy(lib / "alpha" / "cat.jpg", lib / "alpha" / "cat-copy.jpg")
    Image.fromarray(data.coffee()).save(lib / "beta" / "cup.jpg", quality=92)
    Image.open(lib / "beta" / "cup.jpg").resize((200, 150)).save(lib / "beta" / "cup-small.jpg")
    Image.fromarray(data.astronaut()).save(lib / "beta" / "man.jpg", quality=90)
    shutil.copy(lib / "beta" / "man.jpg", lib / "beta" / "man-copy.jpg")
    Image.fromarray(data.stereo_motorcycle()[0]).save(lib / "moto-left.jpg", quality=90)
    Image.fromarray(data.stereo_motorcycle()[1]).save(lib / "moto-right.jpg", quality=90)
    return lib


def sse_events(lines) -> list[tuple[int, dict]]:
    """(id, data) of each Server-Sent Event in an iterator of text lines."""
    out: list[tuple[int, dict]] = []
    ident = None
    for line in lines:
        if line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("data: "):
            out.append((ident, json.loads(line[6:])))
    return out


def snapshot(folder: Path) -> dict[bytes, bytes]:
    """Name (bytes) → content of every file in ``folder``."""
    return {os.fsencode(p.name): p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


class Server:
    """``python -m lookalike serve … --port 0`` and the URL it printed."""

    def __init__(self, tmp: Path, lib: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lookalike", "serve", "--root", str(lib), "--port", "0",
             "--db", str(tmp / "cat.db"), "--state-dir", str(tmp / "state"), "--workers", "1",
             *extra],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        seen = ""
        for _ in range(50):  # a notice (an interrupted batch …) may come before the banner
            line = self.proc.stderr.readline()
            seen += line
            m = re.search(r"serving (http://127\.0\.0\.1:\d+)/", line)
            if m or not line:
                break
        assert m, seen + self.proc.stderr.read()
        self.url = m.group(1)
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # never blocks

    def client(self, **kw):
        import httpx

        return httpx.Client(base_url=self.url, timeout=120, **kw)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


def counted(port) -> Counter:
    """Thumbnail requests an app's ``RemotePort`` sends, by key."""
    asked: Counter = Counter()

    def hook(request) -> None:
        if request.url.path.startswith("/thumbs/"):
            asked[request.url.path.rsplit("/", 1)[-1]] += 1

    port.http.event_hooks = {"request": [hook], "response": []}
    return asked
