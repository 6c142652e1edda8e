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
from lookalike.engine.match_rules import ALIGNED_BONUS, TURNED_MIN, Thresholds

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


@lru_cache(maxsize=2)
def _parity_signs(band: bool = False) -> np.ndarray:
    """(4, K): the signs of row and column flips (t % 4 = 2·flip_rows + flip_cols) on the
    low-frequency (or detail-band) terms; DCT coefficients of odd index change sign under a
    flip. Both bands are symmetric, so a transpose keeps each term in its band."""
    mask = pc._bands()[int(band)]
    n = mask.shape[0]
    odd = np.where(np.arange(n) % 2 == 1, -1.0, 1.0)
    rows, cols = np.repeat(odd[:, None], n, axis=1), np.repeat(odd[None, :], n, axis=0)
    return np.stack([np.ones_like(rows), cols, rows, rows * cols])[:, mask]


# A match's cosines are its winning framing and turn's, computed in float32: within ~1e-6 of
# ``candidates.may_match``'s float64 figures, so a candidate this far under every transform's
# floor (``edge_floors``) can never be an edge.
BOUND_MARGIN = 1e-3
BOUND_CHUNK = 4096  # view pairs judged at once (~30 MB of float64 temporaries)


def edge_floors(thr: Thresholds) -> np.ndarray:
    """(2, 8): the least low and band cosines ``Thresholds.accepts`` takes at each transform
    (a turned match is held to TURNED_MIN; a low cosine may be ALIGNED_BONUS under its bar,
    the band never under its own), less ``BOUND_MARGIN``."""
    turned = (max(thr.low, TURNED_MIN[0]), max(thr.band, TURNED_MIN[1]))
    bars = [(thr.low, thr.band) if t == pc.IDENTITY else turned for t in range(8)]
    low = [lo - ALIGNED_BONUS[0] for lo, _ in bars]
    return np.array([low, [band for _, band in bars]]) - BOUND_MARGIN


def may_match(
    sigs: np.ndarray | list[np.ndarray],
    first: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    floors: np.ndarray,
) -> np.ndarray:
    """(len(a),) bool: may items ``a[k]`` and ``b[k]`` (``first``: the items' view offsets)
    reach, for some pair of their views and some transform t, a low cosine of at least
    ``floors[0, t]`` and a detail-band cosine of at least ``floors[1, t]``? Numpy over a batch
    of candidates, the cosines as ``low_cosines`` computes them (the band's the same way).

    Why: a match is one framing pair and transform, its two cosines computed for it alone;
    with ``edge_floors``, a candidate that cannot reach them anywhere needs no Python ``match``
    (the pairs the hash search proposes at a million photos are mostly such)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ca, cb = first[a + 1] - first[a], first[b + 1] - first[b]
    per = ca * cb
    out = np.zeros(len(a), dtype=bool)
    has = per > 0
    a, b, cb, per = a[has], b[has], cb[has], per[has]
    owner = np.repeat(np.arange(len(a)), per)
    k = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    va, vb = first[a][owner] + k // cb[owner], first[b][owner] + k % cb[owner]
    ok = np.zeros(len(va), dtype=bool)
    for lo in range(0, len(va), BOUND_CHUNK):
        hi = lo + BOUND_CHUNK
        ok[lo:hi] = _views_may_match(sigs, va[lo:hi], vb[lo:hi], floors)
    if len(ok):
        out[has] = np.logical_or.reduceat(ok, np.cumsum(per) - per)
    return out


def _views_may_match(
    sigs: np.ndarray | list[np.ndarray], va: np.ndarray, vb: np.ndarray, floors: np.ndarray
) -> np.ndarray:
    """``may_match`` for single view pairs: the low cosines of all 8 transforms first, the
    band's only where some transform's low cosine reaches its floor."""
    if isinstance(sigs, np.ndarray):
        sa, sb = sigs[va], sigs[vb]
    else:
        sa, sb = np.stack([sigs[v] for v in va]), np.stack([sigs[v] for v in vb])
    low_ok = _all_cosines(sa, sb, band=False) >= floors[0]
    ok = low_ok.any(axis=1)
    if ok.any():
        band = _all_cosines(sa[ok], sb[ok], band=True)
        ok[ok] = (low_ok[ok] & (band >= floors[1])).any(axis=1)
    return ok


def _all_cosines(sa: np.ndarray, sb: np.ndarray, band: bool) -> np.ndarray:
    """(n, 8) cosines of the low (or detail) band of every transform of ``sa[k]`` with
    ``sb[k]`` (24×24 blocks), 0 where a norm is 0: ``low_cosines``' figures in float32
    (within ~1e-6 of them), batched. A flip only changes the signs of one parity class of
    terms (odd rows, odd columns), so each transform's dot product is a signed sum of the
    four classes' sums: the terms are gathered class by class (``_class_columns``)."""
    cols, turned, dc = _class_columns(band)
    flat_a, flat_b = sa.reshape(len(sa), -1), sb.reshape(len(sb), -1)
    a, b = flat_a[:, cols].astype(np.float32), flat_b[:, cols].astype(np.float32)
    at = flat_a[:, turned].astype(np.float32)
    if dc is not None:  # the low band leaves the DC term out; it pads its class here
        a[:, dc] = b[:, dc] = at[:, dc] = 0.0
    norms = np.sqrt(np.einsum("ij,ij->i", a, a)) * np.sqrt(np.einsum("ij,ij->i", b, b))
    out = np.empty((len(sa), 8), dtype=np.float32)
    for half, x in ((0, a), (4, at)):
        ee, eo, oe, oo = (x * b).reshape(len(sa), 4, -1).sum(axis=2).T
        # t % 4 = 2·flip_rows + flip_cols: a flipped class counts negatively
        out[:, half : half + 4] = np.stack(
            [ee + eo + oe + oo, ee - eo + oe - oo, ee + eo - oe - oo, ee - eo - oe + oo], axis=1
        )
    zero = norms == 0.0
    return np.where(zero[:, None], 0.0, out / np.where(zero, 1.0, norms)[:, None])


@lru_cache(maxsize=2)
def _class_columns(band: bool) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Flat indices into a 24×24 block of the low (16×16 corner, DC included: the bands
    of four equal classes) or detail band's terms, ordered by parity class (even row even
    column, even-odd, odd-even, odd-odd); the indices of the same terms of the transposed
    block; the DC term's column (None: the detail band has none)."""
    mask = pc._bands()[int(band)].copy()
    n = mask.shape[0]
    if not band:
        mask[0, 0] = True
    flat = np.flatnonzero(mask.ravel())
    rows, cols = np.divmod(flat, n)
    order = np.argsort(2 * (rows % 2) + cols % 2, kind="stable")
    flat, rows, cols = flat[order], rows[order], cols[order]
    dc = None if band else int(np.flatnonzero(flat == 0)[0])
    return flat, cols * n + rows, dc


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
