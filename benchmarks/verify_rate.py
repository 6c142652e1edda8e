"""Embedding candidates' geometric checks: prepares a pair and checks a second (issue 13).

Why: on a GPU box the embedding stage is fast and the checks of its candidates (ORB + RANSAC +
block compare, ml_groups.py) dominate the scan. A check is a pure function of its two files;
what the ordering changes is how often each file is decoded and prepared. This reads the pairs
a ``--model`` scan checked (the catalog's ``pair_checks``, written by ``benchmarks/scale.py
--extra-args "--model effnet-lite0"``) and, for the old chunking (pairs by id, chunks of 24,
a fresh Verifier per chunk) and the new (verify_chunks.py: local order, one Verifier per
worker), counts prepares a pair over all pairs with chunks dealt to ``--workers`` round-robin
(an LRU simulation: no decoding). Then it times ``--sample`` real checks in this process: CPU
ms of a prepare, of a check on prepared files, and of the mirrored copy a check may need.

    python benchmarks/verify_rate.py /tmp/lookalike-scale/m1000/run/catalog.db --workers 2

The checks run as a verify worker runs them (one OpenCV and one OpenMP thread). ``--all``
times every stored pair, ``--recheck`` the hash re-check's whole-frame refutation too, and
``verdicts_digest`` (SHA-256 over every field of every pair's
VerifyResult, in order) tells whether two engines' checks answer alike, bit for bit: run it
with each engine's ``src`` first on PYTHONPATH (issue 13, session 12: a check's CPU cut
without changing a verdict).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sqlite3
import time
from collections import OrderedDict
from pathlib import Path

from lookalike.engine.features import verify as V
from lookalike.engine.verify_chunks import VERIFY_CACHE, VERIFY_CHUNK, local_order

OLD_CACHE = 64  # the Verifier each old chunk made


def prepares(chunks: list[list[tuple[int, int]]], workers: int, cache: int, keep: bool) -> int:
    """Files prepared when chunk i goes to worker i % workers (LRU of ``cache`` files; a
    fresh one per chunk unless ``keep``)."""
    lrus = [OrderedDict() for _ in range(workers)]
    n = 0
    for i, chunk in enumerate(chunks):
        lru = lrus[i % workers]
        if not keep:
            lru.clear()
        for pair in chunk:
            for x in pair:
                if x in lru:
                    lru.move_to_end(x)
                    continue
                n += 1
                lru[x] = True
                if len(lru) > cache:
                    lru.popitem(last=False)
    return n


def _recheck(sample: list, prep: dict, results: list) -> dict:
    """The hash re-check's last word (``Verifier.refutes``) on the pairs whose check neither
    passed nor contradicted them: do the whole frames refute the pair? CPU ms a pair and the
    answers' digest (an engine without ``frames_refute`` asks ``frames_differ``)."""
    from lookalike.engine.features import frame_check

    def differ(a: object, b: object) -> bool:
        return frame_check.frames_differ(a, b) is not None

    refute = getattr(frame_check, "frames_refute", differ)
    todo = [p for p, r in zip(sample, results, strict=True) if not (r.same or r.contradicts)]
    t = time.process_time()
    answers = [bool(refute(prep[a], prep[b])) for a, b in todo]
    t_refute = (time.process_time() - t) / max(1, len(todo))
    digest = hashlib.sha256(json.dumps(answers).encode()).hexdigest()[:16]
    return {
        "pairs": len(todo),
        "refuted": sum(answers),
        "cpu_ms": round(1000 * t_refute, 2),
        "digest": digest,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sample", type=int, default=150, help="real checks timed (0: none)")
    ap.add_argument("--all", action="store_true", help="time every stored pair (not a sample)")
    ap.add_argument(
        "--recheck",
        action="store_true",
        help="also time the hash re-check's whole-frame refutation",
    )
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # before faiss loads (at the first check), as in a pool worker
    V.cv2.setNumThreads(1)
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    pairs = sorted(con.execute("SELECT a, b FROM pair_checks").fetchall())
    paths = {i: os.fsdecode(p) for i, p in con.execute("SELECT id, path FROM files")}
    pairs = [(a, b) for a, b in pairs if a in paths and b in paths]
    files = len({x for p in pairs for x in p})

    def cut(seq: list) -> list:
        return [seq[i : i + VERIFY_CHUNK] for i in range(0, len(seq), VERIFY_CHUNK)]

    old = prepares(cut(pairs), args.workers, OLD_CACHE, keep=False)
    new = prepares(cut(local_order(pairs)), args.workers, VERIFY_CACHE, keep=True)
    out = {
        "pairs": len(pairs),
        "files": files,
        "workers": args.workers,
        "prepares_per_pair": {"old": round(old / len(pairs), 3), "new": round(new / len(pairs), 3)},
        "prepares_per_file": {"old": round(old / files, 2), "new": round(new / files, 2)},
    }
    if args.sample or args.all:
        step = 1 if args.all else max(1, len(pairs) // args.sample)
        sample = pairs if args.all else pairs[::step][: args.sample]
        need = sorted({x for p in sample for x in p})
        t = time.process_time()
        prep = {x: V.prepare(V.load_gray(paths[x])) for x in need}
        t_prep = (time.process_time() - t) / len(need)
        t = time.process_time()
        for x in need:
            V._flipped(prep[x])
        t_mirror = (time.process_time() - t) / len(need)
        t = time.process_time()
        results = [V.verify_prepared(prep[a], prep[b]) for a, b in sample]
        t_check = (time.process_time() - t) / len(sample)
        same = sum(bool(r.same) for r in results)
        fields = [dataclasses.astuple(r) for r in results]
        digest = hashlib.sha256(json.dumps(fields, default=lambda x: x.item()).encode())
        out["cpu_ms"] = {
            "prepare": round(1000 * t_prep, 2),
            "mirror_prepare": round(1000 * t_mirror, 2),
            "check_prepared_mirrors_cached": round(1000 * t_check, 2),
        }
        out["sample"] = {"pairs": len(sample), "same": same}
        out["verdicts_digest"] = digest.hexdigest()[:16]
        if args.recheck:
            out["recheck"] = _recheck(sample, prep, results)
    print(json.dumps(out, indent=2))
    if args.output:
        args.output.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
