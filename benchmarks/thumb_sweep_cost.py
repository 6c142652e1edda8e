"""What the automatic sweep after a scan costs (engine/thumb_sweep.py) on a real run's cache.

Why: ``lookalike scan`` calls ``thumb_sweep.after_scan`` after its results on every run. Nearly
always it is not due, and then it must cost next to nothing; when it is due (a week, or the cap
passed) it costs a prune: one read of every catalog and a stat of every cache file. Each phase
runs in a fresh process (its own CPU seconds, wall and peak RSS), in this order:

- ``first``: no sweep.json (a cache's first scan): the estimate, a sweep.json written, no sweep;
- ``check``: not due (that sweep.json): the stamp read and the size estimate;
- ``dry``: ``thumb_prune.prune(dry_run=True)``, what ``cache prune --dry-run`` does;
- ``due``: ``after_scan`` with the last sweep 8 days ago: the sweep itself (it removes what no
  catalog names: run it on a copy, ``cp -al`` of the cache);
- ``again``: ``after_scan`` right after it: not due.

``--thumbs`` is a cache folder nobody else uses (its ``catalogs/`` registry is rewritten to name
``--catalog`` alone, and its ``sweep.json`` and ``sweep.lock`` are made again: remove them from
a ``cp -al`` copy first, they are hard links). Prints one JSON object.

    rm -f COPY/thumbs/sweep.lock COPY/thumbs/catalogs/*
    python benchmarks/thumb_sweep_cost.py --thumbs COPY/thumbs --catalog COPY/catalog.db
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from lookalike.engine import thumb_prune, thumb_registry, thumb_sweep

DAY = 86_400.0


def _phase(name: str, thumbs: Path, catalog: Path) -> dict:
    """Run one phase here; what it did and cost."""
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    did: dict = {}
    if name in ("first", "check"):
        did = {"ran": thumb_sweep.after_scan(thumbs, catalog) is not None}
    elif name == "dry":
        out = thumb_prune.prune(thumbs, (), catalog, dry_run=True)
        did = {"removed": out.removed, "kept": out.kept, "freed": out.freed}
    else:
        swept = thumb_sweep.after_scan(thumbs, catalog)
        out = swept.outcome if swept is not None else None
        did = {"ran": swept is not None, "due": swept and swept.due, "blocked": swept and swept.blocked,
               "removed": out.removed if out else None, "note": swept and swept.note()}  # fmt: skip
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    if name == "first":  # what it estimated, once it is timed
        did["estimate"] = thumb_sweep.read_stamp(thumbs).get("bytes")
    return {
        "phase": name,
        "wall_s": round(time.perf_counter() - t0, 3),
        "cpu_s": round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 3),
        "peak_rss_mb": round(r1.ru_maxrss / 1024, 1),
        **did,
    }


def _stamp(thumbs: Path, when: float) -> None:
    stamp = thumb_sweep.read_stamp(thumbs)
    (thumbs / thumb_sweep.STAMP).write_text(json.dumps({**stamp, "time": when}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--thumbs", type=Path, required=True)
    ap.add_argument("--catalog", type=Path, required=True)
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase:
        print(json.dumps(_phase(a.phase, a.thumbs, a.catalog)))
        return
    for name, _ in thumb_registry.registered(a.thumbs):
        thumb_registry.forget(a.thumbs, name)
    thumb_registry.register(a.thumbs, a.catalog)
    (a.thumbs / thumb_sweep.STAMP).unlink(missing_ok=True)
    env = {**os.environ, "LOOKALIKE_CONFIG_DIR": str(a.thumbs / "no-config")}  # the defaults
    rows = []
    for phase in ("first", "check", "dry", "due", "again"):
        if phase == "due":
            _stamp(a.thumbs, time.time() - 8 * DAY)
        argv = [sys.executable, __file__, "--thumbs", str(a.thumbs), "--catalog", str(a.catalog)]
        run = subprocess.run([*argv, "--phase", phase], capture_output=True, text=True, env=env)
        if run.returncode:
            sys.exit(run.stderr)
        rows.append(json.loads(run.stdout))
    print(json.dumps({"thumbs": str(a.thumbs), "load": os.getloadavg(), "phases": rows}, indent=1))


if __name__ == "__main__":
    main()
