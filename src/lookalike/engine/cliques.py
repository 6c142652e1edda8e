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

Bound: a group never grows past :data:`MAX_GROUP` members, so the all-pairs checks inside one
group stay ≤ MAX_GROUP·(MAX_GROUP−1)/2 and a huge component never gets an all-pairs pass.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence

Pair = tuple[int, int]
MAX_GROUP = 64  # members (distinct files after exact copies are folded) a group may reach
ROUND = 256  # merges tried per round (a fixed number, so the result never depends on workers)

Checks = Generator[list[Pair], Mapping[Pair, bool], list[list[int]]]


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
    cid: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    for c in clusters:
        c = list(dict.fromkeys(c))
        if not c:
            continue
        head = min(c, key=name.__getitem__)
        members[head] = c
        for x in c:
            cid[x] = head

    def cluster(x: int) -> int:
        if x not in cid:
            cid[x] = x
            members[x] = [x]
        return cid[x]

    def key(a: int, b: int) -> Pair:
        return (a, b) if name[a] <= name[b] else (b, a)

    verdict: dict[Pair, bool] = {}

    def answer(a: int, b: int) -> bool | None:
        p = key(a, b)
        if p in verdict:
            return verdict[p]
        k = known(*p) if known is not None else None
        if k is not None:
            verdict[p] = k
        return k

    best: dict[Pair, float] = {}
    for a, b, s in candidates:
        if a == b:
            continue
        p = key(a, b)
        if s > best.get(p, float("-inf")):
            best[p] = float(s)
    pending = sorted(best, key=lambda p: (-best[p], name[p[0]], name[p[1]]))
    for a, b in pending:
        cluster(a)
        cluster(b)

    while pending:
        used: set[int] = set()
        chosen: list[tuple[int, int]] = []  # (cluster, cluster) to try this round
        rest: list[Pair] = []
        for a, b in pending:
            ca, cb = cid[a], cid[b]
            if ca == cb or len(members[ca]) + len(members[cb]) > max_group:
                continue  # clusters only grow: this pair can never help again
            if ca in used or cb in used or len(chosen) >= ROUND:
                rest.append((a, b))
                continue
            if answer(a, b) is False:
                continue
            used.update((ca, cb))
            chosen.append((a, b))
        pending = rest
        # 1. the candidate pair itself (usually the only check a merge needs)
        need = sorted({key(a, b) for a, b in chosen if answer(a, b) is None})
        if need:
            got = yield need
            for p in need:
                verdict[p] = bool(got.get(p, False))
        # 2. every other cross pair of the merges whose candidate pair passed
        merges = [(cid[a], cid[b]) for a, b in chosen if verdict.get(key(a, b))]
        need_set: set[Pair] = set()
        for ca, cb in merges:
            cross = [(x, y) for x in members[ca] for y in members[cb]]
            if any(answer(x, y) is False for x, y in cross):
                continue
            need_set.update(key(x, y) for x, y in cross if answer(x, y) is None)
        if need_set:
            need = sorted(need_set, key=lambda p: (name[p[0]], name[p[1]]))
            got = yield need
            for p in need:
                verdict[p] = bool(got.get(p, False))
        for ca, cb in merges:
            if all(answer(x, y) for x in members[ca] for y in members[cb]):
                head, tail = (ca, cb) if name[ca] <= name[cb] else (cb, ca)
                members[head] += members.pop(tail)
                for x in members[head]:
                    cid[x] = head
    groups = [sorted(m, key=name.__getitem__) for m in members.values() if len(m) >= 2]
    groups.sort(key=lambda g: name[g[0]])
    return groups


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
