"""The group stage's DCT column written to a float16 file beside the catalog and memory-mapped,
when the collection is large (issue 13).

Why: the grouper's largest column is one 24×24 float16 DCT block per view (1.1 KB; ≈ 1.5 GB
at 1 M files). Held in an anonymous array it is resident for the whole group stage and the
kernel can never drop it; from :func:`columns_threshold` items on it is written once per scan
to ``CATALOG.dct.f16`` and read through ``np.memmap``: clean file pages the page cache keeps
while there is room and drops (and re-reads) under pressure, as the model vectors
(disk_vectors.py). The blocks are the catalog's own float16 bytes, so grouping from the file
gives the same groups bit for bit. The file is a cache: the catalog holds every block.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lookalike.engine.env_count import count_problem, count_threshold

DISK_COLUMNS_DEFAULT = 500_000  # items from which the DCT column lives in a memory-mapped file


def columns_threshold() -> int:
    """How many items make the group stage keep its DCT column on disk:
    ``LOOKALIKE_DISK_COLUMNS`` (0 turns the file off), else :data:`DISK_COLUMNS_DEFAULT`
    (also for a value that is no count: :func:`threshold_problem` says so)."""
    return count_threshold("LOOKALIKE_DISK_COLUMNS", DISK_COLUMNS_DEFAULT)


def threshold_problem() -> str | None:
    """The one message for a ``LOOKALIKE_DISK_COLUMNS`` that is not a count, else None."""
    return count_problem(
        "LOOKALIKE_DISK_COLUMNS", DISK_COLUMNS_DEFAULT, "files", "the grouping columns"
    )


def columns_path(catalog_path: str | os.PathLike[str]) -> Path | None:
    """``CATALOG.dct.f16`` beside the catalog (None for an in-memory catalog)."""
    cat = Path(catalog_path)
    if str(catalog_path) == ":memory:":
        return None
    return cat.with_name(f"{cat.name}.dct.f16")


class BlockFile:
    """Float16 blocks appended to a temporary file, renamed over ``path`` when done and
    memory-mapped read-only; a builder that fails midway leaves no file behind."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path, self.shape = path, shape
        self.tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        self.fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish()/discard()
        self.count = 0
        self.block_bytes = 2 * int(np.prod(shape))

    def write(self, raw: bytes) -> None:
        """One block's float16 bytes, in row order."""
        if len(raw) != self.block_bytes:
            raise ValueError(f"a block is {self.block_bytes} bytes, got {len(raw)}")
        self.fh.write(raw)
        self.count += 1

    def write_many(self, blocks: np.ndarray) -> None:
        """Consecutive blocks, shape (k, *shape), as float16."""
        if tuple(blocks.shape[1:]) != self.shape:
            raise ValueError(f"blocks of shape {self.shape} expected, got {blocks.shape[1:]}")
        self.fh.write(np.ascontiguousarray(blocks, dtype=np.float16).tobytes())
        self.count += len(blocks)

    def finish(self) -> np.ndarray:
        """The blocks as a read-only (count, *shape) float16 memmap (an empty array for 0)."""
        self.fh.close()
        if not self.count:
            self.tmp.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            return np.zeros((0, *self.shape), np.float16)
        os.replace(self.tmp, self.path)
        return np.memmap(self.path, dtype=np.float16, mode="r", shape=(self.count, *self.shape))

    def discard(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)
