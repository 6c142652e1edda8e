"""Undo a batch from the journal: files come back, last moved first, byte for byte.

Works across sessions and reboots (everything needed is in the journal and, for the trash, in
the ``.trashinfo`` files). Each restore is journalled like an apply (``undoing`` before, ``undone``
after), and restoring is idempotent, so an undo cut short is finished by the next start.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from lookalike.engine.actions import journal as jn
from lookalike.engine.actions import operations as ops
from lookalike.engine.actions import stats
from lookalike.engine.actions.errors import ActionError, NothingToDo
from lookalike.engine.actions.events import BatchFinished, BatchStarted, ItemOutcome
from lookalike.engine.actions.fsutil import describe_oserror
from lookalike.engine.actions.journal import BatchSummary, Journal, journal_lock
from lookalike.engine.actions.recovery import settle_interrupted

UNDO_FROM = (jn.ITEM_DONE, jn.ITEM_UNDOING, jn.UNDO_FAILED)
UNDOABLE_BATCH = (jn.DONE, jn.INTERRUPTED, jn.PARTLY_UNDONE, jn.REDONE)


def undo_target(j: Journal, batch_id: str | None) -> BatchSummary:
    """The batch ``undo`` would roll back: the given one, else the newest with files to restore."""
    if batch_id is not None:
        b = j.batch(batch_id)
        if b is None:
            raise NothingToDo(f"no batch {batch_id} in the journal", "see lookalike history")
        return b
    for b in j.batches():
        if b.state in UNDOABLE_BATCH and any(r.op != "delete" for r in j.items(b.id, UNDO_FROM)):
            return b
    raise NothingToDo("there is nothing to undo", "lookalike history lists past batches")


def undo(
    batch_id: str | None = None,
    journal_path: Path | None = None,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[ItemOutcome | BatchStarted | BatchFinished]:
    """Roll back ``batch_id`` (default: the newest batch with something to undo), including
    the done part of an interrupted batch. The last event is :class:`BatchFinished`."""
    with journal_lock(journal_path), Journal(journal_path) as j:
        settle_interrupted(j)
        b = undo_target(j, batch_id)
        recs = list(reversed(j.items(b.id, UNDO_FROM)))
        if not recs:
            raise NothingToDo(f"batch {b.id} has nothing left to undo (state: {b.state})")
        j.set_batch_state(b.id, jn.UNDOING)
        total = len(recs)
        yield BatchStarted(b.id, b.action, total, "undo")
        done = failed = restored = 0
        cancelled = finished = False
        try:
            for n, rec in enumerate(recs, 1):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                if rec.op == "delete":
                    failed += 1
                    yield ItemOutcome(
                        b.id,
                        rec.seq,
                        n,
                        total,
                        rec.op,
                        rec.source,
                        None,
                        "not-undoable",
                        f"{rec.source} was deleted permanently",
                        rec.size,
                    )
                    continue
                detail = ops.undo_prepare(rec)
                j.set_item(b.id, rec.seq, jn.ITEM_UNDOING, detail=detail)  # intent, fsynced
                rec = _with_detail(rec, detail)
                try:
                    msg = ops.undo(rec)
                except OSError as exc:
                    msg = describe_oserror(exc, "restore", rec.source)
                    j.set_item(b.id, rec.seq, jn.UNDO_FAILED, error=msg, defer=True)
                    failed += 1
                    outcome = jn.UNDO_FAILED
                except ActionError as exc:
                    msg = str(exc)
                    j.set_item(b.id, rec.seq, jn.UNDO_FAILED, error=msg, defer=True)
                    failed += 1
                    outcome = jn.UNDO_FAILED
                else:
                    j.set_item(b.id, rec.seq, jn.ITEM_UNDONE, defer=True)
                    done += 1
                    restored += rec.size
                    outcome = jn.ITEM_UNDONE
                yield ItemOutcome(
                    b.id, rec.seq, n, total, rec.op, rec.source, rec.dest, outcome, msg, rec.size
                )
            j.flush()
            left = [r for r in j.items(b.id, UNDO_FROM) if r.op != "delete"]
            state = jn.PARTLY_UNDONE if left else jn.UNDONE
            j.set_batch_state(b.id, state, finished=True)
            finished = True
        finally:
            if not finished:
                from lookalike.engine.actions.recovery import settle_batch

                settle_batch(j, b.id, undoing=True)
        summary = j.batch(b.id)
        if summary:
            stats.record_batch(summary, j.path, phase="undo")
    yield BatchFinished(b.id, b.action, "undo", state, done, 0, failed, restored, cancelled)


def _with_detail(rec: jn.ItemRecord, detail: dict) -> jn.ItemRecord:
    from dataclasses import replace

    return replace(rec, detail=detail, state=jn.ITEM_UNDOING)
