"""Two engines' decode-worker CPU a photo, paired chunk by chunk: A, B, B, A, … on one set.

Why: on the shared 2-core box a whole scan's CPU a file swings by ±10 % between scans
(``scan_ab.py`` at load 6–10: 0.96× one hour, 1.06× the next, for the same two trees), more
than a cut of a few per cent. Here two long-lived processes, one per source tree, take turns
on chunks of the same photos (A then B, then B then A), each timing with
``time.process_time`` the worker's whole job (``extract_task``: decode, features, thumbnail,
its result pickled) and the floor (``extract_file`` without a thumbnail), so a change in the
load hits both within seconds.

    python benchmarks/task_ab.py /tmp/lookalike-scale/m10000 --a /tmp/before/src --b src --count 600
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import pickle, sys, time
from lookalike.engine import pool
from lookalike.engine.features.extract import extract_file
from lookalike.engine.stages.extract import extract_task
files, tmp = open(sys.argv[1]).read().splitlines(), sys.argv[2]
getattr(pool, "keep_heap", lambda: False)()  # the heap the tree's decode workers keep
for f in files[:10]:  # imports, allocator and page cache warm, as in a long-lived worker
    extract_file(f, None, 250_000_000)
for line in sys.stdin:
    lo, hi = map(int, line.split())
    c = time.process_time()
    for i in range(lo, hi):
        pickle.dumps(extract_task((i, files[i], f"{tmp}/{i % 256:02x}/{i}.jpg", 250_000_000,
                                   512 * 2**20)))
    task = time.process_time() - c
    c = time.process_time()
    for i in range(lo, hi):
        extract_file(files[i], None, 250_000_000)
    print(task, time.process_time() - c, flush=True)
"""


def _child(src: str, listing: str, tmp: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, listing, tmp],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (with photos/)")
    ap.add_argument("--a", required=True, help="source tree A (the folder holding lookalike/)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--chunk", type=int, default=20)
    args = ap.parse_args(argv)
    files = [str(f) for f in sorted((args.set / "photos").rglob("*.jpg"))[: args.count]]
    if not files:
        print(f"no photos under {args.set / 'photos'}: write a set with benchmarks/scale.py "
              "--make-only first", file=sys.stderr)  # fmt: skip
        return 2
    cpu = {k: [0.0, 0.0] for k in "ab"}  # task, floor
    with tempfile.TemporaryDirectory() as ta, tempfile.TemporaryDirectory() as tb:
        listing = f"{ta}/files.txt"
        Path(listing).write_text("\n".join(files))
        kids = {"a": _child(args.a, listing, ta), "b": _child(args.b, listing, tb)}
        for n, lo in enumerate(range(0, len(files), args.chunk)):
            for k in "ab" if n % 2 == 0 else "ba":
                kids[k].stdin.write(f"{lo} {min(lo + args.chunk, len(files))}\n")
                kids[k].stdin.flush()
                task, floor = map(float, kids[k].stdout.readline().split())
                cpu[k][0] += task
                cpu[k][1] += floor
        for p in kids.values():
            p.stdin.close()
            p.wait()
    ms = {k: {"task_ms": round(v[0] * 1000 / len(files), 3),
              "floor_ms": round(v[1] * 1000 / len(files), 3)} for k, v in cpu.items()}  # fmt: skip
    print(json.dumps({
        **ms,
        "b_over_a_task": round(cpu["b"][0] / cpu["a"][0], 3),
        "b_over_a_floor": round(cpu["b"][1] / cpu["a"][1], 3),
        "files": len(files), "chunk": args.chunk,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
