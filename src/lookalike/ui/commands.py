"""Command palette provider: "go to file" over every file of every group.

Screen actions and mode switches come from ``LookalikeApp.get_system_commands``; this adds the
files, so ``ctrl+p`` + part of a name jumps to its group in Review.
"""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING

from textual.command import Hit, Hits, Provider

if TYPE_CHECKING:
    from lookalike.ui.app import LookalikeApp

MAX_HITS = 20


class GoToFileProvider(Provider):
    async def search(self, query: str) -> Hits:
        q = query.strip().lower()
        if len(q) < 2:
            return
        app: LookalikeApp = self.app  # type: ignore[assignment]
        state = app.review
        found = 0
        for pos, gid in enumerate(state.view):
            group = state.by_id[gid]
            for j, m in enumerate(group.members):
                name = os.path.basename(m.path)
                if q in name.lower():
                    found += 1
                    yield Hit(
                        1.0 - found / 1000,
                        f"Go to file: {name}",
                        partial(app.go_to, pos, j),
                        text=f"Go to file: {name}",
                        help=f"group {pos + 1} · {group.tier} · {os.path.dirname(m.path)}",
                    )
                    if found >= MAX_HITS:
                        return
