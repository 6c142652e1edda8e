"""Events the engine yields while it works: scans, and the action batches (apply, undo, redo).

They are frozen dataclasses so the TUI can post them as messages and the headless runner can
write them as JSON lines (``--format jsonl``); ``to_json`` is that schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lookalike.engine.records import FileError, Group, ScanStats


@dataclass(frozen=True)
class Event:
    kind = "event"

    def to_json(self) -> dict:
        return {"event": self.kind}


@dataclass(frozen=True)
class ScanStarted(Event):
    roots: tuple[str, ...]
    catalog: str
    workers: int
    kind = "started"

    def to_json(self) -> dict:
        return {
            "event": self.kind,
            "roots": list(self.roots),
            "catalog": self.catalog,
            "workers": self.workers,
        }


@dataclass(frozen=True)
class StageProgress(Event):
    """Progress of one stage. ``total`` is None while unknown (discovery)."""

    stage: str  # discover | catalog | exact | extract | video | embed | index | group | rank
    done: int
    total: int | None
    rate: float | None = None  # items per second
    eta: float | None = None  # seconds left
    kind = "progress"

    def to_json(self) -> dict:
        return {
            "event": self.kind,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "rate": None if self.rate is None else round(self.rate, 2),
            "eta": None if self.eta is None else round(self.eta, 1),
        }


@dataclass(frozen=True)
class StageDone(Event):
    stage: str
    seconds: float
    count: int = 0
    kind = "stage_done"

    def to_json(self) -> dict:
        return {
            "event": self.kind,
            "stage": self.stage,
            "seconds": round(self.seconds, 3),
            "count": self.count,
        }


@dataclass(frozen=True)
class ItemError(Event):
    error: FileError
    kind = "error"

    def to_json(self) -> dict:
        return {"event": self.kind, **self.error.to_json()}


@dataclass(frozen=True)
class GroupFound(Event):
    group: Group
    kind = "group"

    def to_json(self) -> dict:
        return {"event": self.kind, **self.group.to_json()}


@dataclass(frozen=True)
class Notice(Event):
    """A diagnostic line for the user (warnings, hints); never data."""

    message: str
    level: str = "info"
    kind = "notice"

    def to_json(self) -> dict:
        return {"event": self.kind, "level": self.level, "message": self.message}


@dataclass(frozen=True)
class ScanFinished(Event):
    stats: ScanStats
    # the scan's own groups, in order: from the engine a ScanGroups (engine/scan_groups.py)
    # that reads them from disk a chunk at a time — never every group in memory at once
    groups: Sequence[Group] = field(default=())
    errors: tuple[FileError, ...] = field(default=())
    cancelled: bool = False
    # scan --rules: (path, rule, score, action) for every file a content rule fired on, and
    # the one message that stopped the rules (a classifier or model that cannot load), if any
    rule_hits: tuple[tuple[str, str, float, str], ...] = field(default=())
    rule_error: str = ""
    kind = "finished"

    def to_json(self) -> dict:
        return {"event": self.kind, "cancelled": self.cancelled, "stats": self.stats.to_json()}


# Events of the action layer (apply, undo, redo, recovery): the apply and history screens and
# the CLI read them like scan events.


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
