"""One hash-mode scan of a made set on many workers, told as it runs: the scan's own progress
and stage seconds, and every 2 s what the process tree does (processes, threads, CPU cores
busy, RSS, the CPU quota's throttling, load) — all stamped into one log, flushed line by line.

Why: on two lent 16-core boxes (issue 13, session 11) the 16-worker scan ran out of its time
limit twice and left nothing to say why. A killed run of this script leaves its log; a
finished one also writes a JSON summary (``-o``). The samples tell the suspects apart: a tree
of 17 processes with hundreds of threads (a library's thread pool in every worker), cores busy
far under the workers (a CPU quota: ``throttled``; or a driver that cannot keep up: its CPU
near one core), a stage that takes the time with the workers idle. Memory is RSS and PSS
summed over the tree: the workers share their libraries' pages (≈ 36 of a worker's ≈ 82 MB
RSS after 300 small photos), which a sum of RSS counts once a worker.

    python benchmarks/wide_scan.py /tmp/lookalike-scale/m10000 --workers 16 \\
        --work /tmp/wide --log OUT/wide.log -o OUT/wide.json [--rescan]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from run_log import Tee, box_facts, say, throttled_s


def _tree(p: psutil.Process) -> list[psutil.Process]:
    try:
        return [p, *p.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for q in procs:
        try:
            t = q.cpu_times()
            out[q.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def _sample(proc: subprocess.Popen, log: Path, every: float, peaks: dict) -> None:
    """Every ``every`` s, one line into ``log``: processes, threads, cores busy in the tree
    and in the driver since the last line, tree RSS, throttled seconds, load."""
    p = psutil.Process(proc.pid)
    last, last_t, thr0 = {}, time.perf_counter(), throttled_s()
    with open(log, "a", encoding="utf-8") as fh:
        while proc.poll() is None:
            time.sleep(every)
            procs = _tree(p)
            if not procs:
                break
            now, cpu = time.perf_counter(), _cpu(procs)
            threads = rss = pss = 0
            for q in procs:
                try:
                    threads += q.num_threads()
                    mem = q.memory_full_info()  # smaps_rollup: ≈ 1 ms a process
                    rss, pss = rss + mem.rss, pss + getattr(mem, "pss", mem.rss)
                except psutil.Error:
                    pass
            dt = now - last_t
            busy = sum(v - last.get(k, 0.0) for k, v in cpu.items()) / dt
            drv = (cpu.get(p.pid, 0.0) - last.get(p.pid, 0.0)) / dt
            thr = throttled_s()
            peaks["rss"] = max(peaks.get("rss", 0), rss)
            peaks["pss"] = max(peaks.get("pss", 0), pss)
            peaks["threads"] = max(peaks.get("threads", 0), threads)
            fh.write(
                f"{time.strftime('%H:%M:%S', time.gmtime())} sample: {len(procs)} procs, "
                f"{threads} threads, cores busy {busy:.2f} (driver {drv:.2f}), "
                f"rss {rss / 2**20:.0f} MB (pss {pss / 2**20:.0f}), throttled "
                f"{'-' if thr is None or thr0 is None else f'{thr - thr0:.1f} s'}, "
                f"load {os.getloadavg()[0]:.1f}\n"
            )
            fh.flush()
            last, last_t = cpu, now


def scan(args: argparse.Namespace, name: str) -> dict:
    """One scan (first or again, by the catalog's state) with its stderr and samples in the log."""
    out = args.work / f"{name}.json"
    # hash mode: on a box with an NVIDIA GPU a plain scan would embed (the default there)
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(args.set / "photos"),
           str(args.set / "copies"), "--db", str(args.work / "catalog.db"), "--workers",
           str(args.workers), "-o", str(out), "--format", "json", "--progress", "plain",
           "--model", "none"]  # fmt: skip
    env = dict(os.environ, XDG_CACHE_HOME=str(args.work / "cache"))
    say(f"{name} scan: start, {args.workers} workers: {' '.join(cmd)}")
    peaks: dict = {}
    t = time.perf_counter()
    cpu0 = os.times()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    tee = Tee(proc, args.log, name)
    sampler = threading.Thread(target=_sample, args=(proc, args.log, 2.0, peaks), daemon=True)
    sampler.start()
    proc.wait()
    tail = tee.join()
    wall = time.perf_counter() - t
    cpu1 = os.times()
    tree_cpu = (cpu1.children_user + cpu1.children_system) - (
        cpu0.children_user + cpu0.children_system
    )
    say(f"{name} scan: end rc={proc.returncode}, {wall:.1f} s, tree CPU {tree_cpu:.1f} s")
    if proc.returncode not in (0, 3):
        return {"rc": proc.returncode, "wall_s": round(wall, 2), "stderr_tail": tail[-2000:]}
    stats = json.loads(out.read_text()).get("stats") or {}
    files = stats.get("files_seen") or 0
    return {
        "rc": proc.returncode, "wall_s": round(wall, 2), "files": files,
        "img_s": round(files / wall, 1) if wall else None,
        "tree_cpu_s": round(tree_cpu, 2), "cores_busy": round(tree_cpu / wall, 2),
        "peak_tree_rss_mb": round(peaks.get("rss", 0) / 2**20),
        "peak_tree_pss_mb": round(peaks.get("pss", 0) / 2**20),
        "peak_threads": peaks.get("threads"), "images_decoded": stats.get("images_decoded"),
        "seconds_by_stage": {k: round(v, 2) for k, v in stats.get("seconds_by_stage", {}).items()},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (photos/, copies/)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", type=Path, required=True, help="catalog + thumbnails (emptied)")
    ap.add_argument("--log", type=Path, required=True, help="the stamped log, appended to")
    ap.add_argument("--rescan", action="store_true", help="then an unchanged rescan")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    box = box_facts([args.work])
    with open(args.log, "a", encoding="utf-8") as fh:
        fh.write(f"box: {json.dumps(box)}\n")
    result = {"script": "benchmarks/wide_scan.py", "argv": sys.argv[1:], "box": box,
              "first": scan(args, "first")}  # fmt: skip
    if args.rescan:
        result["again"] = scan(args, "again")
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
