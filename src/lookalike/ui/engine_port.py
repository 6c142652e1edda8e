"""The small protocol the terminal app needs from the engine.

The UI talks only to :class:`EnginePort`, so tests and benchmarks drive it with a fake and the
CLI with :class:`EngineAdapter` around the real :class:`lookalike.engine.api.Engine`. Everything
but ``scan`` is a plain blocking call: the UI always runs those in a thread worker.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.events import Event
from lookalike.engine.member_columns import MemberColumns
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import Group
from lookalike.engine.stored_match import SetMatches


class ActionsUnavailable(RuntimeError):
    """The engine has no actions/journal API (yet); the UI says so instead of crashing."""


@dataclass(frozen=True)
class PlanItem:
    """One file the plan will act on."""

    source: str
    group_id: int
    size: int
    destination: str | None = None


@dataclass(frozen=True)
class PlanSummary:
    """What the apply screen shows before asking; ``native`` is the engine's own plan object."""

    operation: str
    items: tuple[PlanItem, ...]
    groups: int
    refused: tuple[str, ...] = ()
    native: Any = None
    merge: str | None = None  # "sidecar" / "file": merge the copies' metadata into keepers first

    @property
    def files(self) -> int:
        return len(self.items)

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.items)


@dataclass(frozen=True)
class ApplyProgress:
    done: int
    total: int
    path: str = ""
    ok: bool = True
    message: str = ""


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    done: int
    failed: int = 0
    skipped: int = 0
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchInfo:
    """One journal batch as the history screen lists it."""

    batch_id: str
    time: str
    operation: str
    files: int
    bytes: int
    state: str  # done | undone | partial | interrupted | failed
    details: tuple[str, ...] = field(default=())


@runtime_checkable
class EnginePort(Protocol):
    """What the UI calls. Blocking methods are only ever called from thread workers."""

    def scan(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> AsyncIterator[Event]: ...

    def last_groups(self) -> list[Group]: ...

    def load_state(self, key: str, default: object = None) -> object: ...

    def save_state(self, key: str, value: object) -> None: ...

    def mark_not_duplicate(self, paths: list[str]) -> None: ...

    def forget_not_duplicate(self, paths: list[str]) -> None: ...

    def set_favourite(self, path: str, on: bool) -> None: ...

    def set_mark(self, path: str, on: bool) -> None: ...

    def set_note(self, path: str, text: str) -> None: ...

    def catalog_marks(self) -> dict[str, Any]: ...

    def file_info(self, path: str) -> dict[str, Any]: ...

    def make_pdf(self, paths: Sequence[str], out: str) -> str: ...

    def video_frame(self, path: str, seconds: float) -> Any: ...

    def load_decisions(self) -> list[dict[str, Any]]: ...

    def save_decisions(self, upserts: list[dict[str, Any]], deletes: list[str]) -> None: ...

    def plan(
        self,
        groups: Sequence[Group],
        removals: Mapping[int, Sequence[str]],
        operation: str,
        *,
        references: Sequence[str] = (),
        favourites: Collection[str] = (),
        tiers: Sequence[str] = ("exact", "same"),
    ) -> PlanSummary: ...

    def apply(
        self, plan: PlanSummary, progress: Callable[[ApplyProgress], None]
    ) -> BatchResult: ...

    def history(self) -> list[BatchInfo]: ...

    def undo(self, batch_id: str) -> BatchResult: ...

    def redo(self, batch_id: str) -> BatchResult: ...

    def recovery_notes(self) -> list[str]: ...

    def rule_previews(self) -> list[Any]: ...

    def stored_rule_hits(self) -> dict[str, str]: ...


class EngineAdapter:
    """Wraps the real Engine; the actions API is imported lazily and adapted here only."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    # -- passthrough -------------------------------------------------------------------------
    def scan(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> AsyncIterator[Event]:
        return self.engine.scan(options, cancel)

    def last_groups(self) -> list[Group]:
        return self.engine.last_groups()

    def sweep_cache(self) -> str | None:
        """After a scan: the thumbnail cache's automatic sweep when one is due
        (engine/thumb_sweep.py); its one line, if it has one."""
        from lookalike.engine import settings, thumb_sweep

        return thumb_sweep.after_scan_note(self.engine.thumb_dir, settings.current().catalog_path)

    # -- the stored review a page at a time (ui/group_pages.py, docs/scale.md) -------------
    def group_count(self) -> int:
        return self.engine.group_count()

    def group_columns(self, flt: GroupFilter | None = None, sort: str = "order") -> np.ndarray:
        return self.engine.group_columns(flt, sort)

    def group_page(self, ords: Sequence[int]) -> list[Group]:
        return self.engine.group_page(ords)

    def group_ords_with(self, test: Callable[[str], bool]) -> np.ndarray:
        return self.engine.group_ords_with(test)

    def group_facts(self, ords: Sequence[int]) -> list[Group]:
        return self.engine.group_facts(ords)

    def group_ords_of_files(self, file_ids: Sequence[int], paths: Sequence[str] = ()) -> list[int]:
        return self.engine.group_ords_of_files(file_ids, paths)

    def group_member_columns(self, ords: Sequence[int]) -> MemberColumns:
        return self.engine.group_member_columns(ords)

    def group_match_sets(
        self, sets: Sequence[tuple[Collection[str], Collection[str]]]
    ) -> SetMatches:
        return self.engine.group_match_sets(sets)

    def rule_previews(self) -> list[Any]:
        """Every content rule scored on the catalog's images (engine/rules/preview.py)."""
        from lookalike import config
        from lookalike.engine.rules.preview import preview_catalog

        return preview_catalog(self.engine.catalog_path, config.load_config())

    def stored_rule_hits(self) -> dict[str, str]:
        """path → rule, as scan --rules / rules run left them (engine/rule_hits.py)."""
        return self.engine.rule_hits()

    def load_state(self, key: str, default: object = None) -> object:
        return self.engine.load_state(key, default)

    def save_state(self, key: str, value: object) -> None:
        self.engine.save_state(key, value)

    def mark_not_duplicate(self, paths: list[str]) -> None:
        self.engine.mark_not_duplicate(paths)

    def forget_not_duplicate(self, paths: list[str]) -> None:
        self.engine.forget_not_duplicate(paths)

    def set_favourite(self, path: str, on: bool) -> None:
        self.engine.set_favourite(path, on)

    def set_mark(self, path: str, on: bool) -> None:
        self.engine.set_mark(path, on)

    def set_note(self, path: str, text: str) -> None:
        self.engine.set_note(path, text)

    def catalog_marks(self) -> dict[str, Any]:
        return self.engine.catalog_marks()

    def file_info(self, path: str) -> dict[str, Any]:
        return self.engine.file_info(path)

    def video_frame(self, path: str, seconds: float) -> Any:
        """The frame of a video at ``seconds``, as a PIL image (raises VideoError)."""
        from PIL import Image

        from lookalike.engine.media.video import frame_at

        return Image.fromarray(frame_at(path, seconds))

    def make_pdf(self, paths: Sequence[str], out: str) -> str:
        """``lookalike pdf`` for the app: one line saying what was written (raises PdfError)."""
        from lookalike.engine.pdf import make_pdf

        res = make_pdf(list(paths), out)
        left = f"; {len(res.skipped)} left out ({res.skipped[0][1]} …)" if res.skipped else ""
        return f"{out}: {res.pages} page(s), {res.embedded} JPEG(s) embedded as they are{left}"

    def load_decisions(self, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return self.engine.load_decisions(keys)

    def pair_stored_decisions(self) -> Any:
        return self.engine.pair_stored_decisions()

    def save_decisions(self, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        self.engine.save_decisions(upserts, deletes)

    # -- actions (lookalike.engine.actions: build_plan, apply_plan, history, undo, redo) ----
    def _actions(self) -> Any:
        try:
            import lookalike.engine.actions as actions
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ActionsUnavailable(f"file actions are not available: {exc}") from exc
        return actions

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
        """The engine plans one keeper per group; extra kept files are left out of the group.

        The engine's plan builder enforces reference folders, favourites (these and the
        catalog's), the scanned roots and ``tiers``: a ``similar`` group is acted on only when
        the UI passes "similar" after its own confirmation."""
        actions = self._actions()
        by_id = {g.id: g for g in groups}
        planned: list[Group] = []
        suggested: dict[int, str] = {}
        for gid, gone in removals.items():
            g = by_id.get(gid)
            if g is None or not gone:
                continue
            gone_set = set(gone)
            kept = [m.path for m in g.members if m.path not in gone_set]
            if not kept:
                continue  # never plan away every copy
            keeper = g.keep if g.keep in kept else kept[0]
            members = tuple(m for m in g.members if m.path == keeper or m.path in gone_set)
            planned.append(replace(g, keep=keeper, members=members))
            suggested[gid] = g.keep
        native = actions.build_plan(
            planned,
            operation,
            suggested=suggested,
            references=references,
            favourites=favourites,
            tiers=tiers,
            catalog=_existing(getattr(self.engine, "catalog_path", None)),
        )
        items = tuple(
            PlanItem(source=i.source, group_id=i.group_id, size=i.size, destination=i.dest)
            for i in native.items
        )
        refused = tuple(f"{r.path}: {r.reason}" for r in native.refused)
        return PlanSummary(str(native.op), items, len(planned), refused, native)

    def _run_batch(
        self, events: Any, progress: Callable[[ApplyProgress], None] | None
    ) -> BatchResult:
        """Drain the engine's event generator to its end (its bookkeeping runs after the last
        event, e.g. redo marks the original batch), keeping the BatchFinished figures."""
        actions = self._actions()
        messages: list[str] = []
        result = BatchResult("", 0)
        for ev in events:
            if isinstance(ev, actions.ItemOutcome):
                if ev.outcome not in ("done", "undone") and len(messages) < 50:
                    messages.append(f"{ev.outcome}: {ev.source} {ev.message}".rstrip())
                if progress is not None:
                    progress(
                        ApplyProgress(
                            ev.index,
                            ev.total,
                            ev.source,
                            ev.outcome in ("done", "undone"),
                            ev.message,
                        )
                    )
            elif isinstance(ev, actions.BatchFinished):
                result = BatchResult(ev.batch_id, ev.done, ev.failed, ev.skipped)
        return replace(result, messages=tuple(messages))

    def apply(self, plan: PlanSummary, progress: Callable[[ApplyProgress], None]) -> BatchResult:
        actions = self._actions()
        # the Apply screen asks for "delete N files" (and the passphrase) before it calls this
        permanent = plan.native.op.kind == "delete"
        native, notes = plan.native, []
        if plan.merge:
            native, notes = _merge_first(native, plan.merge)
            if not native.items:  # every copy stays: what it knows could not be merged
                return BatchResult("", 0, skipped=len(plan.items), messages=tuple(notes))
        events = actions.apply_plan(native, origin="tui", allow_permanent=permanent)
        result = self._run_batch(events, progress)
        return replace(result, messages=(*notes, *result.messages)) if notes else result

    def history(self) -> list[BatchInfo]:
        actions = self._actions()
        out = []
        for n, b in enumerate(actions.history(limit=500)):
            details: tuple[str, ...] = ()
            if n < 20:  # item lists only for the recent batches: one query each
                try:
                    recs = actions.batch_items(b.id)
                except Exception:
                    recs = []
                details = tuple(
                    f"{r.state}: {r.source}"
                    + (f" → {r.dest}" if r.dest else "")
                    + (f" ({r.error})" if r.state == "purged" and r.error else "")
                    for r in recs[:40]
                )  # a purged row says why it cannot be undone (quarantine emptied, backup gone)
            out.append(
                BatchInfo(
                    batch_id=b.id,
                    time=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created)),
                    operation=b.action,
                    files=b.total,
                    bytes=b.bytes_done,
                    state=b.state,
                    details=details,
                )
            )
        return out

    def undo(self, batch_id: str) -> BatchResult:
        return self._run_batch(self._actions().undo(batch_id), None)

    def redo(self, batch_id: str) -> BatchResult:
        return self._run_batch(self._actions().redo(batch_id), None)

    def recovery_notes(self) -> list[str]:
        """One line per batch a crashed process left unfinished (changes nothing)."""
        report = self._actions().pending_recovery()
        return [
            f"Batch {b.id} ({b.action}, {b.phase}) was interrupted: {b.done} files done, "
            f"{b.not_done} not. Undo it from History (6)."
            for b in report.batches
        ]


def _merge_first(native: Any, mode: str) -> tuple[Any, list[str]]:
    """``--merge-metadata`` for the app: its own undoable batch, then the plan it leaves."""
    from lookalike.engine.actions.metawrite import merge_for_plan

    native, planned, got = merge_for_plan(native, into_file=mode == "file", origin="merge:tui")
    notes = [f"metadata → {j.target}: {', '.join(sorted(j.sources))}" for j in planned.jobs]
    notes += [f"conflict: {c}" for j in planned.jobs for c in j.conflicts]
    notes += [f"metadata not merged into {t}: {m}" for t, m in got.failed]
    notes += [f"left out: {r.path}: {r.reason}" for r in native.refused if "merged" in r.reason]
    return native, notes


def _existing(path: Any) -> Any:
    """The catalog path when the file is there (a plan records it and its id), else None."""
    return path if path is not None and os.path.isfile(path) else None


def as_port(engine: Any) -> EnginePort:
    """The CLI passes the real Engine, tests pass a port; both work with make_app."""
    if hasattr(engine, "plan") and hasattr(engine, "history"):
        return engine  # type: ignore[return-value]
    _start_resource_tracker()
    return EngineAdapter(engine)  # type: ignore[return-value]


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker while ``sys.stderr`` is still the real one.

    Textual replaces ``sys.stderr`` with a capture whose ``fileno()`` is -1; a process pool
    started later would then fail with "bad value(s) in fds_to_keep".
    """
    try:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    except Exception:  # not fatal: the scan reports its own error if the pool cannot start
        pass
