"""The rank stage's spool writes alone: a scanned catalog's stored groups written into a scan's
group spool (``scan_groups.GroupSpool``), CPU seconds, the source trees alternating.

Why: the rank stage writes every group it builds into the spool (its JSON row, its columns,
a row a member); at 100k that is 10 030 groups and at 1 M 100 817, on the driver, whose
CPU on two cores comes out of the wall. Timing it inside a scan mixes it with judging and
the consumer; here the groups are read once from the catalog (read-only) and written again
and again, each tree in its own process (``PYTHONPATH=<tree>/src``), A/B/A/B, so the load
hits both alike. ``groups_digest``: a hash of the groups each tree reads back from its spool
(two trees with the same digest give the same groups).

    python benchmarks/spool_write.py /tmp/lookalike-scale/m100000/run/catalog.db \\
        --tree /work/main --tree /work/wt/NAME --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emit import emit


def _one(catalog: Path, repeat: int) -> dict:
    """In this process (the tree on ``sys.path``): the groups written ``repeat`` times."""
    import sqlite3

    from lookalike.engine import catalog_groups, scan_groups
    from lookalike.engine.catalog_health import read_only_uri

    db = sqlite3.connect(read_only_uri(catalog), uri=True)
    n = db.execute("SELECT COUNT(*) FROM groups").fetchone()[0]
    groups = catalog_groups.page(db, range(n), show_hidden=True)
    cpu = []
    with tempfile.TemporaryDirectory(prefix="spool-write-") as tmp:
        for _ in range(repeat):
            t = time.process_time()
            spool = scan_groups.GroupSpool(Path(tmp))
            for g in groups:
                spool.add(g)
            back = spool.done()
            cpu.append(round(time.process_time() - t, 3))
        digest = hashlib.sha256(repr(list(back)).encode()).hexdigest()[:16]
    members = sum(len(g.members) for g in groups)
    return {"groups": n, "members": members, "cpu_s": cpu, "groups_digest": digest}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog (only read)")
    ap.add_argument("--tree", action="append", default=[], help="a source tree (repeat)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="writes a process")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_one(args.catalog, args.repeat)))
        return 0
    trees = args.tree or [str(Path(__file__).resolve().parents[1])]
    runs: dict[str, list[dict]] = {t: [] for t in trees}
    for _ in range(args.rounds):
        for tree in trees:
            env = dict(os.environ, PYTHONPATH=str(Path(tree) / "src"))
            cmd = [sys.executable, __file__, str(args.catalog), "--child",
                   "--repeat", str(args.repeat)]  # fmt: skip
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            runs[tree].append(json.loads(out.stdout))
    result = {
        "script": "benchmarks/spool_write.py",
        "argv": sys.argv[1:],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "trees": {
            t: {
                "cpu_s": [c for r in rs for c in r["cpu_s"]],
                "groups": rs[0]["groups"],
                "members": rs[0]["members"],
                "groups_digest": sorted({r["groups_digest"] for r in rs}),
            }
            for t, rs in runs.items()
        },
    }
    return emit(result, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
