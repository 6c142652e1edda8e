"""What a plan's items say about each other, worked out in a temp SQLite file (issue 13).

Why: the check refuses an item whose sequence number or real source path another item also
has, whose source is another item's keeper, or whose group names two keepers. It kept a
Python dict or set entry per item for that — tens of MB at 300k items, for a file the user
may have written by hand. Here one pass writes each item's few values to an unnamed temp
database (``sqlite3.connect("")``: on disk, gone when closed) and SQL finds the few values
that clash; only those are held, so memory no longer grows with the plan.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator

from lookalike.engine.actions.guard import is_clean
from lookalike.engine.actions.plan import PlanItem

_INT64 = range(-(2**63), 2**63)
_SCHEMA = """
CREATE TABLE seqs(seq INTEGER NOT NULL);
CREATE TABLE sources(real BLOB NOT NULL);
CREATE TABLE keepers(n INTEGER NOT NULL, real BLOB NOT NULL, spelled BLOB NOT NULL);
CREATE TABLE group_keepers(n INTEGER NOT NULL, gid INTEGER NOT NULL, real BLOB NOT NULL);
"""
_BATCH = 2_000  # rows written at a time


def numbers_in_range(item: PlanItem) -> bool:
    """Every number of the item fits what a scan can record (0 … 2**63-1)."""
    numbers = (item.seq, item.group_id, item.size, item.mtime_ns, item.keeper_size)
    numbers += (item.keeper_mtime_ns, item.keeper_dev, item.keeper_ino)
    return all(0 <= v < 2**63 for v in numbers)


class Clashes:
    """The values two or more items share: sequence numbers, real sources, sources that are
    another item's keeper (with that keeper as the plan spells it), and each group whose
    items name two keepers (with the first one named, as the check reads the items)."""

    def __init__(self, items: Iterable[PlanItem], real: Callable[[str], str]) -> None:
        db = sqlite3.connect("")
        try:
            db.executescript(_SCHEMA)
            self._fill(db, items, real)
            self.seqs = {s for (s,) in db.execute(_DUPLICATES.format("seq", "seqs"))}
            self.sources = {
                os.fsdecode(r) for (r,) in db.execute(_DUPLICATES.format("real", "sources"))
            }
            self.keeper_of = {
                os.fsdecode(r): os.fsdecode(s) for r, s in db.execute(_SOURCE_IS_KEEPER)
            }
            self.first_keeper = {g: os.fsdecode(r) for g, r in db.execute(_TWO_KEEPERS)}
        finally:
            db.close()

    @staticmethod
    def _fill(
        db: sqlite3.Connection, items: Iterable[PlanItem], real: Callable[[str], str]
    ) -> None:
        rows: dict[str, list[tuple]] = {
            "seqs": [],
            "sources": [],
            "keepers": [],
            "group_keepers": [],
        }
        sql = {
            "seqs": "INSERT INTO seqs VALUES (?)",
            "sources": "INSERT INTO sources VALUES (?)",
            "keepers": "INSERT INTO keepers VALUES (?,?,?)",
            "group_keepers": "INSERT INTO group_keepers VALUES (?,?,?)",
        }
        for n, item in enumerate(items):
            for table, row in _rows(n, item, real):
                rows[table].append(row)
            if n % _BATCH == _BATCH - 1:
                for table, batch in rows.items():
                    db.executemany(sql[table], batch)
                    batch.clear()
        for table, batch in rows.items():
            db.executemany(sql[table], batch)
        db.execute("CREATE INDEX keepers_real ON keepers(real)")


def _rows(n: int, item: PlanItem, real: Callable[[str], str]) -> Iterator[tuple[str, tuple]]:
    """The item's rows: what the check's second pass asks about it."""
    if item.seq in _INT64:  # one out of that range is refused on its own, and clashes with none
        yield "seqs", (item.seq,)
    src = real(item.source) if is_clean(item.source) else None
    keep = real(item.keeper) if is_clean(item.keeper) else None
    if src is not None:
        yield "sources", (os.fsencode(src),)
    if keep is not None:
        yield "keepers", (n, os.fsencode(keep), os.fsencode(item.keeper))
        if src is not None and numbers_in_range(item):  # the items the keeper check reaches
            yield "group_keepers", (n, item.group_id, os.fsencode(keep))


_DUPLICATES = "SELECT {0} FROM {1} GROUP BY {0} HAVING count(*) > 1"
# a source that is some item's keeper, with the keeper as the LAST such item spells it
_SOURCE_IS_KEEPER = """
SELECT s.real, (SELECT k.spelled FROM keepers k WHERE k.real = s.real ORDER BY k.n DESC LIMIT 1)
FROM (SELECT DISTINCT real FROM sources) s
WHERE s.real IN (SELECT real FROM keepers)
"""
# each group whose items name more than one keeper, with the keeper its first item names
_TWO_KEEPERS = """
SELECT g.gid, g.real FROM group_keepers g
JOIN (SELECT gid, min(n) AS n FROM group_keepers GROUP BY gid HAVING count(DISTINCT real) > 1) f
ON g.gid = f.gid AND g.n = f.n
"""
