"""Acting on files: plan → journal (intent) → do → journal (result); undo/redo; recovery.

This is the engine-level API the CLI and the TUI's apply and history screens use. Long
operations are generators of typed events (:mod:`lookalike.engine.events`); the last
event is always :class:`BatchFinished`.
"""

from __future__ import annotations

from pathlib import Path

from lookalike.engine.actions.aio import async_events
from lookalike.engine.actions.apply import apply_plan, redo, redo_plan
from lookalike.engine.actions.errors import (
    ActionError,
    ConfirmationRequired,
    JournalBusy,
    JournalError,
    NothingToDo,
    OperationFailed,
    PlanRefused,
    UsageError,
    VerifyError,
)
from lookalike.engine.actions.export import ExportResult, export_kept, kept_set
from lookalike.engine.actions.journal import BatchSummary, ItemRecord, Journal
from lookalike.engine.actions.plan import (
    OpSpec,
    Plan,
    PlanItem,
    Refusal,
    ShrinkOptions,
    load_plan,
    parse_action,
    save_plan,
)
from lookalike.engine.actions.plan_build import build_plan
from lookalike.engine.actions.quarantine import empty_quarantine, quarantine_contents
from lookalike.engine.actions.recovery import (
    InterruptedBatch,
    RecoveredItem,
    RecoveryReport,
    pending_recovery,
    settle_pending,
)
from lookalike.engine.actions.stats import StatsReport, compute_stats
from lookalike.engine.actions.undo import undo
from lookalike.engine.events import BatchFinished, BatchStarted, ItemOutcome


def history(journal_path: Path | None = None, limit: int | None = None) -> list[BatchSummary]:
    """Batches, newest first (for ``lookalike history`` and the TUI's history screen)."""
    path = Path(journal_path) if journal_path else None
    from lookalike.engine import settings

    if not (path or settings.current().journal_path).exists():
        return []
    with Journal(path) as j:
        return j.batches(limit)


def batch_items(batch_id: str, journal_path: Path | None = None) -> list[ItemRecord]:
    """Every file of one batch with its state, source and destination."""
    with Journal(journal_path) as j:
        if not j.batch_exists(batch_id):
            raise NothingToDo(f"no batch {batch_id} in the journal", "see lookalike history")
        return j.items(batch_id)


__all__ = [
    "ActionError",
    "BatchFinished",
    "BatchStarted",
    "BatchSummary",
    "ConfirmationRequired",
    "ExportResult",
    "InterruptedBatch",
    "ItemOutcome",
    "ItemRecord",
    "Journal",
    "JournalBusy",
    "JournalError",
    "NothingToDo",
    "OpSpec",
    "OperationFailed",
    "Plan",
    "PlanItem",
    "PlanRefused",
    "RecoveredItem",
    "RecoveryReport",
    "Refusal",
    "ShrinkOptions",
    "StatsReport",
    "UsageError",
    "VerifyError",
    "apply_plan",
    "async_events",
    "batch_items",
    "build_plan",
    "compute_stats",
    "empty_quarantine",
    "export_kept",
    "history",
    "kept_set",
    "load_plan",
    "parse_action",
    "pending_recovery",
    "quarantine_contents",
    "redo",
    "redo_plan",
    "save_plan",
    "settle_pending",
    "undo",
]
