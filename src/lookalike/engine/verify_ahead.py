"""The verify stage's checks on a pool that never waits at a round's end: the pairs a round
needs go first, and whenever a worker would idle it checks a pair a later round will probably
need (cliques.Need.ahead), so the workers keep busy across cliques.link's barriers.

Why (issue 13): on the 1 000-file set the stage ran 150 rounds, 107 of them ≤ 48 pairs, and
each ended with workers idle until its last check came back; on a 16-core GPU box that stage is
the scan's bottleneck. A guess is never an answer: a result is handed to the stage only when a
round asks for that very pair (same orientation: a check is a pure function of its two files
and of which is ``a``), so the verdicts, edges and groups are those of a sequential run. A guess
nobody asks for is discarded, never remembered in the catalog. Its cost is bounded: guesses go
only to workers that would otherwise idle, a few pairs a task, and stop while the guesses not
yet asked for exceed :data:`AHEAD_SHARE` of the checks asked for so far plus a floor.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from lookalike.engine.verify_chunks import VERIFY_CHUNK, chunks_of, verify_counted

Pair = tuple[int, int]
Result = tuple[int, int, "bool | None", float]
AHEAD_CHUNK = 8  # pairs a guessed task: short, so a round's own tasks wait little behind one
AHEAD_SHARE, AHEAD_FLOOR = 0.25, 64  # unread guesses allowed: share of asked checks + floor/worker
REGUESS_S = 0.02  # guesses ran dry: guessed again after new verdicts, at most this often


class AheadChecks:
    """Checks on ``pool`` (a DecodePool with more than one worker), submitted a task at a time;
    results are kept by pair until a round asks for them. ``stats`` counts the guesses (sent,
    read), the workers' CPU inside the checks and the files they prepared."""

    def __init__(self, pool: Any, paths: dict[int, str], workers: int) -> None:
        self.pool, self.paths, self.workers = pool, paths, workers
        self.results: dict[Pair, Result] = {}  # checked, not yet asked for
        self.flight: set[Pair] = set()  # sent, no result yet
        self.guessed: set[Pair] = set()  # sent as a guess, not yet asked for
        # Verdicts handed over lately: ``peek`` reads them, and they are not guessed again. The
        # stage clears them at each round (cliques then knows them): no set of every check.
        self.recent: dict[Pair, bool] = {}
        self.tasks = 0  # in flight
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.stats = {
            "guesses_sent": 0, "guesses_read": 0, "asked": 0, "tasks": 0,
            "check_cpu_s": 0.0, "prepared": 0, "wait_s": 0.0, "idle_slot_s": 0.0,
            "worker_peak_rss_mb": 0.0,
        }  # fmt: skip

    def _send(self, pairs: Sequence[Pair], size: int, guess: bool, workers: int = 1) -> None:
        for chunk in chunks_of(pairs, self.paths, size, workers):
            self.pool.apply(verify_counted, chunk, self.inbox.put)
            self.tasks += 1
            self.stats["tasks"] += 1
            for a, b, _pa, _pb in chunk:
                self.flight.add((a, b))
                if guess:
                    self.guessed.add((a, b))
        if guess:
            self.stats["guesses_sent"] += len(pairs)

    def _receive(self, timeout: float) -> list[Pair]:
        """One finished task's pairs (into ``results``); [] when none came within ``timeout``."""
        t0, idle = time.monotonic(), max(0, self.workers - self.tasks)
        try:
            got = self.inbox.get(timeout=timeout)
        except queue.Empty:
            return []
        finally:
            waited = time.monotonic() - t0
            self.stats["wait_s"] += waited
            self.stats["idle_slot_s"] += idle * waited  # workers with no task while we wait
        self.tasks -= 1
        if isinstance(got, BaseException):
            raise got
        out, cpu, prepared, peak = got
        self.stats["worker_peak_rss_mb"] = max(self.stats["worker_peak_rss_mb"], peak / 1024)
        self.stats["check_cpu_s"] += cpu
        self.stats["prepared"] += prepared
        for r in out:
            self.flight.discard((r[0], r[1]))
            self.results[(r[0], r[1])] = r
        return [(r[0], r[1]) for r in out]

    def _allowance(self) -> int:
        """Guesses that may still be sent: the unread ones stay within the bound."""
        bound = AHEAD_SHARE * self.stats["asked"] + AHEAD_FLOOR * self.workers
        return int(bound) - len(self.guessed)

    def _guess(self, guesses: Iterator[Pair], keep: Callable[[list[Pair]], list[Pair]]) -> bool:
        """Fill idle workers with guesses; False once ``guesses`` ran dry."""
        while self.tasks < self.workers and (room := min(AHEAD_CHUNK, self._allowance())) > 0:
            batch: list[Pair] = []
            for p in guesses:
                if p not in self.recent and p not in self.flight and p not in self.results:
                    batch.append(p)
                    if len(batch) == room:
                        break
            if not batch:
                return False
            batch = keep(batch)
            if batch:
                self._send(batch, AHEAD_CHUNK, guess=True)
        return True

    def peek(self, pair: Pair) -> bool | None:
        """A verdict checked but not asked for yet, or handed over lately; else None."""
        r = self.results.get(pair)
        return bool(r[2]) if r is not None else self.recent.get(pair)

    def fetch(
        self,
        pairs: Sequence[Pair],
        guesses: Callable[[], Iterator[Pair]],
        keep: Callable[[list[Pair]], list[Pair]],
        cancelled: Callable[[], bool],
    ) -> Iterator[list[Result]]:
        """The results of ``pairs`` (each once), in batches as they arrive; meanwhile idle
        workers check ``guesses()`` (``keep`` drops those that need no check, e.g.
        remembered; once they ran dry, guessed again after new results). Stops early when
        ``cancelled``."""
        wanted = set(pairs)
        new = [p for p in pairs if p not in self.flight and p not in self.results]
        self._send(new, VERIFY_CHUNK, False, self.workers)  # a small round: a share a worker
        more, it, news, made = True, guesses(), False, time.monotonic()
        ready = [p for p in pairs if p in self.results]
        wanted.difference_update(ready)
        while True:
            if ready:
                yield self._hand(ready)
            if not wanted or cancelled():
                return
            if not more and news and time.monotonic() - made >= REGUESS_S:
                # new verdicts may show merges that will pass: guess again
                more, it, news, made = True, guesses(), False, time.monotonic()
            if more:
                more = self._guess(it, keep)
            got = self._receive(0.2)
            news = news or bool(got)
            ready = [p for p in got if p in wanted]
            wanted.difference_update(ready)
            if not ready and not self.tasks and wanted:
                raise RuntimeError(f"verify: {len(wanted)} checks lost")  # never expected

    def _hand(self, pairs: list[Pair]) -> list[Result]:
        out = []
        for p in pairs:
            out.append(self.results.pop(p))
            self.recent[p] = bool(out[-1][2])
            self.stats["asked"] += 1
            if p in self.guessed:
                self.guessed.discard(p)
                self.stats["guesses_read"] += 1
        return out

    def summary(self) -> dict:
        """``stats`` plus the guesses never read (their checks wasted) and that share."""
        s = dict(self.stats)
        s["guesses_unread"] = s["guesses_sent"] - s["guesses_read"]
        s["unread_share_of_checks"] = round(s["guesses_unread"] / max(1, s["asked"]), 4)
        s["check_cpu_s"] = round(s["check_cpu_s"], 2)
        s["wait_s"] = round(s["wait_s"], 2)
        s["idle_slot_s"] = round(s["idle_slot_s"], 2)
        s["worker_peak_rss_mb"] = round(s["worker_peak_rss_mb"], 1)
        return s
