"""Details of the selected file: what a reviewer needs to judge a copy."""

from __future__ import annotations

import os

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from lookalike.engine.records import Group, Member
from lookalike.ui.widgets.grouplist import human_bytes


class Details(Static):
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
            self.update("No groups. Press 1 to choose folders, then s to scan.", layout=False)
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        verdict = "KEEP" if member.path in keep else "REMOVE"
        table.add_row("file", os.path.basename(member.path))
        table.add_row("folder", os.path.dirname(member.path))
        table.add_row("action", Text(verdict, style="bold"))
        table.add_row("size", f"{human_bytes(member.size)} ({member.size:,} bytes)")
        table.add_row("pixels", f"{member.width}x{member.height}")
        table.add_row("format", member.format)
        table.add_row("taken", member.capture_time or "-")
        table.add_row("camera", member.camera or "-")
        table.add_row("similar", f"{member.score:.3f}")
        if member.duration is not None:  # a video: probe, and the footage it shares
            fps = f" · {member.fps:g} fps" if member.fps else ""
            table.add_row("video", f"{member.duration:.1f} s{fps} · {member.codec or '?'}")
            table.add_row(
                "matched",
                "; ".join(
                    f"{s['a_start']:.1f}–{s['a_end']:.1f} s = keeper "
                    f"{s['b_start']:.1f}–{s['b_end']:.1f} s"
                    for s in member.segments
                )
                or "-",
            )
        mine = " ".join(f for f, on in (("marked", marked), ("favourite", favourite)) if on)
        # what this copy is relative to the keeper, as measured by the scan; then the user's
        table.add_row("flags", "; ".join([*member.flags, *([mine] if mine else [])]) or "-")
        table.add_row("", "")
        table.add_row("group", f"{group.tier} · {len(group.members)} files · {status}")
        table.add_row("free", human_bytes(sum(m.size for m in group.members if m.path not in keep)))
        table.add_row("suggest", os.path.basename(group.keep))
        table.add_row("because", group.reason)
        self.update(table, layout=False)  # fixed size: no relayout per key
