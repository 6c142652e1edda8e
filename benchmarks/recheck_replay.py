"""Two engines' pixel re-checks of a scanned catalog's pairs, taking turns: A, B, B, A, …

Why (issue 13, session 14): at 100k files the group stage's look-alike checks (the hash
grouper's re-checks of uncertain edges, ``recheck.recheck_task`` in the pool's workers) ran
5.5 s of the stage's 6.0 s wall. A check is a pure function of its two files, so the pairs a
scan remembered (the catalog's ``pair_checks``) replay it without a scan: each pass gives one
long-lived process per source tree a new scan token (an empty Verifier, as a worker meets a
new scan) and the pairs in chunks of ``RECHECK_CHUNK``, as ``recheck_task`` receives them,
and times the pass with ``time.process_time`` (one OpenCV and one OpenMP thread, as a pool
worker). The two trees take turns pass by pass, so a change in the shared box's load hits
both within seconds. Each pass's verdicts are digested, and compared with the ones the
catalog remembered (``same`` there is the re-check's answer: the pair is refuted).

    python benchmarks/recheck_replay.py /tmp/lookalike-scale/m100000/run/catalog.db \\
        --a /tmp/before/src --b src --passes 4
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

from emit import emit

_CHILD = """
import json, os, sys, time
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
import cv2
cv2.setNumThreads(1)
from lookalike.engine import recheck
pairs = json.load(open(sys.argv[1]))
size = getattr(recheck, "RECHECK_CHUNK", 32)
for token, _ in enumerate(sys.stdin, 1):
    verdicts, c = [], time.process_time()
    for lo in range(0, len(pairs), size):
        flat = [p for pair in pairs[lo : lo + size] for p in pair]
        verdicts += recheck.recheck_task((token, lo, *flat))[1]
    print(json.dumps([time.process_time() - c, verdicts]), flush=True)
"""


def _pairs(catalog: Path) -> tuple[list[list[str]], list[bool]]:
    """The remembered re-checks' paths (in key order) and their verdicts (refuted or not)."""
    con = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    paths = {i: os.fsdecode(p) for i, p in con.execute("SELECT id, path FROM files")}
    rows = con.execute("SELECT a, b, same FROM pair_checks ORDER BY a, b").fetchall()
    con.close()
    rows = [r for r in rows if r[0] in paths and r[1] in paths]
    return [[paths[a], paths[b]] for a, b, _ in rows], [bool(s) for *_, s in rows]


def _child(src: str, listing: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, listing],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _digest(verdicts: list) -> str:
    return hashlib.sha256(json.dumps(verdicts).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog (only read)")
    ap.add_argument("--a", required=True, help="source tree A (the folder holding lookalike/)")
    ap.add_argument("--b", required=True, help="source tree B")
    ap.add_argument("--passes", type=int, default=4, help="timed passes of each tree")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    pairs, remembered = _pairs(args.catalog)
    listing = Path(os.environ.get("TMPDIR", "/tmp")) / f"recheck_replay_{os.getpid()}.json"
    listing.write_text(json.dumps(pairs))
    kids = {k: _child(getattr(args, k), str(listing)) for k in "ab"}
    cpu: dict[str, list[float]] = {"a": [], "b": []}
    answers: dict[str, set[str]] = {"a": set(), "b": set()}
    differ: dict[str, int] = {}
    load = [os.getloadavg()[0]]
    try:
        for n in range(args.passes + 1):  # pass 0: imports and page cache warm, not timed
            for k in "ab" if n % 2 == 0 else "ba":
                kids[k].stdin.write("go\n")
                kids[k].stdin.flush()
                seconds, verdicts = json.loads(kids[k].stdout.readline())
                answers[k].add(_digest(verdicts))
                differ[k] = sum(v != r for v, r in zip(verdicts, remembered, strict=True))
                if n:
                    cpu[k].append(seconds)
            load.append(os.getloadavg()[0])
    finally:
        for p in kids.values():
            p.stdin.close()
            p.wait()
        listing.unlink()
    per = {k: [round(1000 * s / len(pairs), 2) for s in v] for k, v in cpu.items()}
    return emit(
        {
            "pairs": len(pairs),
            "passes": args.passes,
            "cpu_ms_a_check": per,
            "median_ms": {k: sorted(v)[len(v) // 2] for k, v in per.items()},
            "b_over_a": round(sum(cpu["b"]) / sum(cpu["a"]), 3),
            "verdicts_digest": {k: sorted(v) for k, v in answers.items()},
            "differ_from_remembered": differ,
            "load_1min": [round(min(load), 2), round(max(load), 2)],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        },
        args.output,
    )


if __name__ == "__main__":
    raise SystemExit(main())
