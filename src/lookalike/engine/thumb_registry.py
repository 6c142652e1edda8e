"""Which catalogs use a thumbnail cache, and the lock that keeps a prune and a scan apart.

Why: the cache (``thumbs/``) is shared by every catalog (``--db`` picks one), so only the
union of every catalog's rows says which of its files and pack entries are still used
(``thumb_prune.py``). Each scan that writes thumbnails records its catalog's path here first:
one small file a catalog, ``<cache>/catalogs/<xxh64 of the path>``, holding the path's bytes,
written to a temporary file and renamed (two scans of one catalog write the same bytes; two
catalogs never share a file), so no scan reads, merges or rewrites another's entry.

A scan holds ``<cache>/sweep.lock`` shared (``flock LOCK_SH``) from before its first write
into the cache until it ends (its catalog rows committed); a prune holds it exclusively, with
its pid inside for messages. So a prune never sees a scan's pack or file whose rows are not
yet in its catalog, and a scan that starts during a prune waits for it. The kernel drops a
flock when its holder exits, however it exits; the file itself is never removed.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import xxhash

CATALOGS = "catalogs"  # the registry's folder inside the thumbnail cache
LOCK = "sweep.lock"


def entry_name(catalog: Path | str) -> str:
    """The registry file of ``catalog`` (its absolute path; the same catalog reached by two
    paths has two entries, which protect the same rows)."""
    return xxhash.xxh64_hexdigest(os.fsencode(os.path.abspath(catalog)))


def record_path(thumb_dir: Path | str, catalog: Path | str) -> str | None:
    """The registry file that records ``catalog``, if there is one."""
    path = os.path.join(thumb_dir, CATALOGS, entry_name(catalog))
    return path if os.path.exists(path) else None


def register(thumb_dir: Path | str, catalog: Path | str) -> bool:
    """Record that ``catalog`` uses the cache at ``thumb_dir`` (atomic; a no-op when it is
    there): True when it is recorded, False when the cache cannot be written (the scan's
    thumbnails fail the same way; the scan goes on)."""
    folder = os.path.join(thumb_dir, CATALOGS)
    path = os.path.join(folder, entry_name(catalog))
    data = os.fsencode(os.path.abspath(catalog))
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                return True
    except OSError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


def registered(thumb_dir: Path | str) -> Iterator[tuple[str, Path]]:
    """(entry name, catalog path) of every catalog recorded in the cache, by name."""
    folder = os.path.join(thumb_dir, CATALOGS)
    try:
        names = sorted(n for n in os.listdir(folder) if not n.endswith(".tmp"))
    except OSError:
        return
    for name in names:
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if raw:
            yield name, Path(os.fsdecode(raw))


def forget(thumb_dir: Path | str, name: str) -> None:
    """Drop a registry entry (its catalog is gone)."""
    try:
        os.unlink(os.path.join(thumb_dir, CATALOGS, name))
    except OSError:
        pass


class CacheLock:
    """``sweep.lock``: shared for a scan, exclusive for a prune; non-blocking tries."""

    def __init__(self, thumb_dir: Path | str) -> None:
        self.path = os.path.join(thumb_dir, LOCK)
        self.fd: int | None = None
        self.exclusive = False

    def try_acquire(self, exclusive: bool) -> bool:
        """Take the lock if no holder of the other kind has it: True when held. Raises
        OSError when the lock file cannot be created (the cache is not writable)."""
        if self.fd is not None:
            return True
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd, self.exclusive = fd, exclusive
        return True

    def holder(self) -> int | None:
        """The pid of the prune that holds the lock, if one wrote it."""
        try:
            with open(self.path) as fh:
                text = fh.read().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.fd is None:
            return
        if self.exclusive:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> CacheLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
