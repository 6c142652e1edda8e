"""Acting on files: plan → journal (intent) → do → journal (result); undo/redo; recovery.

This is the engine-level API the CLI and the TUI's apply and history screens use. Long
operations are generators of typed events (:mod:`lookalike.engine.events`); the last
event is always :class:`BatchFinished`.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# What each name is imported from, on first use (PEP 562): `lookalike scan` and the other
# commands that never act on files do not pay for the whole package at start-up.
_LAZY = {
    "async_events": "lookalike.engine.actions.aio",
    "apply_plan": "lookalike.engine.actions.apply",
    "redo": "lookalike.engine.actions.apply",
    "redo_plan": "lookalike.engine.actions.apply",
    "ActionError": "lookalike.engine.actions.errors",
    "ConfirmationRequired": "lookalike.engine.actions.errors",
    "JournalBusy": "lookalike.engine.actions.errors",
    "JournalError": "lookalike.engine.actions.errors",
    "NothingToDo": "lookalike.engine.actions.errors",
    "OperationFailed": "lookalike.engine.actions.errors",
    "PlanRefused": "lookalike.engine.actions.errors",
    "UsageError": "lookalike.engine.actions.errors",
    "VerifyError": "lookalike.engine.actions.errors",
    "ExportResult": "lookalike.engine.actions.export",
    "export_kept": "lookalike.engine.actions.export",
    "kept_set": "lookalike.engine.actions.export",
    "BatchSummary": "lookalike.engine.actions.journal",
    "ItemRecord": "lookalike.engine.actions.journal",
    "Journal": "lookalike.engine.actions.journal",
    "OpSpec": "lookalike.engine.actions.plan",
    "Plan": "lookalike.engine.actions.plan",
    "PlanItem": "lookalike.engine.actions.plan",
    "Refusal": "lookalike.engine.actions.plan",
    "ShrinkOptions": "lookalike.engine.actions.plan",
    "load_plan": "lookalike.engine.actions.plan",
    "parse_action": "lookalike.engine.actions.plan",
    "save_plan": "lookalike.engine.actions.plan",
    "build_plan": "lookalike.engine.actions.plan_build",
    "empty_quarantine": "lookalike.engine.actions.quarantine",
    "quarantine_contents": "lookalike.engine.actions.quarantine",
    "InterruptedBatch": "lookalike.engine.actions.recovery",
    "RecoveredItem": "lookalike.engine.actions.recovery",
    "RecoveryReport": "lookalike.engine.actions.recovery",
    "pending_recovery": "lookalike.engine.actions.recovery",
    "settle_pending": "lookalike.engine.actions.recovery",
    "StatsReport": "lookalike.engine.actions.stats",
    "compute_stats": "lookalike.engine.actions.stats",
    "undo": "lookalike.engine.actions.undo",
    "BatchFinished": "lookalike.engine.events",
    "BatchStarted": "lookalike.engine.events",
    "ItemOutcome": "lookalike.engine.events",
}


class _Package(types.ModuleType):
    """This package, which ignores the import system binding a submodule over a lazy name:
    ``undo`` is the function (``.undo.undo``), yet importing ``lookalike.engine.actions.undo``
    before anyone asked the package for ``undo`` made ``actions.undo`` the module, and
    ``lookalike undo`` failed with "'module' object is not callable"."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def history(journal_path: Path | None = None, limit: int | None = None) -> list[BatchSummary]:
    """Batches, newest first (for ``lookalike history`` and the TUI's history screen)."""
    path = Path(journal_path) if journal_path else None
    from lookalike.engine import settings
    from lookalike.engine.actions.journal import Journal

    if not (path or settings.current().journal_path).exists():
        return []
    with Journal(path) as j:
        return j.batches(limit)


def batch_items(batch_id: str, journal_path: Path | None = None) -> list[ItemRecord]:
    """Every file of one batch with its state, source and destination."""
    from lookalike.engine.actions.errors import NothingToDo
    from lookalike.engine.actions.journal import Journal

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
