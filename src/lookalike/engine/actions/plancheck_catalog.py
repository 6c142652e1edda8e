"""The plan check's view of the catalog a plan came from, worked out in SQL (issue 13).

Why: the check refuses an item the scan never recorded, one whose size, time or hash differ
from the scan's, one not in a stored group with its keeper, and one whose only shared groups
are of a tier the plan may not act on. It kept each planned file's stored values, the plan's
paths and each path's stored groups in Python dicts and sets — growing with the plan — and
``lstat``-ed every member of the stored groups to find symlink members. Here the plan's paths
go to an unnamed temp database ATTACHed to the catalog's connection (``ATTACH ''``: on disk,
gone when detached) and SQL joins them against the catalog's ``files``, ``group_files`` and
``groups`` rows; only the items that fail are held. Stored members are ``lstat``-ed only when
some item fails the group checks on the stored paths alone and a scan of the catalog followed
symlinks (or the catalog predates that record): a symlink member (a ``--follow-symlinks``
scan) stands for its real file, which may give it the group it lacks.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator

from lookalike.engine.actions.guard import is_clean, real
from lookalike.engine.actions.plan import Plan, PlanItem
from lookalike.engine.actions.plancheck_seen import numbers_in_range

_BATCH = 2_000  # rows written at a time
_SCHEMA = """
CREATE TABLE pc.items(n INTEGER PRIMARY KEY, src BLOB, keep BLOB, size INT, mtime INT, hash);
CREATE TABLE pc.wanted(path BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE pc.member(path BLOB NOT NULL, ord INTEGER NOT NULL, PRIMARY KEY (path, ord))
    WITHOUT ROWID;
CREATE TABLE pc.tiers(tier TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# each item whose source the scan never recorded or recorded with other values
_FILE_PROBLEMS = """
SELECT i.n, f.id IS NULL FROM pc.items i LEFT JOIN main.files f ON f.path = i.src
WHERE f.id IS NULL OR f.size IS NOT i.size OR f.mtime_ns IS NOT i.mtime
   OR (length(f.fullhash) > 0 AND lower(hex(f.fullhash)) IS NOT i.hash)
"""
# each item whose source and keeper share no stored group, or share only groups of a tier the
# plan does not act on (with the first shared group: its tier is named)
_GROUP_PROBLEMS = """
SELECT i.n, min(k.ord) FROM pc.items i
LEFT JOIN pc.member s ON s.path = i.src
LEFT JOIN pc.member k ON k.path = i.keep AND k.ord = s.ord
GROUP BY i.n
HAVING count(k.ord) = 0 OR NOT max(k.ord IS NOT NULL AND EXISTS (
    SELECT 1 FROM main.groups g WHERE g.ord = k.ord AND g.tier IN (SELECT tier FROM pc.tiers)))
"""


class CatalogView:
    """What the catalog says against the plan's items, found before the items are checked:
    the favourites (real paths), and the catalog problem of each failing item by its number
    in the plan (an item's number is its place in ``plan.items``)."""

    def __init__(self, db: sqlite3.Connection, plan: Plan, favourites: Iterable[str]) -> None:
        self.favourites = {real(p) for p in favourites}
        self.file_problem: dict[int, str] = {}
        self.group_problem: dict[int, str] = {}
        db.execute("ATTACH DATABASE '' AS pc")
        try:
            db.executescript(_SCHEMA)
            db.executemany("INSERT OR IGNORE INTO pc.tiers VALUES (?)", ((t,) for t in plan.tiers))
            _fill(db, plan.items)
            self._find(db, plan)
        finally:
            db.execute("DETACH DATABASE pc")

    def _find(self, db: sqlite3.Connection, plan: Plan) -> None:
        for n, missing in db.execute(_FILE_PROBLEMS):
            self.file_problem[n] = (
                "not in the catalog: the scan never recorded this file"
                if missing
                else "its size, time or hash differ from what the scan recorded"
            )
        db.execute(
            "INSERT OR IGNORE INTO pc.member SELECT g.path, g.ord FROM pc.wanted w "
            "JOIN main.group_files g ON g.path = w.path"
        )
        failing = db.execute(_GROUP_PROBLEMS).fetchall()
        if failing and _symlinks_possible(db):  # a symlink member may give the group: look
            _add_symlink_members(db)
            failing = db.execute(_GROUP_PROBLEMS).fetchall()
        keepers = {n: k for n, k in _keepers(db, [n for n, _ in failing])}
        for n, first in failing:
            if first is None:
                self.group_problem[n] = (
                    f"it and its keeper {keepers[n]} are not in one group of the catalog"
                )
                continue
            row = db.execute("SELECT tier FROM main.groups WHERE ord = ?", (first,)).fetchone()
            self.group_problem[n] = (
                f"its group is a {row[0] if row else None} group, which this plan may not act "
                f"on (it acts on {', '.join(plan.tiers)})"
            )

    def problems(self, n: int, item: PlanItem, src: str) -> Iterable[str]:
        """The catalog's refusals of item ``n`` (``src``: its real source path)."""
        if src in self.favourites:
            yield "a favourite; favourites are never acted on"
        if n in self.file_problem:
            yield self.file_problem[n]
        if n in self.group_problem:
            yield self.group_problem[n]


def _fill(db: sqlite3.Connection, items: Iterable[PlanItem]) -> None:
    """One row per item the catalog check reaches (a keeper, clean paths, numbers in range),
    and the paths wanted from the stored groups."""
    rows: list[tuple] = []
    for n, item in enumerate(items):
        reached = item.keeper and is_clean(item.source) and is_clean(item.keeper)
        if reached and numbers_in_range(item):
            src, keep = os.fsencode(item.source), os.fsencode(item.keeper)
            rows.append((n, src, keep, item.size, item.mtime_ns, item.hash))
        if len(rows) >= _BATCH:
            _write(db, rows)
    _write(db, rows)


def _write(db: sqlite3.Connection, rows: list[tuple]) -> None:
    db.executemany("INSERT INTO pc.items VALUES (?,?,?,?,?,?)", rows)
    db.executemany("INSERT OR IGNORE INTO pc.wanted VALUES (?)", ((r[1],) for r in rows))
    db.executemany("INSERT OR IGNORE INTO pc.wanted VALUES (?)", ((r[2],) for r in rows))
    rows.clear()


def _symlinks_possible(db: sqlite3.Connection) -> bool:
    """False when no scan of this catalog followed symlinks (Catalog.start_scan's meta row):
    then no stored member stands for another file, and none is looked at on disk."""
    row = db.execute("SELECT value FROM main.meta WHERE key = 'symlinks'").fetchone()
    return row is None or row[0] != "0"


def _add_symlink_members(db: sqlite3.Connection) -> None:
    """Each stored member that is a symlink stands for its real file too (the builder keeps
    the real file instead of the link): its group is added to that file's, when wanted."""
    found: list[tuple[bytes, int]] = []
    for ord_, blob in db.execute("SELECT ord, path FROM main.group_files"):
        path = os.fsdecode(blob)
        if os.path.islink(path):
            found.append((os.fsencode(real(path)), ord_))
    for i in range(0, len(found), _BATCH):
        db.executemany(
            "INSERT OR IGNORE INTO pc.member SELECT ?1, ?2 WHERE EXISTS "
            "(SELECT 1 FROM pc.wanted WHERE path = ?1)",
            found[i : i + _BATCH],
        )


def _keepers(db: sqlite3.Connection, numbers: list[int]) -> Iterator[tuple[int, str]]:
    for i in range(0, len(numbers), 900):
        chunk = numbers[i : i + 900]
        q = ",".join("?" * len(chunk))
        for n, keep in db.execute(f"SELECT n, keep FROM pc.items WHERE n IN ({q})", chunk):
            yield n, os.fsdecode(keep)
