"""The exact all-against-all neighbour search of a whole embedding matrix, on the compute
that is free when it runs.

A scan's embedding candidates (ml_groups) and its similar tier search every vector against
every vector: an N² inner product (30k × 30k × 1280-d: 1.2 × 10¹² multiply-adds), that faiss ran on
ONE OpenMP thread (vector_index keeps faiss on one thread so it does not fight the decode
workers). When these searches run the decode workers are idle, so:

- on a CUDA box (the embedder's device) the search is a torch matmul there: blocks of queries
  × all vectors in float32 with TF32 off (the same float32 products faiss sums; only the
  summation order differs, ~1e-7), thresholded, the best ``k`` per query kept with ties
  broken as faiss' path breaks them (score descending, id ascending);
- elsewhere faiss searches on a Python thread per scan worker (:func:`_split_search`), each
  on one OpenMP thread as before.

torch is optional (the [ml] extra): without it, or on a CPU, faiss does the search.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

Hits = list[tuple[np.ndarray, np.ndarray]]  # per query: (ids, scores), best first
BLOCK_CELLS = {"cuda": 1 << 28, "cpu": 1 << 24}  # scores held at once (float32): 1 GB / 64 MB
BASE_CHUNK = 16384  # rows normalised (float32) and copied to the device at once
SPLIT_CHUNK = 1024  # queries a faiss call on the CPU: a thread's share goes in such chunks


def search_threads(workers: int) -> int:
    """Threads for a search that runs while the scan's ``workers`` decode processes are idle:
    as many as the workers (the cores the user gave the scan), at most the cores this process
    may use; ``LOOKALIKE_FAISS_THREADS``, when set, still decides."""
    if "LOOKALIKE_FAISS_THREADS" in os.environ:
        return max(1, int(os.environ["LOOKALIKE_FAISS_THREADS"]))
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(int(workers or 1), cores))


def cuda_device(device: str | None) -> str | None:
    """``device`` when it names a CUDA device torch can use now (``auto``: the first, on a box
    with an NVIDIA driver), else None; no torch import on a box without one."""
    if device == "auto" and os.path.exists("/proc/driver/nvidia/version"):
        device = "cuda"
    if not device or not device.startswith("cuda"):
        return None
    try:
        import torch
    except ImportError:
        return None
    return device if torch.cuda.is_available() else None


def torch_neighbours(
    ids: np.ndarray,
    base: Any,
    queries: Any,
    threshold: float,
    k: int | None,
    device: str = "cpu",
) -> Hits:
    """Per query row: the ids and cosines of the base rows with cosine > ``threshold``, best
    first (score desc, id asc), the first ``k`` only (None: all).

    ``base`` (its rows under ``ids``) and ``queries`` are unit-normalised here in float32 by
    vector_index.normalise, exactly as VectorIndex.build and range_search do; they may be
    memmaps or disk_vectors.TakeRows (read chunk by chunk)."""
    import torch

    from lookalike.engine.vector_index import normalise

    ids64 = np.asarray(ids, dtype=np.int64)
    n = len(ids64)
    nq = len(queries)
    if n == 0 or nq == 0:
        return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in range(nq)]
    kind = "cuda" if device.startswith("cuda") else "cpu"
    prec = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # no TF32: float32 products, as faiss
    try:
        with torch.no_grad():
            dim = base.shape[1]
            mat = torch.empty((n, dim), dtype=torch.float32, device=device)
            for s in range(0, n, BASE_CHUNK):
                mat[s : s + BASE_CHUNK] = torch.from_numpy(normalise(base[s : s + BASE_CHUNK]))
            block = max(1, min(nq, BLOCK_CELLS[kind] // n))
            out: Hits = []
            for s in range(0, nq, block):
                q = torch.from_numpy(normalise(queries[s : s + block])).to(device)
                out += _block_hits(q @ mat.T, ids64, threshold, k)
            return out
    finally:
        torch.set_float32_matmul_precision(prec)


def _block_hits(scores: Any, ids64: np.ndarray, threshold: float, k: int | None) -> Hits:
    """One block of query rows × all base rows → each row's hits, as range_search orders them.

    The ``k``-th best score of a row bounds what it keeps; every score tied with it is kept
    too, so the id-ascending tie break below (on the host) picks the same ``k`` as faiss'
    results sorted the same way."""
    import torch

    keep = scores > threshold  # strictly above, as faiss' inner-product range search
    if k is not None and k < scores.shape[1]:
        kth = torch.topk(scores, k, dim=1, sorted=False).values.min(dim=1).values
        keep &= scores >= kth[:, None]
    rows, cols = torch.nonzero(keep, as_tuple=True)
    vals = scores[rows, cols].cpu().numpy()
    rows_h = rows.cpu().numpy()
    got = ids64[cols.cpu().numpy()]
    order = np.lexsort((got, -vals, rows_h))  # by row; in a row score desc, id asc
    rows_h, got, vals = rows_h[order], got[order], vals[order]
    n = scores.shape[0]
    bounds = np.searchsorted(rows_h, np.arange(n + 1))
    if k is not None:  # the first k of each row (all of a row's ties came through the cut)
        first = np.arange(len(rows_h)) - bounds[rows_h] < k
        rows_h, got, vals = rows_h[first], got[first], vals[first]
        bounds = np.searchsorted(rows_h, np.arange(n + 1))
    cut = bounds[1:-1]
    return list(zip(np.split(got, cut), np.split(vals, cut), strict=True))


def neighbours(
    index: Any,
    queries: Any,
    threshold: float,
    k: int | None = None,
    *,
    base: tuple[Sequence[int] | np.ndarray, Any] | None = None,
    device: str | None = None,
    workers: int = 1,
) -> Hits:
    """``index.range_search(queries, threshold)`` cut to ``k`` per query, on the free compute.

    ``base`` = (ids, vectors) the flat ``index`` was built from: with it and a usable CUDA
    ``device`` the search is torch's on that device; otherwise faiss' on ``workers`` threads.
    An inverted-file index is always faiss' (approximate: a different candidate set)."""
    dev = cuda_device(device) if base is not None and index.kind == "flat" else None
    if dev is not None and base is not None:
        try:
            return torch_neighbours(np.asarray(base[0]), base[1], queries, threshold, k, dev)
        except RuntimeError:  # out of device memory (the model holds some): faiss' turn
            pass
    threads = search_threads(workers)
    if threads > 1 and len(queries) >= 2 * SPLIT_CHUNK:
        hits = _split_search(index, queries, threshold, threads)
    else:
        hits = index.range_search(queries, threshold)
    return hits if k is None else [(i[:k], s[:k]) for i, s in hits]


def _split_search(index: Any, queries: Any, threshold: float, threads: int) -> Hits:
    """faiss' range search on ``threads`` Python threads, each a run of query chunks on ONE
    OpenMP thread (faiss releases the GIL): no OpenMP team whose spinning threads fight a
    loaded box's other processes (docs/benchmarks.md, the group stage's HashIndex search), and
    the same hits in the same order as one search."""
    from concurrent.futures import ThreadPoolExecutor

    import faiss

    cuts = np.linspace(0, len(queries), threads + 1).astype(int).tolist()  # even shares

    def run(lo: int, hi: int) -> Hits:
        faiss.omp_set_num_threads(1)  # a new thread's OpenMP default is a thread per core
        out: Hits = []
        for s in range(lo, hi, SPLIT_CHUNK):
            out += index.range_search(queries[s : min(s + SPLIT_CHUNK, hi)], threshold)
        return out

    with ThreadPoolExecutor(threads, thread_name_prefix="vector-search") as pool:
        return [hit for got in pool.map(run, cuts[:-1], cuts[1:]) for hit in got]
