"""The driver's CPU a photo in the scan's decode pool, by chunk size (tasks a message).

Why: on 2 cores both decode workers are busy through a first scan's extract, so each CPU
second the driver spends there (its pool's task and result threads pickling and piping
chunks, its main thread storing results) takes about half a second of wall (issue 13). A
chunk is one message each way, so what a message costs shrinks with bigger chunks. This runs
``DecodePool.map(extract_task, …)`` over the same photos with each chunk size in turn, rounds
alternating (A B C, then C B A), and reports the driver's CPU (``time.process_time``: all its
threads), the workers' (psutil, after a warm-up) and the wall, ms a photo.

    PYTHONPATH=src python benchmarks/pool_chunks.py /tmp/lookalike-scale/m10000 --count 3000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import psutil

from lookalike.engine.pool import DecodePool
from lookalike.engine.stages.extract_worker import extract_task

WARM = "lookalike.engine.stages.extract_worker"
PIXELS, BUDGET = 250_000_000, 512 * 2**20


def _tasks(files: list[str], tmp: str, tag: str) -> list[tuple]:
    """Tasks as the scan builds them: a thumbnail path in one of 256 cache folders."""
    return [
        (i, f, f"{tmp}/{tag}/{i % 256:02x}/{i}.jpg", PIXELS, BUDGET) for i, f in enumerate(files)
    ]


def run(files: list[str], tmp: str, tag: str, workers: int, chunk: int) -> dict[str, float]:
    """One pass of the pool over ``files`` in chunks of ``chunk``: ms a photo."""
    pool = DecodePool(workers, WARM)
    try:
        list(pool.map(extract_task, _tasks(files[: 4 * workers], tmp, tag + "w"), lambda: False, 1))
        procs = [psutil.Process(p.pid) for p in pool._pool._pool]

        def workers_cpu() -> float:
            return sum(sum(p.cpu_times()[:2]) for p in procs)

        w0, c0, t0 = workers_cpu(), time.process_time(), time.perf_counter()
        n = sum(1 for _ in pool.map(extract_task, _tasks(files, tmp, tag), lambda: False, chunk))
        t1, c1, w1 = time.perf_counter(), time.process_time(), workers_cpu()
        assert n == len(files)
    finally:
        pool.close()
    return {
        "driver": (c1 - c0) * 1e3 / n,
        "workers": (w1 - w0) * 1e3 / n,
        "wall": (t1 - t0) * 1e3 / n,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (with photos/)")
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", default="16,64", help="chunk sizes, comma-separated")
    args = ap.parse_args(argv)
    files = [str(f) for f in sorted((args.set / "photos").rglob("*.jpg"))[: args.count]]
    chunks = [int(c) for c in args.chunks.split(",")]
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for c in chunks if r % 2 == 0 else chunks[::-1]:
                runs.setdefault(str(c), []).append(run(files, tmp, f"c{c}r{r}", args.workers, c))
    out = {
        "ms_a_photo": {
            c: {k: round(sum(x[k] for x in v) / len(v), 4) for k in v[0]} for c, v in runs.items()
        },
        "by_round": {c: [{k: round(x, 4) for k, x in d.items()} for d in v] for c, v in runs.items()},
        "files": len(files), "rounds": args.rounds, "workers": args.workers,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
