"""The grouper drops a candidate unmatched only where ``match`` would find no edge
(``candidates.may_match``), and picks each star's centre as the quadratic rule did."""

from __future__ import annotations

import itertools
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from lookalike.engine import grouping
from lookalike.engine.candidates import edge_floors, may_match
from lookalike.engine.features.extract import extract_file
from lookalike.engine.grouping import Item, ViewSignatures
from lookalike.engine.stars import stars, strongest_holds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

data = pytest.importorskip("skimage.data")


def _photos(tmp_path: Path) -> list[Item]:
    """Real photos, copies that group (resized, turned, mirrored, re-encoded, brightened,
    framed by a border) and hard negatives (burst frames, another crop of the same scene)."""
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.camera()]
    images: list[Image.Image] = []
    for n, arr in enumerate(sources):
        img = Image.fromarray(arr).convert("RGB")
        w, h = img.size
        images += [
            img,
            img.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
            img.transpose(Image.Transpose.ROTATE_90),
            ImageOps.mirror(img),
            ImageEnhance.Brightness(img).enhance(1.3),
            ImageOps.expand(img, border=w // 10, fill=(0, 0, 0)),  # a trimmed second view
            img.crop((w // 8, h // 8, w, h)),
        ]
        images += corpus.burst_frames(img, seed=n)
    items = []
    for n, img in enumerate(images):
        path = tmp_path / f"{n:03d}.jpg"
        img.save(path, quality=60 if n % 3 == 0 else 90)
        items.append(Item(n, str(path), extract_file(str(path), None, 10**9).views))
    return items


@pytest.mark.parametrize("sensitivity", [0, 50, 100])
def test_every_pair_match_accepts_may_match(tmp_path: Path, sensitivity: int) -> None:
    items = _photos(tmp_path)
    prep = ViewSignatures(items)
    assert any(len(it.views) == 2 for it in items)  # framings compared pair by pair too
    thr = grouping.thresholds_for(sensitivity)
    pairs = np.array(list(itertools.combinations(range(len(items)), 2)))
    may = may_match(prep.sigs, prep.first, pairs[:, 0], pairs[:, 1], edge_floors(thr))
    accepted = np.array([thr.accepts(prep.match(int(i), int(j))) for i, j in pairs])
    assert accepted.sum() >= 3 * len(items) // 12  # the copies are edges
    assert not (accepted & ~may).any(), pairs[accepted & ~may]
    assert (~may).sum() > len(pairs) // 2  # and most unrelated pairs are dropped unmatched


def test_accept_finds_the_same_edges_with_and_without_the_bound(tmp_path: Path) -> None:
    items = _photos(tmp_path)
    prep = ViewSignatures(items)
    thr = grouping.thresholds_for(50)
    pairs = np.array(list(itertools.combinations(range(len(items)), 2)))
    first, second = pairs[:, 0].copy(), pairs[:, 1].copy()
    out = []
    for bound in (None, lambda a, b: may_match(prep.sigs, prep.first, a, b, edge_floors(thr))):
        edges: dict = {}
        cache: dict = {}

        def match(i: int, j: int, cache: dict = cache) -> grouping.Match:
            cache[(i, j)] = prep.match(i, j)
            return cache[(i, j)]

        grouping._accept((first, second), match, thr, edges, cache, None, None, bound)
        out.append((edges, set(cache)))
    assert out[0] == out[1]
    assert len(out[0][0]) >= 10


def _stars_quadratic(members, edges, joins, rank, confirmed):  # stars before _Centres
    nbrs: dict[int, set[int]] = {m: set() for m in members}
    for i, j in edges:
        if i in nbrs and j in nbrs:
            nbrs[i].add(j)
            nbrs[j].add(i)
    left = set(members)
    out = []
    while left:
        centre = min(left, key=lambda m: (-len(nbrs[m] & left), rank[m]))
        group = [centre]
        tried = nbrs[centre] & left
        for m in sorted(tried, key=rank.__getitem__):
            if joins([m], group) and (yield from confirmed(centre, m, edges)):
                group.append(m)
        reach = set().union(*(nbrs[g] for g in group[1:])) & left
        for m in sorted(reach - tried - {centre}, key=rank.__getitem__):
            if joins([m], group) and (yield from strongest_holds(m, group, edges, rank, confirmed)):
                group.append(m)
        left -= set(group)
        out.append(group)
    return out


def _run(clusters):  # type: ignore[no-untyped-def]
    asked = []
    try:
        while True:
            asked.append(next(clusters))
    except StopIteration as stop:
        return stop.value, asked


@pytest.mark.parametrize("seed", range(6))
def test_star_centres_are_the_quadratic_rules(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(20, 400)
    members = list(range(n))
    rank = rng.sample(range(n), n)
    edges = {
        (i, j): rng.random()
        for i in range(n)
        for j in range(i + 1, min(n, i + 12))
        if rng.random() < 0.5
    }
    far = {frozenset(rng.sample(members, 2)) for _ in range(n)}

    def joins(a: list[int], b: list[int]) -> bool:  # a bound that turns some members down
        return all(frozenset((x, y)) not in far for x in a for y in b)

    refuted = {p for p in edges if rng.random() < 0.2}

    def confirmed(i: int, j: int, edges: dict):  # type: ignore[no-untyped-def]
        yield (i, j)
        return (min(i, j), max(i, j)) not in refuted

    got = _run(stars(members, dict(edges), joins, rank, confirmed))
    want = _run(_stars_quadratic(members, dict(edges), joins, rank, confirmed))
    assert got == want  # the same stars, the same re-checks asked in the same order
    assert len(got[0]) < n - 10 and len(got[1]) > 10  # stars formed, some edges re-checked
