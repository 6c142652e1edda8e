"""A benchmark run that leaves its record even when it is killed: phases stamped on stderr as
they start and end, a child's stderr copied line by line (stamped, flushed) into a log file,
and the facts of the box that decide a many-worker run (CPU quota, throttling, disk, fsync).

Why: on two lent 16-core boxes (issue 13, session 11) the 16-worker hash-mode scan ran out of
its time limit twice and said nothing: scale.py kept the scan's stderr in memory until the scan
ended, and node_rates.sh killed the step first. Every line here is on disk as it is written.

    python benchmarks/run_log.py [DIR...]   # the box's facts as JSON (node_rates.sh: box.json)
    python benchmarks/run_log.py --throttled   # seconds the CPU quota held the cgroup back
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

T0 = time.perf_counter()
PHASES: dict[str, float] = {}  # phase → seconds, in the order they ended


def say(msg: str) -> None:
    """One stamped line on stderr, flushed: UTC time and seconds since the script began."""
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    sys.stderr.write(f"[{stamp} +{time.perf_counter() - T0:6.1f}s] {msg}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """``with phase("first scan"):`` stamps its start and end (with the CPU quota's throttled
    time meanwhile, where the box has one) and keeps its seconds in ``PHASES``."""
    say(f"{name}: start")
    t, thr = time.perf_counter(), throttled_s()
    try:
        yield
    finally:
        secs = time.perf_counter() - t
        PHASES[name] = round(secs, 2)
        more = throttled_s()
        extra = f", throttled {more - thr:.1f} s" if more is not None and thr is not None else ""
        say(f"{name}: end, {secs:.1f} s (load {' '.join(_load())}{extra})")


def _load() -> list[str]:
    return [f"{x:.1f}" for x in os.getloadavg()]


class Tee:
    """A child's stderr, line by line: into ``log`` (stamped, flushed: a killed run keeps
    what it said), onto this process's stderr (prefixed ``name``), and its last lines kept
    for an error message."""

    def __init__(self, proc: subprocess.Popen, log: Path | None, name: str) -> None:
        self.tail: deque[str] = deque(maxlen=60)
        self._t = threading.Thread(target=self._copy, args=(proc, log, name), daemon=True)
        self._t.start()

    def _copy(self, proc: subprocess.Popen, log: Path | None, name: str) -> None:
        fh = open(log, "a", encoding="utf-8") if log is not None else None  # noqa: SIM115
        t0 = time.perf_counter()
        try:
            for line in proc.stderr:
                stamp = (
                    f"{time.strftime('%H:%M:%S', time.gmtime())} +{time.perf_counter() - t0:6.1f}s"
                )
                if fh is not None:
                    fh.write(f"{stamp} {name}: {line}")
                    fh.flush()
                sys.stderr.write(f"  {name} {stamp} {line}")
                sys.stderr.flush()
                self.tail.append(line)
        finally:
            if fh is not None:
                fh.close()

    def join(self) -> str:
        self._t.join()
        return "".join(self.tail)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def throttled_s() -> float | None:
    """Seconds this cgroup was held back by its CPU quota so far (cgroup v2 ``cpu.stat``
    ``throttled_usec``; v1 ``cpu.stat`` ``throttled_time`` in ns); None without one."""
    for path, key, scale in (("/sys/fs/cgroup/cpu.stat", "throttled_usec", 1e-6),
                             ("/sys/fs/cgroup/cpu/cpu.stat", "throttled_time", 1e-9)):  # fmt: skip
        text = _read(path)
        for line in (text or "").splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v) * scale
    return None


def cpu_quota() -> float | None:
    """The cgroup's CPU quota in cores (``cpu.max`` or v1's quota/period); None if unlimited.
    ``nproc`` and ``os.cpu_count()`` do not see it: 16 workers on a 4-core quota are
    throttled, not parallel."""
    text = _read("/sys/fs/cgroup/cpu.max")
    if text:
        quota, _, period = text.partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    q, p = (
        _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
        _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    )
    if q and p and int(q) > 0:
        return int(q) / int(p)
    return None


def fsync_ms(folder: Path, rounds: int = 20) -> float:
    """Median milliseconds of a 4 KiB write + fsync in ``folder`` (the catalog's disk): what
    each SQLite checkpoint and every journal entry waits for."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".fsync_probe.{os.getpid()}"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for i in range(rounds):
            os.pwrite(fd, os.urandom(4096), i * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return round(sorted(times)[len(times) // 2], 3)


def _mount(path: Path) -> str:
    r = subprocess.run(["findmnt", "-n", "-T", str(path), "-o", "SOURCE,FSTYPE,OPTIONS"],
                       capture_output=True, text=True, check=False)  # fmt: skip
    return r.stdout.strip() or "?"


def box_facts(folders: list[Path]) -> dict:
    """What decides how many workers a box really runs: cores it reports and may use, the CPU
    quota and throttling so far, threads a core, CPU pressure, memory, and per folder its
    mount and fsync latency."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    keep = ("Model name", "Thread(s) per core", "Core(s) per socket", "Socket(s)", "CPU MHz")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
        "cpu_quota_cores": cpu_quota(), "throttled_s": throttled_s(),
        "lscpu": {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in lscpu.splitlines())
                  if k.strip() in keep},
        "load": _load(), "cpu_pressure": _read("/proc/pressure/cpu"),
        "io_pressure": _read("/proc/pressure/io"),
        "mem_available_gb": round(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
        "folders": {str(f): {"mount": _mount(f), "fsync_ms": fsync_ms(f)} for f in folders},
    }  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--throttled"]:  # node_rates.sh, at each step's start and end
        thr = throttled_s()
        print("None" if thr is None else f"{thr:.1f}", end="")
    else:
        dirs = [Path(p) for p in sys.argv[1:]] or [Path("/tmp")]
        print(json.dumps(box_facts(dirs), indent=2))
