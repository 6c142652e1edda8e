"""Quarantine management: list what sits in quarantine and empty it (permanently).

Emptying is sensitive (the CLI asks for a typed confirmation and the passphrase if one is
set). Rows are marked ``purged`` *before* the file is removed, so a crash can at worst leave a
file in quarantine that the journal no longer offers to restore — never the reverse.
"""

from __future__ import annotations

import os
from pathlib import Path

from lookalike.engine.actions import fsutil
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.journal import ItemRecord, Journal, journal_lock
from lookalike.engine.actions.recovery import settle_interrupted


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


def empty_quarantine(
    batch_id: str | None = None, journal_path: Path | None = None
) -> tuple[int, int]:
    """Delete quarantined files for good; returns (files, bytes)."""
    files = size = 0
    with journal_lock(journal_path), Journal(journal_path) as j:
        settle_interrupted(j)
        for rec in quarantine_contents(batch_id, journal_path):
            j.set_item(rec.batch, rec.seq, jn.PURGED, error="quarantine emptied")
            try:
                assert rec.dest
                os.unlink(rec.dest)
            except OSError:
                continue
            files += 1
            size += rec.size
            fsutil.remove_empty_dirs(os.path.dirname(rec.dest), rec.detail.get("root", "/"))
    return files, size
