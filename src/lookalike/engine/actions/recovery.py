"""Crash recovery: find batches a dead process left ``running``/``undoing`` and settle them.

Detection is read-only (:func:`pending_recovery`) so any command can report it at start;
settling (:func:`settle_interrupted`) runs under the journal lock before new work. Settling
never pushes an interrupted apply forward: each file is found either where it was or where the
journal says it went, half-done work is rolled back, and ``lookalike undo`` then rolls back the
part that was done. An interrupted *undo* is completed (restoring is always the safe way).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lookalike.engine import settings
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.errors import ActionError
from lookalike.engine.actions.journal import Journal


@dataclass(frozen=True)
class RecoveredItem:
    seq: int
    op: str
    source: str
    dest: str | None
    done: bool  # the operation took effect (the file is at ``dest`` / was linked …)
    message: str

    def to_json(self) -> dict:
        return {
            "seq": self.seq,
            "op": self.op,
            "source": self.source,
            "dest": self.dest,
            "done": self.done,
            "message": self.message,
        }


@dataclass(frozen=True)
class InterruptedBatch:
    id: str
    action: str
    phase: str  # apply | undo
    created: float
    items: tuple[RecoveredItem, ...]

    @property
    def done(self) -> int:
        return sum(i.done for i in self.items)

    @property
    def not_done(self) -> int:
        return len(self.items) - self.done

    def to_json(self) -> dict:
        return {
            "batch": self.id,
            "action": self.action,
            "phase": self.phase,
            "created": self.created,
            "done": self.done,
            "not_done": self.not_done,
            "items": [i.to_json() for i in self.items],
        }


@dataclass(frozen=True)
class RecoveryReport:
    batches: tuple[InterruptedBatch, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.batches)

    def to_json(self) -> dict:
        return {"interrupted": [b.to_json() for b in self.batches]}


def _ops():  # type: ignore[no-untyped-def]
    """File operations, imported only when a batch is really left unfinished: every command
    checks the journal at start-up, and nearly always finds nothing to settle."""
    from lookalike.engine.actions import operations

    return operations


def _undo_ops():  # type: ignore[no-untyped-def]
    from lookalike.engine.actions import operations_undo

    return operations_undo


def _describe(j: Journal, b: jn.BatchSummary, *, dry: bool) -> InterruptedBatch:
    phase = "undo" if b.state == jn.UNDOING else "apply"
    out: list[RecoveredItem] = []
    for rec in j.items(b.id):
        if rec.state in (jn.STARTED,):
            try:
                done, msg = _ops().settle(rec, dry=dry)
            except OSError as exc:
                done, msg = False, f"could not settle: {exc}"
            msg = "was in progress: " + msg
        elif rec.state == jn.ITEM_UNDOING:
            done, msg = True, f"was being restored from {rec.dest}"
        elif rec.state in (jn.ITEM_DONE, jn.UNDO_FAILED):
            done, msg = True, f"{rec.op} done" + (f": now at {rec.dest}" if rec.dest else "")
        elif rec.state == jn.PLANNED:
            done, msg = False, "untouched (still at its place)"
        elif rec.state == jn.ITEM_UNDONE:
            done, msg = False, "restored"
        else:
            done, msg = False, f"{rec.state}" + (f": {rec.error}" if rec.error else "")
        out.append(RecoveredItem(rec.seq, rec.op, rec.source, rec.dest, done, msg))
    return InterruptedBatch(b.id, b.action, phase, b.created, tuple(out))


def pending_recovery(journal_path: Path | None = None) -> RecoveryReport:
    """Batches left unfinished by a process that is gone, file by file; changes nothing."""
    path = Path(journal_path) if journal_path else settings.current().journal_path
    if not path.exists():
        return RecoveryReport()
    with Journal(path) as j:
        active = j.batches_in(jn.ACTIVE)
        if not active or not jn.lock_is_free(path):
            return RecoveryReport()
        return RecoveryReport(tuple(_describe(j, b, dry=True) for b in active))


def settle_pending(journal_path: Path | None = None) -> RecoveryReport:
    """Settle interrupted batches now (takes the journal lock); what they were, as reported."""
    path = Path(journal_path) if journal_path else settings.current().journal_path
    if not path.exists():
        return RecoveryReport()
    with jn.journal_lock(path), Journal(path) as j:
        return settle_interrupted(j)


def settle_interrupted(j: Journal) -> RecoveryReport:
    """Settle every interrupted batch (and an interrupted ``quarantine empty``); the caller
    holds the journal lock."""
    settle_purging(j)
    reports = []
    for b in j.batches_in(jn.ACTIVE):
        reports.append(_describe(j, b, dry=True))
        settle_batch(j, b.id, undoing=b.state == jn.UNDOING)
    return RecoveryReport(tuple(reports))


def settle_batch(j: Journal, batch_id: str, *, undoing: bool) -> None:
    """Resolve ``started``/``undoing`` rows from the disk and close the batch."""
    j.flush()
    for rec in j.items(batch_id, (jn.STARTED, jn.ITEM_UNDOING)):
        if rec.state == jn.STARTED:
            try:
                done, msg = _ops().settle(rec)
            except OSError as exc:
                j.set_item(
                    batch_id, rec.seq, jn.FAILED, error=f"interrupted; could not settle: {exc}"
                )
                continue
            j.set_item(
                batch_id,
                rec.seq,
                jn.ITEM_DONE if done else jn.NOT_DONE,
                detail=rec.detail,  # settle may have learned more (e.g. the new file's hash)
                error=f"interrupted; {msg}",
            )
        else:
            try:
                _undo_ops().undo(rec)
                j.set_item(batch_id, rec.seq, jn.ITEM_UNDONE)
            except (OSError, ActionError) as exc:
                j.set_item(batch_id, rec.seq, jn.UNDO_FAILED, error=str(exc))
    j.set_items_state(batch_id, jn.PLANNED, jn.NOT_DONE, error="interrupted before its turn")
    if undoing:
        left = j.items(batch_id, (jn.ITEM_DONE, jn.UNDO_FAILED))
        undoable = [r for r in left if r.op != "delete"]
        j.set_batch_state(batch_id, jn.PARTLY_UNDONE if undoable else jn.UNDONE, finished=True)
    else:
        j.set_batch_state(batch_id, jn.INTERRUPTED, finished=True)


def settle_purging(j: Journal) -> None:
    """``purging`` rows of a killed ``quarantine empty`` or ``merge-backups remove``: the file
    (a merge item's: its backup) is gone → ``purged``; it is still there → ``done`` again
    (listed, and undo can restore it)."""
    for rec in j.purging_items():
        merge = rec.op == "metadata"
        path = rec.detail.get("backup") if merge else rec.dest
        if not (path and os.path.lexists(path)):
            why = "merge backup removed; this merge can no longer be undone" if merge else None
            j.set_item(rec.batch, rec.seq, jn.PURGED, error=why or "quarantine emptied", defer=True)
        else:
            j.set_item(rec.batch, rec.seq, jn.ITEM_DONE, defer=True)
    j.flush()
