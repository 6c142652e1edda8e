"""Where a first scan's decode workers spend each stage: on a core, waiting for one, or asleep
(no task to run, or waiting for the disk).

Why: on the 100k run the workers were on a core only ≈ 87 % of the extract stage (issue 13,
docs/benchmarks.md "Scale"), and the wall ratio cannot tell a cold page cache from the box's
other load or from starved workers. The kernel can: every 0.1 s this samples each process of
the scan's tree — ``/proc/PID/task/*/schedstat`` (CPU time of every thread, run-queue wait of
the main thread) — and the box's ``/proc/stat`` (busy, idle, iowait, steal). Each stage's
window is laid back from the scan's end by its ``seconds_by_stage``, as ``scale.py`` does.

    python benchmarks/worker_idle.py /tmp/lookalike-scale/m10000 --workers 2 [--cold]

``--timeline 5``: the extract stage also in 5-second bins (``extract_timeline``), to see
whether the workers sleep at its start, at a worker's restart, steadily, or at its tail.

``--cold`` drops the folder's files (only those) from the page cache first
(``posix_fadvise(DONTNEED)`` after a ``sync``): a first scan of photos not read since boot.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from emit import emit

TICK = os.sysconf("SC_CLK_TCK")


def evict(folder: Path) -> int:
    """Drop ``folder``'s files from the page cache; returns how many files."""
    os.sync()
    n = 0
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            n += 1
    return n


def _proc(pid: int) -> tuple[float, float] | None:
    """(CPU s of all its threads, run-queue wait s of its main thread) so far: the CLI's
    scan runs in a thread beside the main one, and a worker's helper threads (OpenCV's pool)
    sleep most of the time, so their run-queue waits would count one stall many times."""
    cpu = runq = 0.0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            cpu_ns, runq_ns, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        cpu += int(cpu_ns) / 1e9
        if tid == str(pid):
            runq = int(runq_ns) / 1e9
    return cpu, runq


def _box() -> np.ndarray:
    """The box's CPU seconds so far: user+nice+system+irq, idle, iowait, steal."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return np.array([user + nice + system + irq + softirq, idle, iowait, steal]) / TICK


def _role(p: psutil.Process) -> str:
    cmd = " ".join(p.cmdline())
    return "worker" if "spawn_main" in cmd else "other"


def _sample(proc: subprocess.Popen, rows: list) -> None:
    """Every 0.1 s: time, the box's counters, and each process's counters with its role."""
    seen: dict[int, tuple[str, tuple]] = {}
    t0 = time.perf_counter()
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        now = time.perf_counter() - t0
        try:
            kids = root.children(recursive=True)
        except psutil.Error:
            break
        for p in [root, *kids]:
            got = _proc(p.pid)
            if got is None:
                continue
            role = "driver" if p.pid == proc.pid else seen.get(p.pid, (None,))[0]
            if role is None:
                try:
                    role = _role(p)
                except psutil.Error:
                    continue
            seen[p.pid] = (role, got)
        sums = {r: np.zeros(3) for r in ("driver", "worker", "other")}
        for role, (cpu, runq) in seen.values():
            sums[role] += (cpu, runq, 0)
        alive = sum(1 for p in kids if seen.get(p.pid, ("",))[0] == "worker")
        sums["worker"][2] = alive
        started = sum(1 for role, _ in seen.values() if role == "worker")  # restarts count too
        rows.append((now, _box(), sums, started))
        time.sleep(0.1)


def _window(rows: list, start: float, end: float) -> dict:
    ts = np.array([r[0] for r in rows])

    def at(values: np.ndarray, t: float) -> np.ndarray:
        return np.array([np.interp(t, ts, values[:, k]) for k in range(values.shape[1])])

    box = np.array([r[1] for r in rows])
    b = at(box, end) - at(box, start)
    out = {"wall_s": round(end - start, 2)}
    out["box_core_s"] = dict(
        zip(("busy", "idle", "iowait", "steal"), np.round(b, 2).tolist(), strict=True)
    )
    for role in ("driver", "worker"):
        v = np.array([r[2][role] for r in rows])
        d = at(v[:, :2], end) - at(v[:, :2], start)
        entry = dict(zip(("cpu_s", "runq_wait_s"), np.round(d, 2).tolist(), strict=True))
        if role == "worker":
            inside = (ts >= start) & (ts <= end)
            n = float(np.mean(v[inside, 2])) if inside.any() else 0.0
            life = n * (end - start)
            entry["mean_alive"] = round(n, 2)
            # neither on a core nor runnable: no task to run, or waiting for the disk
            entry["asleep_s"] = round(life - float(d[0] + d[1]), 2)
            entry["on_core_share"] = round(float(d[0]) / life, 3) if life > 0.05 else None
        out[role] = entry
    return out


def timeline(rows: list, start: float, end: float, step: float) -> list[dict]:
    """The window cut into ``step``-second bins: where in the stage the workers slept (its
    start, a worker's restart, the tail) rather than how long in all."""
    bins = []
    t = start
    while t < end - 1e-6:
        w = _window(rows, t, min(t + step, end))
        started = [r[3] for r in rows if t <= r[0] <= t + step]
        w["worker"]["started"] = (started[-1] - started[0]) if started else 0
        bins.append({"t": round(t - start, 1), "worker": w["worker"], "box": w["box_core_s"]})
        t += step
    return bins


def run(folder: Path, workers: int, src: str | None, step: float = 0.0) -> dict:
    with tempfile.TemporaryDirectory(prefix="worker_idle_") as tmp:
        out = Path(tmp) / "out.json"
        env = dict(os.environ, XDG_CACHE_HOME=f"{tmp}/cache")
        if src:
            env["PYTHONPATH"] = str(Path(src).resolve())
        cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(folder), "--db",
               f"{tmp}/catalog.db", "--workers", str(workers), "-o", str(out),
               "--format", "json"]  # fmt: skip
        rows: list = []
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler = threading.Thread(target=_sample, args=(proc, rows), daemon=True)
        t = time.perf_counter()
        sampler.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - t
        sampler.join()
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"scan failed: {err.decode()[-2000:]}")
        stats = json.loads(out.read_text())["stats"]
    stages = stats["seconds_by_stage"]
    end, windows, bins = rows[-1][0], {}, []
    for stage, secs in reversed(list(stages.items())):
        windows[stage] = _window(rows, end - secs, end)
        if stage == "extract" and step > 0:
            bins = timeline(rows, end - secs, end, step)
        end -= secs
    out = {"wall_s": round(wall, 2), "images_decoded": stats.get("images_decoded"),
           "stages": dict(reversed(windows.items()))}  # fmt: skip
    return {**out, "extract_timeline": bins} if step > 0 else out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cold", action="store_true", help="drop the folder from the page cache")
    ap.add_argument("--src", help="the engine's source tree (PYTHONPATH); default: as imported")
    ap.add_argument(
        "--timeline", type=float, default=0.0, help="the extract in bins of this many seconds"
    )
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    evicted = evict(args.folder) if args.cold else 0
    result = {"script": "benchmarks/worker_idle.py", "argv": sys.argv[1:],
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "cold": args.cold, "evicted_files": evicted,
              **run(args.folder, args.workers, args.src, args.timeline),
              "load_avg": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    return emit(result, args.output, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
