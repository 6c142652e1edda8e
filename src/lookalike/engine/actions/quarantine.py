"""Quarantine management: list what sits in quarantine and empty it (permanently).

Emptying is sensitive (the CLI asks for a typed confirmation and the passphrase if one is
set), so each file is checked again right before it is unlinked: it must still be the file
the journal put there — a regular file (``lstat``; a symlink is never followed), same device
and inode when the journal recorded them, same size, mtime and content hash. Anything else
(a file someone put in its place, a changed file) is skipped and reported, never deleted.

Crash safety: a row becomes ``purging`` (committed) before its file is unlinked and
``purged`` after. Recovery settles a ``purging`` row from the disk: file gone → ``purged``;
file still there → back to ``done`` (still listed and restorable by undo). So a crash never
leaves a file in quarantine that the journal no longer offers to restore.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.engine.actions import fsutil
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.journal import ItemRecord, Journal, journal_lock
from lookalike.engine.actions.recovery import settle_interrupted


@dataclass(frozen=True)
class PurgeResult:
    """What ``quarantine empty`` did: files and bytes deleted, and (path, reason) of each file
    it left alone because it no longer was the quarantined file."""

    files: int
    bytes: int
    skipped: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def quarantine_contents(
    batch_id: str | None = None, journal_path: Path | None = None
) -> list[ItemRecord]:
    """Quarantined files still in place (restorable with undo), oldest batch first."""
    out: list[ItemRecord] = []
    with Journal(journal_path) as j:
        for b in reversed(j.batches()):
            if batch_id and b.id != batch_id:
                continue
            if not b.action.startswith("quarantine"):
                continue
            out += [
                r
                for r in j.items(b.id, (jn.ITEM_DONE, jn.UNDO_FAILED))
                if r.dest and os.path.lexists(r.dest)
            ]
    return out


def still_quarantined(rec: ItemRecord) -> str | None:
    """None if ``rec.dest`` is still exactly the file the journal moved there, else why not."""
    assert rec.dest
    try:
        st = os.lstat(rec.dest)
    except FileNotFoundError:
        return "gone from the quarantine"
    except OSError as exc:
        return fsutil.describe_oserror(exc, "read", rec.dest)
    if not stat.S_ISREG(st.st_mode):
        return "no longer a regular file (replaced since it was quarantined)"
    ident = rec.detail.get("dest_id")
    if ident and (st.st_dev, st.st_ino) != tuple(ident):
        return "another file now has its name (device/inode differ)"
    if st.st_size != rec.size or (rec.mtime_ns and st.st_mtime_ns != rec.mtime_ns):
        return "changed since it was quarantined (size or modification time differs)"
    if rec.hash:
        try:
            if fsutil.hash_file(rec.dest) != rec.hash:
                return "content changed since it was quarantined"
        except OSError as exc:
            return fsutil.describe_oserror(exc, "read", rec.dest)
    return None


def empty_quarantine(batch_id: str | None = None, journal_path: Path | None = None) -> PurgeResult:
    """Delete quarantined files for good, each re-checked first."""
    files = size = 0
    skipped: list[tuple[str, str]] = []
    with journal_lock(journal_path), Journal(journal_path) as j:
        settle_interrupted(j)
        for rec in quarantine_contents(batch_id, journal_path):
            assert rec.dest
            why = still_quarantined(rec)
            if why is not None:
                skipped.append((rec.dest, why))
                continue
            j.set_item(rec.batch, rec.seq, jn.PURGING)
            try:
                os.unlink(rec.dest)
            except FileNotFoundError:
                pass
            except OSError as exc:
                j.set_item(rec.batch, rec.seq, rec.state)
                skipped.append((rec.dest, fsutil.describe_oserror(exc, "delete", rec.dest)))
                continue
            fsutil.fsync_dir(os.path.dirname(rec.dest))
            # committed with the next file's intent (or at the end): one fsync per file
            j.set_item(rec.batch, rec.seq, jn.PURGED, error="quarantine emptied", defer=True)
            files += 1
            size += rec.size
            fsutil.remove_empty_dirs(os.path.dirname(rec.dest), rec.detail.get("root", "/"))
    return PurgeResult(files, size, tuple(skipped))
