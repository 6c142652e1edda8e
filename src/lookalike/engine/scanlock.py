"""One scan per catalog at a time: an exclusive ``flock`` on ``CATALOG.lock`` with the pid inside.

Two scans writing one catalog would fight over SQLite's write lock until one of them died
with "database is locked"; the lock file lets the second one say who holds it and either stop
at once or wait. The kernel drops a flock when its holder exits, however it exits, so a
crashed scan never leaves a stale lock behind (the pid written inside is only for messages).
The file itself is never removed: unlinking a lock file lets two processes lock two inodes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from lookalike.engine.catalog import CatalogError


class ScanBusy(CatalogError):
    """Another scan holds the catalog's lock."""

    def __init__(self, catalog: Path, pid: int | None) -> None:
        self.catalog = Path(catalog)
        self.pid = pid
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"another scan is running on {catalog} ({who}); wait for it or use --wait")


def lock_path(catalog: Path) -> Path:
    return Path(str(catalog) + ".lock")


class ScanLock:
    """Non-blocking exclusive lock; poll :meth:`try_acquire` to wait (cancellable)."""

    def __init__(self, catalog: Path) -> None:
        self.catalog = Path(catalog)
        self.path = lock_path(self.catalog)
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this object holds it."""
        if self.fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise CatalogError(
                f"cannot create the scan lock {self.path}: {exc.strerror or exc}; "
                "pass --db to use a catalog in a folder you can write"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return True

    def holder(self) -> int | None:
        """The pid written by the scan that holds the lock (None if it cannot be read)."""
        try:
            text = self.path.read_text().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None

    def busy(self) -> ScanBusy:
        return ScanBusy(self.catalog, self.holder())

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # still ours: no later holder's pid is erased
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> ScanLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
