"""Two engines' unchanged rescan of one scanned set, paired: A, B, A, B, … on one catalog.

Why: an unchanged rescan's cost is its fixed work over every file (walk, catalog match, the
stored groups sent), which grows with the library (issue 13: 48 s at 1 M); a cut must be
measured on the same catalog, alternating the trees so the shared box's load hits both alike.
Each engine reuses the stored groups only under its own fingerprint (group_reuse.py: the
engine's source is in it), so each tree's first rescan regroups once ("settle", timed too),
after which its reuse record (the catalog's ``meta`` row ``groups_reuse``) is kept and put
back before each of its rescans. Both records must name the same stored rows (the same
groups): the script stops otherwise (a record that no longer matches the stored rows makes its
rescan regroup: a "group" stage of seconds, not hundredths). With ``--adopt`` tree A does not
regroup: it takes B's record with its own fingerprint of the catalog (``adopt``) — the
approximate group search can differ by a pair between two regroups, and a settle at 1 M costs
≈ 6 minutes of both cores. Each scan's output is hashed (the
groups, the errors and the stats but their seconds): an A/B whose outputs differ says so.

    python benchmarks/rescan_ab.py --set /tmp/lookalike-scale/m100000 --run RUN \\
        --a /tmp/before/src --b src --rounds 2 [--adopt] -o out.json

``RUN`` holds the scanned set's ``catalog.db`` (a copy: it is written) and ``cache/`` (the
``XDG_CACHE_HOME`` of its first scan, e.g. hard-linked with ``cp -al``). ``--sql-a`` /
``--sql-b``: statements run on the catalog before each of that tree's rescans, for a change
SQLite would otherwise hand to both trees (an index one tree creates is used by the other's
queries too): e.g. ``--sql-a "DROP INDEX IF EXISTS features_name"``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from emit import emit  # benchmarks/: where a result goes

KEY = "groups_reuse"


def _record(db: Path, value: str | None = None, sql: str | None = None) -> str | None:
    """The catalog's reuse record (``value``: put it back first; ``sql``: run that first)."""
    with sqlite3.connect(db) as con:
        if sql:
            con.executescript(sql)
        if value is not None:
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (KEY, value))
        row = con.execute("SELECT value FROM meta WHERE key=?", (KEY,)).fetchone()
    return row[0] if row else None


def rescan(src: str, set_dir: Path, run: Path, name: str) -> dict:
    """One rescan in a child process: wall, its CPU (user + sys) and peak RSS (``wait4``),
    the stages' seconds, and a hash of the output's groups and errors."""
    out = run / f"{name}.json"
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(set_dir / "photos"),
           str(set_dir / "copies"), "--db", str(run / "catalog.db"), "--workers", "2",
           "-o", str(out), "--format", "json", "--progress", "none"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), XDG_CACHE_HOME=str(run / "cache"))
    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 1, 3):
        raise RuntimeError(f"scan failed: {err[-2000:]}")
    doc = json.loads(out.read_text())
    stats = doc["stats"]
    counts = {k: v for k, v in stats.items() if not k.startswith("seconds")}
    digest = hashlib.sha256(json.dumps([doc["groups"], doc["errors"], counts]).encode())
    out.unlink()  # ≈ 180 MB at 1 M
    return {
        "name": name, "src": src, "wall_s": round(wall, 2),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), "user_s": round(ru.ru_utime, 2),
        "sys_s": round(ru.ru_stime, 2), "peak_rss_mb": ru.ru_maxrss // 1024,
        "stages_s": {k: round(v, 2) for k, v in stats.get("seconds_by_stage", {}).items()},
        "engine_s": round(stats.get("seconds", 0.0), 2), "groups": len(doc["groups"]),
        "output": digest.hexdigest()[:16], "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }  # fmt: skip


_HOOK = """
import sys
from lookalike.engine import group_reuse

def stored(cat, fp):  # the tree's fingerprint of this catalog, then stop before any regroup
    open("{out}", "w").write(fp)
    raise SystemExit("fingerprint taken")

group_reuse.stored = stored
"""


def adopt(src: str, set_dir: Path, run: Path, record: str) -> str:
    """``record`` (the other tree's) with ``src``'s own fingerprint of this catalog: what ``src``
    would have stored had its regroup found the same groups (the approximate search can differ
    by a pair from run to run). A rescan under ``src`` with a hook (``sitecustomize``) that
    takes the fingerprint where the scan compares it, and stops the scan before it regroups."""
    hook = run / "adopt_hook"
    hook.mkdir(exist_ok=True)
    out = run / "adopt_fp.txt"
    (hook / "sitecustomize.py").write_text(_HOOK.replace("{out}", str(out)))
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(set_dir / "photos"),
           str(set_dir / "copies"), "--db", str(run / "catalog.db"), "--workers", "2",
           "-o", str(run / "adopt.json"), "--format", "json", "--progress", "none"]  # fmt: skip
    path = f"{hook}{os.pathsep}{Path(src).resolve()}"
    env = dict(os.environ, PYTHONPATH=path, XDG_CACHE_HOME=str(run / "cache"))
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    rec = json.loads(record)
    rec["fingerprint"] = out.read_text()
    return json.dumps(rec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", type=Path, required=True, help="a scale.py set (photos/, copies/)")
    ap.add_argument("--run", type=Path, required=True, help="catalog.db (a copy) and cache/")
    ap.add_argument("--a", required=True, help="source tree A (the folder holding lookalike/)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--adopt", action="store_true", help="A takes B's stored groups (no regroup of its own)"
    )
    ap.add_argument("--sql-a", help="SQL run on the catalog before each of A's rescans")
    ap.add_argument("--sql-b", help="SQL run on the catalog before each of B's rescans")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    db = args.run / "catalog.db"
    trees = {"a": args.a, "b": args.b}
    sql = {"a": args.sql_a, "b": args.sql_b}
    records: dict[str, str] = {}
    runs: list[dict] = []
    for name in ("b", "a"):  # each tree's own record: one regrouping rescan if needed
        saved = args.run / f"reuse_{name}.json"  # kept from an earlier invocation
        if saved.exists():
            records[name] = saved.read_text()
            continue
        if name == "a" and args.adopt:  # B's groups under A's fingerprint: no regroup
            records["a"] = adopt(args.a, args.set, args.run, records["b"])
            saved.write_text(records["a"])
            continue
        _record(db, sql=sql[name])
        runs.append({**rescan(trees[name], args.set, args.run, f"settle_{name}"), "settle": True})
        value = _record(db)
        if value is None:
            raise SystemExit(f"tree {name} left no reuse record: it cannot reuse groups")
        saved.write_text(value)
        records[name] = value
    if len({json.dumps(json.loads(v)["groups"]) for v in records.values()}) != 1:
        if not args.adopt:
            raise SystemExit("the two trees stored different groups (--adopt: A takes B's)")
        records["a"] = adopt(args.a, args.set, args.run, records["b"])
        (args.run / "reuse_a.json").write_text(records["a"])
    for r in range(args.rounds):
        for name in trees if r % 2 == 0 else reversed(trees):
            _record(db, records[name], sql[name])
            runs.append(rescan(trees[name], args.set, args.run, f"{name}{r + 1}"))
            print(json.dumps(runs[-1]), file=sys.stderr)
    doc = {"script": "benchmarks/rescan_ab.py", "argv": sys.argv[1:], "runs": runs}
    return emit(doc, args.output, indent=1)


if __name__ == "__main__":
    sys.exit(main())
