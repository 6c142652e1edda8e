"""Peak memory of the ``--model`` grouping path with vectors in memory vs on disk (issue 13).

Why: with a model every representative carries a 1280-d vector; docs/scale.md needs what
keeping them as a float16 memmap beside the catalog (engine/disk_vectors.py, from
``LOOKALIKE_DISK_VECTORS`` vectors on) saves. The script fills a catalog with N random unit
vectors (plus planted near-copies, so groups exist) under the default model's feature name,
then runs, in a fresh process per mode, the ML stage's own code: ``ml_stage._load_state``
(read the vectors, build and save the index), the candidate range search ``edges()`` runs,
and the similar tier (``ml_groups.similar_groups``). Reported per mode: peak RSS (VmHWM),
peak anonymous RSS (sampled every 20 ms: what the page cache cannot take back), seconds per
phase, and the groups found.

    python benchmarks/disk_vectors.py --count 200000 --search-rows 5000 -o benchmarks/out/dv.json
    python benchmarks/disk_vectors.py --count 20000 --src /tmp/base/src   # another checkout

``--src`` runs the modes against another checkout's ``src`` (e.g. the code before the change;
there ``LOOKALIKE_DISK_VECTORS`` does nothing, so both modes are the old in-memory path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PLANTED = 200  # near-copy pairs among the random vectors


def make_catalog(path: Path, count: int, dim: int) -> str:
    """N files with random unit float16 vectors; returns the feature name."""
    from lookalike.engine.catalog import Catalog
    from lookalike.engine.embedders import DEFAULT_MODEL, resolve
    from lookalike.engine.ml_stage import EMB_PREFIX

    spec = resolve(DEFAULT_MODEL)
    assert spec.dim == dim, f"the default model has {spec.dim} dims"
    name = EMB_PREFIX + spec.version
    rng = np.random.default_rng(0)
    with Catalog(path) as cat:
        for start in range(0, count, 20000):
            n = min(20000, count - start)
            v = rng.standard_normal((n, dim)).astype(np.float32)
            if start == 0:  # planted near-copies: vector 2k+1 ≈ vector 2k
                v[1 : 2 * PLANTED : 2] = v[0 : 2 * PLANTED : 2] + 0.1 * v[1 : 2 * PLANTED : 2]
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            with cat.transaction():
                cat.db.executemany(
                    "INSERT INTO files (id, path, dev, inode, size, mtime_ns) VALUES (?,?,0,?,1,0)",
                    (
                        (start + i + 1, f"/x/{start + i:08d}.jpg".encode(), start + i)
                        for i in range(n)
                    ),
                )
                cat.db.executemany(
                    "INSERT INTO features (file_id, name, version, data) VALUES (?,?,1,?)",
                    ((start + i + 1, name, v[i].astype(np.float16).tobytes()) for i in range(n)),
                )
    return name


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _limit_search(rows: int) -> None:
    """Range searches answer only their first ``rows`` queries (the rest: no neighbours).

    A flat index over 200k vectors is an all-pairs search, hours on a 2-core box; every
    array the path allocates still exists at full size, so the memory figures hold."""
    from lookalike.engine.vector_index import VectorIndex

    real = VectorIndex.range_search

    def limited(self, queries, threshold):
        got = real(self, queries[:rows], threshold)
        empty = (np.zeros(0, np.int64), np.zeros(0, np.float32))
        return got + [empty] * (len(queries) - len(got))

    VectorIndex.range_search = limited


def run_mode(catalog: Path, count: int, search_rows: int) -> dict:
    """In this (fresh) process: the ML grouping path on the catalog's vectors."""
    from lookalike.engine import ml_groups, ml_stage
    from lookalike.engine.catalog import Catalog
    from lookalike.engine.options import MLOptions

    if search_rows:
        _limit_search(search_rows)

    peak_anon = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak_anon[0] = max(peak_anon[0], _status("RssAnon"))

    threading.Thread(target=sample, daemon=True).start()
    base = _status("VmRSS")
    times: dict[str, float] = {}
    feeder = ml_stage.Feeder(MLOptions(model="effnet-lite0", similar=True, quality=False), None)
    with Catalog(catalog) as cat:
        ids = list(range(1, count + 1))
        t = time.monotonic()
        ml_stage._load_state(cat, ids, feeder, catalog)
        times["load_and_index"] = time.monotonic() - t
    state = feeder.state
    t = time.monotonic()
    thr = ml_stage.CANDIDATE_THRESHOLD["effnet"]
    cands = sum(max(0, len(n) - 1) for n, _ in state.index.range_search(state.matrix, thr))
    times["candidates"] = time.monotonic() - t
    t = time.monotonic()
    similar = ml_groups.similar_groups(state, ids, [])
    times["similar"] = time.monotonic() - t
    stop.set()
    return {
        "on_disk": bool(getattr(state, "on_disk", False)),
        "index": state.index.kind,
        "rss_start_mb": round(base / 2**20, 1),
        "peak_rss_mb": round(_status("VmHWM") / 2**20, 1),
        "peak_anon_mb": round(max(peak_anon[0], _status("RssAnon")) / 2**20, 1),
        "seconds": {k: round(v, 2) for k, v in times.items()},
        "candidates": cands,
        "similar_groups": len(similar),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--modes", default="in_memory,on_disk", help="which of the two to run")
    ap.add_argument("--search-rows", type=int, default=0, help="queries per search (0: all)")
    ap.add_argument("--src", help="another checkout's src/ to measure (default: this one)")
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--run", type=Path, help=argparse.SUPPRESS)  # the child process
    a = ap.parse_args()
    if a.run is not None:
        print(json.dumps(run_mode(a.run, a.count, a.search_rows)))
        return
    src = a.src or str(Path(__file__).resolve().parent.parent / "src")
    with tempfile.TemporaryDirectory(prefix="disk-vectors-") as tmp:
        catalog = Path(tmp) / "catalog.sqlite"
        t = time.monotonic()
        make_catalog(catalog, a.count, a.dim)
        made = time.monotonic() - t
        modes = {}
        for mode, threshold in (("in_memory", "0"), ("on_disk", str(a.count))):
            if mode not in a.modes.split(","):
                continue
            env = {**os.environ, "PYTHONPATH": src, "LOOKALIKE_DISK_VECTORS": threshold}
            cmd = [sys.executable, __file__, "--run", str(catalog), "--count", str(a.count)]
            cmd += ["--search-rows", str(a.search_rows)]
            got = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            modes[mode] = json.loads(got.stdout.strip().splitlines()[-1])
            print(mode, modes[mode], file=sys.stderr)
    rev = subprocess.run(
        ["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    doc = {
        "count": a.count,
        "dim": a.dim,
        "search_rows": a.search_rows,
        "src": src,
        "commit": rev,
        "catalog_seconds": round(made, 1),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "modes": modes,
    }
    text = json.dumps(doc, indent=1)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
