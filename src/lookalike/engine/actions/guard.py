"""Path rules shared by the plan builder and the plan checks: compare by REAL path.

A folder given as ``--reference`` or scanned as a root may be spelled through a symlink; files
are then reported under that spelling. Comparing spellings let a reference folder's files be
trashed, so every "is this file under that folder" question here resolves both sides first.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable


def real(path: str) -> str:
    """``os.path.realpath`` (symlinks resolved, ``..`` gone) of an absolute path."""
    return os.path.realpath(os.path.abspath(path))


class RealPaths:
    """:func:`real` of many files, with each FOLDER resolved once (issue 13: a ``realpath`` per
    file — an ``lstat`` per part of its path — was most of the plan time at 100k groups).

    A file that is itself a symlink (or cannot be looked at) is resolved whole, exactly as
    :func:`real` does; any other file is its real folder joined with its name. Lives for one
    plan build or check only: a folder swapped for a symlink later is seen by the next one."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        path = os.path.abspath(path)
        parent, name = os.path.split(path)
        if not name or name in (os.curdir, os.pardir):
            return real(path)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return real(path)
        except FileNotFoundError:
            pass  # realpath keeps a missing name as it is: so does the join
        except OSError:
            return real(path)
        folder = self._folders.get(parent)
        if folder is None:
            folder = self._folders[parent] = os.path.realpath(parent)
        return os.path.join(folder, name)


def real_folders(paths: Iterable[str | os.PathLike[str]]) -> tuple[str, ...]:
    """Real paths of folders (or listed files), duplicates dropped, order kept."""
    out: dict[str, None] = {}
    for p in paths:
        out.setdefault(real(os.fspath(p)), None)
    return tuple(out)


def under_any(real_path: str, folders: Collection[str]) -> str | None:
    """The nearest of ``folders`` (real paths) that is ``real_path`` or holds it, else None.
    Walks up ``real_path`` (its depth, not the number of folders: a plan may hold thousands)."""
    wanted = folders if isinstance(folders, (set, frozenset, dict)) else frozenset(folders)
    p = real_path
    while True:
        if p in wanted:
            return p
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


def is_clean(path: str) -> bool:
    """Absolute, normalised, no ``.``/``..`` parts: what the builder writes. A plan path that is
    not clean was edited (``/photos/../etc/passwd``) and is refused before any resolving."""
    return (
        isinstance(path, str)
        and os.path.isabs(path)
        and "\0" not in path
        and os.path.normpath(path) == path
        and ".." not in path.split(os.sep)
    )
