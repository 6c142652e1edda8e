"""Load on ``lookalike serve`` over loopback: event fan-out to N live streams, then request rate.

1. N clients each hold ``GET /jobs/ID/events`` open while the scan waits on the catalog's lock;
   the lock is released and the time from release to each client's ``finished`` event is taken
   (every client must see the same numbered events: none lost).
2. N clients each send R requests (``GET /jobs/ID`` and a page of ``/jobs/ID/groups``) at once:
   requests per second over the whole burst, p50/p99 latency, and failed requests.

The server is a real ``python -m lookalike serve`` on 127.0.0.1 (an ephemeral port), rate limit
raised so that it measures the server, not the limiter; the library is 4 real photos (skimage)
and 2 copies. Everything stays in a temporary folder.

    python benchmarks/serve_load.py [--clients 50] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image
from skimage import data

from lookalike.engine.scanlock import ScanLock


def library(root: Path) -> Path:
    lib = root / "lib"
    lib.mkdir()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(data, name)()).save(lib / f"{name}.jpg", quality=90)
    shutil.copy(lib / "coffee.jpg", lib / "coffee-copy.jpg")
    Image.open(lib / "rocket.jpg").resize((213, 142)).save(lib / "rocket-small.jpg")
    return lib


def start(tmp: Path, lib: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, **{f"LOOKALIKE_{d}_DIR": str(tmp / d.lower()) for d in
                            ("CONFIG", "CACHE", "DATA")}, "XDG_DATA_HOME": str(tmp / "xdg")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "serve", "--root", str(lib), "--port", "0",
         "--workers", "1", "--rate", "100000"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    m = re.search(r"serving (http://127\.0\.0\.1:\d+)/", proc.stderr.readline())
    if not m:
        raise SystemExit("the server did not start: " + proc.stderr.read())
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, m.group(1)


def fan_out(url: str, tmp: Path, lib: Path, clients: int) -> tuple[str, dict]:
    got: dict[int, list[str]] = {}
    seconds: dict[int, float] = {}
    opened = threading.Barrier(clients + 1)
    released: list[float] = []

    def client(n: int, job: str) -> None:
        with (
            httpx.Client(base_url=url, timeout=300) as c,
            c.stream("GET", f"/jobs/{job}/events") as r,
        ):
            opened.wait()
            lines = []
            for line in r.iter_lines():
                if line.startswith("data: "):
                    lines.append(line)
                    if '"event": "finished"' in line:
                        seconds[n] = time.perf_counter() - released[0]
            got[n] = lines

    with ScanLock(tmp / "cache" / "catalog.sqlite") as lock:
        lock.try_acquire()
        job = httpx.post(f"{url}/jobs", json={"paths": [str(lib)]}).json()["id"]
        threads = [threading.Thread(target=client, args=(n, job)) for n in range(clients)]
        for t in threads:
            t.start()
        opened.wait()
        released.append(time.perf_counter())
    for t in threads:
        t.join()
    same = len({json.dumps(v) for v in got.values()}) == 1 and len(got) == clients
    times = sorted(seconds.values())
    return job, {"clients": clients, "events": len(got[0]), "identical": same,
                 "scan_to_last_client_s": round(times[-1], 3),
                 "spread_first_to_last_s": round(times[-1] - times[0], 4)}  # fmt: skip


def burst(url: str, job: str, clients: int, requests: int) -> dict:
    lat: list[float] = []
    failed = [0]
    guard = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            for i in range(requests):
                path = f"/jobs/{job}" if i % 2 else f"/jobs/{job}/groups?limit=100"
                t0 = time.perf_counter()
                r = c.get(path)
                with guard:
                    lat.append(time.perf_counter() - t0)
                    failed[0] += r.status_code != 200

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"requests": len(lat), "failed": failed[0], "req_per_s": round(len(lat) / wall, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 1),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lib = library(tmp)
        proc, url = start(tmp, lib)
        try:
            job, fan = fan_out(url, tmp, lib, args.clients)
            load = burst(url, job, args.clients, args.requests)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "load_avg_1m": round(os.getloadavg()[0], 1), "fan_out": fan, "burst": load}  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
