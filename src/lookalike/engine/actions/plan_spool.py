"""A plan's items, refusals and groups spooled to an unlinked temp file, not held (issue 13).

Why: a plan over 100k groups holds ≈ 300k items (≈ 1.6 KB an acted file as ``PlanItem``
objects) until it is written; the builder's second walk over a stored review read and decoded
every group again. Here each row is ``marshal``-ed to an anonymous temp file as it is made
(8 bytes of offset a row stay in memory) and read back a block at a time: the plan's
``items``/``refused`` are sequences over the file, and the builder's second walk reads the
groups' few fields it needs from the file instead of from the catalog.

The file has no name (``tempfile.TemporaryFile``): nothing is left behind, whatever ends
the process. Reads use ``os.pread``, so threads may read one spool at once.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from typing import Any, Generic, TypeVar, overload

from lookalike.engine.actions.plan import PlanItem, Refusal

T = TypeVar("T")
_ITEM_FIELDS = tuple(f.name for f in fields(PlanItem))
BLOCK = 1 << 20  # bytes read (and written) at a time


class RowSpool(Generic[T]):
    """Rows (tuples of ints, strings, None, floats) appended to an anonymous temp file;
    :meth:`done` turns them into a read-only :class:`SpooledRows` that makes ``make(*row)``."""

    def __init__(self, make: Callable[..., T], to_row: Callable[[T], tuple]) -> None:
        self._make, self._to_row = make, to_row
        self._fh = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the rows
        self._offsets = array("q", [0])
        self._buf: list[bytes] = []
        self._pending = 0

    def append(self, value: T) -> None:
        self.add_row(self._to_row(value))

    def extend(self, values: Iterable[T]) -> None:
        for v in values:
            self.append(v)

    def add_row(self, row: tuple) -> None:
        data = marshal.dumps(row)
        self._buf.append(data)
        self._pending += len(data)
        self._offsets.append(self._offsets[-1] + len(data))
        if self._pending >= BLOCK:
            self._flush()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _flush(self) -> None:
        self._fh.write(b"".join(self._buf))
        self._buf, self._pending = [], 0

    def done(self) -> SpooledRows[T]:
        """The rows so far, read-only (the spool must not be appended to after this)."""
        self._flush()
        self._fh.flush()
        return SpooledRows(self._fh, self._offsets, self._make)


class SpooledRows(Sequence[T]):
    """A read-only sequence over a :class:`RowSpool`'s file: ``len``, indexing, slices (a
    tuple), iteration a block at a time; equal to any sequence with the same elements."""

    def __init__(self, fh: Any, offsets: array, make: Callable[..., T]) -> None:
        self._fh, self._offsets, self._make = fh, offsets, make

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def _read(self, start: int, stop: int) -> Iterator[T]:
        """Rows start … stop-1, read ``BLOCK`` bytes (or one row) at a time."""
        offs, fd, make = self._offsets, self._fh.fileno(), self._make
        i = start
        while i < stop:
            j = i + 1
            while j < stop and offs[j + 1] - offs[i] <= BLOCK:
                j += 1
            data = os.pread(fd, offs[j] - offs[i], offs[i])
            view = memoryview(data)
            base = offs[i]
            for n in range(i, j):
                yield make(*marshal.loads(view[offs[n] - base : offs[n + 1] - base]))
            i = j

    def __iter__(self) -> Iterator[T]:
        return self._read(0, len(self))

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return tuple(self)[index]
            return tuple(self._read(start, max(start, stop)))
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("spooled row index out of range")
        return next(self._read(index, index + 1))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"SpooledRows({len(self)} rows)"

    def __reduce__(self) -> tuple:
        """Pickled (or deep-copied) as the tuple of its rows: a file handle cannot travel."""
        return (tuple, (tuple(self),))


def item_row(i: PlanItem) -> tuple:
    """A plan item as a spool row (``PlanItem(*row)`` makes it again)."""
    return tuple(getattr(i, f) for f in _ITEM_FIELDS)


def refusal_row(r: Refusal) -> tuple:
    return (r.group_id, r.path, r.reason, r.kept)
