"""Atomic file writes: a unique temp file in the same folder, fsync, rename, fsync the folder.

A reader (or a crash, Ctrl-C, a full disk) sees either the old file whole or the new one whole,
never a truncated mix; a fixed ``NAME.tmp`` would let two writers clobber each other's temp.
Used for results files (``-o``), plans, the config and other small state files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """A file that replaces ``path`` only on :meth:`commit`; :meth:`discard` leaves it as it was.

    The temp file is created at once, so an unwritable folder fails before any work is done.
    ``mode`` is applied to the new file (0o600 for files that hold secrets); without it an
    existing file keeps its permissions and a new one gets 0o644 less the umask.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        text: bool = True,
        mode: int | None = None,
        encoding: str = "utf-8",
    ) -> None:
        self.path = Path(path)
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        self.tmp = Path(tmp)
        try:
            os.fchmod(fd, self._mode(mode))
            self.fh: IO[Any] = (
                os.fdopen(fd, "w", encoding=encoding, newline="") if text else os.fdopen(fd, "wb")
            )
        except BaseException:
            os.close(fd)
            self.tmp.unlink(missing_ok=True)
            raise
        self.done = False

    def _mode(self, mode: int | None) -> int:
        if mode is not None:
            return mode
        try:
            return os.stat(self.path).st_mode & 0o7777
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            return 0o644 & ~umask

    def commit(self) -> None:
        """Flush, fsync, rename over ``path`` and fsync the folder."""
        if self.done:
            return
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.path)
        self.done = True
        fsync_dir(self.path.parent)

    def discard(self) -> None:
        """Drop the temp file; ``path`` keeps its old content."""
        if self.done:
            return
        self.done = True
        with contextlib.suppress(OSError):
            self.fh.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomic(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None
) -> Path:
    """Replace ``path`` with ``data`` atomically; returns the path."""
    with AtomicFile(path, text=isinstance(data, str), mode=mode) as f:
        f.fh.write(data)
    return Path(path)
