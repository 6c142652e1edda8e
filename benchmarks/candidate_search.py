"""The embedding candidates' search (ml_groups._SameEdges._candidates): faiss on 1..N threads
against torch (CPU, and CUDA where there is one), on a scan's real vectors.

Why: on a lent 16-core H200 box (session 17) a default scan spent ≥ 45 s with one core busy
in faiss' exact range search (32k × 32k × 1280-d on ONE OpenMP thread) after the GPU had
embedded everything. dense_search.py now searches on the embedder's GPU (torch) or on faiss
with a thread per scan worker. This script says what each costs and that each gives the SAME
candidate set as the old single-threaded faiss search.

    python benchmarks/candidate_search.py --db /tmp/x/catalog.db --rounds 2
    python benchmarks/candidate_search.py --db /tmp/x/catalog.db --tile 30 --modes faiss1,faiss2

Accuracy (``same_as_faiss1``: pairs only one side has) is measured on the real vectors only.
``--tile T`` repeats the real vectors T times, each copy under a random signed permutation of
the coordinates (:func:`tiled`), for TIMING at 30k-100k rows only: its candidate sets are
reported but mean nothing. Wall and CPU (process_time) seconds per search;
modes alternate round by round (A/B/A/B) so a shared box's load hits each alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lookalike.engine.catalog import Catalog
from lookalike.engine.dense_search import neighbours, torch_neighbours
from lookalike.engine.ml_stage import CANDIDATE_K, CANDIDATE_THRESHOLD
from lookalike.engine.vector_index import VectorIndex


def load_vectors(db: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Every stored embedding of the catalog's most common model: ids, (n, dim) float16."""
    with Catalog(db) as cat:
        name = cat.feature_names("emb:")[0]
        raw = cat.load_features(name, 1)
    ids = np.array(sorted(raw), dtype=np.int64)
    return ids, np.stack([np.frombuffer(raw[int(i)], np.float16) for i in ids]), name


def tiled(ids: np.ndarray, mat: np.ndarray, times: int) -> tuple[np.ndarray, np.ndarray]:
    """The real vectors ``times`` over, each tile under its own random signed permutation of
    the coordinates (orthogonal: a tile's cosines are the real ones exactly, so each row has
    the real neighbour count; across tiles they are near 0)."""
    rng = np.random.default_rng(0)
    tiles = [mat]
    for _ in range(times - 1):
        perm = rng.permutation(mat.shape[1])
        tiles.append(mat[:, perm] * rng.choice(np.array([-1, 1], np.float16), mat.shape[1]))
    big = np.concatenate(tiles)
    return np.arange(len(big), dtype=np.int64), big


def candidates(ids: np.ndarray, hits: list) -> set[tuple[int, int]]:
    """The candidate pairs _candidates takes from the hits (before its group/refusal filters)."""
    out = set()
    for qid, (nids, _s) in zip(ids.tolist(), hits, strict=True):
        for nid in nids.tolist():
            if nid != qid:
                out.add((min(qid, nid), max(qid, nid)))
    return out


def run(mode: str, index: VectorIndex, ids: np.ndarray, mat: np.ndarray, thr: float) -> list:
    k = CANDIDATE_K + 1
    if mode.startswith("faiss"):  # faissN: N Python threads, each on one OpenMP thread
        return neighbours(index, mat, thr, k, workers=int(mode[5:]))
    if mode.startswith("omp"):  # ompN: one search on an OpenMP team of N (the alternative)
        import faiss

        faiss.omp_set_num_threads(int(mode[3:]))
        try:
            return [(i[:k], s[:k]) for i, s in index.range_search(mat, thr)]
        finally:
            faiss.omp_set_num_threads(1)
    if mode.startswith("torch"):
        import torch

        dev = mode.partition("-")[2] or "cpu"
        if dev == "cpu":
            torch.set_num_threads(int(os.environ.get("TORCH_THREADS", os.cpu_count() or 1)))
        return torch_neighbours(ids, mat, mat, thr, k, dev)
    raise ValueError(mode)


def near_edges(ids: np.ndarray, hits: list, thr: float, eps: float) -> dict:
    """How many hits sit within ``eps`` of the threshold or of their row's k-th score: the
    only places where a different summation order could change the set."""
    at_thr = at_kth = 0
    for _nids, s in hits:
        at_thr += int(np.sum(np.abs(s - thr) < eps))
        if len(s) == CANDIDATE_K + 1:
            at_kth += int(np.sum(np.abs(s[:-1] - s[-1]) < eps))
    return {"within_eps_of_threshold": at_thr, "within_eps_of_kth": at_kth, "eps": eps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument(
        "--modes", default="faiss1,faiss2,torch", help="faissN (N threads), ompN, torch, torch-cuda"
    )
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tile", type=int, default=1, help="timing only: real vectors × T, noised")
    ap.add_argument("-o", "--output", type=Path)
    a = ap.parse_args()
    load = os.getloadavg()
    ids, mat, name = load_vectors(a.db)
    real = a.tile == 1
    if not real:
        ids, mat = tiled(ids, mat, a.tile)
    thr = CANDIDATE_THRESHOLD["effnet"]
    index = VectorIndex.build(ids, mat, kind="flat")
    modes = a.modes.split(",")
    times: dict[str, list] = {m: [] for m in modes}
    sets: dict[str, set] = {}
    edges: dict[str, dict] = {}
    for r in range(a.rounds):
        for m in modes:
            w, c = time.perf_counter(), time.process_time()
            hits = run(m, index, ids, mat, thr)
            times[m].append((round(time.perf_counter() - w, 3), round(time.process_time() - c, 3)))
            if r == 0:
                sets[m] = candidates(ids, hits)
                edges[m] = near_edges(ids, hits, thr, 1e-5)
            print(m, r, times[m][-1], file=sys.stderr, flush=True)
    ref = sets[modes[0]]
    out = {
        "db": str(a.db),
        "feature": name,
        "vectors": list(mat.shape),
        "real_vectors": real,
        "tile": a.tile,
        "threshold": thr,
        "k": CANDIDATE_K + 1,
        "load_at_start": load,
        "wall_cpu_s": times,
        "candidates": {m: len(s) for m, s in sets.items()},
        "differ_from_" + modes[0]: {m: len(s ^ ref) for m, s in sets.items()},
        "near_edges": edges,
    }
    text = json.dumps(out, indent=1)
    print(text)
    if a.output:
        a.output.write_text(text)


if __name__ == "__main__":
    main()
