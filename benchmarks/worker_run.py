"""A decode worker's CPU a photo over a whole set, file by file, against the floor on the same
files, cold and warm.

Why: on the 100k first scan the workers spent 11.19 ms of CPU a photo against a floor of
8.69 (``scale.py``'s: ``extract_file`` without a thumbnail, one process, on the set's first
200 photos, warm), 1.29×, while the worker's job timed in one process on the same few warm
photos (``task_ab.py``, ``pool_cpu.py``) cost only 1.04–1.06× the floor. This script tells the
candidates apart on one run:

- the scan's pool (``engine.pool.DecodePool``, spawn, its chunking, 2000 chunks a worker)
  runs ``extract_task`` over every photo of the set (``photos/`` and ``copies/``, sorted by
  path as the scan sends them, optionally cold: ``--cold`` drops the set from the page cache
  first); each worker times every task (``time.process_time``) and the CPU since its previous
  task (the pickles and pipes between), so the CPU a photo can be read **by position in the
  run** (does it grow with files done?) and **by file**;
- then, in this process, a fair sample of the same files (every k-th, across the whole set),
  interleaved file by file: the floor read cold (the file dropped from the page cache just
  before), the floor warm, and the worker's task warm. ``pool_task / floor_warm`` on the same
  files is the worker's overhead in the pool; ``floor_first`` (scale.py's 200 first photos)
  against the sample's floor in a loop is the floor's sample bias; ``floor_cold /
  floor_warm`` the kernel's read of a file the page cache does not hold. This process keeps
  its heap as the workers do (``engine.pool.keep_heap``, where the engine has it), so the
  pairs compare alike; ``*_sys`` and ``*_faults`` are system CPU ms and minor page faults.
  ``features_digest``: a hash of every file's features as the pool returned them (two source
  trees with the same digest computed bit-identical features); ``worker_peak_rss_mb``: the
  workers' peak RSS (``VmHWM``, read every 64th task).

    python benchmarks/worker_run.py /tmp/lookalike-scale/m10000 --workers 2 --cold --every 20
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emit import emit
from lookalike.engine import pool as pool_mod
from lookalike.engine.features.extract import extract_file
from lookalike.engine.pool import DecodePool, chunk_size
from lookalike.engine.stages.extract import extract_task

PIXELS, BUDGET = 250_000_000, 512 * 2**20
_LAST = [math.nan]  # in a worker: process_time after its previous task


def timed_task(task: tuple) -> tuple:
    """Runs in a worker: ``extract_task`` (its result goes back, so its pickle is paid), the
    task's CPU seconds, the CPU since this worker's previous task ended, and the cyclic
    garbage collector's passes in this worker so far (by generation)."""
    r0, c0 = _rusage(), time.process_time()
    result = extract_task(task)
    c1, r1 = time.process_time(), _rusage()
    since, _LAST[0] = c1 - _LAST[0], c1
    rss = _peak_rss_mb() if task[0] % 64 == 0 else 0
    return result, os.getpid(), c1 - c0, since, r1 - r0, rss, _gc_passes()


def _gc_passes() -> tuple[int, ...]:
    """The cyclic collector's passes so far in this process, generations 0, 1, 2."""
    return tuple(s["collections"] for s in gc.get_stats())


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; a spawned child's ``ru_maxrss`` keeps its parent's)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _rusage() -> np.ndarray:
    """This process's system CPU seconds and minor page faults so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([r.ru_stime, r.ru_minflt])


def drop(path: str) -> None:
    """Drop one file from the page cache (its pages are clean: nothing is written)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sniff_like(files: list[str]) -> None:
    """What a first scan's catalog stage leaves in the page cache before the extract: each
    file advised ahead (``ReadAhead``, as ``stages/diff.py``'s sniff) and its head read."""
    from lookalike.engine.media.readahead import ReadAhead

    with ReadAhead(files) as ahead:
        for i, f in enumerate(files):
            ahead.reached(i)
            with open(f, "rb") as fh:
                fh.read(32)


def pool_run(files: list[str], tmp: str, workers: int) -> dict[str, np.ndarray]:
    """Every file through the scan's pool; per file, in the order sent: task CPU ms, CPU ms
    since the worker's previous task (NaN for a worker's first), the task's system CPU ms and
    minor page faults, and the order it came back."""
    tasks = [
        (i, f, f"{tmp}/pool/{i % 256:02x}/{i}.jpg", PIXELS, BUDGET) for i, f in enumerate(files)
    ]
    run = {k: np.full(len(files), np.nan) for k in ("task_ms", "since_ms", "sys_ms", "faults")}
    order = np.zeros(len(files), dtype=np.int64)
    pids: set[int] = set()
    peak = 0.0
    passes: dict[int, tuple[int, ...]] = {}  # a worker's gc passes at its latest result
    features: list[bytes] = [b""] * len(files)  # what each file's features came back as
    with DecodePool(workers, "lookalike.engine.features.extract") as pool:
        got = pool.map(timed_task, tasks, lambda: False, chunk_size(len(tasks), workers))
        for n, (res, pid, task, since, (sys_s, faults), rss, gcs) in enumerate(got):
            i = res[0]
            # the meta as JSON (workers send its bytes since session 13, a dict before), less
            # the thumbnail's temp path and its place in a pack (session 14): two trees either
            # side of those changes compare alike
            meta = json.loads(res[1]) if isinstance(res[1], bytes) else res[1]
            meta = {k: v for k, v in (meta or {}).items() if k not in ("thumb", "thumb_at")}
            meta = json.loads(json.dumps(meta))
            features[i] = pickle.dumps((meta, *res[2:]))
            run["task_ms"][i], run["since_ms"][i] = task * 1000, since * 1000
            run["sys_ms"][i], run["faults"][i], order[i] = sys_s * 1000, faults, n
            pids.add(pid)
            peak = max(peak, rss)
            passes[pid] = max(passes.get(pid, gcs), gcs)
    digest = hashlib.sha256(b"".join(features)).hexdigest()[:16]  # equal: bit-identical
    # a worker's passes (since its start: imports included) summed over the workers, a photo
    gc_a_photo = [round(sum(p[g] for p in passes.values()) / len(files), 4) for g in range(3)]
    return {**run, "order": order, "processes": len(pids), "peak_rss_mb": peak, "digest": digest,
            "gc_passes_a_photo": gc_a_photo}  # fmt: skip


def in_process(sample: list[str], tmp: str) -> dict[str, float]:
    """CPU ms a photo of the sample: file by file, the floor cold (dropped from the page cache
    just before), the floor warm and the worker's task warm (with their system CPU ms and
    minor page faults); then the floor in a loop over the sample, as ``scale.py`` times it."""
    keys = ("floor_cold", "floor_warm", "task_warm")
    cpu = {k: np.zeros(3) for k in keys}  # CPU s, system CPU s, minor faults
    for f in sample[:10]:  # imports and allocator warm, as in a long-lived worker
        extract_file(f, None, PIXELS)
    for j, f in enumerate(sample):
        drop(f)
        steps = (
            lambda: extract_file(f, None, PIXELS),  # noqa: B023 - called at once, in the loop
            lambda: extract_file(f, None, PIXELS),  # noqa: B023
            lambda: extract_task((j, f, f"{tmp}/in/{j % 256:02x}/{j}.jpg", PIXELS, BUDGET)),  # noqa: B023
        )
        for k, step in zip(keys, steps, strict=True):
            r0, c0 = _rusage(), time.process_time()
            step()
            cpu[k] += np.array([time.process_time() - c0, *(_rusage() - r0)])
    c = time.process_time()
    for f in sample:
        extract_file(f, None, PIXELS)
    loop = time.process_time() - c
    n = len(sample)
    out = {k: v[0] * 1000 / n for k, v in cpu.items()}
    out.update({f"{k}_sys": v[1] * 1000 / n for k, v in cpu.items()})
    out.update({f"{k}_faults": v[2] / n for k, v in cpu.items()})
    return {**out, "floor_loop": loop * 1000 / n}


def floor_first(files: list[str], count: int = 200) -> float:
    """``scale.py``'s floor: CPU ms a photo on the set's first ``count`` photos, warm."""
    for f in files[:10]:
        extract_file(f, None, PIXELS)
    c = time.process_time()
    for f in files[:count]:
        extract_file(f, None, PIXELS)
    return (time.process_time() - c) * 1000 / count


def by_position(run: dict[str, np.ndarray], parts: int) -> list[dict]:
    """The pool's CPU a photo by tenths (``parts``) of the run, in the order results came."""
    rows = []
    for idx in np.array_split(np.argsort(run["order"]), parts):
        since = run["since_ms"][idx]
        rows.append({"task_ms": round(float(np.mean(run["task_ms"][idx])), 3),
                     "since_ms": round(float(np.nanmean(since)), 3)})  # fmt: skip
    return rows


def report(files: list[str], run: dict, mine: dict, pick: np.ndarray, first: float) -> dict:
    """The figures: whole-run means, the same files paired, the run by position."""
    mean = mine
    pool_same = float(np.mean(run["task_ms"][pick]))
    since_same = float(np.nanmean(run["since_ms"][pick]))
    pool_sys = float(np.mean(run["sys_ms"][pick]))
    pool_faults = float(np.mean(run["faults"][pick]))
    r3 = lambda x: round(x, 3)  # noqa: E731 - a local rounding
    return {
        "files": len(files), "sample": len(pick), "pool_processes": run["processes"],
        "worker_peak_rss_mb": round(run["peak_rss_mb"], 1),
        "features_digest": run["digest"], "pool_gc_passes_a_photo": run["gc_passes_a_photo"],
        "pool_task_ms": r3(float(np.mean(run["task_ms"]))),
        "pool_since_ms": r3(float(np.nanmean(run["since_ms"]))),
        "same_files_ms": {"pool_task": r3(pool_same), "pool_since": r3(since_same),
                          "pool_task_sys": r3(pool_sys), "pool_task_faults": r3(pool_faults),
                          **{k: r3(v) for k, v in mean.items()}},
        "pool_task_over_floor_warm": r3(pool_same / mean["floor_warm"]),
        "pool_since_over_floor_warm": r3(since_same / mean["floor_warm"]),
        "task_warm_over_floor_warm": r3(mean["task_warm"] / mean["floor_warm"]),
        "floor_cold_over_warm": r3(mean["floor_cold"] / mean["floor_warm"]),
        "floor_first200_ms": r3(first),
        "floor_first200_over_sample_loop": r3(first / mean["floor_loop"]),
        "floor_loop_over_warm": r3(mean["floor_loop"] / mean["floor_warm"]),
        "sample_kb": r3(float(np.mean([os.path.getsize(files[i]) for i in pick])) / 1024),
        "set_kb": r3(float(np.mean([os.path.getsize(f) for f in files])) / 1024),
        "pool_by_tenth": by_position(run, 10),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (photos/, copies/)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--every", type=int, default=20, help="the in-process sample: every k-th")
    ap.add_argument("--count", type=int, default=0, help="only the first N files (0: all)")
    ap.add_argument("--cold", action="store_true", help="drop the set from the page cache first")
    ap.add_argument("--advised", action="store_true",
                    help="with --cold: then read the set as a scan's catalog stage does "
                    "(the sniff's read-ahead advice, each file's head read in this process)")  # fmt: skip
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    files = sorted(str(f) for d in ("photos", "copies") for f in (args.set / d).rglob("*.jpg"))
    files = files[: args.count] if args.count else files
    if len(files) < 2 * args.every:
        print(f"too few photos under {args.set}: write a set with benchmarks/scale.py "
              "--make-only first", file=sys.stderr)  # fmt: skip
        return 2
    if args.cold:
        os.sync()
        for f in files:
            drop(f)
    if args.advised:
        sniff_like(files)
    pick = np.arange(args.every // 2, len(files), args.every)
    kept = getattr(pool_mod, "keep_heap", lambda: False)()  # this process as the workers
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="worker_run_") as tmp:
        run = pool_run(files, tmp, args.workers)
        wall = time.perf_counter() - t
        mine = in_process([files[i] for i in pick], tmp)
    first = floor_first(sorted(str(f) for f in (args.set / "photos").rglob("*.jpg")))
    out = {"script": "benchmarks/worker_run.py", "argv": sys.argv[1:], "cold": args.cold,
           "advised": args.advised,
           "heap_kept": kept,
           "workers": args.workers, "pool_wall_s": round(wall, 1),
           **report(files, run, mine, pick, first),
           "load_avg": [round(x, 2) for x in os.getloadavg()],
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    return emit(out, args.output, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
