"""Browse's folder tree with what the catalog keeps about each entry, as glyphs after its name
— ● marked, ★ favourite, ✎ a note (file or folder) — the glyphs Review's thumbnails use, so a
reviewer sees in the tree which files they already picked out, without opening anything."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import DirectoryTree
from textual.widgets._directory_tree import DirEntry
from textual.widgets._tree import TreeNode

MARKED, FAVOURITE, NOTE = "●", "★", "✎"
WORDS = {MARKED: "marked", FAVOURITE: "favourite", NOTE: "note"}


def flag_map(marks: Mapping[str, Any]) -> dict[str, str]:
    """Absolute path → its glyphs, from the port's ``catalog_marks()`` answer."""
    out: dict[str, str] = {}

    def add(paths: Any, glyph: str) -> None:
        for p in paths or ():
            key = os.path.abspath(p)
            if glyph not in out.get(key, ""):
                out[key] = out.get(key, "") + glyph

    add(marks.get("marked"), MARKED)
    add(marks.get("favourites"), FAVOURITE)
    add(marks.get("notes"), NOTE)
    add(marks.get("folder_notes"), NOTE)
    return out


def describe(glyphs: str) -> str:
    """``●★`` → ``● marked · ★ favourite`` (the folder-info line)."""
    return " · ".join(f"{g} {WORDS[g]}" for g in glyphs if g in WORDS)


class MarkedTree(DirectoryTree):
    """A DirectoryTree whose labels end with the entry's glyphs (``set_flags`` redraws)."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.flags: dict[str, str] = {}

    def set_flags(self, flags: dict[str, str]) -> None:
        if flags != self.flags:
            self.flags = flags
            self._invalidate()  # the tree caches rendered lines: redraw every label

    def glyphs(self, path: str | os.PathLike[str]) -> str:
        return self.flags.get(os.path.abspath(path), "")

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        text = super().render_label(node, base_style, style)
        data = node.data
        glyphs = self.glyphs(data.path) if data is not None else ""
        if glyphs:
            text.append(f" {glyphs}", style="bold")
        return text
