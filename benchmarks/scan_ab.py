"""Two engines' whole-scan CPU per file, paired: scans alternate A, B, B, A, … on one folder.

Why: on the shared 2-core box the CPU time of one scan swings by ±15 % with the other
engineers' load (docs/benchmarks.md "Scale"), more than the cuts being measured. Alternating
the two source trees round by round, each scan from scratch (fresh catalog and thumbnail
cache), lets the load hit both alike; the per-core floor (``extract_file`` without a
thumbnail, each tree's own, with the heap its decode workers keep: ``pool.keep_heap``) is
timed in the same rounds, so ``cpu_efficiency`` (floor CPU / scan CPU, as ``scale.py`` reports
it) compares too.

    python benchmarks/scan_ab.py FOLDER --a /tmp/before/src --b src --rounds 3 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_FLOOR = """
import sys, time
from pathlib import Path
from lookalike.engine import pool
from lookalike.engine.features.extract import extract_file
getattr(pool, "keep_heap", lambda: False)()  # the heap the tree's decode workers run with
files = sorted(Path(sys.argv[1]).rglob("*.jpg"))[: int(sys.argv[2])]
for f in files[:10]:
    extract_file(str(f), None, 250_000_000)
c = time.process_time()
for f in files:
    extract_file(str(f), None, 250_000_000)
print((time.process_time() - c) * 1000 / len(files))
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _env(src: str, cache: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(Path(src).resolve()), XDG_CACHE_HOME=cache)


def scan_cpu(src: str, folder: Path, workers: int) -> dict[str, float]:
    """One first scan from scratch with the engine under ``src``: tree CPU s, wall s, files."""
    with tempfile.TemporaryDirectory(prefix="scan_ab_") as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(folder), "--db",
               f"{tmp}/catalog.db", "--workers", str(workers), "-o", str(out),
               "--format", "json"]  # fmt: skip
        c, t = _children_cpu(), time.perf_counter()
        proc = subprocess.run(cmd, env=_env(src, f"{tmp}/cache"), capture_output=True, text=True)
        wall, cpu = time.perf_counter() - t, _children_cpu() - c
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"scan with {src} failed: {proc.stderr[-2000:]}")
        doc = json.loads(out.read_text())
        groups = sorted(sorted(m["path"] for m in g["files"]) for g in doc["groups"])
    return {"cpu_s": cpu, "wall_s": wall, "groups": len(groups), "groups_hash": hash(str(groups))}


def floor_cpu_ms(src: str, folder: Path, count: int) -> float:
    out = subprocess.run([sys.executable, "-c", _FLOOR, str(folder), str(count)],
                         env=_env(src, "/tmp"), capture_output=True, text=True, check=True)  # fmt: skip
    return float(out.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="photos to scan (e.g. a slice of a scale.py set)")
    ap.add_argument("--a", required=True, help="source tree A (the folder holding lookalike/)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--floor-count", type=int, default=150)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    files = sum(1 for _ in args.folder.rglob("*.jpg"))
    rows = []
    for r in range(args.rounds):
        for name in ("a", "b") if r % 2 == 0 else ("b", "a"):
            src = getattr(args, name)
            floor = floor_cpu_ms(src, args.folder, args.floor_count)
            s = scan_cpu(src, args.folder, args.workers)
            row = {"round": r, "engine": name, "floor_cpu_ms": round(floor, 3),
                   "scan_cpu_ms": round(s["cpu_s"] * 1000 / files, 3),
                   "cpu_efficiency": round(floor / (s["cpu_s"] * 1000 / files), 3),
                   "wall_s": round(s["wall_s"], 1), "groups": s["groups"],
                   "groups_hash": s["groups_hash"], "load": round(os.getloadavg()[0], 1)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {}
    for name in ("a", "b"):
        mine = [x for x in rows if x["engine"] == name]
        summary[name] = {k: round(sum(x[k] for x in mine) / len(mine), 3)
                         for k in ("floor_cpu_ms", "scan_cpu_ms", "cpu_efficiency")}  # fmt: skip
    summary["same_groups"] = len({x["groups_hash"] for x in rows}) == 1
    summary["b_over_a_scan_cpu"] = round(
        summary["b"]["scan_cpu_ms"] / summary["a"]["scan_cpu_ms"], 3
    )
    result = {"script": "benchmarks/scan_ab.py", "argv": sys.argv[1:], "files": files,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rounds": rows,
              "summary": summary}  # fmt: skip
    print(json.dumps(summary))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
