"""A fake engine for Pilot tests, snapshots and the key-to-screen benchmark.

Deterministic: fixed paths, sizes, dates and batch ids, so SVG snapshots do not drift. Its scan
can be stepped (``step_gate``) so a test can look at the screen in the middle of a scan.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.engine.catalog_groups import TIER_ORDER, GroupFilter
from lookalike.engine.events import (
    Event,
    GroupFound,
    ItemError,
    ScanFinished,
    ScanStarted,
    StageDone,
    StageProgress,
)
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import FileError, Group, Member, ScanStats
from lookalike.ui.engine_port import (
    ApplyProgress,
    BatchInfo,
    BatchResult,
    PlanItem,
    PlanSummary,
)

_COLOURS = [
    (200, 60, 60),
    (60, 160, 80),
    (60, 90, 200),
    (220, 180, 40),
    (150, 60, 180),
    (40, 170, 170),
]
_TIERS = ("exact", "same", "similar")


def make_thumbs(folder: Path, count: int = 6) -> list[str]:
    """Small gradient WebP/PNG thumbnails standing in for the scan's cache."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        path = folder / f"thumb{i}.png"
        if not path.exists():
            r, g, b = _COLOURS[i % len(_COLOURS)]
            im = Image.new("RGB", (64, 48), (r, g, b))
            draw = ImageDraw.Draw(im)
            draw.rectangle((8 + i * 4, 8, 40 + i * 2, 36), fill=(255 - r, 255 - g, 255 - b))
            draw.ellipse((36, 20, 58, 42), fill=(240, 240, 240))
            im.save(path)
        out.append(str(path))
    return out


def make_groups(n: int, thumbs: Sequence[str] = ()) -> list[Group]:
    groups = []
    for gid in range(1, n + 1):
        tier = _TIERS[gid % 3]
        size_n = 2 + gid % 3
        members = []
        for j in range(size_n):
            w, h = (4000 - j * 1000, 3000 - j * 750)
            members.append(
                Member(
                    path=f"/photos/{2020 + gid % 5}/trip{gid % 7}/IMG_{gid:05d}{'_copy' * j}.jpg",
                    size=4_000_000 - j * 900_000 - gid,
                    width=w,
                    height=h,
                    format="JPEG" if j % 2 == 0 else "WEBP",
                    score=1.0 if tier == "exact" else round(0.97 - j * 0.03, 2),
                    capture_time=f"2021-07-14 10:{gid % 60:02d}:00",
                    camera="Canon EOS 80D" if j == 0 else None,
                    thumb=thumbs[(gid + j) % len(thumbs)] if thumbs else None,
                )
            )
        groups.append(
            Group(
                id=gid,
                tier=tier,
                keep=members[0].path,
                reason="highest resolution (4000x3000)",
                members=tuple(members),
            )
        )
    return groups


def _with_id(g: Group, gid: int) -> Group:
    return g if g.id == gid else replace(g, id=gid)


class FakeEngine:
    """Implements :class:`lookalike.ui.engine_port.EnginePort` in memory."""

    def __init__(
        self, groups: Sequence[Group] = (), scan_groups: int = 3, thumbs: Sequence[str] = ()
    ):
        self.groups = list(groups)
        self.thumbs = list(thumbs)
        self.scan_groups = scan_groups
        self.state: dict[str, object] = {}
        self.not_dups: list[list[str]] = []
        self.favourites: dict[str, bool] = {}  # set_favourite calls (path → on)
        self.marks: dict[str, bool] = {}  # set_mark calls (path → on)
        self.notes: dict[str, str] = {}  # set_note calls (path → text)
        self.pdfs: list[tuple[list[str], str]] = []  # make_pdf calls
        self.plan_calls: list[dict] = []  # what the app passed to plan() (references, tiers)
        self.decisions: dict[str, dict] = {}  # stored review decisions by group key
        self.batches: list[BatchInfo] = []
        self.applied: list[PlanSummary] = []
        self.undone: list[str] = []
        self.recovery: list[str] = []
        self.loop_calls: list[str] = []  # blocking calls made on the event loop (should be none)
        self.step_gate: asyncio.Event | None = None  # tests: set() to let the scan go on
        self.pause_after = 0  # events let through before the gate is waited on
        self.scan_started = False
        self.previews: list[Any] = []  # content-rule previews (engine/rules/preview.Preview)
        self.stored_hits: dict[str, str] = {}  # path → rule, as scan --rules would have stored

    def _off_loop(self, name: str) -> None:
        """Blocking engine calls belong in thread workers; remember any made on the loop."""
        if threading.current_thread() is threading.main_thread():
            self.loop_calls.append(name)

    async def scan(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> AsyncIterator[Event]:
        cancel = cancel or threading.Event()
        self.scan_started = True
        found = make_groups(self.scan_groups, self.thumbs)
        yield ScanStarted(tuple(str(r) for r in options.roots), "/tmp/catalog.sqlite", 2)
        steps: list[Event] = [
            StageProgress("discover", 40, None),
            StageDone("discover", 0.5, 40),
            StageProgress("exact", 20, 40, rate=80.0, eta=0.3),
            ItemError(FileError("/photos/broken.jpg", "truncated JPEG")),
            StageProgress("extract", 30, 40, rate=12.5, eta=0.8),
            *[GroupFound(g) for g in found],
        ]
        for i, ev in enumerate(steps):
            if self.step_gate is not None and i >= self.pause_after:
                await self.step_gate.wait()
            if cancel.is_set():
                break
            yield ev
            await asyncio.sleep(0)
        stats = ScanStats(files_seen=40, groups=len(found), errors=1)
        if not cancel.is_set():
            self.groups = found
        yield ScanFinished(stats, tuple(found), (), cancelled=cancel.is_set())

    def last_groups(self) -> list[Group]:
        self._off_loop("last_groups")
        return list(self.groups)

    def group_count(self) -> int:
        self._off_loop("group_count")
        return len(self.groups)

    def group_columns(self, flt: GroupFilter | None = None, sort: str = "order") -> np.ndarray:
        """Indexes into ``groups`` (the fake's ords) in view order, as the engine's."""
        self._off_loop("group_columns")
        flt = flt or GroupFilter()
        keys = {
            "order": lambda i: 0,
            "bytes": lambda i: -self.groups[i].bytes_to_free,
            "size": lambda i: -len(self.groups[i].members),
            "tier": lambda i: TIER_ORDER.get(self.groups[i].tier, 3),
        }

        def shown(g: Group) -> bool:
            folder = flt.folder
            return (not flt.tier or g.tier == flt.tier) and (
                not folder or any(folder in os.path.dirname(m.path) for m in g.members)
            )

        ords = [i for i, g in enumerate(self.groups) if shown(g)]
        return np.array(sorted(ords, key=keys[sort]), dtype=np.int32)

    def group_page(self, ords: Sequence[int]) -> list[Group]:
        self._off_loop("group_page")
        n = len(self.groups)  # as the engine's: a stored group's id is its ord + 1
        return [_with_id(self.groups[int(o)], int(o) + 1) for o in ords if 0 <= int(o) < n]

    def group_ords_with(self, test: Callable[[str], bool]) -> np.ndarray:
        """As the engine's: ords of the groups with a member path that passes ``test``."""
        self._off_loop("group_ords_with")
        hits = [i for i, g in enumerate(self.groups) if any(test(m.path) for m in g.members)]
        return np.array(hits, dtype=np.int32)

    def group_facts(self, ords: Sequence[int]) -> list[Group]:
        """As the engine's: the groups without what only the JSON rows hold."""
        self._off_loop("group_facts")
        out = []
        for g in self.group_page(ords):
            members = tuple(
                replace(m, capture_time=None, camera=None, thumb=None, evidence=None)
                for m in g.members
            )
            out.append(replace(g, reason="", members=members))
        return out

    def group_ords_of_files(self, file_ids: Sequence[int], paths: Sequence[str] = ()) -> list[int]:
        self._off_loop("group_ords_of_files")
        ids, want = set(file_ids), set(paths)
        return [
            i
            for i, g in enumerate(self.groups)
            if any(m.file_id in ids or m.path in want for m in g.members)
        ]

    def load_state(self, key: str, default: object = None) -> object:
        self._off_loop("load_state")
        return self.state.get(key, default)

    def save_state(self, key: str, value: object) -> None:
        self._off_loop("save_state")
        self.state[key] = value

    def mark_not_duplicate(self, paths: list[str]) -> None:
        self._off_loop("mark_not_duplicate")
        self.not_dups.append(list(paths))

    def set_favourite(self, path: str, on: bool) -> None:
        self._off_loop("set_favourite")
        self.favourites[path] = on

    def set_mark(self, path: str, on: bool) -> None:
        self._off_loop("set_mark")
        self.marks[path] = on

    def set_note(self, path: str, text: str) -> None:
        self._off_loop("set_note")
        self.notes[path] = text

    def video_frame(self, path: str, seconds: float) -> object:
        raise OSError("the fake engine has no videos")

    def catalog_marks(self) -> dict[str, object]:
        self._off_loop("catalog_marks")
        return {
            "marked": [p for p, on in self.marks.items() if on],
            "favourites": [p for p, on in self.favourites.items() if on],
            "notes": {p: t for p, t in self.notes.items() if t},
            "folder_notes": {},
        }

    def file_info(self, path: str) -> dict[str, object]:
        """The real reader (it only reads the file): the panel shows what a file really says."""
        self._off_loop("file_info")
        from lookalike.engine.metadata.info import file_info

        return file_info(path)

    def make_pdf(self, paths: Sequence[str], out: str) -> str:
        self._off_loop("make_pdf")
        self.pdfs.append((list(paths), out))
        return f"{out}: {len(paths)} page(s)"

    def forget_not_duplicate(self, paths: list[str]) -> None:
        self._off_loop("forget_not_duplicate")
        self.not_dups = [p for p in self.not_dups if p != list(paths)]

    def load_decisions(self) -> list[dict]:
        self._off_loop("load_decisions")
        return [dict(d) for d in self.decisions.values()]

    def save_decisions(self, upserts: list[dict], deletes: list[str]) -> None:
        self._off_loop("save_decisions")
        for k in deletes:
            self.decisions.pop(k, None)
        for d in upserts:
            self.decisions[d["key"]] = dict(d)

    def plan(
        self,
        groups: Sequence[Group],
        removals: Mapping[int, Sequence[str]],
        operation: str,
        *,
        references: Sequence[str] = (),
        favourites: Collection[str] = (),
        tiers: Sequence[str] = ("exact", "same"),
    ) -> PlanSummary:
        self._off_loop("plan")
        self.plan_calls.append({"references": list(references), "tiers": list(tiers)})
        sizes = {m.path: m.size for g in groups for m in g.members}
        items = tuple(
            PlanItem(p, gid, sizes.get(p, 0))
            for gid, paths in sorted(removals.items())
            for p in paths
        )
        return PlanSummary(operation, items, len(removals))

    def apply(self, plan: PlanSummary, progress: Callable[[ApplyProgress], None]) -> BatchResult:
        self._off_loop("apply")
        for i, item in enumerate(plan.items, 1):
            progress(ApplyProgress(i, plan.files, item.source))
        batch_id = f"b{len(self.batches) + 1:04d}"
        self.applied.append(plan)
        self.batches.insert(
            0,
            BatchInfo(
                batch_id,
                "2026-11-22 03:00:00",
                plan.operation,
                plan.files,
                plan.bytes,
                "done",
                tuple(f"{plan.operation}: {i.source}" for i in plan.items[:50]),
            ),
        )
        return BatchResult(batch_id, plan.files)

    def history(self) -> list[BatchInfo]:
        self._off_loop("history")
        return list(self.batches)

    def _set_state(self, batch_id: str, state: str) -> BatchResult:
        for i, b in enumerate(self.batches):
            if b.batch_id == batch_id:
                self.batches[i] = BatchInfo(
                    b.batch_id, b.time, b.operation, b.files, b.bytes, state, b.details
                )
                return BatchResult(batch_id, b.files)
        return BatchResult(batch_id, 0, failed=1, messages=("no such batch",))

    def undo(self, batch_id: str) -> BatchResult:
        self._off_loop("undo")
        self.undone.append(batch_id)
        return self._set_state(batch_id, "undone")

    def redo(self, batch_id: str) -> BatchResult:
        self._off_loop("redo")
        return self._set_state(batch_id, "done")

    def recovery_notes(self) -> list[str]:
        self._off_loop("recovery_notes")
        return list(self.recovery)

    def rule_previews(self) -> list[Any]:
        self._off_loop("rule_previews")
        return list(self.previews)

    def stored_rule_hits(self) -> dict[str, str]:
        self._off_loop("stored_rule_hits")
        return dict(self.stored_hits)
