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
from lookalike.engine.actions import operations_undo as undo_ops
from lookalike.engine.actions import stats
from lookalike.engine.actions.errors import ActionError, NothingToDo
from lookalike.engine.actions.fsutil import deferred_dir_sync, describe_oserror
from lookalike.engine.actions.journal import BatchSummary, Journal, journal_lock
from lookalike.engine.actions.recovery import settle_batch, settle_interrupted
from lookalike.engine.events import BatchFinished, BatchStarted, ItemOutcome

CHUNK = 64
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
            n = 0
            reserved: set[str] = set()
            for start in range(0, total, CHUNK):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                chunk = recs[start : start + CHUNK]
                staged = []
                for rec in chunk:
                    if rec.op != "delete":
                        detail = undo_ops.undo_prepare(rec, reserved)
                        j.set_item(b.id, rec.seq, jn.ITEM_UNDOING, detail=detail, defer=True)
                        rec = _with_detail(rec, detail)
                    staged.append(rec)
                j.flush()  # intents of the chunk, fsynced, before any file is touched
                with deferred_dir_sync():
                    for rec in staged:
                        n += 1
                        if rec.op == "delete":
                            failed += 1
                            outcome, msg = "not-undoable", f"{rec.source} was deleted permanently"
                        elif cancel is not None and cancel.is_set():
                            cancelled = True
                            continue  # left ``undoing``; settled (finished) below
                        else:
                            outcome, msg = _undo_one(j, b.id, rec)
                            if outcome == jn.ITEM_UNDONE:
                                done += 1
                                restored += rec.size
                            else:
                                failed += 1
                        yield ItemOutcome(
                            b.id,
                            rec.seq,
                            n,
                            total,
                            rec.op,
                            rec.source,
                            rec.dest,
                            outcome,
                            msg,
                            rec.size,
                        )
                j.flush()
            if cancelled:
                settle_batch(j, b.id, undoing=True)
            j.flush()
            left = j.items(b.id, UNDO_FROM)
            state = jn.PARTLY_UNDONE if left else jn.UNDONE
            j.set_batch_state(b.id, state, finished=True)
            finished = True
        finally:
            if not finished:
                settle_batch(j, b.id, undoing=True)
        summary = j.batch(b.id)
        if summary:
            stats.record_batch(summary, j.path, phase="undo")
    yield BatchFinished(b.id, b.action, "undo", state, done, 0, failed, restored, cancelled)


def _undo_one(j: Journal, batch_id: str, rec: jn.ItemRecord) -> tuple[str, str]:
    try:
        msg = undo_ops.undo(rec)
    except OSError as exc:
        msg = describe_oserror(exc, "restore", rec.source)
    except ActionError as exc:
        msg = str(exc)
    else:
        j.set_item(batch_id, rec.seq, jn.ITEM_UNDONE, defer=True)
        return jn.ITEM_UNDONE, msg
    j.set_item(batch_id, rec.seq, jn.UNDO_FAILED, error=msg, defer=True)
    return jn.UNDO_FAILED, msg


def _with_detail(rec: jn.ItemRecord, detail: dict) -> jn.ItemRecord:
    from dataclasses import replace

    return replace(rec, detail=detail, state=jn.ITEM_UNDOING)
