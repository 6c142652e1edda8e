"""CPU of handing a scan's events from its thread to the event loop (``engine/aio.py``).

Why: ``lookalike scan --no-ui`` and the app read the scan's events through ``async_events``;
a 100k first scan yields ≈ 10 000 ``GroupFound`` in its rank stage alone, where the driver
process is the limit. Each event used to cost one ``call_soon_threadsafe`` (a write to the
loop's socket, a wake-up of the loop); the bridge now wakes the loop once for the events
that arrive before it runs. This times ``--events`` events, each after a little work on the
producing thread (``--work`` additions, a stand-in for building a group), consumed by an
``async for`` that only counts them, in this process: run it with ``PYTHONPATH`` on each of
two source trees, alternating.

    PYTHONPATH=src python benchmarks/aio_events.py --events 20000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from emit import emit
from lookalike.engine import aio


def _events(n: int, work: int):
    x = 0
    for i in range(n):
        for _ in range(work):
            x += 1
        yield i


async def _consume(n: int, work: int) -> int:
    got = 0
    async for _ in aio.async_events(lambda: _events(n, work), "bench-bridge"):
        got += 1
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--work", type=int, default=200, help="additions before each event")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    cpu_us, wall_us = [], []
    for _ in range(args.rounds):
        c0, t0 = time.process_time(), time.perf_counter()
        assert asyncio.run(_consume(args.events, args.work)) == args.events
        cpu_us.append((time.process_time() - c0) / args.events * 1e6)
        wall_us.append((time.perf_counter() - t0) / args.events * 1e6)
    out = {
        "script": "benchmarks/aio_events.py",
        "tree": str(Path(aio.__file__).parents[2]),
        "events": args.events,
        "work": args.work,
        "cpu_us_an_event": [round(v, 2) for v in cpu_us],
        "cpu_us_median": round(statistics.median(cpu_us), 2),
        "wall_us_median": round(statistics.median(wall_us), 2),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
    }
    return emit(out, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
