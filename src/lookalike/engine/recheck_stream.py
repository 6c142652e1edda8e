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
    took them, otherwise the caller re-checks as before. At most ``early_limit`` pairs go
    before a round asks for them: on a dense set most uncertain edges join files already
    together and are never asked (a 2k set of 14 source photos: 2.1x the checks asked), so
    what a wrong guess can cost stays bounded; the rest go when a round asks."""

    def __init__(
        self,
        pool: Any,
        recheck: PixelRecheck,
        token: int,
        workers: int,
        start_at: int,
        early_limit: int,
    ) -> None:
        self.pool, self.recheck, self.token = pool, recheck, token
        self.workers, self.start_at, self.early_limit = max(1, workers), start_at, early_limit
        self.held: dict[Pair, None] = {}  # fresh, not sent yet (the pool not started)
        self.flight: set[Pair] = set()  # sent, no verdict yet
        self.chunks: dict[int, list[Pair]] = {}  # in flight, by task id
        self.next_id = 0  # a task's id is never reused: a late result must find its own chunk
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.started = False
        self.early = 0  # edges looked at before a round asked for them
        self.sent = 0

    def found(self, pairs: Sequence[Pair]) -> None:
        """Uncertain edges (item indices, path order) found while matching: the fresh ones
        go to the pool; ``early_limit`` edges in all are looked at (a remembered one too)."""
        take = list(pairs[: max(0, self.early_limit - self.early)])
        if take:
            self.early += len(take)
            self._offer(self._fresh(take))

    def _fresh(self, pairs: Sequence[Pair]) -> list[Pair]:
        new = [p for p in dict.fromkeys(pairs) if p not in self.flight and p not in self.held]
        return self.recheck.needed(new)

    def _offer(self, fresh: list[Pair]) -> None:
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
            n, self.next_id = self.next_id, self.next_id + 1
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
        self._offer(self._fresh(pairs))
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
