"""What the grouper groups: images as :class:`Item` objects, or as numpy columns.

A list of ``Item`` (one object per image, one ``View`` and one array per framing) is handy for
a few hundred photos, but at 100k–1 M images the objects cost more than the signatures
(issue 13: ≈ 0.9 KB of Python per image at 1 M, plus a float32 DCT block). An
:class:`ItemTable` holds the same thing as columns: file keys, paths, and one float16 array
of every view's DCT block (the precision the catalog stores them in, so grouping from the
table gives exactly the matches it gave from the catalog's unpacked float32 copies: every
signature computation upcasts first) with the views' aspect ratios beside it.

It is a ``Sequence[Item]``: ``table[i]`` builds the item on demand (the re-check, the ranking
and the tests read items that way); the grouper reads the columns directly.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.engine.disk_columns import BlockFile
from lookalike.engine.features import perceptual as pc


@dataclass(slots=True)  # one per file: no per-instance dict (issue 13)
class Item:
    """One image as the grouper sees it."""

    key: int  # caller's id (file id)
    path: str
    views: list  # list[extract.View]


_DCT_BYTES = pc.DCT_STORE * pc.DCT_STORE * 2  # float16, as extract.pack_views writes it
_HAAR_BYTES = 3 * pc.HAAR_KEEP * 4 + 12
_ASPECT = struct.Struct("=f")  # the native float32 pack_views writes after the Haar bytes
_VIEW_BYTES = _DCT_BYTES + _HAAR_BYTES + _ASPECT.size  # one view in pack_views' bytes


class ItemTable(Sequence[Item]):
    """Items as columns: ``keys`` (n,) int64, ``paths`` (n str), ``first`` (n + 1,) int64
    (views of item i: ``first[i]:first[i+1]``), ``dct`` (views, 24, 24) float16 and
    ``aspect`` (views,) float32.

    The views an item gets from the table carry no Haar bytes (``b""``): nothing that reads a
    grouped item uses them (the Haar signature is for ``lookalike search``, which unpacks its
    own), and at 1 M views they would be 0.5 GB."""

    def __init__(
        self,
        keys: np.ndarray,
        paths: list[str],
        first: np.ndarray,
        dct: np.ndarray,
        aspect: np.ndarray,
    ) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)
        self.paths = paths
        self.first = np.asarray(first, dtype=np.int64)
        self.dct = dct
        self.aspect = np.asarray(aspect, dtype=np.float32)
        if not (len(self.keys) == len(paths) == len(self.first) - 1):
            raise ValueError("keys, paths and first disagree on the number of items")
        if len(dct) != len(self.aspect) or int(self.first[-1]) != len(dct):
            raise ValueError("the view columns disagree with first")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        from lookalike.engine.features.extract import View

        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        views = [
            View(self.dct[v], b"", float(self.aspect[v]))
            for v in range(int(self.first[i]), int(self.first[i + 1]))
        ]
        return Item(int(self.keys[i]), self.paths[i], views)

    def __iter__(self) -> Iterator[Item]:
        return (self[i] for i in range(len(self)))


def gather_views(items: Sequence[Item]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The views of a list of items, for the grouper: references to their DCT blocks (float16 or float32 as given,
    never copied), view offsets and aspect ratios."""
    sigs: list[np.ndarray] = []
    aspects: list[float] = []
    counts = np.zeros(len(items), dtype=np.int64)
    for i, item in enumerate(items):
        counts[i] = len(item.views)
        for view in item.views:
            dct = np.asarray(view.dct)
            sigs.append(dct if dct.dtype in (np.float16, np.float32) else dct.astype(np.float32))
            aspects.append(float(view.aspect))
    return sigs, np.concatenate([[0], np.cumsum(counts)]), np.array(aspects, dtype=np.float64)


class TableBuilder:
    """Appends items one at a time (packed catalog views or ``View`` lists) into growing
    columns, so a caller never holds the packed features of the whole collection and the
    columns of it at once. The DCT column is allocated for two views per item up front:
    pages never written are never resident, so the slack costs address space, not memory."""

    def __init__(self, expected_items: int, path: Path | None = None) -> None:
        self.keys: list[int] = []
        self.paths: list[str] = []
        self.counts: list[int] = []
        cap = max(16, 2 * expected_items)
        # ``path``: the blocks go to a file, memory-mapped when done (disk_columns.py)
        self._file = BlockFile(path, (pc.DCT_STORE, pc.DCT_STORE)) if path else None
        self._dct = np.empty((0 if path else cap, pc.DCT_STORE, pc.DCT_STORE), np.float16)
        self._aspect = np.empty(cap, dtype=np.float32)
        self.views = 0

    def _room(self, more: int) -> None:
        if self.views + more <= len(self._aspect):
            return
        cap = max(self.views + more, 2 * len(self._aspect))
        if self._file is None:
            self._dct = np.resize(self._dct, (cap, pc.DCT_STORE, pc.DCT_STORE))
        self._aspect = np.resize(self._aspect, cap)

    def _put(self, block: np.ndarray) -> None:
        if self._file is not None:
            self._file.write(np.asarray(block, dtype=np.float16).tobytes())
        else:
            self._dct[self.views] = block

    def add_packed(self, key: int, path: str, data: bytes) -> None:
        """One item from ``extract.pack_views`` bytes (float16 blocks copied, nothing else)."""
        n, pos = data[0], 1
        self._room(n)
        raw = memoryview(data)
        for _ in range(n):
            if self._file is not None:  # the stored float16 bytes are the block's: as they are
                self._file.write(raw[pos : pos + _DCT_BYTES])
            else:
                block = np.frombuffer(data, dtype=np.float16, count=_DCT_BYTES // 2, offset=pos)
                self._dct[self.views] = block.reshape(pc.DCT_STORE, pc.DCT_STORE)
            pos += _DCT_BYTES + _HAAR_BYTES
            self._aspect[self.views] = _ASPECT.unpack_from(data, pos)[0]
            pos += 4
            self.views += 1
        self._item(key, path, n)

    def add_packed_many(self, keys: list[int], paths: list[str], blobs: list[bytes]) -> None:
        """Items from ``extract.pack_views`` bytes, a chunk at a time: ``add_packed``'s
        columns (the same bytes), the views' blocks and aspects cut from the joined blobs by
        numpy instead of a Python step per view (0.46 s of the driver's at 100k files)."""
        counts = [b[0] for b in blobs]
        if any(len(b) != 1 + n * _VIEW_BYTES for b, n in zip(blobs, counts, strict=True)):
            for key, path, data in zip(keys, paths, blobs, strict=True):  # not pack_views'
                self.add_packed(key, path, data)
            return
        total = sum(counts)
        self._room(total)
        joined = b"".join(memoryview(b)[1:] for b in blobs)  # every view, back to back
        rows = np.frombuffer(joined, np.uint8, count=total * _VIEW_BYTES)
        rows = rows.reshape(total, _VIEW_BYTES)
        blocks = rows[:, :_DCT_BYTES].copy().view(np.float16)
        blocks = blocks.reshape(total, pc.DCT_STORE, pc.DCT_STORE)
        if self._file is not None:
            self._file.write_many(blocks)
        else:
            self._dct[self.views : self.views + total] = blocks
        aspect = rows[:, _VIEW_BYTES - _ASPECT.size :].copy().view(np.dtype("=f4"))
        self._aspect[self.views : self.views + total] = aspect[:, 0]
        self.views += total
        self.keys += keys
        self.paths += paths
        self.counts += counts

    def add_views(self, key: int, path: str, views: Sequence) -> None:
        """One item from ``View`` objects (their blocks rounded to float16, as the catalog)."""
        self._room(len(views))
        for v in views:
            self._put(np.asarray(v.dct))
            self._aspect[self.views] = v.aspect
            self.views += 1
        self._item(key, path, len(views))

    def _item(self, key: int, path: str, n: int) -> None:
        self.keys.append(key)
        self.paths.append(path)
        self.counts.append(n)

    def discard(self) -> None:
        """Drop a half-built file column (a scan that stops while loading)."""
        if self._file is not None:
            self._file.discard()

    def table(self) -> ItemTable:
        """The columns (the DCT column a view of the buffer or the file's memmap: no copy)."""
        dct = self._dct[: self.views] if self._file is None else self._file.finish()
        first = np.concatenate([[0], np.cumsum(np.asarray(self.counts, dtype=np.int64))])
        return ItemTable(
            np.asarray(self.keys, dtype=np.int64),
            self.paths,
            first,
            dct,
            self._aspect[: self.views],
        )


def keys_paths(items: Sequence[Item]) -> tuple[Sequence[int], Sequence[str]]:
    """The items' keys and paths, read from a table's columns (no Item built)."""
    if isinstance(items, ItemTable):
        return items.keys, items.paths
    return [it.key for it in items], [it.path for it in items]


def path_rank(paths: Sequence[str]) -> list[int]:
    """Each item's place in path order (a list, not a dict: a million items)."""
    rank = [0] * len(paths)
    for r, i in enumerate(sorted(range(len(paths)), key=paths.__getitem__)):
        rank[i] = r
    return rank
