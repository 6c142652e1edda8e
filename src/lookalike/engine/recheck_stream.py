"""The group stage's pixel re-checks sent to the pool as soon as the grouper finds them.

Why (issue 13): on a first scan of 100k files the grouper asked 522 re-checks in rounds, the
first only after every candidate was matched and every component clustered up to its first
uncertain merge, and the driver sat idle for 3.3 s of its 8.6 s group stage while the pool
checked them. Nearly every uncertain verified edge is asked in the end (522 of 556 there), so
each one goes to the pool when ``grouping._accept`` finds it, and the pool checks while the
driver matches the rest of the candidates, clusters and computes the record's stamps; a round
then waits only for its own pairs still in flight.

A check sent early is the same check as one sent in a round: the same two files in the same
order (path order, the grouper's ``ordered``), a pure function of them. Its verdict lands in
``PixelRecheck.computed`` and is remembered in the catalog only when the grouper asks for it,
so the groups and the remembered checks are those of a sequential run; an edge never asked
costs one check the grouper does not use.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lookalike.engine.recheck import RECHECK_CHUNK, PixelRecheck, recheck_task

Pair = tuple[int, int]
POLL_S = 0.1  # a wait looks at the scan's cancel flag this often


class StreamedChecks:
    """Re-checks on ``pool`` (one with ``apply``: a local DecodePool of several workers),
    sent as found. Until ``start_at`` fresh pairs are known they are only held (a handful
    is checked faster in the driver than a pool starts); ``started`` says whether the pool
    took them, otherwise the caller re-checks as before."""

    def __init__(
        self, pool: Any, recheck: PixelRecheck, token: int, workers: int, start_at: int
    ) -> None:
        self.pool, self.recheck, self.token = pool, recheck, token
        self.workers, self.start_at = max(1, workers), start_at
        self.held: dict[Pair, None] = {}  # fresh, not sent yet (the pool not started)
        self.flight: set[Pair] = set()  # sent, no verdict yet
        self.chunks: dict[int, list[Pair]] = {}
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.started = False
        self.sent = 0

    def found(self, pairs: Sequence[Pair]) -> None:
        """Uncertain edges (item indices, path order): the fresh ones go to the pool."""
        new = [p for p in dict.fromkeys(pairs) if p not in self.flight and p not in self.held]
        fresh = self.recheck.needed(new)
        if not self.started:
            self.held.update(dict.fromkeys(fresh))
            if len(self.held) < self.start_at:
                return
            self.started, fresh, self.held = True, list(self.held), {}
        self._send(fresh)

    def _send(self, pairs: list[Pair]) -> None:
        items = self.recheck.items
        pairs = sorted(pairs, key=lambda p: (items[p[0]].path, items[p[1]].path))
        size = max(2, min(RECHECK_CHUNK, -(-len(pairs) // (4 * self.workers))))
        for k in range(0, len(pairs), size):
            chunk = pairs[k : k + size]
            n = len(self.chunks)
            self.chunks[n] = chunk
            self.flight.update(chunk)
            task = (self.token, n, *(items[x].path for pair in chunk for x in pair))
            self.pool.apply(recheck_task, task, self._done(n))
        self.sent += len(pairs)

    def _done(self, n: int) -> Callable[[Any], None]:
        return lambda result: self.inbox.put((n, result))

    def _settle(self, n: int, result: Any) -> int:
        """One task's verdicts into the grouper's re-check; a task that raised gives no
        evidence for its pairs (None), as a check that raised in the driver."""
        chunk = self.chunks.pop(n)
        verdicts = result[1] if isinstance(result, tuple) else [None] * len(chunk)
        for (i, j), verdict in zip(chunk, verdicts, strict=True):
            self.recheck.put(i, j, verdict)
            self.flight.discard((i, j))
        return len(chunk)

    def wait(self, pairs: Sequence[Pair], cancelled: Callable[[], bool]) -> Iterator[int]:
        """Sends what of ``pairs`` was not sent, then blocks until none is in flight; yields
        how many pairs each task that came back settled (any task's, for progress).
        Cancelled: stops waiting and the grouper's unknown pairs give no evidence."""
        self.found(pairs)
        while any(p in self.flight for p in pairs):
            if cancelled():
                self.recheck.gave_up = True
                return
            try:
                n, result = self.inbox.get(timeout=POLL_S)
            except queue.Empty:
                continue
            yield self._settle(n, result)
        while True:  # what else came back meanwhile: no wait for it later
            try:
                n, result = self.inbox.get_nowait()
            except queue.Empty:
                return
            yield self._settle(n, result)
