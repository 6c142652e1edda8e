"""Events of the action layer (apply, undo, redo, recovery) for the TUI's apply and history
screens and the CLI. Frozen dataclasses on the engine's :class:`Event` base, so they travel as
Textual messages or JSON lines just like scan events."""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.engine.events import Event


@dataclass(frozen=True)
class BatchStarted(Event):
    batch_id: str
    action: str
    total: int
    phase: str  # apply | undo | redo
    kind = "batch_started"

    def to_json(self) -> dict:
        return {
            "event": self.kind,
            "batch": self.batch_id,
            "action": self.action,
            "total": self.total,
            "phase": self.phase,
        }


@dataclass(frozen=True)
class ItemOutcome(Event):
    """One file handled. ``outcome``: done, skipped, failed, undone, undo-failed, not-undoable."""

    batch_id: str
    seq: int
    index: int  # 1-based position in this run, for progress bars
    total: int
    op: str
    source: str
    dest: str | None
    outcome: str
    message: str = ""
    size: int = 0
    kind = "item"

    def to_json(self) -> dict:
        return {
            "event": self.kind,
            "batch": self.batch_id,
            "seq": self.seq,
            "index": self.index,
            "total": self.total,
            "op": self.op,
            "source": self.source,
            "dest": self.dest,
            "outcome": self.outcome,
            "message": self.message,
            "size": self.size,
        }


@dataclass(frozen=True)
class BatchFinished(Event):
    batch_id: str
    action: str
    phase: str
    state: str  # journal state of the batch afterwards
    done: int
    skipped: int
    failed: int
    bytes: int  # bytes freed (apply) or restored (undo)
    cancelled: bool = False
    kind = "batch_finished"

    @property
    def ok(self) -> bool:
        return not (self.skipped or self.failed or self.cancelled)

    def to_json(self) -> dict:
        return {
            "event": self.kind,
            "batch": self.batch_id,
            "action": self.action,
            "phase": self.phase,
            "state": self.state,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "bytes": self.bytes,
            "cancelled": self.cancelled,
        }
