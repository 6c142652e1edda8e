"""faiss indexes behind one small interface: Hamming neighbours of 256-bit hashes.

Below ``FLAT_LIMIT`` entries an exact ``IndexBinaryFlat`` range search is fastest; above it an
``IndexBinaryHNSW`` graph answers k-nearest queries in ~log N, so cost grows ~ N log N and
there is never an all-pairs pass over a large collection.
"""

from __future__ import annotations

import numpy as np

FLAT_LIMIT = 20_000
HNSW_M = 16
HNSW_EF_SEARCH = 128
KNN = 24


def _faiss():
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


class HashIndex:
    """Binary codes (n, nbytes) uint8; ids are row numbers."""

    def __init__(self, codes: np.ndarray, flat_limit: int = FLAT_LIMIT) -> None:
        faiss = _faiss()
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self.n, nbytes = self.codes.shape if self.codes.ndim == 2 else (0, 32)
        self.bits = nbytes * 8
        self.flat = self.n <= flat_limit
        if self.flat:
            self.index = faiss.IndexBinaryFlat(self.bits)
        else:
            self.index = faiss.IndexBinaryHNSW(self.bits, HNSW_M)
            self.index.hnsw.efConstruction = 64
            self.index.hnsw.efSearch = HNSW_EF_SEARCH
        if self.n:
            self.index.add(self.codes)

    def search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs (query row, index row, distance) with distance ≤ radius."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8)
        if self.n == 0 or len(queries) == 0:
            e = np.zeros(0, dtype=np.int64)
            return e, e, e
        if self.flat:
            lims, dist, ids = self.index.range_search(queries, radius + 1)
            q = np.repeat(np.arange(len(queries)), np.diff(lims).astype(np.int64))
            keep = dist <= radius
            return q[keep], ids[keep].astype(np.int64), dist[keep].astype(np.int64)
        k = min(KNN, self.n)
        dist, ids = self.index.search(queries, k)
        q = np.repeat(np.arange(len(queries)), k)
        dist = dist.reshape(-1)
        ids = ids.reshape(-1)
        keep = (ids >= 0) & (dist <= radius)
        return q[keep], ids[keep].astype(np.int64), dist[keep].astype(np.int64)
