"""Pixel re-checks of uncertain edges: driver one pair at a time vs the worker pool (issue 13).

Why: on a first scan the grouper's re-checks decoded both photos in the driver, one pair at a
time; they now run in the scan's pool, round by round. This groups the representatives of a
catalog written by ``benchmarks/scale.py`` both ways (fresh verdicts, nothing remembered) and
prints the rounds, the seconds of each way and that the groups are the same.

    python benchmarks/recheck_pool.py /tmp/lookalike-scale/n2000/run/catalog.db --workers 2
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

from lookalike.engine.catalog import Catalog
from lookalike.engine.grouping import group_items, group_steps
from lookalike.engine.pool import DecodePool
from lookalike.engine.recheck import pixel_recheck
from lookalike.engine.stages import group as stage


def _items(db: Path) -> Sequence:
    cat = Catalog(db)
    reps = list(cat.all_files())
    uniform, _ = stage._not_grouping(cat, [r.id for r in reps])
    items = stage._items(cat, reps, uniform)
    cat.close()
    return items


def _driver(items: list) -> tuple[float, list, int]:
    rc = pixel_recheck(items)
    t = time.perf_counter()
    cl = group_items(items, 50, set(), None, rc)
    return time.perf_counter() - t, cl.groups, rc.driver_checks


def _pooled(items: list, workers: int) -> tuple[float, list, int]:
    rc = pixel_recheck(items, None, {})
    pool = DecodePool(workers, "lookalike.engine.features.extract")
    ctx = SimpleNamespace(
        cancel=threading.Event(), pool=pool, options=SimpleNamespace(workers=workers)
    )
    t = time.perf_counter()
    rounds = stage._recheck_rounds(ctx, group_steps(items, 50, set(), None, rc), rc)
    try:
        while True:
            next(rounds)
    except StopIteration as stop:
        groups = stop.value.groups
    dt = time.perf_counter() - t  # pool start included
    pool.close()
    print(f"pool: {len(rc.computed)} verified, {len(rc.fresh or {})} of them asked")
    return dt, groups, rc.driver_checks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("catalog", type=Path)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    items = _items(args.catalog)
    sizes = []
    steps = group_steps(items, 50, set(), None, pixel_recheck(items))
    try:
        while True:
            sizes.append(len(next(steps).pairs))
    except StopIteration:
        pass
    print(f"{len(items)} items; {len(sizes)} rounds, {sum(sizes)} re-checks: {sizes[:10]}")
    d_s, d_groups, d_checks = _driver(items)
    p_s, p_groups, p_checks = _pooled(items, args.workers)
    print(f"driver {d_s:.1f} s ({d_checks} checks in the driver), {len(d_groups)} groups")
    print(f"pool   {p_s:.1f} s ({p_checks} checks in the driver), {len(p_groups)} groups")
    print("same groups" if d_groups == p_groups else "GROUPS DIFFER")


if __name__ == "__main__":
    main()
