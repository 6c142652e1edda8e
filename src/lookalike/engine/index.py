"""faiss indexes behind one small interface: Hamming neighbours of 256-bit hashes.

Up to ``FLAT_LIMIT`` entries an exact ``IndexBinaryFlat`` range search is fastest. Above it an
inverted file (``IndexBinaryIVF``'s pairs, searched a cell at a time: ``_Cells``) answers the
same range queries looking at a few percent of the entries, so there is never an all-pairs
pass over a large collection. Its
cells are centred on a sample of the codes themselves (no k-means: training 8 000 binary
centroids on a million codes takes longer than the whole search), ``√(NPROBE·N/4)`` of them
when N entries are asked about themselves, which balances the cost of finding the probed
cells against scanning them; fewer for fewer queries (``cells``), which probes a larger share
of the entries. Measured on 100k synthetic signatures (``benchmarks/scaling.py``, figures in
docs/benchmarks.md): ≥ 99.8 % of the exact index's pairs, every planted copy, at a fraction
of its time. ``search_cost`` is the cost model a caller choosing between the two reads.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

FLAT_LIMIT = 20_000
NPROBE = 32
MIN_CELLS = 64
SEARCH_CHUNK = 65_536  # queries per range search: its hit arrays (radius + 1) are temporaries
# An inverted file's distance (list walk, ids) costs about twice a flat one's: 0.9-1.2 ns
# against 0.5-0.6 on the 2-core box, 200k codes, 2k-20k queries (``search_cost``)
IVF_UNIT = 2.0


def _faiss():
    """faiss with one OpenMP thread (it would fight the decode workers for cores) unless
    ``LOOKALIKE_FAISS_THREADS`` says otherwise: for the calling thread only (OpenMP keeps
    the setting per thread; one never set uses a thread per core)."""
    import os

    import faiss

    faiss.omp_set_num_threads(int(os.environ.get("LOOKALIKE_FAISS_THREADS", "1")))
    return faiss


def cells(n: int, queries: int | None = None) -> int:
    """The inverted-file index's cell count for ``n`` entries and ``queries`` queries (None:
    as many as entries): entries x cells to assign them, queries x cells to find the probed
    ones, queries x NPROBE x n / cells to scan them; their sum is least at cells² ≈
    NPROBE·q·n/(q + n), and half that (√(NPROBE·N/4) for q = n) measured best."""
    q = n if queries is None else max(1, queries)
    want = math.sqrt(NPROBE * q * n / (q + n) / 2) if n else 1.0
    return min(max(MIN_CELLS, 2 ** round(math.log2(max(1.0, want)))), max(1, n))


def search_cost(n: int, queries: int, flat: bool) -> float:
    """Hamming distances a range search of ``queries`` codes among ``n`` computes, in flat
    ones: every pair by the flat index, or (inverted file, ``IVF_UNIT`` each) the cells'
    assignments and probes and the probed cells' entries."""
    if flat:
        return float(n) * queries
    c = cells(n, queries)
    return IVF_UNIT * (float(n) * c + float(queries) * c + float(queries) * min(NPROBE, c) * n / c)


def hamming_knn(base: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k nearest ``base`` rows (uint8 codes) of each ``query`` row by Hamming distance:
    (distances, row ids), ties in row order. The pixel re-check matches ORB descriptors with
    it: the same neighbours in the same order as OpenCV's BFMatcher, 3–4× faster."""
    index = _faiss().IndexBinaryFlat(base.shape[1] * 8)
    index.add(np.ascontiguousarray(base, dtype=np.uint8))
    return index.search(np.ascontiguousarray(query, dtype=np.uint8), k)


class HashIndex:
    """Binary codes (n, nbytes) uint8; ids are row numbers."""

    def __init__(
        self, codes: np.ndarray, flat_limit: int | None = None, queries: int | None = None
    ) -> None:
        """``flat_limit``: the most entries searched exactly (None: ``FLAT_LIMIT``, read at
        call time so a test can make a tiny collection take the inverted-file path).
        ``queries``: how many codes will ask (None: as many as entries), for ``cells``."""
        faiss = _faiss()
        flat_limit = FLAT_LIMIT if flat_limit is None else flat_limit
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self.n, nbytes = self.codes.shape if self.codes.ndim == 2 else (0, 32)
        self.bits = nbytes * 8
        self.flat = self.n <= flat_limit
        if self.flat:
            self.index = faiss.IndexBinaryFlat(self.bits)
            if self.n:
                self.index.add(self.codes)
        else:
            nlist = cells(self.n, queries)
            self.cells = _Cells(faiss, self.codes, nlist)

    @property
    def kind(self) -> str:
        return "flat" if self.flat else "ivf"

    def search(
        self, queries: np.ndarray, radius: int, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs (query row, index row, distance) with distance ≤ radius, in query order.
        Queries go in chunks: a dense collection's raw hits (up to the radius + 1 faiss is
        asked for) peaked at ~400 MB at 107k photos when searched at once. ``threads``:
        chunks searched side by side by Python threads (faiss releases the GIL; a search
        only reads the index), each a ``threads``-th of a chunk, so the temporaries stay
        those of one chunk; the pairs come back in the same order."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8)
        if self.n == 0 or len(queries) == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e, e
        size = max(1, SEARCH_CHUNK // max(1, threads))
        starts = range(0, len(queries), size)  # bounded temporaries (issue 13)
        if threads > 1 and len(starts) > 1:
            # each thread's own OpenMP setting: a new thread starts at one per core, and
            # faiss's threads spin on a busy box (``_faiss``)
            with ThreadPoolExecutor(threads, "hash-search", initializer=_faiss) as pool:
                parts = list(pool.map(lambda lo: self._chunk(queries, lo, size, radius), starts))
        else:
            parts = [self._chunk(queries, lo, size, radius) for lo in starts]
        q, r, d = zip(*parts, strict=True)
        return np.concatenate(q), np.concatenate(r), np.concatenate(d)

    def _chunk(
        self, queries: np.ndarray, lo: int, size: int, radius: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One chunk's pairs, query rows counted from ``lo``."""
        if not self.flat:
            q, r, d = self.cells.range_search(queries[lo : lo + size], radius)
            return q + lo, r, d
        lims, dist, ids = self.index.range_search(queries[lo : lo + size], radius + 1)
        q = np.repeat(np.arange(lo, lo + len(lims) - 1), np.diff(lims).astype(np.int64))
        keep = dist <= radius
        return q[keep], ids[keep].astype(np.int64), dist[keep].astype(np.int64)


class _Cells:
    """The inverted file: the codes in cells centred on ``nlist`` of them (a seeded sample),
    each code in its nearest centre's cell; a query's pairs are the codes within the radius
    in the ``NPROBE`` cells whose centres are nearest to it. The pairs faiss's
    ``IndexBinaryIVF`` range search finds, in its order (a query's probed cells nearest
    first, a cell's codes by row), with both of its steps' own calls (the centres' k-NN
    search, a flat range search) but searched a cell at a time, with every query that
    probes the cell, where faiss's goes a query at a time, cell after cell: the 1 M mosaic
    set's candidate search took 81 → 37 CPU s, the same 1 657 951 candidates."""

    def __init__(self, faiss, codes: np.ndarray, nlist: int) -> None:  # type: ignore[no-untyped-def]
        bits = codes.shape[1] * 8
        self.quantizer = faiss.IndexBinaryFlat(bits)
        centres = np.random.default_rng(0).choice(len(codes), nlist, replace=False)
        self.quantizer.add(codes[np.sort(centres)])
        self.nprobe = min(NPROBE, nlist)
        _, nearest = self.quantizer.search(codes, 1)  # as IndexBinaryIVF.add assigns them
        self.rows = np.argsort(nearest[:, 0], kind="stable")  # by cell, then by row
        self.starts = np.searchsorted(nearest[self.rows, 0], np.arange(nlist + 1))
        self.flats: list = [None] * nlist
        for cell in np.flatnonzero(np.diff(self.starts)):
            self.flats[cell] = faiss.IndexBinaryFlat(bits)
            self.flats[cell].add(codes[self.rows[self.starts[cell] : self.starts[cell + 1]]])

    def range_search(
        self, queries: np.ndarray, radius: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, code row, distance) of every pair within ``radius`` in the probed
        cells, in ``IndexBinaryIVF.range_search``'s order."""
        _, probe = self.quantizer.search(queries, self.nprobe)
        flat = probe.ravel()
        by_cell = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[by_cell], np.arange(len(self.flats) + 1))
        parts: list[tuple[np.ndarray, ...]] = []
        for cell in np.flatnonzero(np.diff(bounds)):
            index = self.flats[cell]
            if index is None:
                continue
            at = by_cell[bounds[cell] : bounds[cell + 1]]  # (query, probe rank) flattened
            lims, dist, ids = index.range_search(queries[at // self.nprobe], radius + 1)
            counts = np.diff(lims).astype(np.int64)
            keep = dist <= radius
            parts.append((
                np.repeat(at, counts)[keep],
                self.rows[self.starts[cell] + ids[keep].astype(np.int64)],
                dist[keep].astype(np.int64),
            ))  # fmt: skip
        if not parts:
            e = np.zeros(0, dtype=np.int64)
            return e, e, e
        at, rows, dist = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.lexsort((rows, at))  # by query and probe rank (``at``), then by row
        return at[order] // self.nprobe, rows[order], dist[order]
