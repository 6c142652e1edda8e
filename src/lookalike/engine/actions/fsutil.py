"""Small file-system helpers every operation shares: hashing, fsync, no-clobber names, and moves
that survive a crash or a filesystem boundary without ever leaving zero copies of a file."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import xxhash

CHUNK = 1 << 20
TMP_MARK = ".lookalike-"


def fsync(fd: int) -> None:
    """os.fsync, skipped when ``LOOKALIKE_NO_FSYNC=1``: only for tests and throw-away data —
    a killed process loses nothing without it, a power cut can."""
    if os.environ.get("LOOKALIKE_NO_FSYNC") != "1":
        os.fsync(fd)


def hash_file(path: str | os.PathLike[str]) -> str:
    """xxh3-128 hex digest, the same hash the scanner stores in ``Member.content_hash``."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


_deferred: set[str] | None = None


def fsync_dir(path: str | os.PathLike[str], *, now: bool = False) -> None:
    """Make a rename/unlink in ``path`` durable (no-op where directories cannot be opened).

    Inside :func:`deferred_dir_sync` the sync waits for the end of the block (once per folder),
    unless ``now`` — used where a later step must not happen before the entry is durable."""
    if _deferred is not None and not now:
        _deferred.add(os.fspath(path))
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def deferred_dir_sync() -> Iterator[None]:
    """Batch folder fsyncs: a chunk of renames costs one fsync per folder touched. The journal
    writes the chunk's results only after this block, so a result is never durable before the
    rename it records."""
    global _deferred
    outer, _deferred = _deferred, set()
    try:
        yield
    finally:
        dirs, _deferred = _deferred, outer
        for d in sorted(dirs):
            fsync_dir(d, now=True)


def unique_path(path: str, reserved: set[str] | None = None) -> str:
    """``path`` if free, else ``stem~N.ext`` for the first free N: we never overwrite."""
    reserved = reserved or set()
    if not os.path.lexists(path) and path not in reserved:
        return path
    head, tail = os.path.split(path)
    stem, ext = os.path.splitext(tail)
    if tail.startswith(".") and not ext:
        stem, ext = tail, ""
    n = 1
    while True:
        cand = os.path.join(head, f"{stem}~{n}{ext}")
        if not os.path.lexists(cand) and cand not in reserved:
            return cand
        n += 1


def device_of(path: str) -> int:
    """st_dev of ``path`` or of its nearest existing ancestor (a destination may not exist yet)."""
    p = os.path.abspath(path)
    while True:
        try:
            return os.lstat(p).st_dev
        except FileNotFoundError:
            parent = os.path.dirname(p)
            if parent == p:
                raise
            p = parent


def mount_point(path: str) -> str:
    """The top directory of the filesystem that holds ``path``."""
    p = os.path.realpath(path)
    while not os.path.ismount(p):
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    return p


def part_path(dest: str, tag: str) -> str:
    """Temporary sibling of ``dest`` used while a copy is incomplete (cleaned by recovery)."""
    head, tail = os.path.split(dest)
    return os.path.join(head, f".{tail}{TMP_MARK}{tag}.part")


def copy_verified(src: str, dest: str, expected_hash: str | None, tag: str) -> str:
    """Copy ``src`` to the free name ``dest`` via a part file: copy → fsync → verify → rename.

    Returns the content hash of the copy. A failure removes the part file and leaves ``src``.
    """
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    part = part_path(dest, tag)
    h = xxhash.xxh3_128()
    try:
        with open(src, "rb") as fi, open(part, "xb") as fo:
            while chunk := fi.read(CHUNK):
                h.update(chunk)
                fo.write(chunk)
            fo.flush()
            fsync(fo.fileno())
        shutil.copystat(src, part, follow_symlinks=False)
        copy_owner(os.stat(src), part)
        digest = hash_file(part)  # re-read what reached the disk, not what we meant to write
        if digest != h.hexdigest() or (expected_hash and digest != expected_hash):
            raise OSError(errno.EIO, f"copy of {src} does not match the original (read error?)")
        rename_noclobber(part, dest)
    except BaseException:
        try:
            os.unlink(part)
        except OSError:
            pass
        raise
    fsync_dir(os.path.dirname(dest), now=True)  # the copy is durable before any original goes
    return digest


def copy_owner(st: os.stat_result, path: str) -> None:
    """Keep the owner across a copy where we may (as root); elsewhere it is ours anyway."""
    try:
        if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            os.chown(path, st.st_uid, st.st_gid)
    except (OSError, AttributeError):
        pass


def rename_noclobber(src: str, dest: str) -> None:
    """Rename that refuses to replace an existing ``dest`` (``FileExistsError``)."""
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, "destination exists", dest)
    os.rename(src, dest)


def move_file(src: str, dest: str, expected_hash: str | None, tag: str) -> bool:
    """Move ``src`` to the free name ``dest``; returns True when it crossed filesystems.

    Same filesystem: one atomic rename. Across filesystems: copy → fsync → verify hash → remove,
    so at every instant at least one complete copy exists.
    """
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        rename_noclobber(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    else:
        fsync_dir(os.path.dirname(dest))
        fsync_dir(os.path.dirname(src))
        return False
    copy_verified(src, dest, expected_hash, tag)
    os.unlink(src)
    fsync_dir(os.path.dirname(src))
    return True


def is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def remove_empty_dirs(start: str, stop: str) -> None:
    """Remove ``start`` and its empty ancestors up to (not including) ``stop``."""
    p = Path(start)
    stop_p = Path(stop)
    while p != stop_p and stop_p in p.parents:
        try:
            p.rmdir()
        except OSError:
            return
        p = p.parent


def describe_oserror(exc: OSError, action: str, path: str) -> str:
    """One plain sentence for an OS error: what failed and what to do."""
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied: cannot {action} {path}; check write permission on its folder"
    if code == errno.EROFS:
        return f"read-only filesystem: cannot {action} {path}; remount it read-write"
    if code == errno.ENOSPC:
        return f"disk full: cannot {action} {path}; free some space and try again"
    if code == errno.ENOENT:
        return f"not found: cannot {action} {path}; it vanished"
    if code == errno.EEXIST:
        return f"name taken: cannot {action} {path}; another file appeared at the destination"
    reason = exc.strerror or str(exc)
    return f"cannot {action} {path}: {reason}"
