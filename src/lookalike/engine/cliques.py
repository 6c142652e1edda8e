"""Groups in which every two members were verified as one photo: a union of edges never is.

Why: a verified edge says "these two files are one photo". Joining edges by union chains them
(left half ~ whole ~ right half puts two halves that share no pixel in one group, and a run of
look-alike star fields swallows a whole night). Here two clusters merge only when EVERY pair
across them is verified, so each group is a clique of verified pairs and whoever becomes the
keeper was verified against every other member.

Greedy complete link: candidate pairs strongest first (ties by name, never by id, so the same
files give the same groups whatever order they were found in). Checks are expensive (a decode
and ORB + RANSAC), so :func:`link` is a generator that yields the pairs it needs checked, in
rounds, and receives their verdicts: the scan answers from its process pool and the catalog,
tests answer from a fabricated edge set (:func:`run`).

Verifying ahead: each round's list of pairs is a :class:`Need`, whose ``ahead()`` guesses the
pairs the next rounds will probably ask (the waiting candidate pairs in order, and the cross
pairs of the merges whose candidate pair passed or was seen to pass ahead), so a pool can check them while
the round's last checks run. A guess is never an answer: link only reads the verdicts sent
back for the pairs it yielded, so the groups never depend on what was guessed.

Bound: a group never grows past :data:`MAX_GROUP` members, so the all-pairs checks inside one
group stay ≤ MAX_GROUP·(MAX_GROUP−1)/2 and a huge component never gets an all-pairs pass.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from functools import partial

Pair = tuple[int, int]
MAX_GROUP = 64  # members (distinct files after exact copies are folded) a group may reach
ROUND = 256  # merges tried per round (a fixed number, so the result never depends on workers)

Checks = Generator["Need", Mapping[Pair, bool], list[list[int]]]


Peek = Callable[[int, int], "bool | None"]


class Need(list[Pair]):
    """A round's pairs to check (a plain list to any caller), and ``ahead(peek)``: the pairs
    later rounds will probably ask, likeliest first, lazily (only a guess: never an answer);
    ``peek(a, b)`` may tell a verdict checked ahead (or None), to guess the cross pairs of
    merges that will pass rather than of every candidate."""

    def __init__(self, pairs: Iterable[Pair], ahead: Callable[[Peek | None], Iterator[Pair]]):
        super().__init__(pairs)
        self.ahead = ahead


class _Clusters:
    """The clusters being merged and the verdicts known so far (one :func:`link` call)."""

    def __init__(
        self,
        clusters: Iterable[Sequence[int]],
        name: Mapping[int, str],
        known: Callable[[int, int], bool | None] | None,
    ) -> None:
        self.name, self.known = name, known
        self.cid: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self.verdict: dict[Pair, bool] = {}
        for c in clusters:
            c = list(dict.fromkeys(c))
            if not c:
                continue
            head = min(c, key=name.__getitem__)
            self.members[head] = c
            for x in c:
                self.cid[x] = head

    def cluster(self, x: int) -> int:
        if x not in self.cid:
            self.cid[x] = x
            self.members[x] = [x]
        return self.cid[x]

    def key(self, a: int, b: int) -> Pair:
        return (a, b) if self.name[a] <= self.name[b] else (b, a)

    def answer(self, a: int, b: int) -> bool | None:
        p = self.key(a, b)
        if p in self.verdict:
            return self.verdict[p]
        k = self.known(*p) if self.known is not None else None
        if k is not None:
            self.verdict[p] = k
        return k

    def record(self, need: list[Pair], got: Mapping[Pair, bool]) -> None:
        for p in need:
            self.verdict[p] = bool(got.get(p, False))

    def pick_round(self, pending: list[Pair], max_group: int) -> tuple[list[Pair], list[Pair]]:
        """This round's candidate pairs (one merge per cluster, at most ROUND), and the rest."""
        used: set[int] = set()
        chosen: list[Pair] = []
        rest: list[Pair] = []
        for a, b in pending:
            ca, cb = self.cid[a], self.cid[b]
            if ca == cb or len(self.members[ca]) + len(self.members[cb]) > max_group:
                continue  # clusters only grow: this pair can never help again
            if ca in used or cb in used or len(chosen) >= ROUND:
                rest.append((a, b))
                continue
            if self.answer(a, b) is False:
                continue
            used.update((ca, cb))
            chosen.append((a, b))
        return chosen, rest

    def cross_needed(self, merges: list[tuple[int, int]]) -> list[Pair]:
        """Unknown cross pairs of the merges that no known failure has ruled out already."""
        need: set[Pair] = set()
        for ca, cb in merges:
            cross = [(x, y) for x in self.members[ca] for y in self.members[cb]]
            if any(self.answer(x, y) is False for x, y in cross):
                continue
            need.update(self.key(x, y) for x, y in cross if self.answer(x, y) is None)
        return sorted(need, key=lambda p: (self.name[p[0]], self.name[p[1]]))

    def merge_verified(self, merges: list[tuple[int, int]]) -> None:
        for ca, cb in merges:
            if all(self.answer(x, y) for x in self.members[ca] for y in self.members[cb]):
                head, tail = (ca, cb) if self.name[ca] <= self.name[cb] else (cb, ca)
                self.members[head] += self.members.pop(tail)
                for x in self.members[head]:
                    self.cid[x] = head

    def ahead(self, pairs: list[Pair], max_group: int, peek: Peek | None = None) -> Iterator[Pair]:
        """Guesses for :class:`Need`, on shadow clusters (``self`` unchanged): for each of
        ``pairs`` in order, the candidate pair while its verdict is unknown; once it is known or
        ``peek``-ed (a verdict checked ahead, not yet asked) to pass, the other cross pairs
        its merge would ask, and the shadow clusters merge."""
        up: dict[int, int] = {}  # shadow merges: cluster head → the head it joined
        grown: dict[int, list[int]] = {}  # a shadow head's members, once it grew

        def find(c: int) -> int:
            while c in up:
                c = up[c]
            return c

        def verdict(p: Pair) -> bool | None:
            v = self.answer(*p)
            return peek(*p) if v is None and peek is not None else v

        seen: set[Pair] = set()
        for a, b in pairs:
            ha, hb = find(self.cid[a]), find(self.cid[b])
            ma, mb = grown.get(ha, self.members[ha]), grown.get(hb, self.members[hb])
            if ha == hb or len(ma) + len(mb) > max_group:
                continue
            first = self.key(a, b)
            passed = verdict(first)
            if passed is None and first not in seen:
                seen.add(first)
                yield first
            if not passed:
                continue
            cross = [self.key(x, y) for x in ma for y in mb]
            if any(verdict(p) is False for p in cross):
                continue
            for p in sorted(cross, key=lambda p: (self.name[p[0]], self.name[p[1]])):
                if p not in seen and self.answer(*p) is None:
                    seen.add(p)
                    yield p
            grown[ha], up[hb] = ma + mb, ha
            grown.pop(hb, None)

    def groups(self) -> list[list[int]]:
        out = [sorted(m, key=self.name.__getitem__) for m in self.members.values() if len(m) >= 2]
        out.sort(key=lambda g: self.name[g[0]])
        return out


def link(
    clusters: Iterable[Sequence[int]],
    candidates: Iterable[tuple[int, int, float]],
    name: Mapping[int, str],
    known: Callable[[int, int], bool | None] | None = None,
    max_group: int = MAX_GROUP,
) -> Checks:
    """Merge ``clusters`` (each already a valid group; other nodes start alone) along
    ``candidates`` (a, b, strength) into groups whose every cross pair is verified.

    Yields lists of pairs to check — each pair ordered by ``name`` — and expects a mapping
    pair → verified back (missing pairs count as not verified). ``known(a, b)`` may answer a
    pair without a check (True / False) or return None. Returns every group of ≥ 2 members,
    members sorted by name, groups sorted by their first member's name.
    """
    cs = _Clusters(clusters, name, known)
    best: dict[Pair, float] = {}
    for a, b, s in candidates:
        if a == b:
            continue
        p = cs.key(a, b)
        if s > best.get(p, float("-inf")):
            best[p] = float(s)
    pending = sorted(best, key=lambda p: (-best[p], name[p[0]], name[p[1]]))
    for a, b in pending:
        cs.cluster(a)
        cs.cluster(b)
    while pending:
        chosen, pending = cs.pick_round(pending, max_group)
        guess = partial(cs.ahead, chosen + pending, max_group)  # what later rounds may ask
        # 1. the candidate pair itself (usually the only check a merge needs)
        need = sorted({cs.key(a, b) for a, b in chosen if cs.answer(a, b) is None})
        if need:
            cs.record(need, (yield Need(need, guess)))
        # 2. every other cross pair of the merges whose candidate pair passed
        merges = [(cs.cid[a], cs.cid[b]) for a, b in chosen if cs.verdict.get(cs.key(a, b))]
        need = cs.cross_needed(merges)
        if need:
            cs.record(need, (yield Need(need, guess)))
        cs.merge_verified(merges)
    return cs.groups()


def run(checks: Checks, verify: Callable[[list[Pair]], Mapping[Pair, bool]]) -> list[list[int]]:
    """Drive :func:`link` synchronously, answering each round with ``verify``."""
    try:
        need = next(checks)
        while True:
            need = checks.send(verify(need))
    except StopIteration as stop:
        return stop.value


def is_clique(group: Sequence[int], verified: Callable[[int, int], bool]) -> bool:
    """Every two members verified (the guarantee a ``same`` group keeps)."""
    return all(verified(a, b) for i, a in enumerate(group) for b in group[i + 1 :])
