"""Command palette provider: "go to file" over every file of every group.

Screen actions and mode switches come from ``LookalikeApp.get_system_commands``; this adds the
files, so ``ctrl+p`` + part of a name jumps to its group in Review.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
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
        positions: Iterable[int] = range(len(state.view))
        if state.stored is not None:  # a paged review: only the groups whose paths match
            hits = state.stored.positions_with_path(lambda p: q in os.path.basename(p).lower())
            positions = positions if hits is None else hits.tolist()
        for pos in positions:
            group = state.by_id[state.view[pos]]
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
