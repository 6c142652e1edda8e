"""One scan's result in a small SQLite file of its own, written group by group (issue 13).

Why: a client of the engine that keeps a scan's result (``lookalike serve``'s jobs) must not
hold every group — as a list, or as one ``--format json`` document — to store it or to page
it. :class:`ResultStore` stores each group as the scan yields it, in the catalog's own
layout (engine/catalog_groups.py: the JSON row, the review columns, one ``group_files`` row
per member), so the same ``columns``/``page`` code filters, sorts and pages it; the errors
and the stats come last. It is written to ``PATH.part`` and renamed when finished, so a
result that exists is whole. Ords are the groups' places in the scan's order (id = ord + 1).
"""

from __future__ import annotations

import json
import os
import sqlite3
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.engine import catalog_groups
from lookalike.engine.catalog_groups import GroupFilter
from lookalike.engine.catalog_schema import SCHEMA
from lookalike.engine.records import FileError, Group, ScanStats

RESULT_VERSION = 1  # the --format json document's version (headless/output.py JSON_VERSION)
COMMIT_EVERY = 500  # groups per transaction while a scan writes
CHUNK = 500  # groups decoded at a time when the whole result is read


class ResultError(Exception):
    """The stored result cannot be read (gone, or not a result file)."""


def review_tables() -> str:
    """The catalog's ``groups`` and ``group_files`` tables (one layout, one reader)."""
    wanted = ("TABLE IF NOT EXISTS groups ", "TABLE IF NOT EXISTS group_files ", "ON group_files")
    parts = [p.strip() for p in SCHEMA.split(";") if any(w in p for w in wanted)]
    return ";\n".join([*parts, "CREATE INDEX IF NOT EXISTS groups_ord ON groups (ord)",
                       "CREATE TABLE IF NOT EXISTS result (key TEXT PRIMARY KEY, value TEXT)",
                       ""])  # fmt: skip


class ResultWriter:
    """Writes one result: :meth:`add` each group in order, then :meth:`finish`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.count = 0
        try:
            self.part.parent.mkdir(parents=True, exist_ok=True)
            self.part.unlink(missing_ok=True)  # a write a stopped server left half done
            # the loop that reads the scan's events adds; a thread finishes
            self.db = sqlite3.connect(self.part, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=OFF")  # the .part file is rebuilt if cut short
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.executescript(review_tables())
            os.chmod(self.part, 0o600)
        except (OSError, sqlite3.Error) as exc:
            raise ResultError(f"cannot write {self.part} ({exc})") from None

    def add(self, group: Group) -> None:
        try:
            catalog_groups.insert(self.db, 0, self.count, group)
            self.count += 1
            if self.count % COMMIT_EVERY == 0:
                self.db.commit()
        except sqlite3.Error as exc:
            raise ResultError(f"cannot write {self.part} ({exc})") from None

    def finish(self, errors: Sequence[FileError], stats: ScanStats) -> None:
        """The errors and stats, then the file is renamed into place (fsynced first)."""
        tail = {"version": RESULT_VERSION, "errors": [e.to_json() for e in errors],
                "stats": stats.to_json()}  # fmt: skip
        try:
            self.db.execute("INSERT OR REPLACE INTO result VALUES ('tail', ?)",
                            (json.dumps(tail),))  # fmt: skip
            self.db.commit()
            self.db.close()
            with open(self.part, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self.part, self.path)
        except (OSError, sqlite3.Error) as exc:
            raise ResultError(f"cannot write {self.path} ({exc})") from None

    def abandon(self) -> None:
        """Drop a result that will not be finished (cancelled, failed, server stopping)."""
        try:
            self.db.close()
        except sqlite3.Error:
            pass
        self.part.unlink(missing_ok=True)


def write_result(
    path: Path, groups: Iterable[Group], errors: Sequence[FileError], stats: ScanStats
) -> int:
    """A whole result at once (an older job's result brought to this layout); the count."""
    w = ResultWriter(path)
    try:
        for g in groups:
            w.add(g)
        w.finish(errors, stats)
    except BaseException:
        w.abandon()
        raise
    return w.count


class ResultStore:
    """A finished result, read-only: count, filtered/sorted views, pages, the whole in chunks.
    Open it per use (``with ResultStore(path) as r``); each call is short."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ResultError(f"{self.path} is missing")
        try:
            # one user at a time, maybe from a thread per chunk (a streamed answer)
            self.db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
            row = self.db.execute("SELECT value FROM result WHERE key='tail'").fetchone()
        except sqlite3.Error as exc:
            raise ResultError(f"{self.path} is not a result file ({exc})") from None
        if row is None:
            raise ResultError(f"{self.path} was not finished")
        self.tail: dict[str, Any] = json.loads(row[0])

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def count(self) -> int:
        return catalog_groups.count(self.db, show_hidden=True)

    def columns(self, flt: GroupFilter | None = None, sort: str = "order") -> np.ndarray:
        """Ords of the groups that pass ``flt``, in ``sort`` order (catalog_groups.SORTS)."""
        return catalog_groups.columns(self.db, flt or GroupFilter(), sort, show_hidden=True)

    def page(self, ords: Sequence[int]) -> list[Group]:
        return catalog_groups.page(self.db, ords, show_hidden=True)

    def thumb_keys(self) -> array:
        """Every member's thumbnail key, no group decoded (engine/group_thumbs.py)."""
        from lookalike.engine import group_thumbs

        return group_thumbs.thumb_keys(self.db, range(self.count()), show_hidden=True)

    def groups(self, ids: Iterable[int] | None = None) -> Iterator[Group]:
        """Every group in order (or those with these ids), decoded ``CHUNK`` at a time."""
        want = range(self.count()) if ids is None else [i - 1 for i in ids]
        for i in range(0, len(want), CHUNK):
            yield from self.page(want[i : i + CHUNK])

    def errors(self) -> list[FileError]:
        return [FileError(**e) for e in self.tail["errors"]]

    def stats(self) -> ScanStats:
        known = set(ScanStats.__dataclass_fields__)
        return ScanStats(**{k: v for k, v in self.tail["stats"].items() if k in known})
