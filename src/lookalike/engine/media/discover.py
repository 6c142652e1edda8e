"""Walk roots (os.scandir) and explicit file lists into (path, stat) pairs, with filters.

Hidden entries and symlinks are skipped unless asked; followed symlinks are checked for loops
by (dev, inode) of every directory entered. Problems are reported, never raised.
"""

from __future__ import annotations

import fnmatch
import os
import stat as st
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from lookalike.engine.records import FileError

IMAGE_EXTENSIONS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".heic",
        ".heif",
        ".hif",
        ".avif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".gif",
        ".dng",
        ".nef",
        ".cr2",
        ".cr3",
        ".arw",
        ".orf",
        ".rw2",
        ".pef",
        ".srw",
        ".raf",
    ]
)
# names that promise a video: one whose content is no known video format is reported
VIDEO_EXTENSIONS = frozenset(
    [".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".3gp", ".mpg", ".mpeg"]
    + [".ts", ".mts", ".m2ts", ".ogv"]
)


class Found(NamedTuple):  # one per file: a tuple builds in a third of a frozen dataclass's time
    path: str
    dev: int
    inode: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Filters:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_size: int = 1
    hidden: bool = False
    follow_symlinks: bool = False
    one_file_system: bool = False

    def wants_name(self, name: str, path: str) -> bool:
        if self.include and not any(
            fnmatch.fnmatch(name, g) or fnmatch.fnmatch(path, g) for g in self.include
        ):
            return False
        return not any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(path, g) for g in self.exclude)

    def wants_dir(self, name: str, path: str) -> bool:
        return not any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(path, g) for g in self.exclude)


_FMT, _DIR, _REG = st.S_IFMT(0o177777), st.S_IFDIR, st.S_IFREG


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _entry_stat(
    e: os.DirEntry[str], filters: Filters, on_error: Callable[[FileError], None]
) -> tuple[os.stat_result, bool] | None:
    """The entry's stat (through a symlink when links are followed) and whether it is a link;
    None for a skipped link or an entry that cannot be read (reported: one line each)."""
    try:
        is_link = e.is_symlink()
        if is_link and not filters.follow_symlinks:
            return None
        return e.stat(follow_symlinks=True), is_link
    except FileNotFoundError:
        if e.is_symlink():
            on_error(FileError(e.path, "broken symlink (its target does not exist)"))
        else:
            on_error(FileError(e.path, "vanished while the folder was read"))
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            on_error(FileError(e.path, "symlink loop; skipped"))
        else:
            on_error(FileError(e.path, f"cannot be read ({exc.strerror or exc})"))
    return None


def walk(
    roots: Iterable[str],
    filters: Filters,
    on_error: Callable[[FileError], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[Found]:
    """Regular files under ``roots`` (files given as roots are yielded as they are)."""
    seen_dirs: set[tuple[int, int]] = set()
    # the per-entry checks with the filters' answers looked up once (≈ 110k entries at 100k)
    skip_hidden, min_size = not filters.hidden, filters.min_size
    patterns = bool(filters.include or filters.exclude)
    for root in roots:
        root = os.path.abspath(root)
        try:
            rst = os.stat(root)
        except FileNotFoundError:
            on_error(FileError(root, "does not exist; check the path"))
            continue
        except OSError as exc:
            on_error(FileError(root, f"cannot be read ({exc.strerror or exc})"))
            continue
        if st.S_ISREG(rst.st_mode):
            yield Found(root, rst.st_dev, rst.st_ino, rst.st_size, rst.st_mtime_ns)
            continue
        if not st.S_ISDIR(rst.st_mode):
            on_error(FileError(root, "is not a regular file or a directory"))
            continue
        root_dev = rst.st_dev
        seen_dirs.add((rst.st_dev, rst.st_ino))
        stack = [root]
        while stack:
            if cancelled():
                return
            d = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                on_error(FileError(d, f"directory cannot be listed ({exc.strerror or exc})"))
                continue
            subdirs = []
            for e in entries:
                name = e.name
                if skip_hidden and name[:1] == ".":
                    continue
                got = _entry_stat(e, filters, on_error)
                if got is None:
                    continue
                s, is_link = got
                mode = s.st_mode
                if mode & _FMT == _DIR:
                    if filters.one_file_system and s.st_dev != root_dev:
                        continue
                    if patterns and not filters.wants_dir(name, e.path):
                        continue
                    key = (s.st_dev, s.st_ino)
                    if key in seen_dirs:
                        if is_link:
                            on_error(
                                FileError(e.path, "symlink loop (folder already visited); skipped")
                            )
                        continue
                    seen_dirs.add(key)
                    subdirs.append(e.path)
                elif mode & _FMT == _REG:
                    if s.st_size < min_size:
                        continue
                    path = e.path
                    if patterns and not filters.wants_name(name, path):
                        continue
                    if filters.one_file_system and s.st_dev != root_dev:
                        continue
                    yield Found(path, s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns)
            stack.extend(reversed(subdirs))


def read_file_list(data: bytes, nul: bool) -> list[str]:
    """Paths from ``--files-from`` content: one per line, or NUL-separated with ``-0``."""
    parts = data.split(b"\0") if nul else data.splitlines()
    return [os.fsdecode(p) for p in parts if p.strip()]


def walk_would_list(path: str, size: int, roots: Iterable[str], filters: Filters) -> bool:
    """Whether ``walk(roots, filters)`` would list ``path`` if it were there, judged by name.

    A rescan forgets only files it would have listed and did not find; files its filters skip
    (--include/--exclude, hidden, small) stay in the catalog with their decisions. What the
    name cannot tell (symlinked folders, other file systems) counts as "would list": the caller
    then checks the file itself.
    """
    if size < filters.min_size:
        return False
    for root in roots:
        prefix = root.rstrip(os.sep) + os.sep
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split(os.sep)
        current = root.rstrip(os.sep)
        for name in parts[:-1]:
            current = current + os.sep + name
            if (not filters.hidden and _hidden(name)) or not filters.wants_dir(name, current):
                return False
        name = parts[-1]
        if not filters.hidden and _hidden(name):
            return False
        return filters.wants_name(name, path)
    return False
