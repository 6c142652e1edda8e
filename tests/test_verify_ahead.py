"""verify_ahead.AheadChecks on a pool that answers at once: a round gets exactly the verdicts of
the pairs it asks (never a guess's in their place), right guesses are read, and guesses nobody
asks for stay within the bound however many are offered."""

from __future__ import annotations

from lookalike.engine import verify_ahead


def _verdict(a: int, b: int) -> bool:
    return (a + b) % 3 == 0  # any pure function of the ordered pair


class _AtOncePool:
    """A pool whose workers answer as soon as a task is sent (what it was sent is kept)."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[int, int]]] = []

    def apply(self, fn, chunk, done) -> None:  # type: ignore[no-untyped-def]
        self.sent.append([(a, b) for a, b, _pa, _pb in chunk])
        done(([(a, b, _verdict(a, b), 0.5) for a, b, _pa, _pb in chunk], 0.001, 1, 1024))


def _round(ahead, pairs, guesses):  # type: ignore[no-untyped-def]
    return [r for batch in ahead.fetch(pairs, guesses, list, lambda: False) for r in batch]


def test_rounds_get_their_own_verdicts_and_read_right_guesses() -> None:
    pool = _AtOncePool()
    paths = {i: f"/photos/{i:04d}.jpg" for i in range(100)}
    ahead = verify_ahead.AheadChecks(pool, paths, workers=4)
    rounds = [[(i, i + 1)] for i in range(0, 60, 2)]
    for n, pairs in enumerate(rounds):

        def guesses(n: int = n, pairs: list = pairs):  # type: ignore[no-untyped-def]
            later = [p for r in rounds[n + 1 : n + 4] for p in r]
            return iter(later + [(b, a) for a, b in pairs])

        got = _round(ahead, pairs, guesses)
        assert got == [(a, b, _verdict(a, b), 0.5) for a, b in pairs]
    s = ahead.summary()
    assert s["asked"] == len(rounds) and s["guesses_read"] == len(rounds) - 1
    # the reversed pairs were guessed and never asked: a pair is not its reverse
    assert s["guesses_unread"] == s["guesses_sent"] - s["guesses_read"] > 0
    assert not ahead.results.keys() & {p for r in rounds for p in r}


def test_unread_guesses_stay_within_the_bound(monkeypatch) -> None:
    monkeypatch.setattr(verify_ahead, "AHEAD_FLOOR", 3)
    pool = _AtOncePool()
    paths = {i: f"/photos/{i:04d}.jpg" for i in range(5000)}
    ahead = verify_ahead.AheadChecks(pool, paths, workers=2)
    wrong = [(i, i + 1) for i in range(1000, 4998, 2)]  # 1 999 guesses, none ever asked
    for r in range(40):
        got = _round(ahead, [(2 * r, 2 * r + 1)], lambda: iter(wrong))
        assert [(a, b) for a, b, *_ in got] == [(2 * r, 2 * r + 1)]
        bound = verify_ahead.AHEAD_SHARE * (r + 1) + 3 * 2
        assert 0 < ahead.summary()["guesses_unread"] <= bound
    # filled up to the bound (the last guesses went while the 40th check was not yet read)
    assert ahead.summary()["guesses_unread"] == int(verify_ahead.AHEAD_SHARE * 39) + 6
