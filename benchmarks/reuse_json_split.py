"""Where a reused rescan's groups cost CPU between the catalog and the ``--format json`` file.

Why: an unchanged rescan sends every stored group (``group_reuse.replay``: each row decoded
into a ``Group`` for its event) and the CLI writes each one (``stream.ResultStream.group``:
``Group.to_json`` then ``indent_json.dumps_indent1``) — at 1 M files 100 788 groups, 179 MB,
on one GIL. This runs the same steps over a catalog's stored groups in one thread, each step
timed by its own CPU, and checks the text is the CLI's.

    python benchmarks/reuse_json_split.py RUN/catalog.db [--limit N] [--rounds 2] -o out.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from emit import emit  # benchmarks/: where a result goes
from lookalike.engine.catalog_health import read_only_uri
from lookalike.engine.catalog_schema import group_from_row
from lookalike.engine.records import Group
from lookalike.headless.indent_json import dumps_indent1
from lookalike.headless.stream import ResultStream

STEPS = ("json.loads (replay)", "group_from_row (replay)", "Group renumbered (replay)",
         "Group.to_json (stream)", "dumps_indent1 (stream)", "write (stream, to memory)")  # fmt: skip


def one(rows: list[str]) -> dict:
    """The steps group after group, as the scan streams them (nothing kept but the text),
    each step's CPU summed apart."""
    spent = [0.0] * len(STEPS)
    out = io.StringIO()
    clock = time.thread_time
    for n, row in enumerate(rows):
        t0 = clock()
        d = json.loads(row)
        t1 = clock()
        made = group_from_row(d)
        t2 = clock()
        g = Group(n + 1, made.tier, made.keep, made.reason, made.members)
        t3 = clock()
        doc = g.to_json()
        t4 = clock()
        text = dumps_indent1(doc, "  ")
        t5 = clock()
        out.write(",\n" + text)
        t6 = clock()
        for i, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6))):
            spent[i] += b - a
    whole = io.StringIO()
    stream = ResultStream("json", whole)
    for n, row in enumerate(rows[:200]):  # the steps' text is the CLI's
        made = group_from_row(json.loads(row))
        stream.group(Group(n + 1, made.tier, made.keep, made.reason, made.members))
    head = whole.getvalue().split("\n", 3)[3]
    if not out.getvalue()[2:].startswith(head):
        raise SystemExit("the steps' text is not the CLI's")
    return {**{k: round(v, 3) for k, v in zip(STEPS, spent, strict=True)},
            "bytes": out.tell()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog.db (read only)")
    ap.add_argument("--limit", type=int, help="the first N stored groups only")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    con = sqlite3.connect(read_only_uri(args.catalog), uri=True)
    sql = "SELECT data FROM groups ORDER BY ord" + (f" LIMIT {args.limit}" if args.limit else "")
    rows = [r[0] for r in con.execute(sql)]
    con.close()
    runs = []
    for _ in range(args.rounds):
        runs.append({"groups": len(rows), **one(rows)})
        print(runs[-1], file=sys.stderr)
    doc = {"script": "benchmarks/reuse_json_split.py", "argv": sys.argv[1:], "runs": runs,
           "load": os.getloadavg()}  # fmt: skip
    return emit(doc, args.output, indent=1)


if __name__ == "__main__":
    sys.exit(main())
