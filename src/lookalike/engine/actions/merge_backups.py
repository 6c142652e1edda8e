"""The backups a metadata merge leaves beside a keeper (``.NAME.lookalike-BATCH-N.orig``, the
keeper's or old sidecar's bytes before the merge): list them and remove them for good.

They are what ``lookalike undo`` restores, so removing one ends the undo of that merge item:
its row becomes ``purged`` (``history`` shows it; ``undo`` no longer offers it). Each backup is
re-checked right before it is unlinked — a regular file (``lstat``, a symlink is never
followed) still holding the bytes the journal recorded (``old_hash``); anything else is skipped
and reported, never deleted.

Crash safety is the quarantine's: the row becomes ``purging`` (committed) before the unlink and
``purged`` after; recovery settles a ``purging`` row from the disk (backup gone → ``purged``,
still there → ``done``, undoable again).
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from lookalike.engine.actions import fsutil
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.journal import ItemRecord, Journal, journal_lock
from lookalike.engine.actions.quarantine import PurgeResult
from lookalike.engine.actions.recovery import settle_interrupted

ACTION = "merge-metadata"  # metawrite.ACTION (not imported: metawrite pulls in exiv2)
OP = "metadata"
REMOVED = "merge backup removed; this merge can no longer be undone"
DAY = 86400.0


@dataclass(frozen=True)
class MergeBackup:
    """One backup on disk: the batch (and when it ran), the file the merge wrote, the backup."""

    batch: str
    seq: int
    created: float
    target: str
    backup: str
    size: int

    def to_json(self) -> dict:
        return {
            "batch": self.batch,
            "seq": self.seq,
            "created": self.created,
            "target": self.target,
            "backup": self.backup,
            "size": self.size,
        }


def _records(
    j: Journal, batch_id: str | None, older_than_days: float | None, now: float
) -> list[tuple[ItemRecord, float]]:
    """Done merge items whose backup is on disk, oldest batch first."""
    out = []
    for b in reversed(j.batches()):
        if b.action != ACTION or (batch_id and b.id != batch_id):
            continue
        if older_than_days is not None and b.created > now - older_than_days * DAY:
            continue
        for r in j.items(b.id, (jn.ITEM_DONE, jn.UNDO_FAILED)):
            backup = r.detail.get("backup")
            if r.op == OP and backup and os.path.lexists(backup):
                out.append((r, b.created))
    return out


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def merge_backups(
    batch_id: str | None = None,
    older_than_days: float | None = None,
    journal_path: Path | None = None,
    *,
    now: float | None = None,
) -> list[MergeBackup]:
    """Merge backups still on disk (each still lets undo restore its file), oldest first;
    ``older_than_days`` keeps only batches that ran at least that long ago."""
    now = time.time() if now is None else now
    with Journal(journal_path) as j:
        return [
            MergeBackup(r.batch, r.seq, created, r.dest or "", r.detail["backup"],
                        _size(r.detail["backup"]))
            for r, created in _records(j, batch_id, older_than_days, now)
        ]  # fmt: skip


def still_backup(rec: ItemRecord) -> str | None:
    """None if the backup is still the regular file holding the bytes before the merge."""
    backup = rec.detail["backup"]
    try:
        st = os.lstat(backup)
    except FileNotFoundError:
        return "gone already"
    except OSError as exc:
        return fsutil.describe_oserror(exc, "read", backup)
    if not stat.S_ISREG(st.st_mode):
        return "no longer a regular file (replaced since the merge)"
    try:
        if fsutil.hash_file(backup) != rec.detail.get("old_hash"):
            return "its content changed since the merge"
    except OSError as exc:
        return fsutil.describe_oserror(exc, "read", backup)
    return None


def remove_merge_backups(
    batch_id: str | None = None,
    older_than_days: float | None = None,
    journal_path: Path | None = None,
    *,
    now: float | None = None,
    only: list[MergeBackup] | None = None,
) -> PurgeResult:
    """Delete the selected merge backups for good, each re-checked first; their merge items
    become ``purged`` (not undoable). ``only``: just these (the ones the user confirmed — a
    merge that ran since the listing is never taken along)."""
    keep = None if only is None else {(b.batch, b.seq) for b in only}
    now = time.time() if now is None else now
    files = size = 0
    skipped: list[tuple[str, str]] = []
    with journal_lock(journal_path), Journal(journal_path) as j:
        settle_interrupted(j)
        for rec, _ in _records(j, batch_id, older_than_days, now):
            if keep is not None and (rec.batch, rec.seq) not in keep:
                continue
            backup = rec.detail["backup"]
            why = still_backup(rec)
            if why is not None:
                skipped.append((backup, why))
                continue
            n = _size(backup)
            j.set_item(rec.batch, rec.seq, jn.PURGING)
            try:
                os.unlink(backup)
            except FileNotFoundError:
                pass
            except OSError as exc:
                j.set_item(rec.batch, rec.seq, rec.state)
                skipped.append((backup, fsutil.describe_oserror(exc, "delete", backup)))
                continue
            fsutil.fsync_dir(os.path.dirname(backup) or ".")
            j.set_item(rec.batch, rec.seq, jn.PURGED, error=REMOVED, defer=True)
            files += 1
            size += n
    return PurgeResult(files, size, tuple(skipped))
