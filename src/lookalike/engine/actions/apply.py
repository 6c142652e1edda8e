"""Carry out a plan through the journal, yielding one event per file.

First the whole plan is checked (:func:`plancheck.check_plan`: op = action, paths under the
roots, no keeper/reference/favourite among the sources, every group keeps its keeper, and for a
plan read from a file every source and keeper against the disk); one failure refuses it all.
Then for each file: verify (size, mtime, content hash; the keeper too — ``lstat``, dev, inode,
size, mtime, hash — when the file will go away) → journal the intent (fsynced) → act → journal
the result. A file that fails this last-moment verification is skipped and reported; a failed
operation leaves the file in place and the batch goes on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from lookalike.engine.actions import journal as jn
from lookalike.engine.actions import operations as ops
from lookalike.engine.actions import plancheck, stats
from lookalike.engine.actions.errors import (
    ActionError,
    ConfirmationRequired,
    NothingToDo,
    VerifyError,
)
from lookalike.engine.actions.fsutil import deferred_dir_sync, describe_oserror
from lookalike.engine.actions.journal import Journal, journal_lock
from lookalike.engine.actions.plan import (
    LINKS,
    REMOVES,
    Plan,
    PlanItem,
    ShrinkOptions,
    new_id,
    parse_action,
)
from lookalike.engine.actions.recovery import settle_batch, settle_interrupted
from lookalike.engine.events import BatchFinished, BatchStarted, ItemOutcome

CHUNK = 64  # files whose intents share one fsynced transaction
VERB = {
    "trash": "trash",
    "quarantine": "move",
    "move": "move",
    "copy": "copy",
    "hardlink": "link",
    "symlink": "link",
    "delete": "delete",
    "shrink": "shrink",
}


def apply_plan(
    plan: Plan,
    journal_path: Path | None = None,
    *,
    allow_permanent: bool = False,
    origin: str = "plan",
    redo_of: str | None = None,
    cancel: threading.Event | None = None,
    checked: bool = False,
    catalog: str | os.PathLike[str] | None = None,
) -> Iterator[ItemOutcome | BatchStarted | BatchFinished]:
    """Apply ``plan``; the last event is always :class:`BatchFinished`.

    A plan with any ``delete`` needs ``allow_permanent=True`` (the CLI sets it only after
    ``--permanently`` and a typed confirmation). The plan is checked as a whole first (raises
    :class:`plancheck.PlanRejected`); a plan read from a file is also checked against the disk,
    unless the caller just did that (``checked``). ``catalog`` overrides the catalog path the plan
    records. Setting ``cancel`` stops before the next file; files not reached are journalled
    ``not-done``.
    """
    _require_permanent(plan, allow_permanent)
    plancheck.check_plan(
        plan,
        fresh=plan.from_file and not checked,
        catalog=catalog,
        redo=redo_of is not None,
    )
    with journal_lock(journal_path), Journal(journal_path) as j:
        settle_interrupted(j)
        batch_id = _begin_batch(j, plan, origin, redo_of)
        total = len(plan.items)
        yield BatchStarted(batch_id, str(plan.op), total, "redo" if redo_of else "apply")
        ctx = ops.Ctx(batch_id, plan.shrink, plan.op.directory)
        tally = _Tally()
        finished = cancelled = False
        try:
            n = 0
            for start in range(0, total, CHUNK):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                with deferred_dir_sync():
                    for item, dest, outcome, msg in _run_chunk(
                        j, batch_id, plan.items[start : start + CHUNK], ctx, cancel
                    ):
                        if outcome == jn.NOT_DONE:
                            cancelled = True
                            continue
                        n += 1
                        tally.count(item, outcome)
                        yield _item_event(batch_id, item, n, total, dest, outcome, msg)
                j.flush()  # the chunk's results, after its folders were synced
            j.flush()
            if cancelled:
                j.set_items_state(batch_id, jn.PLANNED, jn.NOT_DONE, error="cancelled")
            j.set_batch_state(batch_id, jn.DONE, finished=True)
            finished = True
        finally:
            if not finished:  # an exception or the consumer stopped iterating
                settle_batch(j, batch_id, undoing=False)
        summary = j.batch(batch_id)
        if summary:
            stats.record_batch(summary, j.path)
    yield BatchFinished(
        batch_id,
        str(plan.op),
        "redo" if redo_of else "apply",
        jn.DONE,
        tally.done,
        tally.skipped,
        tally.failed,
        tally.freed,
        cancelled,
    )


def _require_permanent(plan: Plan, allow_permanent: bool) -> None:
    if (plan.op.kind == "delete" or any(i.op == "delete" for i in plan.items)) and not (
        allow_permanent
    ):
        raise ConfirmationRequired(
            "delete is permanent and was not confirmed",
            "pass --permanently and type the confirmation",
        )


def _item_event(
    batch_id: str, item: PlanItem, n: int, total: int, dest: str | None, outcome: str, msg: str
) -> ItemOutcome:
    return ItemOutcome(
        batch_id, item.seq, n, total, item.op, item.source, dest, outcome, msg, item.size
    )


@dataclass
class _Tally:
    """What a batch did so far: its BatchFinished figures."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    freed: int = 0

    def count(self, item: PlanItem, outcome: str) -> None:
        if outcome == jn.ITEM_DONE:
            self.done += 1
            self.freed += item.size if item.op in REMOVES else 0
        elif outcome == jn.SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1


def _begin_batch(j: Journal, plan: Plan, origin: str, redo_of: str | None) -> str:
    """Journal the batch and every item as planned, before any file is touched; its id."""
    batch_id = plan.id if not j.batch_exists(plan.id) else new_id()
    params = {
        "shrink": asdict(plan.shrink) if plan.shrink else None,
        "directory": plan.op.directory,
        # what redo re-checks: the roots, references and each keeper's identity
        "roots": list(plan.roots),
        "references": list(plan.references),
        "keepers": _keeper_records(plan),
    }
    j.begin_batch(
        batch_id,
        str(plan.op),
        (i.to_json() for i in plan.items),  # a row at a time: the items may be spooled
        origin=origin,
        redo_of=redo_of,
        params=params,
        meta=plan.meta,
    )
    return batch_id


def _run_chunk(
    j: Journal,
    batch_id: str,
    chunk: tuple[PlanItem, ...],
    ctx: ops.Ctx,
    cancel: threading.Event | None,
) -> Iterator[tuple[PlanItem, str | None, str, str]]:
    """Journal the intents of a chunk in one fsynced transaction, then verify and act on each
    file: yields (item, dest, state, message). Results are held back until the caller flushes
    after the chunk's folders are synced (one fsync per chunk instead of per file)."""
    staged: list[tuple[PlanItem, str | None, dict | None, str, str]] = []
    for item in chunk:
        if not os.path.lexists(item.source):
            msg = f"{item.source}: missing (moved or deleted since the scan)"
            j.set_item(batch_id, item.seq, jn.SKIPPED, error=msg, defer=True)
            staged.append((item, None, None, jn.SKIPPED, msg))
            continue
        try:
            dest, detail = ops.prepare(item, ctx)
        except (OSError, ActionError) as exc:
            msg = (
                describe_oserror(exc, VERB[item.op], item.source)
                if isinstance(exc, OSError)
                else str(exc)
            )
            j.set_item(batch_id, item.seq, jn.FAILED, error=msg, defer=True)
            staged.append((item, None, None, jn.FAILED, msg))
            continue
        j.set_item(batch_id, item.seq, jn.STARTED, dest=dest, detail=detail, defer=True)
        staged.append((item, dest, detail, jn.STARTED, ""))
    j.flush()  # intents are durable before any file of the chunk is touched
    for item, dest, detail, state, msg in staged:
        if detail is None:
            yield item, dest, state, msg
            continue
        if cancel is not None and cancel.is_set():
            j.set_item(batch_id, item.seq, jn.NOT_DONE, error="cancelled", defer=True)
            yield item, dest, jn.NOT_DONE, "cancelled"
            continue
        state, msg = _act(j, batch_id, item, dest, detail, ctx)
        yield item, dest, state, msg


def _act(
    j: Journal, batch_id: str, item: PlanItem, dest: str | None, detail: dict, ctx: ops.Ctx
) -> tuple[str, str]:
    """Re-verify right before acting, then act; the result is journalled (deferred)."""
    try:
        plancheck.verify_source(item)
        if item.keeper and (
            item.op in REMOVES or (item.op == "shrink" and ctx.shrink and ctx.shrink.replace)
        ):  # a content rule's file has no keeper (plancheck allows that only for its plans)
            plancheck.verify_keeper(item, ctx.keepers_ok)
    except VerifyError as exc:
        j.set_item(batch_id, item.seq, jn.SKIPPED, error=str(exc), defer=True)
        return jn.SKIPPED, f"{item.source}: {exc}"
    try:
        detail = ops.perform(item, dest, detail, ctx)
    except OSError as exc:
        msg = describe_oserror(exc, VERB[item.op], item.source) + "; it was left in place"
        j.set_item(batch_id, item.seq, jn.FAILED, error=msg, defer=True)
        return jn.FAILED, msg
    except ActionError as exc:
        j.set_item(batch_id, item.seq, jn.FAILED, error=str(exc), defer=True)
        return jn.FAILED, str(exc)
    j.set_item(batch_id, item.seq, jn.ITEM_DONE, detail=detail, defer=True)
    return jn.ITEM_DONE, ""


def redo(
    batch_id: str | None = None,
    journal_path: Path | None = None,
    *,
    allow_permanent: bool = False,
    cancel: threading.Event | None = None,
) -> Iterator[ItemOutcome | BatchStarted | BatchFinished]:
    """Apply an undone batch again as a new batch (each file re-verified against the hash the
    journal recorded). Without ``batch_id``: the most recently undone batch."""
    plan, origin = redo_plan(batch_id, journal_path)
    events = apply_plan(
        plan,
        journal_path,
        allow_permanent=allow_permanent,
        origin=f"redo:{origin}",
        redo_of=origin,
        cancel=cancel,
    )
    yield from events
    with journal_lock(journal_path), Journal(journal_path) as j:
        j.set_batch_state(origin, jn.REDONE)


def redo_plan(batch_id: str | None, journal_path: Path | None = None) -> tuple[Plan, str]:
    """The plan that :func:`redo` would apply, and the batch it redoes."""
    with Journal(journal_path) as j:
        if batch_id is None:
            cands = [b for b in j.batches() if b.state in (jn.UNDONE, jn.PARTLY_UNDONE)]
            if not cands:
                raise NothingToDo("there is no undone batch to redo", "see lookalike history")
            b = cands[0]
        else:
            got = j.batch(batch_id)
            if got is None:
                raise NothingToDo(f"no batch {batch_id} in the journal", "see lookalike history")
            b = got
        recs = j.items(b.id, (jn.ITEM_UNDONE,))
        if not recs:
            raise NothingToDo(f"batch {b.id} has no undone files to redo")
    if b.action == "merge-metadata":
        raise NothingToDo(
            f"batch {b.id} is a metadata merge; it is not redone on its own",
            "run the file operation again with --merge-metadata",
        )
    spec = parse_action(b.action)
    shrink = b.params.get("shrink")
    if shrink and shrink.get("max_size"):
        shrink["max_size"] = tuple(shrink["max_size"])
    keepers = b.params.get("keepers") or {}
    items = []
    for n, r in enumerate(recs):
        krec = keepers.get(r.keeper or "") or {}
        dest = r.dest
        if r.op == "trash" or r.op == "delete":
            dest = None
        elif r.op in LINKS:
            dest = r.keeper
        elif r.op == "shrink" and shrink and shrink.get("replace"):
            dest = r.source
        items.append(
            PlanItem(
                seq=n,
                group_id=r.group_id or 0,
                op=r.op,
                source=r.source,
                dest=dest,
                keeper=r.keeper or "",
                size=r.size,
                mtime_ns=r.mtime_ns,
                hash=r.hash or "",
                keeper_size=int(krec.get("size", 0)),
                keeper_mtime_ns=int(krec.get("mtime_ns", 0)),
                keeper_hash=krec.get("hash"),
                keeper_dev=int(krec.get("dev", 0)),
                keeper_ino=int(krec.get("ino", 0)),
            )
        )
    roots = b.params.get("roots") or []
    plan = Plan(
        new_id(),
        spec,
        tuple(items),
        shrink=ShrinkOptions(**shrink) if shrink else None,
        meta=dict(b.meta),
        roots=tuple(roots),
        references=tuple(b.params.get("references") or ()),
    )
    return plan, b.id


def _keeper_records(plan: Plan) -> dict[str, dict]:
    """Each keeper's identity as the plan recorded it, for redo's keeper check."""
    out: dict[str, dict] = {}
    for i in plan.items:
        out.setdefault(
            i.keeper,
            {
                "dev": i.keeper_dev,
                "ino": i.keeper_ino,
                "size": i.keeper_size,
                "mtime_ns": i.keeper_mtime_ns,
                "hash": i.keeper_hash,
            },
        )
    return out
