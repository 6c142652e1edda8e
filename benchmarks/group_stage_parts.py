"""Wall and thread CPU of the group stage's pieces in one scan, run in this process.

Why: a rescan by parts (engine/group_parts.py) spends its group stage on fixed costs —
every representative's stamp and features, every view hashed, the stored groups read — not
on grouping; this says which. Timers wrap the named functions of ``group_parts`` and of the
group stage, then ``lookalike scan`` runs here with the given arguments (its pool's workers
are spawned processes: only the driver's pieces are timed). Thread CPU is the scan thread's.

    XDG_CACHE_HOME=RUN/cache python benchmarks/group_stage_parts.py scan --no-ui \\
        SET/photos SET/copies RUN/added --db RUN/catalog.db --workers 2 -o /tmp/o.json

``GROUP_PIECES_JSON=FILE`` also writes the timings there, with ``group.group``: the whole
group stage, from its first step to its last, in wall and in the driver process's CPU (all
its threads: the candidate search runs in two). A name the imported code lacks is skipped
(another commit's code may be timed with this script).
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import sys
import time

TIMES: dict[str, list[float]] = {}
LOG: list[str] = []  # group_parts' debug lines: what it regrouped, which search, or why all
PARTS = ("signatures", "stamps", "_touched_by", "_part", "_kept", "built", "load")
STAGE = ("_not_grouping", "_items", "_plan", "_labels")


def _wrap(mod, name: str) -> None:
    real = getattr(mod, name, None)
    if real is None:
        return

    @functools.wraps(real)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return real(*args, **kwargs)
        finally:
            t = TIMES.setdefault(f"{mod.__name__.rsplit('.', 1)[-1]}.{name}", [0.0, 0.0, 0])
            t[0] += time.perf_counter() - wall
            t[1] += time.thread_time() - cpu
            t[2] += 1

    setattr(mod, name, timed)


def _wrap_stage(mod) -> None:
    """The group stage (a generator): wall and process CPU from its first step to its end."""
    real = mod.group

    @functools.wraps(real)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return (yield from real(*args, **kwargs))
        finally:
            t = TIMES.setdefault("group.group", [0.0, 0.0, 0])
            t[0] += time.perf_counter() - wall
            t[1] += time.process_time() - cpu
            t[2] += 1

    from lookalike.engine import pipeline

    mod.group = pipeline.group = timed


def _report() -> None:
    for name, (wall, cpu, calls) in TIMES.items():
        print(f"{name:28s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  calls {calls}", file=sys.stderr)
    if out := os.environ.get("GROUP_PIECES_JSON"):
        doc: dict = {k: {"wall_s": round(w, 3), "cpu_s": round(c, 3), "calls": n}
                     for k, (w, c, n) in TIMES.items()}  # fmt: skip
        doc["log"] = LOG
        with open(out, "w") as f:
            json.dump(doc, f, indent=1)


def main() -> None:
    from lookalike.cli import run
    from lookalike.engine import group_parts
    from lookalike.engine.stages import group

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            LOG.append(record.getMessage())

    group_parts.log.setLevel(logging.DEBUG)
    group_parts.log.addHandler(Keep())
    for name in PARTS:
        _wrap(group_parts, name)
    for name in STAGE:
        _wrap(group, name)
    _wrap_stage(group)
    atexit.register(_report)
    sys.argv = ["lookalike", *sys.argv[1:]]
    run()


if __name__ == "__main__":  # the pool's spawned workers import this module: time nothing there
    main()
