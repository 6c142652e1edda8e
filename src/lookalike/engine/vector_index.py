"""Float-vector search for embeddings and colour histograms: faiss inner product on unit vectors.

Exact ``IndexFlatIP`` while that is fast enough (below :data:`FLAT_MAX` vectors); an
``IndexIVFFlat`` beyond (range search stays available, cost grows ~ N·sqrt(N) instead of N²).
Never all-pairs in Python: neighbours come from faiss range / top-k search.

:func:`group_similar` turns the range-search graph into groups that never chain: complete-link
clustering inside each connected component, so every pair in a group is above the threshold.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from lookalike.engine.disk_vectors import TakeRows
from lookalike.engine.unionfind import connected_components

FLAT_MAX = 200_000  # exact search below this many vectors (measured: ~1 ms/query at 200k×512)
ADD_CHUNK = 16384  # vectors normalised (float32) and added at once
TRAIN_PER_LIST = 39  # IVF training vectors per inverted list
EXACT_LINK_MAX = 600  # components up to this size get exact complete-link; larger: leader split
# (complete link too: every member within the threshold of every other)
_threads_set = False


def _init_threads() -> None:
    """faiss' OpenMP pool fights the decode workers for cores; one thread unless told."""
    global _threads_set
    if not _threads_set:
        faiss.omp_set_num_threads(int(os.environ.get("LOOKALIKE_FAISS_THREADS", "1")))
        _threads_set = True


def normalise(vectors: np.ndarray) -> np.ndarray:
    """float32, C-contiguous, unit rows (zero rows stay zero)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms, dtype=np.float32)


class VectorIndex:
    """Inner-product index over unit vectors with int64 ids."""

    def __init__(self, dim: int, index: faiss.Index | None = None, kind: str = "flat") -> None:
        _init_threads()
        self.dim = dim
        self.kind = kind
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    # -- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls, ids: Sequence[int] | np.ndarray, vectors: np.ndarray, kind: str = "auto"
    ) -> VectorIndex:
        """Index ``vectors`` (normalised here) under ``ids``; ``kind`` auto|flat|ivf."""
        _init_threads()
        vectors = np.asarray(vectors)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        n, dim = vectors.shape
        ids64 = np.ascontiguousarray(np.asarray(ids, dtype=np.int64))
        if len(ids64) != n:
            raise ValueError("ids and vectors differ in length")
        if kind == "auto":
            kind = "flat" if n <= FLAT_MAX else "ivf"
        if kind == "flat":
            idx = cls(dim, kind="flat")
        elif kind == "ivf":
            # Large collections: inverted lists with 8-bit scalar-quantised vectors (4x less
            # memory than float32; cosine error ~1e-3), range search still supported.
            nlist = int(max(16, min(65536, 4 * np.sqrt(max(n, 1)), n // 40)))
            nlist = max(1, min(nlist, n // TRAIN_PER_LIST))  # small forced IVFs too
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            ivf.cp.min_points_per_centroid = 1  # a tiny forced IVF: no warning on stderr
            rng = np.random.default_rng(0)  # deterministic training sample
            # 39 points per list (faiss' own minimum): the sample and its residuals are
            # float32 copies, the largest memory of the build (200k × 1280: 0.7 GB, not 1.2)
            sample = nlist * TRAIN_PER_LIST
            take = np.arange(n) if n <= sample else np.sort(rng.choice(n, sample, replace=False))
            ivf.train(normalise(vectors[take]))
            ivf.nprobe = min(nlist, 24)
            idx = cls(dim, index=ivf, kind="ivf")
        else:
            raise ValueError(f"unknown index kind {kind!r}")
        for start in range(0, n, ADD_CHUNK):  # chunks: never a float32 copy of everything
            stop = start + ADD_CHUNK
            idx.index.add_with_ids(normalise(vectors[start:stop]), ids64[start:stop])
        return idx

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(normalise(vectors), np.asarray(ids, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    # -- search --------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k: (scores, ids), each (n, k), best first; missing slots have id -1."""
        q = normalise(queries)
        k = max(1, min(k, len(self))) if len(self) else 1
        if not len(self):
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        return self.index.search(q, k)

    def range_search(
        self, queries: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query: (ids, scores) of every vector with cosine > threshold (faiss keeps the
        strictly greater), best first."""
        # a memmap or a disk_vectors.TakeRows is read chunk by chunk below, never whole
        q = queries if getattr(queries, "ndim", None) == 2 else np.asarray(queries)
        if q.ndim == 1:
            q = q[None, :]
        out: list[tuple[np.ndarray, np.ndarray]] = []
        if not len(self):
            return [(np.zeros(0, np.int64), np.zeros(0, np.float32)) for _ in range(len(q))]
        # Chunk the queries so the result buffers stay small on big collections.
        for start in range(0, len(q), 4096):
            chunk = normalise(q[start : start + 4096])
            lims, dist, labels = self.index.range_search(chunk, float(threshold))
            for i in range(len(lims) - 1):
                s = dist[lims[i] : lims[i + 1]]
                ids = labels[lims[i] : lims[i + 1]]
                order = np.lexsort((ids, -s))  # score desc, id asc: deterministic
                out.append((ids[order], s[order]))
        return out

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], meta: dict | None = None) -> Path:
        """Write the index (and a small JSON of metadata beside it) atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        info = {"dim": self.dim, "kind": self.kind, "count": len(self), **(meta or {})}
        path.with_name(path.name + ".json").write_text(json.dumps(info, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> VectorIndex:
        _init_threads()
        path = Path(path)
        index = faiss.read_index(str(path))
        meta = load_meta(path)
        return cls(index.d, index=index, kind=meta.get("kind", "flat"))


def load_meta(path: str | os.PathLike[str]) -> dict:
    p = Path(path)
    try:
        return json.loads(p.with_name(p.name + ".json").read_text())
    except (OSError, ValueError):
        return {}


def index_path(catalog_path: str | os.PathLike[str], key: str) -> Path:
    """Where the index for ``key`` (a model version, or "colour") lives: beside the catalog."""
    cat = Path(catalog_path)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")
    return cat.with_name(f"{cat.name}.{safe}.faiss")


# -- pairs and groups ---------------------------------------------------------------------
def similar_pairs(
    ids: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    threshold: float,
    index: VectorIndex | None = None,
    *,
    base: tuple[np.ndarray, np.ndarray] | None = None,
    device: str | None = None,
    workers: int = 1,
) -> list[tuple[int, int, float]]:
    """Every pair (a < b) with cosine > threshold, via one range search; sorted, deterministic.

    ``base``: the (ids, vectors) a given ``index`` holds, for the search on ``device``; the
    search runs on ``workers`` threads otherwise (dense_search.neighbours)."""
    from lookalike.engine.dense_search import neighbours

    ids64 = np.asarray(ids, dtype=np.int64)
    if len(ids64) < 2:
        return []
    if index is None:
        index, base = VectorIndex.build(ids64, vectors), (ids64, vectors)
    hits = neighbours(index, vectors, threshold, base=base, device=device, workers=workers)
    pairs: dict[tuple[int, int], float] = {}
    for qid, (nids, scores) in zip(ids64.tolist(), hits, strict=True):
        for nid, s in zip(nids.tolist(), scores.tolist(), strict=True):
            if nid == qid or nid < 0:
                continue
            key = (qid, nid) if qid < nid else (nid, qid)
            if s > pairs.get(key, -2.0):
                pairs[key] = min(1.0, float(s))
    return sorted((a, b, s) for (a, b), s in pairs.items())


def _components(n: int, edges: list[tuple[int, int]]) -> list[list[int]]:
    return connected_components(n, edges, min_size=2)


def _agglomerate(sim: np.ndarray, threshold: float, link: str) -> list[list[int]]:
    """Complete- or average-link clustering of a small similarity matrix; stop below threshold."""
    m = len(sim)
    s = sim.astype(np.float64).copy()
    np.fill_diagonal(s, -np.inf)
    sizes = np.ones(m)
    members: dict[int, list[int]] = {i: [i] for i in range(m)}
    alive = np.ones(m, dtype=bool)
    while True:
        flat = int(np.argmax(s))  # first max in row-major order: deterministic
        a, b = divmod(flat, m)
        if not np.isfinite(s[a, b]) or s[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        if link == "complete":
            row = np.minimum(s[a], s[b])
        else:
            row = (s[a] * sizes[a] + s[b] * sizes[b]) / (sizes[a] + sizes[b])
        row[~alive] = -np.inf
        s[a, :] = row
        s[:, a] = row
        s[a, a] = -np.inf
        s[b, :] = -np.inf
        s[:, b] = -np.inf
        alive[b] = False
        sizes[a] += sizes[b]
        members[a] += members.pop(b)
    return [sorted(v) for v in members.values() if len(v) > 1]


def _leaders(
    comp: list[int], adj: dict[int, set[int]], v: np.ndarray, threshold: float
) -> list[list[int]]:
    """Large components: the best-connected item leads; its free neighbours join, most similar
    first, only when within ``threshold`` of EVERY member already in (complete link, so
    nothing chains); repeat on the rest. Sparse: candidates come from the range-search edges,
    and a group costs |neighbours| × |group| dot products, never a dense matrix."""
    free = set(comp)
    order = sorted(comp, key=lambda i: (-len(adj.get(i, ())), i))
    groups: list[list[int]] = []
    for lead in order:
        if lead not in free:
            continue
        near = sorted(adj.get(lead, set()) & free)
        if near:
            sims = v[near] @ v[lead]
            near = [near[k] for k in np.lexsort((near, -sims))]
        g = [lead]
        for n in near:
            if float(np.min(v[g] @ v[n])) >= threshold:
                g.append(n)
        free.difference_update(g)
        if len(g) > 1:
            groups.append(sorted(g))
    return groups


def group_similar(
    ids: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    threshold: float,
    link: str = "complete",
    index: VectorIndex | None = None,
    **search: object,
) -> list[list[int]]:
    """Groups of ids whose vectors are alike (cosine ≥ threshold), never chained.

    Range search gives the candidate graph; inside each connected component a complete-link
    (or average-link) pass splits it so A~B~C does not pull A and C together when they differ.
    ``search``: where the range search runs (:func:`similar_pairs`' base, device, workers).
    Output is deterministic: ids sorted inside groups, groups sorted by their first id.
    """
    if link not in ("complete", "average"):
        raise ValueError("link must be 'complete' or 'average'")
    ids64 = np.asarray(ids, dtype=np.int64)
    if len(ids64) < 2:
        return []
    # TakeRows (vectors on disk): rows are read, as unit float32, only where they are used
    v = vectors if isinstance(vectors, TakeRows) else normalise(vectors)
    pos = {int(x): i for i, x in enumerate(ids64.tolist())}
    pairs = similar_pairs(ids64, v, threshold, index=index, **search)  # type: ignore[arg-type]
    edges = [(pos[a], pos[b]) for a, b, _ in pairs if a in pos and b in pos]
    groups: list[list[int]] = []
    adj: dict[int, set[int]] | None = None
    for comp in _components(len(ids64), edges):
        comp = sorted(comp, key=lambda i: int(ids64[i]))
        if len(comp) <= EXACT_LINK_MAX:
            sub = v[comp]
            for g in _agglomerate(sub @ sub.T, threshold, link):
                groups.append(sorted(int(ids64[comp[i]]) for i in g))
            continue
        if adj is None:
            adj = {}
            for a, b in edges:
                adj.setdefault(a, set()).add(b)
                adj.setdefault(b, set()).add(a)
        for g in _leaders(comp, adj, v, threshold):
            groups.append(sorted(int(ids64[i]) for i in g))
    groups.sort()
    return groups
