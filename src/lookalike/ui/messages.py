"""Messages the app's workers post; only handlers on the event loop act on them."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from lookalike.engine.events import (
    Event,
    StageProgress,
)
from lookalike.engine.records import Group
from lookalike.ui.engine_port import (
    ApplyProgress,
    BatchInfo,
    BatchResult,
    PlanSummary,
)

# -- messages (posted by workers, handled on the event loop) ---------------------------------


class ScanEvent(Message):
    """One engine event. Progress of the same stage coalesces: only the newest is drawn."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, ScanEvent)
            and isinstance(self.event, StageProgress)
            and isinstance(message.event, StageProgress)
            and message.event.stage == self.event.stage
        )


class ScanFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class Loaded(Message):
    def __init__(
        self,
        groups: list[Group],
        state: Any,
        recent: Any,
        dirs: Any,
        error: str,
        notes: list[str],
        records: Any = None,
        rule_hits: dict[str, str] | None = None,
        stored: Any = None,
        later: bool = False,
    ) -> None:
        super().__init__()
        self.stored = stored  # ui.group_pages.StoredReview: the stored review, paged
        self.later = later  # match ``records`` in a worker after the first page shows
        self.groups, self.state, self.recent, self.dirs = groups, state, recent, dirs
        self.error, self.notes, self.records = error, notes, records
        self.rule_hits = rule_hits or {}


class GroupsReloaded(Message):
    """The stored review after a scan (its groups merged with the rest of the library)."""

    def __init__(self, groups: list[Group] | None, error: str = "", stored: Any = None) -> None:
        super().__init__()
        self.groups, self.error = groups, error
        self.stored = stored  # ui.group_pages.StoredReview (None: ``groups`` hold them all)


class PlanReady(Message):
    def __init__(self, plan: PlanSummary | None, error: str = "") -> None:
        super().__init__()
        self.plan, self.error = plan, error


class ApplyStep(Message):
    def __init__(self, progress: ApplyProgress) -> None:
        super().__init__()
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ApplyStep)


class ApplyDone(Message):
    def __init__(self, plan: PlanSummary, result: BatchResult | None, error: str = "") -> None:
        super().__init__()
        self.plan, self.result, self.error = plan, result, error


class HistoryLoaded(Message):
    def __init__(self, batches: list[BatchInfo], error: str = "") -> None:
        super().__init__()
        self.batches, self.error = batches, error


class UndoDone(Message):
    def __init__(self, verb: str, batch_id: str, result: BatchResult | None, error: str) -> None:
        super().__init__()
        self.verb, self.batch_id, self.result, self.error = verb, batch_id, result, error
