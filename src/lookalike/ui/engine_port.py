"""The small protocol the terminal app needs from the engine.

The UI talks only to :class:`EnginePort`, so tests and benchmarks drive it with a fake and the
CLI with :class:`EngineAdapter` around the real :class:`lookalike.engine.api.Engine`. Everything
but ``scan`` is a plain blocking call: the UI always runs those in a thread worker.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lookalike.engine.events import Event
from lookalike.engine.model import Group
from lookalike.engine.options import ScanOptions


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

    def plan(
        self, groups: Sequence[Group], removals: Mapping[int, Sequence[str]], operation: str
    ) -> PlanSummary: ...

    def apply(
        self, plan: PlanSummary, progress: Callable[[ApplyProgress], None]
    ) -> BatchResult: ...

    def history(self) -> list[BatchInfo]: ...

    def undo(self, batch_id: str) -> BatchResult: ...

    def redo(self, batch_id: str) -> BatchResult: ...


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

    def load_state(self, key: str, default: object = None) -> object:
        return self.engine.load_state(key, default)

    def save_state(self, key: str, value: object) -> None:
        self.engine.save_state(key, value)

    def mark_not_duplicate(self, paths: list[str]) -> None:
        self.engine.mark_not_duplicate(paths)

    # -- actions -----------------------------------------------------------------------------
    def _actions(self) -> Any:
        try:
            import lookalike.engine.actions as actions
        except ImportError as exc:  # pragma: no cover - depends on the other issue's progress
            raise ActionsUnavailable(f"file actions are not available: {exc}") from exc
        if not hasattr(actions, "plan") and not hasattr(self.engine, "plan_actions"):
            raise ActionsUnavailable("file actions are not available in this build yet")
        return actions

    def plan(
        self, groups: Sequence[Group], removals: Mapping[int, Sequence[str]], operation: str
    ) -> PlanSummary:
        actions = self._actions()
        by_id = {g.id: g for g in groups}
        sizes = {m.path: m.size for g in groups for m in g.members}
        native = actions.plan(by_id, removals, operation)  # adapted once the API is committed
        items = tuple(
            PlanItem(
                source=str(getattr(op, "source", op)),
                group_id=int(getattr(op, "group_id", -1) or -1),
                size=sizes.get(str(getattr(op, "source", op)), 0),
                destination=(str(op.destination) if getattr(op, "destination", None) else None),
            )
            for op in getattr(native, "items", getattr(native, "operations", ()))
        )
        refused = tuple(str(r) for r in getattr(native, "refused", ()))
        return PlanSummary(operation, items, len(removals), refused, native)

    def apply(self, plan: PlanSummary, progress: Callable[[ApplyProgress], None]) -> BatchResult:
        actions = self._actions()
        result = actions.apply(plan.native)
        return _batch_result(result)

    def history(self) -> list[BatchInfo]:
        actions = self._actions()
        out = []
        for b in actions.history():
            out.append(
                BatchInfo(
                    batch_id=str(getattr(b, "batch_id", getattr(b, "id", ""))),
                    time=str(getattr(b, "time", getattr(b, "created", ""))),
                    operation=str(getattr(b, "operation", "")),
                    files=int(getattr(b, "files", 0) or 0),
                    bytes=int(getattr(b, "bytes", 0) or 0),
                    state=str(getattr(b, "state", "")),
                )
            )
        return out

    def undo(self, batch_id: str) -> BatchResult:
        return _batch_result(self._actions().undo(batch_id))

    def redo(self, batch_id: str) -> BatchResult:
        return _batch_result(self._actions().redo(batch_id))


def _batch_result(result: Any) -> BatchResult:
    return BatchResult(
        batch_id=str(getattr(result, "batch_id", getattr(result, "id", ""))),
        done=int(getattr(result, "done", 0) or 0),
        failed=int(getattr(result, "failed", 0) or 0),
        skipped=int(getattr(result, "skipped", 0) or 0),
        messages=tuple(str(m) for m in getattr(result, "messages", ()) or ()),
    )


def as_port(engine: Any) -> EnginePort:
    """The CLI passes the real Engine, tests pass a port; both work with make_app."""
    if hasattr(engine, "plan") and hasattr(engine, "history"):
        return engine  # type: ignore[return-value]
    return EngineAdapter(engine)  # type: ignore[return-value]
