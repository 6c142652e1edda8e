"""Small file-system helpers every operation shares: hashing, fsync, no-clobber names, and moves
that survive a crash or a filesystem boundary without ever leaving zero copies of a file."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import xxhash

from lookalike.engine.features.exact import full_hash

CHUNK = 1 << 20
TMP_MARK = ".lookalike-"
NAME_MAX = 255  # bytes per name on every common Linux filesystem (ext4, xfs, btrfs, tmpfs)


def fsync(fd: int) -> None:
    """os.fsync, skipped when ``LOOKALIKE_NO_FSYNC=1``: only for tests and throw-away data —
    a killed process loses nothing without it, a power cut can."""
    if os.environ.get("LOOKALIKE_NO_FSYNC") != "1":
        os.fsync(fd)


def hash_file(path: str | os.PathLike[str]) -> str:
    """xxh3-128 hex digest, the same hash the scanner stores in ``Member.content_hash`` (one
    hashing loop: :func:`~lookalike.engine.features.exact.full_hash`)."""
    return full_hash(os.fspath(path)).hex()


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


def fit_name(stem: str, suffix: str = "", limit: int = NAME_MAX) -> str:
    """``stem + suffix`` cut to at most ``limit`` bytes by shortening ``stem`` (at a UTF-8
    character boundary where the name is UTF-8): a 255-byte name plus ``~1`` or ``.trashinfo``
    would otherwise fail with ENAMETOOLONG."""
    raw, tail = os.fsencode(stem), os.fsencode(suffix)
    room = limit - len(tail)
    if len(raw) <= room:
        return stem + suffix
    cut = max(room, 1)
    while cut > 1 and (raw[cut] & 0xC0) == 0x80:  # do not split a UTF-8 sequence
        cut -= 1
    return os.fsdecode(raw[:cut]) + suffix


def split_name(name: str) -> tuple[str, str]:
    """(stem, ext) where a leading-dot name without another dot has no extension."""
    stem, ext = os.path.splitext(name)
    if name.startswith(".") and not ext:
        return name, ""
    if len(os.fsencode(ext)) > 32:  # not a real extension: keep it out of the cut-off part
        return name, ""
    return stem, ext


def unique_path(path: str, reserved: set[str] | None = None) -> str:
    """``path`` if free, else ``stem~N.ext`` for the first free N: we never overwrite. Names
    longer than NAME_MAX bytes are shortened (the stem is cut, the extension kept)."""
    reserved = reserved or set()
    head, tail = os.path.split(path)
    stem, ext = split_name(tail)
    if len(os.fsencode(tail)) > NAME_MAX:
        path = os.path.join(head, fit_name(stem, ext))
    if not os.path.lexists(path) and path not in reserved:
        return path
    n = 1
    while True:
        cand = os.path.join(head, fit_name(stem, f"~{n}{ext}"))
        if not os.path.lexists(cand) and cand not in reserved:
            return cand
        n += 1


def display_path(path: str | bytes) -> str:
    """A one-line printable form of a path for text output. A valid, printable UTF-8 name is
    shown as it is; any other name is escaped: bytes that are not UTF-8 as ``\\xNN``, control
    characters as ``\\n``, ``\\t``, ``\\xNN``, and then a backslash as ``\\\\``. JSON output
    carries the lossless form instead (``\\udcNN`` escapes, see docs/cli.md)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.isprintable():
            return text
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable():
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_text(text: str) -> str:
    """``text`` with any surrogate-escaped bytes (from a non-UTF-8 file name) shown as
    ``\\xNN``, so it can go into SQLite TEXT or a strict UTF-8 stream."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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


def side_path(path: str, tag: str, what: str) -> str:
    """Temporary sibling ``.NAME.lookalike-TAG.WHAT`` of ``path``; NAME is shortened so the
    whole name fits NAME_MAX (the journal records these names, recovery looks for them)."""
    head, tail = os.path.split(path)
    return os.path.join(head, fit_name("." + tail, f"{TMP_MARK}{tag}.{what}"))


def part_path(dest: str, tag: str) -> str:
    """Temporary sibling of ``dest`` used while a copy is incomplete (cleaned by recovery)."""
    return side_path(dest, tag, "part")


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


AT_FDCWD = -100
RENAME_NOREPLACE = 1
_renameat2: object = None  # None: not looked up yet; False: not available


def _libc_renameat2() -> object:
    global _renameat2
    if _renameat2 is None:
        _renameat2 = False
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).renameat2
                fn.argtypes = [
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_uint,
                ]
                fn.restype = ctypes.c_int
                _renameat2 = fn
            except (OSError, AttributeError):  # musl before 1.2.? / old glibc: no wrapper
                pass
    return _renameat2


def rename_noclobber(src: str, dest: str) -> None:
    """Rename that never replaces an existing ``dest`` (``FileExistsError``), atomically.

    ``renameat2(RENAME_NOREPLACE)`` where libc and the filesystem have it; otherwise, for a
    file, ``link(src, dest)`` (which fails if ``dest`` exists) then ``unlink(src)``. There is
    no check-then-rename window in either path. A directory on a filesystem without
    RENAME_NOREPLACE (rare: some FUSE/network filesystems) falls back to a checked rename.
    """
    fn = _libc_renameat2()
    if fn:
        if fn(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dest), RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), src, None, dest)
    _rename_noclobber_fallback(src, dest)


def _rename_noclobber_fallback(src: str, dest: str) -> None:
    st = os.lstat(src)
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "destination exists", dest)
        os.rename(src, dest)
        return
    try:
        os.link(src, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.EXDEV):
            raise
        # a filesystem without hard links (vfat, some FUSE): the old checked rename
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "destination exists", dest) from None
        os.rename(src, dest)
        return
    os.unlink(src)


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


class UnsafeFolder(OSError):
    """A folder we would write into fails a safety check (a symlink, another owner …); its
    ``strerror`` is the whole message, with what to do."""


def describe_oserror(exc: OSError, action: str, path: str) -> str:
    """One plain sentence for an OS error: what failed and what to do."""
    path = display_path(path)
    if isinstance(exc, UnsafeFolder):
        return f"cannot {action} {path}: {exc.strerror}"
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
