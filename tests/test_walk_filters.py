"""The walk's per-entry filters (media/discover.py): hidden names, the minimum size, --include
and --exclude on names and folders, a symlinked folder loop — each with the file it must keep
beside the one it must skip, and what it lists agrees with ``walk_would_list``.
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.engine.media.discover import Filters, Found, walk, walk_would_list


def _tree(root: Path) -> None:
    (root / "a" / "deep").mkdir(parents=True)
    (root / ".secret").mkdir()
    (root / "raw").mkdir()
    for rel, size in {
        "p.jpg": 10, "tiny.jpg": 1, "a/q.png": 20, "a/deep/r.jpg": 30, "a/.h.jpg": 40,
        ".secret/s.jpg": 50, "raw/t.jpg": 60, "notes.txt": 70, "empty.jpg": 0,
    }.items():  # fmt: skip
        (root / rel).write_bytes(b"x" * size)
    os.symlink(root / "a", root / "a" / "deep" / "loop")  # a folder loop through a link


def _names(root: Path, filters: Filters, errors: list | None = None) -> list[str]:
    got = list(walk([str(root)], filters, (errors if errors is not None else []).append))
    assert all(isinstance(f, Found) and f.size == os.stat(f.path).st_size for f in got)
    return [os.path.relpath(f.path, root) for f in got]


def test_walk_filters_keep_and_skip(tmp_path):
    root = tmp_path / "lib"
    _tree(root)
    plain = _names(root, Filters())
    # sorted by name a folder at a time, its files first, then its folders
    assert plain == ["notes.txt", "p.jpg", "tiny.jpg", "a/q.png", "a/deep/r.jpg", "raw/t.jpg"]
    assert _names(root, Filters(min_size=11)) == [
        "notes.txt",
        "a/q.png",
        "a/deep/r.jpg",
        "raw/t.jpg",
    ]
    hidden = _names(root, Filters(hidden=True))
    assert {".secret/s.jpg", "a/.h.jpg"} <= set(hidden) and "empty.jpg" not in hidden
    assert _names(root, Filters(exclude=("raw",))) == plain[:-1]
    assert _names(root, Filters(include=("*.jpg",))) == [
        "p.jpg",
        "tiny.jpg",
        "a/deep/r.jpg",
        "raw/t.jpg",
    ]
    assert _names(root, Filters(exclude=("*/deep/*",))) == [n for n in plain if "deep" not in n]
    errors: list = []
    followed = _names(root, Filters(follow_symlinks=True), errors)
    assert followed == plain and any("symlink loop" in e.error for e in errors)
    for filters in (
        Filters(),
        Filters(min_size=11),
        Filters(hidden=True),
        Filters(exclude=("raw",)),
    ):
        listed = set(_names(root, filters))
        for rel in ("p.jpg", "tiny.jpg", "a/.h.jpg", ".secret/s.jpg", "raw/t.jpg", "a/deep/r.jpg"):
            size = (root / rel).stat().st_size
            assert walk_would_list(str(root / rel), size, [str(root)], filters) == (rel in listed)
