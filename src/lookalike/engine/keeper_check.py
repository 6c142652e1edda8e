"""Every member of a "same" group checked against the group's keeper (rank stage).

Why: the grouper checks a "same" verdict per EDGE. A merge is backed by one verified edge and
every cross pair is held to the signature bound only, so two frames of one burst (distinct
photos) shared a group through a third file's near-copy edges — A~C and B~C each passed,
A vs B never met the pixels (session 16, room burst: 2 of 28 bursts with four seeds in one
folder) — and an action then kept A and trashed B. A group's non-keepers are what actions
act on, so each one must be a verified copy of the keeper itself: its signatures near-exact
(the pairs a direct edge needs no pixel check for), or its pixels not refuting the keeper's
(``Verifier.refutes``: verify.py with moved.py's shifted patches, frame_check.py), the
check a direct edge passes — asked both ways: verify.py's verdict is not symmetric (a burst
frame refuted one way was called the keeper's copy the other way; room keeper, 2026-11-27).
The grouper's own direction (path order) comes first and its verdict, asked for an edge or
remembered from an earlier scan, is reused; every new verdict is remembered the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lookalike.engine.match_rules import RECHECK_BAND, RECHECK_LOW, Match

if TYPE_CHECKING:
    from lookalike.engine.recheck import PixelRecheck


@dataclass
class KeeperCounts:
    """What the check cost and found (benchmarks/keeper_check.py reads it)."""

    groups: int = 0  # "same" groups checked
    pairs: int = 0  # (member, keeper) pairs of distinct representatives
    near_exact: int = 0  # passed on their signatures
    known: int = 0  # pixel verdicts (one a way) the grouper already had, or remembered
    fresh: int = 0  # pixel verdicts computed for this check (on the driver)
    strays: int = 0  # members refuted against their keeper
    split: list[int] = field(default_factory=list)  # sizes of the groups that lost members


class KeeperCheck:
    """``strays(rids, keep_rep)``: the representatives of a "same" group that are not
    verified copies of its keeper. ``match(i, j)`` gives the pair's signatures, ``recheck``
    is the grouper's pixel re-check (True = contradicted; its verdicts remembered in the
    catalog), ``index`` maps a representative to its item, ``paths`` the items' paths; a
    representative outside the grouper's items (none in a hash group) is a stray: nothing
    vouches for it."""

    def __init__(
        self,
        match: Callable[[int, int], Match],
        recheck: PixelRecheck,
        index: Mapping[int, int],
        paths: Sequence[str],
    ) -> None:
        self.match, self.index, self.paths = match, index, paths
        self.ways = (recheck, recheck.backward())
        self.counts = KeeperCounts()

    def strays(self, rids: Iterable[int], keep_rep: int) -> set[int]:
        """Those of ``rids`` (a group's representatives) the keeper's does not vouch for."""
        c = self.counts
        c.groups += 1
        k = self.index.get(keep_rep)
        out = set()
        for rid in dict.fromkeys(rids):
            if rid == keep_rep:
                continue  # the keeper's byte-identical copies share its representative
            c.pairs += 1
            i = self.index.get(rid)
            if i is None or k is None:
                out.add(rid)
                continue
            m = self.match(i, k)
            if m.low >= RECHECK_LOW and m.band >= RECHECK_BAND:
                c.near_exact += 1
                continue
            if self._refuted(*((i, k) if self.paths[i] < self.paths[k] else (k, i))):
                out.add(rid)
        c.strays += len(out)
        return out

    def _refuted(self, a: int, b: int) -> bool:
        """The pair (in path order) refuted one way or the other (counted in ``counts``)."""
        for check, (x, y) in zip(self.ways, ((a, b), (b, a)), strict=True):
            before = check.driver_checks
            refuted = check(x, y)
            fresh = check.driver_checks - before
            self.counts.fresh += fresh
            self.counts.known += 1 - fresh
            if refuted:
                return True
        return False
