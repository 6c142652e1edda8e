"""The group stage's pieces before its first re-check, each alone, on a scanned catalog's data.

Why: after the extract the driver runs the group stage alone until the first uncertain edge
goes to the pool (issue 13), and on the shared 2-core box the stage's wall follows the other
sessions' load more than these pieces. Each is timed here on the catalog's own stored
features (opened read-only), a few rounds, with whatever tree ``PYTHONPATH`` names (run it on
two trees, alternating): filling the columns (``TableBuilder``: ``add_packed_many`` where the
tree has it), hashing every view (``perceptual.canonical_keys_hashes_batch``) and the
candidate search (``candidate_array``, with ``--threads`` where the tree takes them). Digests
of each output compare two trees.

    PYTHONPATH=src python benchmarks/group_pieces.py /tmp/lookalike-scale/m100000/run/catalog.db
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

from emit import emit


def _timed(fn, rounds: int) -> tuple[list[list[float]], object]:
    """[[wall, cpu], …] of ``rounds`` calls, and the last call's output."""
    out, runs = None, []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        runs.append([round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)])
    return runs, out


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def run(catalog: Path, items: int, rounds: int, threads: int) -> dict:
    from lookalike.engine.candidates import candidate_array
    from lookalike.engine.features import perceptual as pc
    from lookalike.engine.grouping import HASH_CHUNK, ViewSignatures
    from lookalike.engine.item_table import TableBuilder

    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT file_id, data FROM features WHERE name='percept' ORDER BY file_id LIMIT ?",
        (items,),
    ).fetchall()
    many = hasattr(TableBuilder, "add_packed_many")

    def columns():
        build = TableBuilder(len(rows))
        for lo in range(0, len(rows), 4096):  # the group stage's LOAD_CHUNK
            part = rows[lo : lo + 4096]
            if many:
                build.add_packed_many(
                    [k for k, _ in part], [str(k) for k, _ in part], [d for _, d in part]
                )
            else:
                for k, d in part:
                    build.add_packed(k, str(k), d)
        return build.table()

    col_runs, table = _timed(columns, rounds)

    def hashing():
        out = [
            pc.canonical_keys_hashes_batch(table.dct[lo : lo + HASH_CHUNK])
            for lo in range(0, len(table.dct), HASH_CHUNK)
        ]
        return [np.concatenate(col) for col in zip(*out, strict=True)]

    hash_runs, hashes = _timed(hashing, rounds)
    prep = ViewSignatures(table)
    keys, codes, owner = prep.keys, prep.codes, prep.code_owner
    takes = "threads" in inspect.signature(candidate_array).parameters

    def search():
        prep.keys, prep.codes, prep.code_owner = keys, codes, owner
        return candidate_array(prep, threads=threads) if takes else candidate_array(prep)

    search_runs, cand = _timed(search, rounds)
    return {
        "items": len(rows),
        "views": len(table.dct),
        "columns": {
            "way": "add_packed_many" if many else "add_packed",
            "wall_cpu_s": col_runs,
            "digest": _digest(np.asarray(table.dct), table.aspect, table.first),
        },
        "hashing": {"wall_cpu_s": hash_runs, "digest": _digest(*hashes)},
        "search": {
            "keys": len(keys),
            "codes": len(codes),
            "threads": threads if takes else 1,
            "wall_cpu_s": search_runs,
            "candidates": len(cand),
            "digest": _digest(cand),
        },
        "load": open("/proc/loadavg").read().split()[:3],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("catalog", type=Path, help="a scanned catalog (opened read-only)")
    ap.add_argument("--items", type=int, default=10**9, help="the first N items by file id")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--threads", type=int, default=2, help="the search's, where the tree takes them"
    )
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    out = run(args.catalog, args.items, args.rounds, args.threads)
    out |= {"script": "benchmarks/group_pieces.py", "argv": sys.argv[1:]}
    return emit(out, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
