"""Details of the selected file: what a reviewer needs to judge a copy.

Drawn as plain wrapped lines (label column + value) rather than a Rich table: a table measures
and lays out every cell on every key, which cost more than the rest of the pane's repaint.
"""

from __future__ import annotations

import os
import textwrap

from textual.content import Content
from textual.widgets import Static

from lookalike.engine.records import Group, Member
from lookalike.ui.widgets.grouplist import human_bytes

LABEL_W = 7  # the longest label ("suggest", "because", "matched")


def _rows(
    group: Group, member: Member, keep: frozenset[str], status: str, mine: str
) -> list[tuple[str, str]]:
    rows = [
        ("file", os.path.basename(member.path)),
        ("folder", os.path.dirname(member.path)),
        ("action", "KEEP" if member.path in keep else "REMOVE"),
        ("size", f"{human_bytes(member.size)} ({member.size:,} bytes)"),
        ("pixels", f"{member.width}x{member.height}"),
        ("format", member.format),
        ("taken", member.capture_time or "-"),
        ("camera", member.camera or "-"),
        ("similar", f"{member.score:.3f}"),
    ]
    if member.duration is not None:  # a video: probe, and the footage it shares
        fps = f" · {member.fps:g} fps" if member.fps else ""
        rows.append(("video", f"{member.duration:.1f} s{fps} · {member.codec or '?'}"))
        rows.append(
            (
                "matched",
                "; ".join(
                    f"{s['a_start']:.1f}–{s['a_end']:.1f} s = keeper "
                    f"{s['b_start']:.1f}–{s['b_end']:.1f} s"
                    for s in member.segments
                )
                or "-",
            )
        )
    # what this copy is relative to the keeper, as measured by the scan; then the user's
    rows.append(("flags", "; ".join([*member.flags, *([mine] if mine else [])]) or "-"))
    rows.append(("", ""))
    rows.append(("group", f"{group.tier} · {len(group.members)} files · {status}"))
    free = sum(m.size for m in group.members if m.path not in keep)
    rows.append(("free", human_bytes(free)))
    rows.append(("suggest", os.path.basename(group.keep)))
    rows.append(("because", group.reason))
    return rows


def details_text(rows: list[tuple[str, str]], width: int) -> Content:
    """Label column in bold, values wrapped (long names folded) under their own column."""
    value_w = max(8, width - LABEL_W - 1)
    lines: list[Content] = []
    for label, value in rows:
        parts = textwrap.wrap(value, value_w, break_on_hyphens=False) or [""]
        for i, part in enumerate(parts):
            lines.append(
                Content.assemble(
                    ((label if i == 0 else "").ljust(LABEL_W), "bold"),
                    " ",
                    (part, "bold") if label == "action" else part,
                )
            )
    return Content("\n").join(lines)


class Details(Static):
    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._shown: object = None

    def show(
        self,
        group: Group | None,
        member: Member | None,
        keep: frozenset[str],
        status: str,
        marked: bool = False,
        favourite: bool = False,
    ) -> None:
        if group is None or member is None:
            self._set(None, "No groups. Press 1 to choose folders, then s to scan.")
            return
        mine = " ".join(f for f, on in (("marked", marked), ("favourite", favourite)) if on)
        rows = _rows(group, member, keep, status, mine)
        width = self.content_region.width or self.size.width or 46
        self._set((tuple(rows), width), lambda: details_text(rows, width))

    def _set(self, key: object, make: object) -> None:
        """Repaint only when what the pane says changed (l/h within a group often keeps it)."""
        if key is not None and key == self._shown:
            return
        self._shown = key
        self.update(make() if callable(make) else make, layout=False)  # fixed size: no relayout
