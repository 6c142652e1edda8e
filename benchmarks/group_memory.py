"""Where a scan's driver memory goes: RSS around each stage and each step of the group stage.

Runs an unchanged rescan of a ``scale.py`` set on a COPY of its catalog (the rescan writes to
the catalog it is given), in this process, and prints per step the resident size before and
after and the peak in between (Linux: the peak is reset per step via ``/proc/self/clear_refs``,
so nested steps reset their parent's peak: read a stage's own line for its steps' maxima).
``--whole`` instead runs the rescan as ``scale.py`` does (a child process, driver and tree RSS
sampled every 0.1 s) and prints its peaks. Both regroup (``LOOKALIKE_REUSE_GROUPS=0``): an
unchanged rescan would otherwise send the stored groups (engine/group_reuse.py).

    cp /tmp/lookalike-scale/m100000/run/catalog.db /tmp/g/catalog.db
    python benchmarks/group_memory.py /tmp/lookalike-scale/m100000 /tmp/g/catalog.db
    python benchmarks/group_memory.py /tmp/lookalike-scale/m100000 /tmp/g/catalog.db --whole
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import sys
import time
from pathlib import Path

from lookalike.engine import candidates, grouping, pipeline
from lookalike.engine.catalog import Catalog
from lookalike.engine.stages import group as group_stage

STAGES = ("discover", "diff", "exact", "extract", "content", "group", "rank")
GROUP_STEPS = [
    (group_stage, "_not_grouping"),
    (group_stage, "_items"),
    (group_stage, "remembered_rechecks"),
    (grouping, "ViewSignatures"),
    (candidates, "candidate_array"),  # in a thread beside the stamps (searched_beside)
    (grouping, "_accept"),
    (grouping, "_components"),
]


def _rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


def _peak_mb() -> int:
    with open("/proc/self/status") as f:
        return next(int(ln.split()[1]) >> 10 for ln in f if ln.startswith("VmHWM"))


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _report(name: str, before: int, t: float, rows: list) -> None:
    rows.append({"step": name, "before_mb": before, "after_mb": _rss_mb(), "peak_mb": _peak_mb(),
                 "seconds": round(time.perf_counter() - t, 2)})  # fmt: skip
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)


def _probe(mod: object, name: str, rows: list) -> None:
    """Wraps ``mod.name`` (a function or a generator function) with the RSS report."""
    orig = getattr(mod, name)
    if inspect.isgeneratorfunction(orig):

        @functools.wraps(orig)
        def wrap(*a, **k):  # type: ignore[no-untyped-def]
            before, t = _rss_mb(), time.perf_counter()
            _reset_peak()
            out = yield from orig(*a, **k)
            _report(name, before, t, rows)
            return out

    else:

        @functools.wraps(orig)
        def wrap(*a, **k):  # type: ignore[no-untyped-def]
            before, t = _rss_mb(), time.perf_counter()
            _reset_peak()
            out = orig(*a, **k)
            _report(name, before, t, rows)
            return out

    setattr(mod, name, wrap)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="a scale.py set (photos/ and copies/ inside)")
    ap.add_argument("catalog", type=Path, help="a copy of its catalog (the rescan writes it)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--whole", action="store_true", help="peaks of the whole rescan only")
    args = ap.parse_args(argv)
    out = args.catalog.parent / "group_memory.json"
    os.environ["LOOKALIKE_REUSE_GROUPS"] = "0"  # the group and rank stages are what is measured
    if args.whole:
        sys.path.insert(0, str(Path(__file__).parent))
        import scale

        r = scale.scan(args.root, args.catalog, out, args.workers, [])
        r["groups"] = len(r["groups"])
        print(json.dumps(r))
        return 0
    os.environ["XDG_CACHE_HOME"] = str(args.catalog.parent / "cache")
    rows: list = []
    for n in STAGES:
        _probe(pipeline, n, rows)
    for mod, n in GROUP_STEPS:
        _probe(mod, n, rows)
    _probe(Catalog, "finish_scan", rows)  # storing the review: the scan's groups merged in
    from lookalike.cli import main as cli

    cmd = ["scan", "--no-ui", str(args.root / "photos"), str(args.root / "copies"), "--db",
           str(args.catalog), "--workers", str(args.workers), "-o", str(out), "--format", "json"]  # fmt: skip
    try:
        cli(cmd, standalone_mode=False)
    except SystemExit as e:  # 1: groups found
        if e.code not in (0, 1, None):
            raise
    print(json.dumps({"steps": rows, "groups": len(json.loads(out.read_text())["groups"])}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
