"""Where a scan's decode workers spend CPU beyond the per-core floor, split, in CPU ms a photo.

Why: issue 13's 100k first scan cost 11.93 ms of CPU a file (workers 11.43, driver 0.50)
against a floor (``extract_file``, no thumbnail, one process) of 8.51 ms. This script splits
that gap on the same photos, rounds alternating so the shared box's load hits every part alike:

- ``floor``: ``extract_file(path, None, …)`` in this process (scale.py's floor);
- ``task``: the worker's job in this process (``extract_task``: features, thumbnail written to
  a cache folder, the result pickled), and its thumbnail's pieces timed apart: the resize
  (``thumb_pixels``), the JPEG encode (``encode_jpeg``, OpenCV; ``encode_pil``: Pillow's, as
  scans encoded before, for comparison), the file write; ``source``: the thumbnail as scans
  make it now, a small upright JPEG's own bytes (``source_thumbnail``) and their file write,
  else the resize, encode and write above (``source_share``: the photos that took the bytes);
- ``pool1`` / ``poolN``: the scan's own pool (``engine.pool``, spawn, its chunking) running
  ``extract_task`` over the same photos with 1 and with N worker processes: the workers' CPU
  (psutil, after a warm-up, so spawn and imports are not counted) and the driver's
  (``time.process_time``: unpickling, the pool's threads), a photo each. ``pool1 − task`` is
  the trip (dispatch, pickles, pipes); ``poolN / pool1`` the cost of sharing the cores.

    python benchmarks/pool_cpu.py /tmp/lookalike-scale/m10000 --count 400 --rounds 2
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from lookalike.engine import pool as pool_mod
from lookalike.engine.features import extract as ex
from lookalike.engine.media.decode import decode_reduced
from lookalike.engine.pool import MAX_CHUNK, DecodePool, _Pool, _quiet_worker
from lookalike.engine.stages.extract import extract_task

WARM = "lookalike.engine.features.extract"
PIXELS, BUDGET = 250_000_000, 512 * 2**20


def _tasks(files: list[str], tmp: str, tag: str) -> list[tuple]:
    """Tasks as the scan builds them: a thumbnail path in one of 256 cache folders."""
    return [
        (i, f, f"{tmp}/{tag}/{i % 256:02x}/{i}.jpg", PIXELS, BUDGET) for i, f in enumerate(files)
    ]


def in_process(files: list[str], tmp: str, tag: str) -> dict[str, float]:
    """CPU ms a photo of the floor, the worker's task and the thumbnail's pieces, interleaved."""
    keys = ("floor", "task", "decode", "resize", "encode", "encode_pil", "write", "source")
    cpu = dict.fromkeys(keys, 0.0)
    took = 0
    for task in _tasks(files, tmp, tag):
        c = time.process_time()
        ex.extract_file(task[1], None, PIXELS)
        cpu["floor"] += time.process_time() - c
        c = time.process_time()
        pickle.dumps(extract_task(task))
        cpu["task"] += time.process_time() - c
        c0 = time.process_time()
        decoded = decode_reduced(task[1])
        arr = np.asarray(decoded.rgb)
        c1 = time.process_time()
        small = ex.thumb_pixels(arr)
        c2 = time.process_time()
        data = ex.encode_jpeg(small)  # as scans encode it (OpenCV)
        c3 = time.process_time()
        path = task[2][:-4] + ".w.jpg"
        ex._write(path + ".tmp", data, os.path.dirname(path))
        os.replace(path + ".tmp", path)
        c4 = time.process_time()
        Image.fromarray(small).save(io.BytesIO(), "JPEG", quality=ex.THUMB_QUALITY)  # before
        c5 = time.process_time()
        ready = getattr(ex, "source_thumbnail", lambda _: None)(decoded)  # older code: none
        if ready is not None:
            ex._write(path + ".s.tmp", ready, os.path.dirname(path))
            os.replace(path + ".s.tmp", path[:-4] + ".s.jpg")
        took += ready is not None
        c6 = time.process_time()
        for k, a, b in (
            ("decode", c0, c1), ("resize", c1, c2), ("encode", c2, c3), ("write", c3, c4),
            ("encode_pil", c4, c5), ("source", c5, c6),
        ):  # fmt: skip
            cpu[k] += b - a
        if ready is None:  # encoded as before: its resize, encode and write
            cpu["source"] += c4 - c1
    out = {k: v * 1000 / len(files) for k, v in cpu.items()}
    return {**out, "source_share": took / len(files)}


def pooled(files: list[str], tmp: str, tag: str, workers: int) -> dict[str, float]:
    """The scan's pool over ``files`` with ``workers`` processes: workers' and driver's CPU ms
    a photo, after a warm-up (spawn and imports not counted)."""
    pool = DecodePool(workers, WARM)
    pool._pool = _Pool(processes=workers, initializer=_quiet_worker, initargs=(WARM,),
                       maxtasksperchild=2000, context=mp.get_context("spawn"))  # fmt: skip
    pool.workers = 2  # map() runs in-process below 2 workers; the pool above has ``workers``
    try:
        warm = _tasks(files[: 8 * workers], tmp, f"{tag}w")
        list(pool.map(extract_task, warm, lambda: False, chunksize=1))
        procs = [psutil.Process(p.pid) for p in pool._pool._pool]

        def workers_cpu() -> float:
            return sum(sum(p.cpu_times()[:2]) for p in procs)

        w0, c0 = workers_cpu(), time.process_time()
        chunk = max(1, min(MAX_CHUNK, len(files) // (8 * workers)))  # the scan's chunking
        n = sum(1 for _ in pool.map(extract_task, _tasks(files, tmp, tag), lambda: False, chunk))
        c1, w1 = time.process_time(), workers_cpu()
        assert n == len(files) and len(procs) == workers
        assert [p.pid for p in pool._pool._pool] == [p.pid for p in procs], "a worker restarted"
    finally:
        pool.close()
    return {"workers": (w1 - w0) * 1000 / n, "driver": (c1 - c0) * 1000 / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (with photos/)")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args(argv)
    files = [str(f) for f in sorted((args.set / "photos").rglob("*.jpg"))[: args.count]]
    if not files:
        print(f"no photos under {args.set / 'photos'}: write a set with benchmarks/scale.py "
              "--make-only first", file=sys.stderr)  # fmt: skip
        return 2
    getattr(pool_mod, "keep_heap", lambda: False)()  # the heap the pool's workers keep
    for f in files[:10]:  # imports and allocator warm, as in a long-lived worker
        ex.extract_file(f, None, PIXELS)
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):  # A B C, then C B A: drift in the load hits each alike
            steps = [("in", 0), ("pool", 1), ("pool", args.workers)]
            for kind, n in steps if r % 2 == 0 else steps[::-1]:
                tag = f"{kind}{n}r{r}"
                got = in_process(files, tmp, tag) if kind == "in" else pooled(files, tmp, tag, n)
                for k, v in got.items():
                    runs.setdefault(k if kind == "in" else f"pool{n}_{k}", []).append(v)
    ms = {k: round(sum(v) / len(v), 3) for k, v in runs.items()}
    w = args.workers
    out = {
        "cpu_ms": ms,
        "cpu_ms_by_round": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "thumb_ms": round(ms["resize"] + ms["encode"] + ms["write"], 3),
        "source_thumb_ms": ms["source"],
        "trip_ms": round(ms["pool1_workers"] + ms["pool1_driver"] - ms["task"], 3),
        "task_over_floor": round(ms["task"] / ms["floor"], 3),
        f"pool{w}_over_pool1": round(ms[f"pool{w}_workers"] / ms["pool1_workers"], 3),
        "pool_tree_over_floor": round((ms[f"pool{w}_workers"] + ms[f"pool{w}_driver"]) / ms["floor"], 3),
        "files": len(files), "rounds": args.rounds, "workers": w,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
