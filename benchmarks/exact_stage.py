"""The exact stage of a first scan, alone, on a copy of a scanned catalog.

Why: at 100k small files nearly every photo shares its size with another (110 029 files,
30 513 sizes in scale.py's set), so the exact stage reads the head and tail of ≈ 10⁵ files on
the driver before the extract (issue 13). Here the walk and diff are replaced by the catalog's
own rows (as in group_rank_stages.py), the copy's stored hashes are cleared (so every
colliding file is read, as on a first scan), nothing is sent early, and the scan stops when the
exact stage returns: its wall and CPU seconds (the process's), the files it read, and a digest
of its clusters to compare two trees. The files' page-cache state is the machine's: alternate
the trees (A/B/A/B) in one window.

    nice -n 10 python benchmarks/exact_stage.py /tmp/lookalike-scale/m100000/run/catalog.db
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import threading
import time
from pathlib import Path

from emit import emit, on_catalog_copy

sys.path.insert(0, str(Path(__file__).parent))


class _Stop(Exception):
    """Raised once the exact stage returned: nothing later runs."""


def run(catalog: Path) -> dict:
    from group_rank_stages import _catalog_rows, _nothing_found
    from lookalike.engine import pipeline
    from lookalike.engine.options import ScanOptions

    with sqlite3.connect(catalog) as db:
        db.execute("UPDATE files SET headtail = NULL, fullhash = NULL")
        (roots,) = db.execute("SELECT roots FROM scans ORDER BY id LIMIT 1").fetchone()
    out: dict = {}
    real = pipeline.exact

    def exact(ctx, media):
        wall, cpu = time.perf_counter(), time.process_time()
        ex = yield from real(ctx, media)
        out["exact"] = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(time.process_time() - cpu, 2),
        }
        digest = hashlib.blake2b(digest_size=16)
        for c in sorted(ex.clusters, key=lambda c: c[0].path):
            digest.update(json.dumps([r.path for r in c], default=str).encode())
        out.update(clusters=len(ex.clusters), clusters_digest=digest.hexdigest())
        out["reps"] = len(ex.reps)
        raise _Stop

    pipeline.discover, pipeline.diff, pipeline.exact = _nothing_found, _catalog_rows, exact
    pipeline.start_early = lambda ctx, media, early: None
    options = ScanOptions(roots=tuple(Path(r) for r in json.loads(roots)), workers=2)
    try:
        for _ in pipeline.run_scan(options, catalog, catalog.parent / "thumbs", threading.Event()):
            pass
    except _Stop:
        pass
    with sqlite3.connect(catalog) as db:
        (read,) = db.execute("SELECT count(*) FROM files WHERE headtail IS NOT NULL").fetchone()
    return out | {"files_read": read}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog (copied, never written)")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    out = on_catalog_copy(args.catalog, "lk-exact-", run)
    out |= {"script": "benchmarks/exact_stage.py", "argv": sys.argv[1:]}
    return emit(out, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
