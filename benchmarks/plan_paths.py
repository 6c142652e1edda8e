"""What the plan check's path work costs: ``os.lstat`` calls and CPU time (issue 13).

Why: at 100k groups plan time was mostly a ``realpath`` per file — an ``lstat`` per part of
its path, for each source and keeper, in each of the check's two passes. This counts the
``lstat`` calls of one ``check_plan(plan, fresh=False)`` (the path checks only: no file is
hashed) and times it (CPU, median of 5) on a plan file ``plan_memory.py`` wrote. Run it
once per checkout (``PYTHONPATH`` picks the code) on the same plan:

    python benchmarks/plan_paths.py /tmp/cli_planlib5k.work/plan.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan", type=Path, help="a plan file (plan_memory.py's scan-plan way)")
    a = ap.parse_args()
    import lookalike
    from lookalike.engine.actions.plan import load_plan
    from lookalike.engine.actions.plancheck import check_plan

    plan = load_plan(a.plan)
    calls = 0
    lstat = os.lstat

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return lstat(*args, **kw)

    os.lstat = counted
    try:
        check_plan(plan, fresh=False)
    finally:
        os.lstat = lstat
    cpu = []
    for _ in range(5):
        t = time.process_time()
        check_plan(plan, fresh=False)
        cpu.append(time.process_time() - t)
    print(json.dumps({
        "code": os.path.dirname(lookalike.__file__),
        "items": len(plan.items),
        "lstat_calls": calls,
        "cpu_s_median_of_5": round(sorted(cpu)[2], 3),
        "load": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
