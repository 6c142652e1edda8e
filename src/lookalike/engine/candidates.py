"""Candidate pairs: the Hamming range search that proposes them, and the fast part of scoring
one (the low-frequency cosine of all 8 transforms at once). grouping.py verifies and clusters.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from lookalike.engine.features import perceptual as pc
from lookalike.engine.index import HashIndex

if TYPE_CHECKING:
    from lookalike.engine.grouping import ViewSignatures

SEARCH_RADIUS = 80  # of 256 bits; recall-first, verification decides
SEARCH_THREADS = 2  # the group stage's candidate search: the driver's core and the idle one


def candidate_array(
    prep: ViewSignatures, radius: int = SEARCH_RADIUS, exact: bool = False, threads: int = 1
) -> np.ndarray:
    """(n, 2) int64: item pairs (i < j) whose canonical-orientation hashes are within
    ``radius``, each once, sorted. A numpy array (16 B a pair) rather than a set of tuples
    (≈ 220 B): dense collections have millions of candidates (issue 13).

    A pair: one view's best-guess hash (its key) near one of the other's orientation
    candidates. The candidates are indexed and the keys ask: the same pairs as the other way
    round, with 1 query per view instead of ~2–6 and no more work per query.

    Takes the hashes over from ``prep`` (``ViewSignatures.take_hashes``): the index holds the
    codes, nothing else keeps a second copy. ``exact``: the flat index at any size (a regroup
    by parts searches its part exactly, group_parts.py). ``threads``: ``HashIndex.search``'s."""
    keys, codes, code_owner = prep.take_hashes()
    if len(codes) == 0:
        return np.zeros((0, 2), np.int64)
    index = HashIndex(codes, len(codes) if exact else None)
    del codes
    q, r, _ = index.search(keys, radius, threads)
    del index, keys
    qi = prep.owner[q]
    ri = code_owner[r]
    del q, r, code_owner
    keep = qi != ri
    lo = np.minimum(qi[keep], ri[keep]).astype(np.int64)
    hi = np.maximum(qi[keep], ri[keep]).astype(np.int64)
    n = max(1, len(prep.first) - 1)
    codes = np.unique(lo * n + hi)
    return np.stack([codes // n, codes % n], axis=1)


def searched_beside(
    prep: ViewSignatures, exact: bool, meanwhile: Callable[[], object] | None
) -> np.ndarray:
    """``candidate_array``, in a thread while this one runs ``meanwhile``: faiss's range
    search (most of it) releases the GIL, and on a first scan the other core is idle until
    the first uncertain edge goes to the pool, so the caller's independent work (the
    group stage's stamps, ≈ 1 s at 100k) costs no wall there instead of taking the driver's
    core from the pool's re-checks later. The search itself is ``SEARCH_THREADS`` Python
    threads, not faiss's OpenMP ones: those spin when the cores are busy (2 of them on the
    loaded 2-core box took 10× the wall)."""
    if meanwhile is None:
        return candidate_array(prep, exact=exact, threads=SEARCH_THREADS)
    with ThreadPoolExecutor(1, thread_name_prefix="candidates") as pool:
        search = pool.submit(candidate_array, prep, exact=exact, threads=SEARCH_THREADS)
        meanwhile()
        return search.result()


def candidate_pairs(prep: ViewSignatures, radius: int = SEARCH_RADIUS) -> set[tuple[int, int]]:
    """Item pairs (i < j) whose canonical-orientation hashes are within ``radius``."""
    return {(int(i), int(j)) for i, j in candidate_array(prep, radius).tolist()}


def in_path_order(cand: np.ndarray, rank: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Candidates as (first, second) with rank[first] < rank[second], sorted by both ranks."""
    r = np.asarray(rank, dtype=np.int64)
    a, b = cand[:, 0], cand[:, 1]
    swap = r[a] > r[b]
    first, second = np.where(swap, b, a), np.where(swap, a, b)
    order = np.lexsort((r[second], r[first]))
    return first[order], second[order]


@lru_cache(maxsize=1)
def _parity_signs() -> np.ndarray:
    """(4, K): the signs of row and column flips (t % 4 = 2·flip_rows + flip_cols) on the
    low-frequency terms; DCT coefficients of odd index change sign under a flip."""
    low, _ = pc._bands()
    n = low.shape[0]
    odd = np.where(np.arange(n) % 2 == 1, -1.0, 1.0)
    rows, cols = np.repeat(odd[:, None], n, axis=1), np.repeat(odd[None, :], n, axis=0)
    return np.stack([np.ones_like(rows), cols, rows, rows * cols])[:, low]


def low_cosines(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    """(8,) low-frequency cosines of every transform of ``sa`` with ``sb`` (float64): the
    transforms only transpose and flip signs, and the low band is symmetric, so the norms do
    not change and each dot product is a signed sum of one of two products."""
    low, _ = pc._bands()
    a, b = sa[low].astype(np.float64), sb[low].astype(np.float64)
    norms = float(np.sqrt(a.dot(a))) * float(np.sqrt(b.dot(b)))  # np.linalg.norm's arithmetic
    if norms == 0.0:
        return np.zeros(8)
    signs = _parity_signs()
    at = sa.T[low].astype(np.float64)
    return np.concatenate([signs @ (a * b), signs @ (at * b)]) / norms
