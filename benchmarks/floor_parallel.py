"""The per-core floor alone and on every core at once, in CPU ms per photo, alternating.

Why: issue 13's goal is "rate ≥ 0.9 × floor × cores", with the floor (``extract_file``, no
thumbnail) timed in one process. If N copies of the floor running side by side each cost more
CPU per photo than one alone (shared caches, memory bandwidth, the hypervisor's sharing of
the vCPUs), no scan of N workers can reach floor × N, whatever its own overhead: this script
measures that ceiling on the machine at hand. Rounds alternate (alone, then N at once) so the
load of other processes hits both alike.

    python benchmarks/floor_parallel.py /tmp/lookalike-scale/m10000 --procs 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path


def _floor(args: tuple[list[str], object]) -> float:
    """CPU ms per photo of ``extract_file`` over ``files``, after a warm-up, started together."""
    files, barrier = args
    import cv2

    from lookalike.engine import pool
    from lookalike.engine.features.extract import extract_file

    getattr(pool, "keep_heap", lambda: False)()  # the heap the scan's decode workers keep
    cv2.setNumThreads(1)  # as a decode worker runs (pool._quiet_worker): N floors x N threads
    for f in files[:10]:
        extract_file(f, None, 250_000_000)
    barrier.wait()
    c = time.process_time()
    for f in files:
        extract_file(f, None, 250_000_000)
    return (time.process_time() - c) * 1000 / len(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (with photos/)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--count", type=int, default=200, help="photos per process and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    files = [str(f) for f in sorted((args.set / "photos").rglob("*.jpg"))]
    if len(files) < args.count:
        print(f"need {args.count} photos under {args.set / 'photos'}: write a "
              "set with benchmarks/scale.py --make-only first", file=sys.stderr)  # fmt: skip
        return 2
    ctx = mp.get_context("spawn")
    alone, together = [], []
    with ctx.Manager() as manager, ctx.Pool(args.procs) as pool:
        for _ in range(args.rounds):
            for n, out in ((1, alone), (args.procs, together)):
                barrier = manager.Barrier(n)
                jobs = [(files[: args.count], barrier)] * n  # the same photos: only n differs
                out.append(sum(pool.map(_floor, jobs, chunksize=1)) / n)
    mean = {"alone": sum(alone) / len(alone), "together": sum(together) / len(together)}
    print(json.dumps({
        "procs": args.procs, "photos_per_proc": args.count, "rounds": args.rounds,
        "alone_cpu_ms": [round(x, 2) for x in alone],
        "together_cpu_ms": [round(x, 2) for x in together],
        "together_over_alone": round(mean["together"] / mean["alone"], 3),
        "ceiling_cpu_efficiency": round(mean["alone"] / mean["together"], 3),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
