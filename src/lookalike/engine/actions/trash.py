"""The freedesktop.org Trash, done by hand so undo knows exactly where each file went.

send2trash would trash a file but not tell us its new name; here we pick the name, write the
``.trashinfo`` first (O_EXCL, as the spec asks) and then rename, and the journal records both
paths. Home trash is ``$XDG_DATA_HOME/Trash``; files on other filesystems go to
``$topdir/.Trash/$uid`` (when an admin made ``$topdir/.Trash`` a real, sticky directory) or
``$topdir/.Trash-$uid`` (ours: not a symlink, owned by us, mode 0700). A trash folder that
fails those checks is never used (the spec's rule: another user could read or swap what we
trash); the next candidate is tried and, last, the home trash. ``Path=`` in a ``.trashinfo``
is the RFC 3986 percent-encoding of the path's raw bytes, so names that are not UTF-8 survive.
Platforms without a freedesktop trash (macOS, Windows) fall back to send2trash; undo then
searches by name.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, unquote_to_bytes

from lookalike.engine.actions import fsutil

FREEDESKTOP = sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly"))
INFO_EXT = ".trashinfo"


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
        """Make (0700) or check the can: the root and its ``files``/``info`` folders must be
        real directories owned by us — never followed through a symlink."""
        for d in (self.root, self.files, self.info):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(os.path.dirname(d), mode=0o700, exist_ok=True)
                try:
                    os.mkdir(d, 0o700)
                except FileExistsError:
                    pass
            _check_own_dir(d)


def _check_own_dir(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        why = "is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        why = "is not a directory"
    elif st.st_uid != os.getuid():
        why = f"belongs to another user (uid {st.st_uid})"
    else:
        return
    raise fsutil.UnsafeFolder(
        errno.EPERM,
        f"the trash folder {fsutil.display_path(path)} {why}, so it is not used (freedesktop "
        "trash rules); remove or fix it, or use --action quarantine",
        path,
    )


def home_trash() -> TrashDir:
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return TrashDir(os.path.join(data_home, "Trash"))


def admin_trash_ok(topdir: str) -> bool:
    """``$topdir/.Trash`` is usable per the spec: a real directory (not a symlink) with the
    sticky bit set; otherwise it must not be used (and ``.Trash-$uid`` is tried)."""
    try:
        st = os.lstat(os.path.join(topdir, ".Trash"))
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_ISVTX)


def _topdir_trashes(topdir: str) -> list[TrashDir]:
    """Candidate trash cans on the filesystem mounted at ``topdir``, preferred first."""
    uid = os.getuid()
    out = []
    if admin_trash_ok(topdir):
        out.append(TrashDir(os.path.join(topdir, ".Trash", str(uid)), topdir))
    out.append(TrashDir(os.path.join(topdir, f".Trash-{uid}"), topdir))
    return out


def trash_for(path: str) -> TrashDir:
    """The trash can a file should go to: home trash on its own filesystem, else the topdir one;
    if neither can be used, the home trash (the move then copies, verifies and removes).
    Raises :class:`fsutil.UnsafeFolder` (an OSError) when no safe trash can exists at all."""
    home = home_trash()
    home_error: OSError | None = None
    try:
        home.ensure()
        if fsutil.device_of(home.root) == fsutil.device_of(path):
            return home
    except OSError as exc:
        home_error = exc
    top = fsutil.mount_point(os.path.dirname(os.path.abspath(path)))
    for cand in _topdir_trashes(top):
        try:
            cand.ensure()
            return cand
        except OSError:
            continue
    if home_error is not None:
        raise home_error
    return home


def reserve_name(trash: TrashDir, original: str, reserved: set[str] | None = None) -> str:
    """A name free in both ``files/`` and ``info/`` (``name``, ``name~1`` …), short enough
    that ``name.trashinfo`` fits NAME_MAX (the ``.trashinfo`` keeps the full original path)."""
    reserved = reserved or set()
    base = os.path.basename(original)
    stem, ext = fsutil.split_name(base)
    limit = fsutil.NAME_MAX - len(INFO_EXT)
    n = 0
    while True:
        name = fsutil.fit_name(stem, ext if n == 0 else f"~{n}{ext}", limit)
        f = os.path.join(trash.files, name)
        i = os.path.join(trash.info, name + INFO_EXT)
        if not os.path.lexists(f) and not os.path.lexists(i) and f not in reserved:
            return f
        n += 1


def info_path_for(files_path: str) -> str:
    root = os.path.dirname(os.path.dirname(files_path))
    return os.path.join(root, "info", os.path.basename(files_path) + INFO_EXT)


def files_path_for(info_path: str) -> str:
    root = os.path.dirname(os.path.dirname(info_path))
    name = os.path.basename(info_path)
    return os.path.join(root, "files", name[: -len(INFO_EXT)])


def info_body(original: str, topdir: str | None, when: float | None = None) -> bytes:
    """The ``.trashinfo`` text; ``Path=`` percent-encodes the raw bytes (RFC 3986, ``/`` kept),
    relative to ``topdir`` for a per-filesystem trash."""
    raw = os.fsencode(os.path.abspath(original))
    if topdir:
        top = os.fsencode(topdir).rstrip(b"/") + b"/"
        if raw.startswith(top):
            raw = raw[len(top) :]
    date = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(when))
    return (
        b"[Trash Info]\nPath="
        + quote_from_bytes(raw, safe="/").encode("ascii")
        + (f"\nDeletionDate={date}\n".encode("ascii"))
    )


def write_info(info_path: str, original: str, topdir: str | None) -> None:
    """Create the ``.trashinfo`` atomically: O_EXCL reserves the name (the spec's rule), the
    body is written and fsynced; any failure (a full disk …) removes it again, so no empty
    or partial ``.trashinfo`` is left behind (a crash in between is cleaned by recovery)."""
    body = info_body(original, topdir)
    fd = os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            fsutil.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        try:
            os.unlink(info_path)
        except OSError:
            pass
        raise


def read_info(info_path: str) -> tuple[str, str] | None:
    """(original absolute path, deletion date) from a ``.trashinfo``; None if unreadable or
    empty. The path is unquoted to its raw bytes (returned as a surrogateescape str)."""
    try:
        with open(info_path, "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    path: bytes | None = None
    date = ""
    for line in lines:
        if line.startswith(b"Path="):
            path = unquote_to_bytes(line[5:].strip())
        elif line.startswith(b"DeletionDate="):
            date = line[13:].decode("ascii", "replace").strip()
    if not path:
        return None
    if not path.startswith(b"/"):
        root = os.path.dirname(os.path.dirname(info_path))
        trash_parent = os.path.dirname(root)
        # $topdir/.Trash-$uid or $topdir/.Trash/$uid
        topdir = (
            os.path.dirname(trash_parent)
            if os.path.basename(trash_parent) == ".Trash"
            else trash_parent
        )
        path = os.path.join(os.fsencode(topdir), path)
    return os.fsdecode(path), date


def is_orphan_info(info_path: str | None) -> bool:
    """A ``.trashinfo`` whose ``files/`` entry is gone (the file was restored or never moved
    in): it describes nothing and only misleads file managers."""
    if not info_path or not info_path.endswith(INFO_EXT) or not os.path.lexists(info_path):
        return False
    return not os.path.lexists(files_path_for(info_path))


def remove_orphan_info(info_path: str | None) -> bool:
    """Remove ``info_path`` if it is an orphan; True when it was removed."""
    if not is_orphan_info(info_path):
        return False
    assert info_path
    try:
        os.unlink(info_path)
    except OSError:
        return False
    fsutil.fsync_dir(os.path.dirname(info_path))
    return True


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
            if not name.endswith(INFO_EXT):
                continue
            info = os.path.join(can.info, name)
            got = read_info(info)
            if got and got[0] == original:
                files = files_path_for(info)
                if os.path.lexists(files):
                    hits.append((got[1], files, info))
    hits.sort(reverse=True)
    return [(f, i) for _, f, i in hits]


def send_to_system_trash(path: str) -> None:
    """Fallback for platforms without a freedesktop trash."""
    from send2trash import send2trash

    send2trash(path)
