"""What the features index (catalog_schema.FEATURE_INDEX) costs and saves on one catalog.

Why: an unchanged rescan asks which files have a percept at which version
(``Catalog.feature_versions``); without the index SQLite reads the whole features table
(3 GB at 1 M files) to answer. This times, on a copy of a scanned catalog, each query the
engine runs on ``features`` without the index and with it — warm (the file in the page cache)
and cold (this file's pages dropped with ``posix_fadvise``, no other file touched) — with its
plan, and the index's creation (seconds, MB). The catalog is written (the index dropped and
made again): give it a copy.

    python benchmarks/feature_index_cost.py RUN/catalog.db [--rounds 2] -o out.json
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import sys
import time
from pathlib import Path

from emit import emit  # benchmarks/: where a result goes
from lookalike.engine import thumb_refs
from lookalike.engine.catalog_schema import FEATURE_INDEX

QUERIES = {  # the engine's reads of the features table, as the engine sends them
    "feature_versions": "SELECT file_id, version FROM features WHERE name='percept'",
    "stamps (group_parts)": "SELECT file_id, name, version, rowid FROM features",
    "reuse shape (group_reuse)": "SELECT COUNT(*), MAX(rowid), TOTAL(rowid) FROM features",
    "thumb rows (thumb_refs)": thumb_refs._ROWS,
    "a whole name (load_features)": "SELECT file_id, data FROM features NOT INDEXED "
    "WHERE name='meta' AND version=5",
}


def _evict(db: Path) -> None:
    """This catalog's pages out of the page cache (only its own: the box is shared); written
    back first (a dirty page stays cached)."""
    for f in (db, Path(f"{db}-wal")):
        if f.exists():
            fd = os.open(f, os.O_RDONLY)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def _timed(db: Path, sql: str, cold: bool) -> dict:
    con = sqlite3.connect(db, isolation_level=None)
    if cold:
        _evict(db)
    r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    n = sum(1 for _ in con.execute(sql))
    wall, r1 = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF)
    plan = " | ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + sql))
    con.close()
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return {"rows": n, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "plan": plan}


def _index(db: Path, make: bool) -> None:
    with sqlite3.connect(db, isolation_level=None) as con:
        con.execute(FEATURE_INDEX if make else "DROP INDEX IF EXISTS features_name")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _index_mb(db: Path) -> float:
    """The index's pages (the file need not grow: a dropped index's pages are reused)."""
    with sqlite3.connect(db) as con:
        sql = "SELECT SUM(pgsize) FROM dbstat WHERE name='features_name'"
        return round(con.execute(sql).fetchone()[0] / 1e6, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("catalog", type=Path, help="a copy of a scanned catalog.db (it is written)")
    ap.add_argument("--rounds", type=int, default=2, help="without / with, alternating")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    db = args.catalog
    runs = []
    for r in range(args.rounds):
        for with_index in (False, True) if r % 2 == 0 else (True, False):
            _index(db, False)
            made = None
            if with_index:
                made = {"cold": _timed(db, FEATURE_INDEX, cold=True)}
                _index(db, False)  # again, the table's pages now cached (as after a scan's check)
                made["warm"] = _timed(db, FEATURE_INDEX, cold=False)
                _index(db, True)
                made["mb"] = _index_mb(db)
            for cold in (True, False):
                times = {name: _timed(db, sql, cold) for name, sql in QUERIES.items()}
                runs.append({"round": r + 1, "index": with_index, "cold": cold, "made": made,
                             "queries": times})  # fmt: skip
                print(runs[-1], file=sys.stderr)
    _index(db, True)  # left as a scan of this version leaves it
    doc = {"script": "benchmarks/feature_index_cost.py", "argv": sys.argv[1:], "runs": runs,
           "load": os.getloadavg()}  # fmt: skip
    return emit(doc, args.output, indent=1)


if __name__ == "__main__":
    sys.exit(main())
