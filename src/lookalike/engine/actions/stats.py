"""Analytics: files and bytes freed, groups reviewed, and how often the user's keeper was the
suggested one — per batch and in total. Figures come from the journal (so an undo takes its
files back out of the totals); every finished batch also appends a row to a CSV log beside
the journal for spreadsheets."""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lookalike.engine import settings
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.fsutil import safe_text
from lookalike.engine.actions.journal import BatchSummary, Journal
from lookalike.engine.actions.plan import REMOVES, parse_action

CSV_FIELDS = (
    "time",
    "batch",
    "phase",
    "action",
    "state",
    "files",
    "bytes",
    "skipped",
    "failed",
    "groups",
    "reviewed",
    "agreed",
)


def csv_path(journal_path: Path | None = None) -> Path:
    journal_path = Path(journal_path) if journal_path else settings.current().journal_path
    return journal_path.with_name("stats.csv")


def record_batch(
    summary: BatchSummary, journal_path: Path | None = None, phase: str = "apply"
) -> None:
    """Append one row per finished batch; a failure to write the log never fails the batch."""
    path = csv_path(journal_path)
    try:
        new = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(CSV_FIELDS)
            c = summary.counts
            m = summary.meta
            w.writerow(
                [
                    time.strftime("%Y-%m-%dT%H:%M:%S"),
                    summary.id,
                    phase,
                    safe_text(summary.action),
                    summary.state,
                    c.get(jn.ITEM_DONE, 0),
                    summary.bytes_done,
                    c.get(jn.SKIPPED, 0),
                    c.get(jn.FAILED, 0),
                    m.get("groups", 0),
                    m.get("reviewed", 0),
                    m.get("agreed", 0),
                ]
            )
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        pass


@dataclass(frozen=True)
class BatchStats:
    batch: str
    action: str
    state: str
    created: float
    files: int  # files the batch still has acted on (undone ones excluded)
    bytes_freed: int  # of those, bytes no longer taking space at their old place
    groups: int
    reviewed: int
    agreed: int

    def to_json(self) -> dict:
        return self.__dict__.copy()


@dataclass(frozen=True)
class StatsReport:
    batches: tuple[BatchStats, ...]

    @property
    def files(self) -> int:
        return sum(b.files for b in self.batches)

    @property
    def bytes_freed(self) -> int:
        return sum(b.bytes_freed for b in self.batches)

    @property
    def reviewed(self) -> int:
        return sum(b.reviewed for b in self.batches)

    @property
    def agreed(self) -> int:
        return sum(b.agreed for b in self.batches)

    @property
    def agreement(self) -> float | None:
        """Share of reviewed groups where the user kept the suggested file."""
        return self.agreed / self.reviewed if self.reviewed else None

    def to_json(self) -> dict:
        return {
            "total": {
                "batches": len(self.batches),
                "files": self.files,
                "bytes_freed": self.bytes_freed,
                "groups_reviewed": self.reviewed,
                "keeper_agreed": self.agreed,
                "agreement": None if self.agreement is None else round(self.agreement, 4),
            },
            "batches": [b.to_json() for b in self.batches],
        }


def compute_stats(journal_path: Path | None = None) -> StatsReport:
    """Per-batch and total figures, newest batch first."""
    path = Path(journal_path) if journal_path else settings.current().journal_path
    if not path.exists():
        return StatsReport(())
    out = []
    with Journal(path) as j:
        for b in j.batches():
            recs = j.items(b.id, (jn.ITEM_DONE, jn.UNDO_FAILED, jn.PURGED))
            kind = parse_action(b.action).kind
            freed = sum(r.size for r in recs) if kind in REMOVES else 0
            if kind == "shrink":
                freed = sum(
                    max(0, r.size - int(r.detail.get("out_size", r.size)))
                    for r in recs
                    if "info" in r.detail
                )
            m = b.meta
            out.append(
                BatchStats(
                    b.id,
                    b.action,
                    b.state,
                    b.created,
                    len(recs),
                    freed,
                    int(m.get("groups", 0)),
                    int(m.get("reviewed", 0)),
                    int(m.get("agreed", 0)),
                )
            )
    return StatsReport(tuple(out))
