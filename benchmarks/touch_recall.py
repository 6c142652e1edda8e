"""How much of a rescan's exact search the inverted-file one finds, and what each costs.

Why: a rescan by parts searches the changed items against the whole collection exactly while
that is cheap and by inverted-file indexes once it is not (engine/group_parts.py
``touch_exactly``); its guarantee then reads "as good as a full regroup's search". This
measures it on a scanned catalog's stored features (opened read-only): the last ``k`` items
by file id are the changed ones (in ``scale_many_added.py``'s ``all.db`` those are the added
files), and for each k the items with a verified edge to one of them (``_touched_by``) are
found three ways — exact (flat), by the inverted file, and from a full regroup's candidate
search (``candidate_array``) — with each one's CPU (the process's: all threads) and wall and
its share of the exact way's items.

    PYTHONPATH=src python benchmarks/touch_recall.py /tmp/bigpart-many/all.db \\
        --changed 2000,10000,40000
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

from emit import emit


def _table(catalog: Path):
    """Every file's stored signatures as the group stage's columns, by file id."""
    from lookalike.engine.item_table import TableBuilder

    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT file_id, data FROM features WHERE name='percept' ORDER BY file_id"
    ).fetchall()
    build = TableBuilder(len(rows))
    for lo in range(0, len(rows), 4096):
        part = rows[lo : lo + 4096]
        build.add_packed_many([k for k, _ in part], [str(k) for k, _ in part], [d for _, d in part])
    return build.table()


def _full_search(prep, changed: list[int], thr) -> set[int]:
    """The items with a verified edge to a changed one among a full regroup's candidates."""
    from lookalike.engine.candidates import candidate_array

    cand = candidate_array(prep)
    mine = np.zeros(len(prep.first) - 1, dtype=bool)
    mine[changed] = True
    cand = cand[mine[cand[:, 0]] | mine[cand[:, 1]]]
    out: set[int] = set()
    for i, j in cand.tolist():
        if thr.accepts(prep.match(i, j)):
            out.update((i, j))
    return out


def run(catalog: Path, counts: list[int]) -> dict:
    from lookalike.engine import group_parts
    from lookalike.engine.grouping import ViewSignatures
    from lookalike.engine.match_rules import thresholds_for

    table = _table(catalog)
    prep = ViewSignatures(table)
    hashes = (prep.keys, prep.codes, prep.code_owner)
    thr = thresholds_for(50)
    real = group_parts.touch_exactly
    out = {"items": len(table.keys), "keys": len(hashes[0]), "codes": len(hashes[1]), "runs": []}
    for k in counts:
        changed = list(range(len(table.keys) - k, len(table.keys)))
        got, cpu, wall = {}, {}, {}
        for way in ("exact", "ivf", "full"):
            prep.keys, prep.codes, prep.code_owner = hashes
            t, w = time.process_time(), time.perf_counter()
            if way == "full":
                got[way] = _full_search(prep, changed, thr)
            else:
                group_parts.touch_exactly = lambda *a, w=way: w == "exact"
                try:
                    got[way] = group_parts._touched_by(table, prep, changed, set(), thr)
                finally:
                    group_parts.touch_exactly = real
            cpu[way] = round(time.process_time() - t, 2)
            wall[way] = round(time.perf_counter() - w, 2)
        exact = got["exact"]
        share = {w: round(len(got[w] & exact) / max(1, len(exact)), 5) for w in got}
        beyond = {w: len(got[w] - exact) for w in got}
        row = {"changed": k, "cpu_s": cpu, "wall_s": wall, "touched": {w: len(v) for w, v in got.items()},
               "share_of_exact": share, "beyond_exact": beyond,
               "load": Path("/proc/loadavg").read_text().split()[:3]}  # fmt: skip
        print(row, file=sys.stderr, flush=True)
        out["runs"].append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog (opened read-only)")
    ap.add_argument("--changed", type=lambda s: [int(x) for x in s.split(",")], required=True)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    out = run(args.catalog, args.changed)
    out |= {"script": "benchmarks/touch_recall.py", "argv": sys.argv[1:]}
    return emit(out, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
