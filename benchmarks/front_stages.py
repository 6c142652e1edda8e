"""The stages before the extract (discover, catalog diff, exact) of a first scan, alone.

Why: on 2 cores the scan's wall is ≈ its CPU / 2 once the decode pool is busy, so what the
driver spends before the extract (walk, catalog rows, kind sniff, head+tail hashes and their
catalog writes) costs a first scan half its seconds, and an idle core costs all of them
(issue 13). ``scale.py`` at 10k hides it (nearly every file there has a size of its own, so
the exact stage reads almost nothing); at 100k nearly every file collides. This runs
``pipeline.run_scan`` on a fresh catalog up to the extract and stops there: each stage's wall
(the scan's own ``seconds_by_stage``) and this process's CPU in it (the driver, threads
included), the early photos sent to the pool, and a digest of the exact clusters to compare
two trees. ``--workers 1``: no pool, the driver alone (steady under load); ``--workers 2``: the
early decodes run beside it, as in a scan. ``--cold`` drops the page cache first (root; it
disturbs whoever else times reads on the box).

    PYTHONPATH=src python benchmarks/front_stages.py /tmp/lookalike-scale/m100000 --cold
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from emit import emit

sys.path.insert(0, str(Path(__file__).parent))


class _Stop(Exception):
    """Raised once the exact stage returned: nothing later runs."""


def _timed(real, name: str, cpu: dict):  # noqa: ANN001, ANN202 - a stage generator, wrapped
    def stage(ctx, *args):  # noqa: ANN001, ANN202
        c = time.process_time()
        got = yield from real(ctx, *args)
        cpu[name] = round(time.process_time() - c, 3)
        return got

    return stage


def run(folder: Path, workers: int) -> dict:
    from lookalike.engine import pipeline
    from lookalike.engine.options import ScanOptions

    cpu: dict[str, float] = {}
    out: dict = {}
    wrapped = {n: getattr(pipeline, n) for n in ("discover", "diff", "exact")}
    pipeline.discover = _timed(wrapped["discover"], "discover", cpu)
    pipeline.diff = _timed(wrapped["diff"], "catalog", cpu)
    pipeline.exact = _timed(wrapped["exact"], "exact", cpu)

    def extract(ctx, ex, early):  # noqa: ANN001, ANN202
        digest = hashlib.blake2b(digest_size=16)
        for c in sorted(ex.clusters, key=lambda c: c[0].path):
            digest.update(json.dumps([r.path for r in c]).encode())
        out.update(clusters=len(ex.clusters), clusters_digest=digest.hexdigest())
        out.update(reps=len(ex.reps), early_sent=len(early.ids) if early is not None else 0)
        out["seconds_by_stage"] = {k: round(v, 3) for k, v in ctx.stats.seconds_by_stage.items()}
        raise _Stop
        yield  # a generator, like the stage it stands for

    pipeline.extract = extract
    roots = [folder / "photos", folder / "copies"]
    options = ScanOptions(roots=tuple(r for r in roots if r.exists()), workers=workers)
    with tempfile.TemporaryDirectory(prefix="front-stages-") as tmp:
        t = time.perf_counter()
        try:
            for _ in pipeline.run_scan(
                options, Path(tmp) / "catalog.db", Path(tmp), threading.Event()
            ):
                pass
        except _Stop:
            pass
        wall = time.perf_counter() - t
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the pool, joined by run_scan
    out["driver_cpu_s"] = cpu
    out["wall_to_extract_s"] = round(wall, 2)
    out["workers_cpu_s"] = round(kids.ru_utime + kids.ru_stime, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a scale.py set (photos/, copies/)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cold", action="store_true", help="drop the page cache first (root)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    if args.cold:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    out = run(args.folder, args.workers)
    out |= {"script": "benchmarks/front_stages.py", "argv": sys.argv[1:],
            "src": os.environ.get("PYTHONPATH", ""), "load_avg": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}  # fmt: skip
    return emit(out, args.output, indent=None)


if __name__ == "__main__":
    raise SystemExit(main())
