"""Journalled metadata writes (``--merge-metadata``): one batch, op ``metadata``, one item per
keeper; ``lookalike undo`` puts every byte back, ``history`` lists it, a crash is settled.

Per item the journal records the intent (target, temp and backup names, the hash before and
the hash the new bytes will have) in a fsynced transaction before the disk is touched. Then:
new bytes → ``.NAME.lookalike-TAG.part`` (fsync); the old file is hard-linked to
``.NAME.lookalike-TAG.orig`` (no copy, same inode); the part is renamed over the target. Every
crash point leaves the old bytes reachable: before the rename the target is untouched, after it
the backup holds them. Undo renames the backup back (the original inode, byte for byte) or
removes a sidecar the merge created — only if the target still holds what the merge wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import xxhash

from lookalike.engine.actions import fsutil
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.errors import OperationFailed, VerifyError
from lookalike.engine.actions.journal import ItemRecord, Journal, journal_lock
from lookalike.engine.actions.plan import Plan, Refusal, new_id
from lookalike.engine.actions.recovery import settle_batch, settle_interrupted
from lookalike.engine.metadata.exiv import MetadataError, rewrite, sidecar
from lookalike.engine.metadata.merge import MergeJob, MergePlan, plan_merges

OP = "metadata"
ACTION = "merge-metadata"


@dataclass
class MergeOutcome:
    """The batch, each keeper's result, and the new identity of keepers rewritten in place
    (dev, inode, size, mtime_ns, hash) so the file operation that follows checks the right one."""

    batch_id: str | None = None
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    failed_keepers: set[str] = field(default_factory=set)  # their copies stay (plan refuses)
    rewritten: dict[str, tuple[int, int, int, int, str]] = field(default_factory=dict)


def _identity(path: str) -> tuple[int, int, str | None]:
    """(size, mtime_ns, hash) of a file, or (0, 0, None) when there is none."""
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns, fsutil.hash_file(path)
    except FileNotFoundError:
        return 0, 0, None


def apply_merges(
    jobs: Iterable[MergeJob], journal_path: Path | None = None, *, origin: str = "merge"
) -> MergeOutcome:
    """Write every job as one journalled batch (nothing journalled when there are no jobs)."""
    jobs = list(jobs)
    out = MergeOutcome()
    if not jobs:
        return out
    with journal_lock(journal_path), Journal(journal_path) as j:
        settle_interrupted(j)
        batch = new_id()
        items = []
        for seq, job in enumerate(jobs):
            size, mtime, digest = _identity(job.target)
            detail = {"exif": job.exif, "xmp": job.xmp, "into_file": job.into_file}
            detail["conflicts"] = job.conflicts
            items.append(
                {"seq": seq, "op": OP, "source": job.keeper, "dest": job.target,
                 "keeper": job.keeper, "size": size, "mtime_ns": mtime, "hash": digest,
                 "detail": detail}
            )  # fmt: skip
        j.begin_batch(
            batch, ACTION, items, origin=origin, meta={"merge": [x.to_json() for x in jobs]}
        )
        out.batch_id = batch
        finished = False
        try:
            for it in items:
                _one(j, batch, it, out)
            j.set_batch_state(batch, jn.DONE, finished=True)
            finished = True
        finally:
            if not finished:
                settle_batch(j, batch, undoing=False)
    return out


def _one(j: Journal, batch: str, it: dict, out: MergeOutcome) -> None:
    target, seq, d = it["dest"], it["seq"], dict(it["detail"])
    tag = f"{batch}-{seq}"
    try:
        size, mtime, digest = _identity(target)
        if (size, mtime, digest) != (it["size"], it["mtime_ns"], it["hash"]):
            raise VerifyError(f"{target} changed while the merge was planned; left alone")
        old = Path(target).read_bytes() if digest else None
        if d["into_file"]:
            assert old is not None
            new = rewrite(old, exif=d["exif"], xmp=d["xmp"])
        else:
            new = sidecar(old, d["xmp"])
    except (OSError, MetadataError, VerifyError) as exc:
        msg = (
            str(exc)
            if not isinstance(exc, OSError)
            else fsutil.describe_oserror(exc, "read", target)
        )
        j.set_item(batch, seq, jn.FAILED, error=msg)
        out.failed.append((target, msg))
        out.failed_keepers.add(it["keeper"])
        return
    d.update(
        part=fsutil.side_path(target, tag, "part"),
        backup=fsutil.side_path(target, tag, "orig") if digest else None,
        old_hash=digest,
        new_hash=xxhash.xxh3_128(new).hexdigest(),
    )
    j.set_item(batch, seq, jn.STARTED, detail=d)  # the intent is durable before any write
    try:
        _write(target, new, d)
    except OSError as exc:
        msg = fsutil.describe_oserror(exc, "write", target)
        done, _ = settle(_record(it, batch, d))  # the old bytes back in place, temp names gone
        if not done:
            j.set_item(batch, seq, jn.FAILED, error=msg)
            out.failed.append((target, msg))
            out.failed_keepers.add(it["keeper"])
            return
    j.set_item(batch, seq, jn.ITEM_DONE, detail=d)
    out.done.append(target)
    if d["into_file"]:
        st = os.stat(target)
        out.rewritten[it["keeper"]] = (
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            d["new_hash"],
        )


def _write(target: str, new: bytes, d: dict) -> None:
    part = d["part"]
    with open(part, "xb") as fh:
        fh.write(new)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        if d["backup"]:
            os.chmod(part, os.stat(target).st_mode & 0o7777)
            os.link(target, d["backup"])  # the old bytes stay reachable from here on
            os.replace(part, target)
        else:
            fsutil.rename_noclobber(part, target)  # a sidecar made meanwhile is never replaced
    finally:
        if os.path.lexists(part):
            os.unlink(part)
    fsutil.fsync_dir(os.path.dirname(target) or ".")


def _record(it: dict, batch: str, d: dict) -> ItemRecord:
    return ItemRecord(
        batch, it["seq"], 0, OP, it["source"], it["dest"], it["keeper"], it["size"],
        it["mtime_ns"], it["hash"], jn.STARTED, d, None,
    )  # fmt: skip


def _hash(path: str) -> str | None:
    try:
        return fsutil.hash_file(path)
    except OSError:
        return None


def settle(rec: ItemRecord, *, dry: bool = False) -> tuple[bool, str]:
    """After a crash: the target holds the new bytes → done; else the old ones are in place
    (the backup link, if made, is dropped: it is the same inode) → not done."""
    d, target = rec.detail, rec.dest or ""
    if not dry and d.get("part") and os.path.lexists(d["part"]):
        os.unlink(d["part"])
    cur = _hash(target)
    if cur is not None and cur == d.get("new_hash"):
        return True, f"metadata written to {target}"
    backup = d.get("backup")
    if backup and os.path.lexists(backup) and not dry:
        if cur is None:
            fsutil.rename_noclobber(backup, target)  # never expected: put the original back
        elif cur == d.get("old_hash"):
            os.unlink(backup)
    return False, "not written (the file is as it was)"


def undo(rec: ItemRecord) -> str:
    """Put the target's old bytes back (or remove the sidecar the merge made); idempotent."""
    d, target = rec.detail, rec.dest or ""
    cur, backup = _hash(target), d.get("backup")
    if backup:
        if not os.path.lexists(backup):
            if cur == d.get("old_hash"):
                return ""
            raise OperationFailed(f"the original of {target} is gone ({backup}); not restored")
        if cur not in (d.get("new_hash"), None):
            raise OperationFailed(
                f"{target} changed after the metadata merge; left as it is",
                f"the version before the merge is kept at {backup}",
            )
        os.replace(backup, target)
    elif cur is not None:
        if cur != d.get("new_hash"):
            raise OperationFailed(f"{target} changed after the metadata merge; left as it is")
        os.unlink(target)
    fsutil.fsync_dir(os.path.dirname(target) or ".")
    return ""


def merge_for_plan(
    plan: Plan, *, into_file: bool, journal_path: Path | None = None, origin: str = "merge"
) -> tuple[Plan, MergePlan, MergeOutcome]:
    """Before ``plan`` removes copies: merge what they know into their keepers (one batch),
    then return the plan with the identity of each keeper rewritten in place updated, so the
    keeper check before each copy goes accepts the keeper the merge just wrote (and only it)."""
    planned = plan_merges([(i.op, i.source, i.keeper) for i in plan.items], into_file=into_file)
    got = apply_merges(planned.jobs, journal_path, origin=origin)
    if not got.rewritten and not got.failed_keepers:
        return plan, planned, got
    items, refused = [], list(plan.refused)
    for i in plan.items:
        if i.keeper in got.failed_keepers:  # what it knows did not reach the keeper: it stays
            why = f"its metadata could not be merged into {i.keeper}; left in place"
            refused.append(Refusal(i.group_id, i.source, why))
            continue
        new = got.rewritten.get(i.keeper)
        if new is not None:
            dev, ino, size, mtime, digest = new
            i = replace(
                i, keeper_dev=dev, keeper_ino=ino, keeper_size=size, keeper_mtime_ns=mtime,
                keeper_hash=digest,
            )  # fmt: skip
        items.append(i)
    return replace(plan, items=tuple(items), refused=tuple(refused)), planned, got
