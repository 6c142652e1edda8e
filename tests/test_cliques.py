"""Groups never chain: every pair in a group is verified, in any input order."""

from __future__ import annotations

import itertools
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.engine import cliques, grouping
from lookalike.engine.features.extract import View


def _oracle(verified: set[frozenset[int]], asked: list | None = None):
    def verify(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], bool]:
        if asked is not None:
            asked.extend(pairs)
        return {p: frozenset(p) in verified for p in pairs}

    return verify


def _names(n: int) -> dict[int, str]:
    return {i: f"/photos/{i:03d}.jpg" for i in range(n)}


def test_chain_a_b_c_with_a_not_c_is_never_one_group() -> None:
    a, b, c = 0, 1, 2
    verified = {frozenset((a, b)), frozenset((b, c))}
    cands = [(a, b, 0.9), (b, c, 0.8)]
    groups = cliques.run(cliques.link([], cands, _names(3)), _oracle(verified))
    assert groups == [[a, b]]
    # the strongest edge decides where B goes, whichever way the candidates came in
    cands = [(c, b, 0.95), (b, a, 0.8)]
    groups = cliques.run(cliques.link([], cands, _names(3)), _oracle(verified))
    assert groups == [[b, c]]


def test_a_file_joins_a_group_only_when_verified_against_every_member() -> None:
    # {0, 1} is a hash group; 2 matches 0 but not 1 (a crop that lost 1's overlap)
    verified = {frozenset((0, 1)), frozenset((0, 2)), frozenset((2, 3))}
    asked: list = []
    groups = cliques.run(
        cliques.link([[0, 1]], [(0, 2, 0.9), (2, 3, 0.7)], _names(4)), _oracle(verified, asked)
    )
    assert groups == [[0, 1], [2, 3]]
    assert (0, 1) not in asked  # pairs inside a starting group are not re-checked
    known = cliques.link([[0, 1]], [(0, 2, 0.9)], _names(3), known=lambda a, b: True)
    assert cliques.run(known, _oracle(set())) == [[0, 1, 2]]


def test_groups_stop_at_the_bound() -> None:
    n = 10
    verified = {frozenset((i, j)) for i in range(n) for j in range(i + 1, n)}
    cands = [(i, j, 1.0 - 0.01 * (i + j)) for i in range(n) for j in range(i + 1, n)]
    groups = cliques.run(cliques.link([], cands, _names(n), max_group=4), _oracle(verified))
    assert all(len(g) <= 4 for g in groups)
    assert sorted(x for g in groups for x in g) == list(range(n))


@st.composite
def _graphs(draw):
    n = draw(st.integers(2, 12))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    verified = {frozenset(p) for p in pairs if draw(st.booleans())}
    # starting clusters must be valid groups themselves: make them verified cliques
    nodes = list(range(n))
    draw(st.randoms(use_true_random=False)).shuffle(nodes)
    clusters, k = [], 0
    while k < n:
        size = draw(st.integers(1, 3))
        c = nodes[k : k + size]
        k += size
        if len(c) > 1:
            clusters.append(c)
            verified |= {frozenset((x, y)) for x in c for y in c if x != y}
    cands = [(i, j, draw(st.floats(0.0, 1.0))) for i, j in pairs if draw(st.booleans())]
    return n, verified, clusters, cands


@settings(max_examples=200, deadline=None)
@given(_graphs(), st.integers(0, 2**16))
def test_every_group_is_verified_pairwise_and_order_free(graph, seed) -> None:
    n, verified, clusters, cands = graph
    names = _names(n)
    groups = cliques.run(cliques.link(clusters, cands, names), _oracle(verified))
    for g in groups:  # whoever the keeper is, every other member was verified against it
        assert cliques.is_clique(g, lambda a, b: frozenset((a, b)) in verified), g
    members = [x for g in groups for x in g]
    assert len(members) == len(set(members))
    for c in clusters:  # a starting group is never split
        assert any(set(c) <= set(g) for g in groups)
    # same files in another order, under other ids: the same groups (by name)
    rng = random.Random(seed)
    perm = list(range(n))
    rng.shuffle(perm)
    names2 = {perm[i]: names[i] for i in range(n)}
    verified2 = {frozenset(perm[x] for x in p) for p in verified}
    cands2 = [(perm[b], perm[a], s) for a, b, s in cands]
    rng.shuffle(cands2)
    clusters2 = [[perm[x] for x in reversed(c)] for c in reversed(clusters)]
    groups2 = cliques.run(cliques.link(clusters2, cands2, names2), _oracle(verified2))
    assert [[names2[x] for x in g] for g in groups2] == [[names[x] for x in g] for g in groups]


@settings(max_examples=200, deadline=None)
@given(_graphs(), st.integers(1, 40), st.booleans())
def test_guessing_ahead_never_changes_a_group_and_guesses_unasked_pairs(graph, take, lie) -> None:
    """Each round's Need guesses later rounds' pairs (verify_ahead.py checks them early). Read
    at every round, with a peek at verdicts (true, or all lies), the guesses change nothing;
    a guess is a name-ordered pair no earlier round asked."""
    n, verified, clusters, cands = graph
    names = _names(n)
    plain = cliques.run(cliques.link(clusters, cands, names), _oracle(verified))
    asked: list[tuple[int, int]] = []
    guessed: set[tuple[int, int]] = set()
    oracle = _oracle(verified, asked)

    def verify(need: cliques.Need) -> dict[tuple[int, int], bool]:
        def peek(a: int, b: int) -> bool:
            return (frozenset((a, b)) in verified) != lie

        guesses = list(itertools.islice(need.ahead(peek), take))
        assert len(guesses) == len(set(guesses))
        for a, b in guesses:
            assert names[a] < names[b] and (a, b) not in asked
        guessed.update(guesses)
        return oracle(need)

    assert cliques.run(cliques.link(clusters, cands, names), verify) == plain
    assert len(asked) == len(set(asked))  # a pair is asked once


def test_guesses_hold_the_next_rounds_pairs() -> None:
    """A star: one file matches ten others that all match each other; each round may merge one
    of them into the growing group, so rounds ask their pairs one by one. Told the verdicts
    checked ahead (``peek``), the first round's guesses hold what the later rounds ask; not
    told, only the candidate pairs (never a merge's cross pairs on a guess of a guess)."""
    n = 11
    verified = {frozenset((i, j)) for i in range(n) for j in range(i + 1, n)}
    cands = [(0, j, 1.0 - 0.01 * j) for j in range(1, n)]
    asked_by_round: list[list[tuple[int, int]]] = []
    first_guesses: list[tuple[int, int]] = []
    blind: list[tuple[int, int]] = []

    def verify(need: cliques.Need) -> dict[tuple[int, int], bool]:
        if not first_guesses:
            first_guesses.extend(need.ahead(lambda a, b: frozenset((a, b)) in verified))
            blind.extend(need.ahead())
        asked_by_round.append(list(need))
        return {p: frozenset(p) in verified for p in need}

    groups = cliques.run(cliques.link([], cands, _names(n)), verify)
    assert groups == [list(range(n))]
    later = {p for need in asked_by_round[1:] for p in need}
    assert len(asked_by_round) > 5 and later
    hit = later & set(first_guesses)
    assert len(hit) >= len(later) // 2, (len(hit), len(later))
    assert blind == [(0, j) for j in range(1, n)]


# -- hash mode: every pair within the bound, order-independent -------------------------------
def _items(seed: int) -> list[grouping.Item]:
    """Photos as DCT signatures: a few "scenes", each with near copies, plus in-between
    blends (a chain A ~ A/B ~ B) that must never pull two scenes together."""
    rng = np.random.default_rng(seed)
    scenes = [rng.standard_normal((24, 24)).astype(np.float32) for _ in range(3)]
    sigs = []
    for s in scenes:
        for _ in range(3):
            sigs.append(s + 0.08 * rng.standard_normal((24, 24)).astype(np.float32))
    for a, b in ((0, 1), (1, 2)):
        for w in (0.35, 0.5, 0.65):
            sigs.append((1 - w) * scenes[a] + w * scenes[b])
    return [
        grouping.Item(k, f"/p/{k:03d}.jpg", [View(sig, b"", 1.0)]) for k, sig in enumerate(sigs)
    ]


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**16), st.integers(0, 2**16), st.sampled_from([30, 50, 70]))
def test_hash_groups_keep_their_bound_in_any_order(seed, shuffle, sensitivity) -> None:
    items = _items(seed)
    thr = grouping.thresholds_for(sensitivity)
    res = grouping.group_items(items, sensitivity)
    prep = grouping.ViewSignatures(items)
    keyed = [sorted(items[i].key for i in g) for g in res.groups]
    for g in keyed:  # the blends never pull two scenes' photos into one group
        assert len({k // 3 for k in g if k < 9}) <= 1, g
    for g in res.groups:
        for x in g:
            for y in g:
                if x < y:
                    m = prep.match(x, y)
                    assert m.low >= thr.low - grouping.LINK_FLOOR - 1e-6, (x, y)
                    assert m.band >= thr.band - grouping.BAND_FLOOR - 1e-6, (x, y)
    shuffled = items[:]
    random.Random(shuffle).shuffle(shuffled)
    res2 = grouping.group_items(shuffled, sensitivity)
    assert sorted(sorted(shuffled[i].key for i in g) for g in res2.groups) == sorted(keyed)
