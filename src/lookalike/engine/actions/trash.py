"""The freedesktop.org Trash, done by hand so undo knows exactly where each file went.

send2trash would trash a file but not tell us its new name; here we pick the name, write the
``.trashinfo`` first (O_EXCL, as the spec asks) and then rename, and the journal records both
paths. Home trash is ``$XDG_DATA_HOME/Trash``; files on other filesystems go to
``$topdir/.Trash/$uid`` (when an admin made it) or ``$topdir/.Trash-$uid``. Platforms without a
freedesktop trash (macOS, Windows) fall back to send2trash; undo then searches by name.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from lookalike.engine.actions import fsutil

FREEDESKTOP = sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly"))


@dataclass(frozen=True)
class TrashDir:
    """One trash can: ``root`` holds ``files/`` and ``info/``; ``topdir`` is set for a
    per-filesystem trash (its ``.trashinfo`` paths are relative to it)."""

    root: str
    topdir: str | None = None

    @property
    def files(self) -> str:
        return os.path.join(self.root, "files")

    @property
    def info(self) -> str:
        return os.path.join(self.root, "info")

    def ensure(self) -> None:
        os.makedirs(self.files, mode=0o700, exist_ok=True)
        os.makedirs(self.info, mode=0o700, exist_ok=True)


def home_trash() -> TrashDir:
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return TrashDir(os.path.join(data_home, "Trash"))


def _topdir_trashes(topdir: str) -> list[TrashDir]:
    """Candidate trash cans on the filesystem mounted at ``topdir``, preferred first."""
    uid = os.getuid()
    out = []
    admin = os.path.join(topdir, ".Trash")
    try:
        st = os.lstat(admin)
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
            out.append(TrashDir(os.path.join(admin, str(uid)), topdir))
    except OSError:
        pass
    out.append(TrashDir(os.path.join(topdir, f".Trash-{uid}"), topdir))
    return out


def trash_for(path: str) -> TrashDir:
    """The trash can a file should go to: home trash on its own filesystem, else the topdir one;
    if neither can be made, the home trash (the move then copies, verifies and removes)."""
    home = home_trash()
    try:
        home.ensure()
        if fsutil.device_of(home.root) == fsutil.device_of(path):
            return home
    except OSError:
        pass
    top = fsutil.mount_point(os.path.dirname(os.path.abspath(path)))
    for cand in _topdir_trashes(top):
        try:
            cand.ensure()
            return cand
        except OSError:
            continue
    home.ensure()
    return home


def reserve_name(trash: TrashDir, original: str, reserved: set[str] | None = None) -> str:
    """A name free in both ``files/`` and ``info/`` (``name``, ``name~1`` …)."""
    reserved = reserved or set()
    base = os.path.basename(original)
    stem, ext = os.path.splitext(base)
    n = 0
    while True:
        name = base if n == 0 else f"{stem}~{n}{ext}"
        f = os.path.join(trash.files, name)
        i = os.path.join(trash.info, name + ".trashinfo")
        if not os.path.lexists(f) and not os.path.lexists(i) and f not in reserved:
            return f
        n += 1


def info_path_for(files_path: str) -> str:
    root = os.path.dirname(os.path.dirname(files_path))
    return os.path.join(root, "info", os.path.basename(files_path) + ".trashinfo")


def write_info(info_path: str, original: str, topdir: str | None) -> None:
    """Create the ``.trashinfo`` atomically (O_EXCL reserves the name). Not fsynced: undo goes
    by the journal, which records both paths; the file is for other trash tools."""
    if topdir and os.path.abspath(original).startswith(topdir.rstrip("/") + "/"):
        shown = os.path.relpath(original, topdir)
    else:
        shown = os.path.abspath(original)
    body = (
        "[Trash Info]\n"
        f"Path={quote(shown, safe='/')}\n"
        f"DeletionDate={time.strftime('%Y-%m-%dT%H:%M:%S')}\n"
    )
    fd = os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body.encode())
    finally:
        os.close(fd)


def read_info(info_path: str) -> tuple[str, str] | None:
    """(original absolute path, deletion date) from a ``.trashinfo``; None if unreadable."""
    try:
        with open(info_path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    path = date = None
    for line in lines:
        if line.startswith("Path="):
            path = unquote(line[5:])
        elif line.startswith("DeletionDate="):
            date = line[13:]
    if path is None:
        return None
    if not path.startswith("/"):
        root = os.path.dirname(os.path.dirname(info_path))
        trash_parent = os.path.dirname(root)
        # $topdir/.Trash-$uid or $topdir/.Trash/$uid
        topdir = (
            os.path.dirname(trash_parent)
            if os.path.basename(trash_parent) == ".Trash"
            else trash_parent
        )
        path = os.path.join(topdir, path)
    return path, date or ""


def find_in_trash(original: str) -> list[tuple[str, str]]:
    """Items whose ``.trashinfo`` names ``original``: (files path, info path), newest first."""
    original = os.path.abspath(original)
    cans = [home_trash()]
    try:
        top = fsutil.mount_point(os.path.dirname(original))
        cans += _topdir_trashes(top)
    except OSError:
        pass
    hits: list[tuple[str, str, str]] = []
    for can in cans:
        try:
            names = os.listdir(can.info)
        except OSError:
            continue
        for name in names:
            if not name.endswith(".trashinfo"):
                continue
            info = os.path.join(can.info, name)
            got = read_info(info)
            if got and got[0] == original:
                files = os.path.join(can.files, name[: -len(".trashinfo")])
                if os.path.lexists(files):
                    hits.append((got[1], files, info))
    hits.sort(reverse=True)
    return [(f, i) for _, f, i in hits]


def send_to_system_trash(path: str) -> None:
    """Fallback for platforms without a freedesktop trash."""
    from send2trash import send2trash

    send2trash(path)
