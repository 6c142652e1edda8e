"""The ``--server`` client's thumbnail cache (``lookalike locate cache``/remote-thumbs), kept
under a size cap.

Why: the app on a ``lookalike serve`` (ui/remote_port.py) fetches each server thumbnail once
and keeps it; a laptop that reviews a million-photo server for months would fill its disk,
and ``lookalike cache prune``'s sweep of ``thumbs/`` (engine/thumb_prune.py) never looks here.
The cap is ``ui.remote_thumbs_mb`` (config.toml, default ``DEFAULT_MB``). Least recently used
files go first: a fetch writes a file and a hit touches its time, so a file's mtime is its
last use. A trim runs at the port's start and every ``TRIM_EVERY`` fetches (in a thread of its
own, never on the app's event loop) and in ``lookalike cache prune``.

What a trim removes, never anything else: ``<xx>/<16 hex>.jpg|.webp`` files, oldest use
first, while the folder holds more than the cap, none used in the last ``grace`` seconds
(the app may be showing it); and a fetch's temporary file whose writer (the pid in its name)
is gone. Symlinks are neither followed nor removed; other names are left alone.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.engine.stale_temps import pid_alive

DEFAULT_MB = 1024  # the cap when config.toml sets none: ≈ 100 000 thumbnails
CONFIG_KEY = "ui.remote_thumbs_mb"
GRACE = 600.0  # seconds: a file used more recently is kept (the app may be showing it)
TRIM_EVERY = 2000  # fetches between two trims of a running port
KEY = re.compile(r"^[0-9a-f]{16}$")  # the server's thumbnail keys (serve/routes.py)
_FOLDER = re.compile(r"^[0-9a-f]{2}$")
_FILE = re.compile(r"^[0-9a-f]{16}\.(jpg|webp)$")
_TEMP = re.compile(r"^[0-9a-f]{16}\.(jpg|webp)\.(?P<pid>[0-9]+)-[0-9]+\.tmp$")
SUFFIXES = (".jpg", ".webp")  # WebP: fetched from an older server


def cap_bytes(settings: dict[str, Any]) -> int:
    """The cap in bytes from a loaded config.toml; ValueError (with the key) when it is not a
    number ≥ 0."""
    node: Any = settings
    for part in CONFIG_KEY.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    mb = DEFAULT_MB if node is None else node
    if isinstance(mb, bool) or not isinstance(mb, int | float) or mb < 0:
        raise ValueError(f"{CONFIG_KEY} = {mb!r}: not a number of megabytes (≥ 0)")
    return int(mb * 1_000_000)


@dataclass
class Trimmed:
    """What a trim removed (or, dry, would remove) and kept: counts and bytes."""

    folder: str
    cap: int
    dry_run: bool
    removed: list[int] = field(default_factory=lambda: [0, 0])  # oldest used, over the cap
    temps: list[int] = field(default_factory=lambda: [0, 0])  # of writers gone
    kept: list[int] = field(default_factory=lambda: [0, 0])
    recent: list[int] = field(default_factory=lambda: [0, 0])  # over the cap, used recently
    failed: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return self.removed[1] + self.temps[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder, "cap": self.cap, "dry_run": self.dry_run,
            "removed": self.removed, "temps": self.temps, "kept": self.kept,
            "kept_recent": self.recent, "freed": self.freed, "failed": self.failed,
        }  # fmt: skip


def _entries(folder: Path) -> tuple[list[tuple[float, int, str]], list[tuple[int, str]]]:
    """The cache's thumbnails (mtime, bytes, path) and temporary files (bytes, path) whose
    writer is gone; only regular files of known names in ``<xx>/`` folders (no symlinks)."""
    files: list[tuple[float, int, str]] = []
    temps: list[tuple[int, str]] = []
    try:
        with os.scandir(folder) as it:
            tops = [e for e in it if _FOLDER.match(e.name) and e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return files, temps
    for top in tops:
        try:
            with os.scandir(top.path) as it:
                entries = [e for e in it if e.is_file(follow_symlinks=False)]
        except FileNotFoundError:  # removed meanwhile (the folder cleared by hand)
            continue
        for e in entries:
            try:
                if _FILE.match(e.name):
                    st = e.stat(follow_symlinks=False)
                    files.append((st.st_mtime, st.st_size, e.path))
                elif (m := _TEMP.match(e.name)) and not pid_alive(int(m["pid"])):
                    temps.append((e.stat(follow_symlinks=False).st_size, e.path))
            except FileNotFoundError:  # gone meanwhile (another app's trim, a rename)
                continue
    return files, temps


def trim(folder: Path, cap: int, dry_run: bool = False, grace: float = GRACE) -> Trimmed:
    """Remove the least recently used thumbnails until ``folder`` holds at most ``cap`` bytes
    (none used in the last ``grace`` seconds), and the dead writers' temporary files."""
    out = Trimmed(str(folder), cap, dry_run)
    files, temps = _entries(folder)
    for size, path in temps:
        _remove(out, out.temps, path, size)
    files.sort()
    total = sum(size for _, size, _ in files)
    newest = time.time() - grace
    for mtime, size, path in files:
        if total <= cap:
            out.kept[0] += 1
            out.kept[1] += size
        elif mtime > newest or _used_since(path, newest):
            out.recent[0] += 1
            out.recent[1] += size
        elif _remove(out, out.removed, path, size):
            total -= size
    return out


def _used_since(path: str, newest: float) -> bool:
    """Whether the port used this file since the trim listed it (a hit touches it): looked at
    again just before it would go, so a thumbnail just shown is not removed under the app."""
    try:
        return os.lstat(path).st_mtime > newest
    except OSError:
        return False


def _remove(out: Trimmed, tally: list[int], path: str, size: int) -> bool:
    if not out.dry_run:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return True  # gone meanwhile (another trim): not counted
        except OSError as exc:
            out.failed.append(f"{path}: {exc.strerror or exc}")
            return False
    tally[0] += 1
    tally[1] += size
    return True


class ThumbCache:
    """The port's side of the cache: look a key up (a hit refreshes its use), store a fetched
    thumbnail atomically, and trim in a background thread at start and every ``TRIM_EVERY``
    fetches while the folder may be over the cap (its size from the last trim plus what was
    fetched since: no listing of 100 000 files while far under it; one trim at a time)."""

    def __init__(self, folder: Path, cap: int | None, every: int | None = None) -> None:
        self.folder, self.cap, self.every = folder, cap, every or TRIM_EVERY
        self._lock = threading.Lock()
        self._fetched = 0
        self._trimming: threading.Thread | None = None
        self._bytes = 1 << 62  # the folder's size as of the last trim plus fetches since
        self._added = 0  # bytes fetched by this port
        self.last: Trimmed | None = None  # the latest trim's outcome
        self.trim_soon()

    def path(self, key: str, suffix: str) -> Path:
        return self.folder / key[:2] / f"{key}{suffix}"

    def find(self, key: str) -> Path | None:
        """The local copy of ``key``, its use time refreshed; None when there is none."""
        for suffix in SUFFIXES:
            local = self.path(key, suffix)
            try:
                os.utime(local, follow_symlinks=False)  # a symlink's target untouched
            except FileNotFoundError:
                continue
            except OSError:  # a read-only cache: still a hit, its use not recorded
                if not local.exists():
                    continue
            return local
        return None

    def store(self, key: str, content: bytes, webp: bool) -> Path:
        """Write a fetched thumbnail (temporary file named by pid and thread, then a rename)."""
        local = self.path(key, SUFFIXES[1] if webp else SUFFIXES[0])
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f"{local.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, local)
        with self._lock:
            self._fetched += 1
            self._bytes += len(content)
            self._added += len(content)
            due = self._fetched % self.every == 0 and self._bytes > (self.cap or 0)
        if due:
            self.trim_soon()
        return local

    def trim_soon(self) -> None:
        """Start a trim in a daemon thread unless one runs (or no cap is set)."""
        if self.cap is None:
            return
        with self._lock:
            if self._trimming is not None and self._trimming.is_alive():
                return
            self._trimming = threading.Thread(target=self._trim, daemon=True)
            self._trimming.start()

    def _trim(self) -> None:
        if self.cap is None:
            return
        with self._lock:
            start = self._added
        try:
            self.last = out = trim(self.folder, self.cap)
            with self._lock:  # a fetch during the trim may count twice: a trim sooner
                self._bytes = out.kept[1] + out.recent[1] + self._added - start
        except OSError:
            pass  # an unreadable cache is the app's to report when it reads a thumbnail

    def wait(self) -> None:
        """Block until the running trim (if any) is done (tests, a clean exit)."""
        with self._lock:
            t = self._trimming
        if t is not None:
            t.join()
