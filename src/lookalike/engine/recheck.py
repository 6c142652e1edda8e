"""Pixel re-checks of uncertain hash edges (grouping.py asks, verify.py answers).

The grouper asks lazily, one pair per component at a time; :func:`grouping.group_steps`
hands the waiting pairs of all components over in rounds, so the scan computes them in its
worker pool (``recheck_task``, chunks of pairs grouped by file) instead of decoding both
photos in the driver, one pair at a time (docs/scale.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lookalike.engine.grouping import Item

# Bumped with what a re-check answers beyond verify.py's verdict (remembered verdicts carry
# it): 2: whole frames that differ refute an edge the points cannot judge (Verifier.refutes).
RECHECK_VERSION = 2
RECHECK_CHUNK = 32  # pairs per worker task: a file in several of them is decoded once
WORKER_CACHE = 256  # decoded files a worker keeps between chunks (as the driver's Verifier)


_worker_cache: tuple[int, Any] = (0, None)  # (scan token, Verifier) of this worker process


def recheck_task(task: tuple) -> tuple[int, list[bool | None]]:
    """Worker side of the batched re-check: ``(token, chunk_id, a1, b1, a2, b2, ...)`` (paths,
    flat so a Ray pool maps them to remote roots) → ``(chunk_id, verdicts)``; None where the
    pair raised (no evidence, not remembered). The worker keeps one Verifier (LRU of decoded
    files) per scan token, so a file met again in a later chunk or round is not decoded again;
    a new token (another scan: files may have changed) starts an empty one."""
    global _worker_cache
    from lookalike.engine.features.verify import Verifier

    token, chunk_id, paths = task[0], task[1], task[2:]
    if _worker_cache[0] != token or _worker_cache[1] is None:
        _worker_cache = (token, Verifier(cache_size=WORKER_CACHE))
    verifier = _worker_cache[1]
    out: list[bool | None] = []
    for a, b in zip(paths[::2], paths[1::2], strict=True):
        try:
            out.append(verifier.refutes(a, b))
        except Exception:  # one odd file never stops grouping
            out.append(None)
    return chunk_id, out


class PixelRecheck:
    """``contradicted(i, j)``: the two files, aligned by ORB + RANSAC, disagree in content, or
    no points align them and their whole frames disagree (``Verifier.refutes``). Files that
    cannot be read, or give no evidence either way, do not contradict (False).

    ``remembered(key_a, key_b)`` (keys in ascending order) returns a verdict kept from an
    earlier scan, or None; verdicts computed here land in ``fresh`` for the caller to keep, so
    a rescan of unchanged files decodes nothing. ``needed`` + ``put`` let a caller compute a
    batch of verdicts elsewhere (the scan's worker pool) before the grouper asks for them;
    only verdicts the grouper asks for are remembered, exactly as when checked one by one.

    The grouper asks each pair in path order; ``backward()`` is the same re-check asked the
    other way (rank's keeper check, keeper_check.py: verify.py's verdict is not symmetric),
    its verdicts kept under the keys in descending order, so the two never mix."""

    def __init__(
        self,
        items: Sequence[Item],
        remembered: Callable[[int, int], bool | None] | None = None,
        fresh: dict[tuple[int, int], bool] | None = None,
        backward: bool = False,
    ) -> None:
        self.items = items
        self.remembered = remembered
        self.fresh = fresh
        self.is_backward = backward
        self.computed: dict[tuple[int, int], bool | None] = {}  # by file keys, ascending
        self.known: dict[tuple[int, int], bool] = {}  # remembered verdicts already looked up
        self.unknown: set[tuple[int, int]] = set()  # looked up, not remembered
        self.gave_up = False  # cancelled: unknown pairs give no evidence
        self.driver_checks = 0  # pairs decoded here rather than in the pool
        self._verifier: list = []  # the driver's Verifier, made when first needed (shared)

    def backward(self) -> PixelRecheck:
        """The same re-check for pairs asked against path order (see the class)."""
        other = PixelRecheck(self.items, self.remembered, self.fresh, not self.is_backward)
        other._verifier = self._verifier  # one driver Verifier: a file decoded once
        return other

    def _keys(self, i: int, j: int) -> tuple[int, int]:
        lo, hi = sorted((self.items[i].key, self.items[j].key))
        return (hi, lo) if self.is_backward else (lo, hi)

    def needed(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """The pairs (item indices) with no verdict yet, remembered or computed."""
        out = []
        for i, j in pairs:
            k = self._keys(i, j)
            if k in self.computed or k in self.known:
                continue
            if self.remembered is not None and (v := self.remembered(*k)) is not None:
                self.known[k] = v
                continue
            self.unknown.add(k)
            out.append((i, j))
        return out

    def put(self, i: int, j: int, verdict: bool | None) -> None:
        """A verdict computed elsewhere (None: the check raised)."""
        self.computed[self._keys(i, j)] = verdict

    def __call__(self, i: int, j: int) -> bool:
        k = self._keys(i, j)
        if k in self.known:
            return self.known[k]
        if k not in self.computed:
            if (
                k not in self.unknown
                and self.remembered is not None
                and (v := self.remembered(*k)) is not None
            ):
                return v
            if self.gave_up:
                return False
            self.computed[k] = self._verify(i, j)
        verdict = self.computed[k]
        if verdict is None:
            return False
        if self.fresh is not None:
            self.fresh[k] = verdict
        return verdict

    def _verify(self, i: int, j: int) -> bool | None:
        from lookalike.engine.features.verify import Verifier

        if not self._verifier:
            self._verifier.append(Verifier(cache_size=256))
        self.driver_checks += 1
        try:
            return self._verifier[0].refutes(self.items[i].path, self.items[j].path)
        except Exception:  # one odd file never stops grouping
            return None


def pixel_recheck(
    items: Sequence[Item],
    remembered: Callable[[int, int], bool | None] | None = None,
    fresh: dict[tuple[int, int], bool] | None = None,
) -> PixelRecheck:
    """The default re-check (see :class:`PixelRecheck`)."""
    return PixelRecheck(items, remembered, fresh)


def lookahead(
    unsure: list[tuple[int, int]], edges: dict[tuple[int, int], float]
) -> Callable[[list[tuple[int, int]]], Iterator[tuple[int, int]]]:
    """Waiting pairs → the uncertain edges at their files, strongest first (the order both
    clusterings take edges in), round-robin over the waiting pairs: a guess at what the next
    rounds ask. Lazy: the caller takes as many as it has idle workers for."""
    at: dict[int, list[tuple[int, int]]] = {}
    for k in sorted(unsure, key=lambda k: -edges[k]):
        at.setdefault(k[0], []).append(k)
        at.setdefault(k[1], []).append(k)

    def ahead(waiting: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        seen = set(waiting)
        lists = [at.get(x, []) for pair in waiting for x in pair]
        for depth in range(max((len(v) for v in lists), default=0)):
            for v in lists:
                if depth < len(v) and v[depth] not in seen:
                    seen.add(v[depth])
                    yield v[depth]

    return ahead
