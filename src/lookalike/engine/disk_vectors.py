"""Model vectors as one float16 matrix, memory-mapped from a file beside the catalog when the
collection is large (issue 13).

Why: with ``--model`` every representative has a 512–1280-d vector. Held in RAM (and copied
to float32 for the index and for the similar tier) they cost ~10 KB per file; from
:func:`disk_threshold` vectors on they are written once per scan as float16 to
``CATALOG.<model>.f16`` and read through ``np.memmap`` (the page cache holds what is used),
while the search index is an 8-bit IVF (vector_index.py). :class:`RowVectors` and
:class:`TakeRows` let the grouping code index rows by file id or position without ever
materialising the whole matrix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lookalike.engine.env_count import count_problem, count_threshold

DISK_VECTORS_DEFAULT = 200_000  # vectors from which they live in a memory-mapped file
LOAD_CHUNK = 8192  # vectors read from the catalog at once


def disk_threshold() -> int:
    """How many vectors make the scan keep them on disk: ``LOOKALIKE_DISK_VECTORS`` (0 turns
    the file off), else :data:`DISK_VECTORS_DEFAULT` (also for a value that is no count:
    :func:`threshold_problem` says so)."""
    return count_threshold("LOOKALIKE_DISK_VECTORS", DISK_VECTORS_DEFAULT)


def threshold_problem() -> str | None:
    """The one message for a ``LOOKALIKE_DISK_VECTORS`` that is not a count, else None."""
    return count_problem("LOOKALIKE_DISK_VECTORS", DISK_VECTORS_DEFAULT, "vectors", "the vectors")


def matrix_path(catalog_path: str | os.PathLike[str], version: str) -> Path:
    """``CATALOG.<model version>.f16`` beside the catalog (a cache: the catalog holds the
    vectors, so deleting it costs one rewrite)."""
    cat = Path(catalog_path)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", version).strip("_")
    return cat.with_name(f"{cat.name}.{safe}.f16")


def load_matrix(
    ids: Sequence[int],
    dim: int,
    read: Callable[[list[int]], dict[int, bytes]],
    path: Path | None,
    stale: Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(sorted ids that have a vector, (n, dim) float16 matrix) read chunk by chunk.

    ``path`` given: rows are appended to a temporary file renamed over ``path`` and the
    matrix is a read-only memmap of it; otherwise an array in memory (and ``stale``, the
    file an earlier, larger scan left, is removed). Either way the raw rows of the whole
    collection are never held at once.
    """
    want = sorted(set(ids))
    if path is None:
        if stale is not None and stale.exists():  # the collection shrank below the line
            stale.unlink(missing_ok=True)
        parts = list(_rows(want, dim, read))
        got = [i for i, _ in parts]
        mat = np.concatenate([m for _, m in parts]) if parts else np.zeros((0, dim), np.float16)
        return np.asarray([x for g in got for x in g], dtype=np.int64), mat
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    kept: list[int] = []
    try:
        with open(tmp, "wb") as fh:
            for got, m in _rows(want, dim, read):
                fh.write(m.tobytes())
                kept.extend(got)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if not kept:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float16)
    mat = np.memmap(path, dtype=np.float16, mode="r", shape=(len(kept), dim))
    return np.asarray(kept, dtype=np.int64), mat


def _rows(
    want: list[int], dim: int, read: Callable[[list[int]], dict[int, bytes]]
) -> Iterator[tuple[list[int], np.ndarray]]:
    """(ids, float16 rows) per chunk, in id order; rows of the wrong length are skipped."""
    for start in range(0, len(want), LOAD_CHUNK):
        raws = read(want[start : start + LOAD_CHUNK])
        got = [i for i in want[start : start + LOAD_CHUNK] if len(raws.get(i, b"")) == 2 * dim]
        if got:
            buf = b"".join(raws[i] for i in got)
            yield got, np.frombuffer(buf, dtype=np.float16).reshape(len(got), dim)


class RowVectors:
    """``{file id: vector}`` over (sorted ids, matrix) without a Python object per file."""

    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        self.ids, self.matrix = ids, matrix

    def _row(self, fid: int) -> int | None:
        n = int(np.searchsorted(self.ids, fid))
        return n if n < len(self.ids) and int(self.ids[n]) == fid else None

    def __getitem__(self, fid: int) -> np.ndarray:
        n = self._row(fid)
        if n is None:
            raise KeyError(fid)
        return np.asarray(self.matrix[n])

    def __contains__(self, fid: object) -> bool:
        return isinstance(fid, (int, np.integer)) and self._row(int(fid)) is not None

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def rows_of(self, fids: Iterable[int]) -> np.ndarray:
        return np.searchsorted(self.ids, np.asarray(list(fids), dtype=np.int64))


class TakeRows:
    """A lazy (len(rows), dim) view of ``matrix[rows]`` as unit float32 rows: indexing by an
    int, a slice or a list reads only those rows (a memmap stays on disk)."""

    def __init__(self, matrix: np.ndarray, rows: np.ndarray) -> None:
        self.matrix, self.rows = matrix, np.asarray(rows, dtype=np.int64)
        self.ndim = 2
        self.shape = (len(self.rows), matrix.shape[1])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        picked = self.rows[key]
        if np.ndim(picked) == 0:
            return _unit(np.asarray(self.matrix[int(picked)], dtype=np.float32)[None, :])[0]
        order = np.argsort(picked, kind="stable")  # memmaps read in file order
        out = np.empty((len(picked), self.shape[1]), np.float32)
        out[order] = self.matrix[picked[order]]
        return _unit(out)


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), as vector_index.normalise does."""
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(v / norms, dtype=np.float32)
