"""recheck_stream.StreamedChecks on a pool that answers in any order: a round's wait ends only
when each of its pairs has its own verdict (the pair's files in the order sent), no pair is
checked twice or while a verdict is remembered, a few fresh pairs never start the pool, and a
task that raised gives no evidence. The scan-level checks on real photos (same groups and
remembered verdicts as the driver alone, checks sent before the first round) are in
tests/test_recheck_pool.py."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from lookalike.engine.recheck import PixelRecheck
from lookalike.engine.recheck_stream import StreamedChecks


@dataclass
class _Item:
    key: int
    path: str


def _verdict(pa: str, pb: str) -> bool:
    return (len(pa) * 7 + int(pb[-6:-4])) % 3 == 0  # a pure function of the ordered files


class _LatePool:
    """Holds each task until ``deliver`` picks it (``order`` says which of the held ones); a
    task whose chunk id is in ``fail`` raises."""

    def __init__(self, order: list[int], fail: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.held: list[tuple[tuple, object]] = []
        self.order, self.fail = list(order), fail
        self.checked: list[tuple[str, str]] = []

    def apply(self, fn, task, done) -> None:  # type: ignore[no-untyped-def]
        self.held.append((task, done))

    def deliver(self) -> bool:
        if self.held:
            pick = self.order.pop(0) % len(self.held) if self.order else 0
            (token, n, *paths), done = self.held.pop(pick)
            if n in self.fail:
                done(RuntimeError("worker raised"))
                return False
            pairs = list(zip(paths[::2], paths[1::2], strict=True))
            self.checked += pairs
            done((n, [_verdict(a, b) for a, b in pairs]))
        return False  # never cancelled


def _items(n: int) -> list[_Item]:
    return [_Item(1000 + k, f"/p/{(k * 37) % n:02d}/{k:02d}.jpg") for k in range(n)]


pairs_st = st.lists(
    st.tuples(st.integers(0, 23), st.integers(0, 23)).filter(lambda p: p[0] < p[1]),
    min_size=1,
    max_size=40,
    unique=True,
)


@settings(max_examples=200, deadline=None)
@example(  # a task settled, then a later send: its id was once reused, verdicts misapplied
    pairs=[(0, 3), (1, 2), (1, 3), (0, 1), (0, 2)], split=4, order=[], remembered={0}, limit=4
)
@example(pairs=[(0, 3), (0, 4), (1, 2), (0, 1), (0, 2)], split=4, order=[], remembered={0}, limit=4)
@given(
    pairs=pairs_st,
    split=st.integers(1, 8),
    order=st.lists(st.integers(0, 50), max_size=60),
    remembered=st.sets(st.integers(0, 39), max_size=6),
    limit=st.integers(0, 45),
)
def test_each_round_waits_for_its_own_verdicts_in_any_completion_order(
    pairs: list, split: int, order: list, remembered: set, limit: int
) -> None:
    items = _items(24)
    kept = {
        tuple(sorted((items[i].key, items[j].key))): True
        for n, (i, j) in enumerate(pairs)
        if n in remembered
    }
    fresh: dict = {}
    recheck = PixelRecheck(items, lambda a, b: kept.get((a, b)), fresh)
    pool = _LatePool(order)
    stream = StreamedChecks(pool, recheck, token=1, workers=2, start_at=1, early_limit=limit)
    for k in range(0, len(pairs), split):  # found a batch at a time, as the matching goes
        stream.found(pairs[k : k + split])
    early = sum((len(task) - 2) // 2 for task, _ in pool.held)
    assert early <= limit, "no more sent before a round asks than the limit"
    rounds = [pairs[k::3] for k in range(3)]
    for rnd in rounds:
        list(stream.wait(rnd, pool.deliver))
        for i, j in rnd:
            key = tuple(sorted((items[i].key, items[j].key)))
            want = kept[key] if key in kept else _verdict(items[i].path, items[j].path)
            assert recheck(i, j) is want
    asked = [
        (items[i].path, items[j].path) for n, (i, j) in enumerate(pairs) if n not in remembered
    ]
    assert sorted(pool.checked) == sorted(asked), "each fresh pair once, in its order"
    assert recheck.driver_checks == 0
    assert len(fresh) == len(asked)  # the asked ones: remembered by the caller


def test_a_few_fresh_pairs_never_start_the_pool() -> None:
    items = _items(24)
    recheck = PixelRecheck(items)
    pool = _LatePool([])
    stream = StreamedChecks(pool, recheck, token=1, workers=2, start_at=8, early_limit=99)
    stream.found([(0, 1), (2, 3)])
    stream.found([(0, 1), (4, 5)])  # the same pair again counts once
    assert not stream.started and pool.held == [] and len(stream.held) == 3
    stream.found([(6, 7), (8, 9), (10, 11), (12, 13), (14, 15)])
    assert stream.started and not stream.held
    assert sum(len(t) - 2 for t, _ in pool.held) == 2 * 8  # every held pair went, once


def test_a_task_that_raised_gives_no_evidence_and_is_not_remembered() -> None:
    items = _items(24)
    fresh: dict = {}
    recheck = PixelRecheck(items, None, fresh)
    pool = _LatePool([], fail={0})
    stream = StreamedChecks(pool, recheck, token=1, workers=2, start_at=1, early_limit=99)
    stream.found([(0, 1)])
    list(stream.wait([(0, 1)], pool.deliver))
    assert recheck(0, 1) is False and fresh == {}
    assert recheck.driver_checks == 0


def test_a_cancelled_wait_gives_up_at_once() -> None:
    items = _items(24)
    recheck = PixelRecheck(items)
    stream = StreamedChecks(_LatePool([]), recheck, token=1, workers=2, start_at=1, early_limit=99)
    stream.found([(0, 1), (2, 3)])
    assert list(stream.wait([(0, 1)], lambda: True)) == []
    assert recheck.gave_up and recheck(0, 1) is False and recheck.driver_checks == 0
