"""The embedding candidates' checks cut into worker tasks (verify_chunks.py): the locality
order and the per-worker Verifier change how often a file is prepared, never a verdict."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from lookalike.engine import verify_chunks
from lookalike.engine.features.verify import Verifier, load_gray, prepare, verify_prepared

data = pytest.importorskip("skimage.data")


def _files(tmp_path) -> dict[int, str]:
    """Real photos, copies a check must find (crop, mirror, half size, grey) and hard
    negatives (other photos; two crops of one photo that share no pixel)."""
    paths: dict[int, str] = {}
    for name in ["astronaut", "coffee", "chelsea"]:
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        w, h = img.size
        variants = [
            img,
            img.crop((w // 5, h // 5, w, h)),
            img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            img.crop((0, 0, w // 2 - 8, h)),  # left half: shares nothing with the right
            img.crop((w // 2 + 8, 0, w, h)),
        ]
        for v in variants:
            fid = len(paths) + 1
            path = tmp_path / f"{name}_{fid}.jpg"
            v.save(path, quality=90)
            paths[fid] = str(path)
    return paths


def _fresh(pa: str, pb: str):
    """The reference: both files prepared from scratch, nothing cached."""
    return verify_prepared(prepare(load_gray(pa)), prepare(load_gray(pb)))


def test_verdicts_do_not_depend_on_order_or_cache(tmp_path, monkeypatch) -> None:
    paths = _files(tmp_path)
    ids = sorted(paths)
    # the candidate pairs as ml_groups makes them (a < b), and some reversed (b is the one
    # tried mirrored, so orientation must be kept)
    pairs = [(a, b) for a in ids for b in ids if a < b and (b - a <= 3 or (a + b) % 7 == 0)]
    pairs += [(b, a) for a, b in pairs[::8]]
    monkeypatch.setattr(verify_chunks, "_verifier", None)
    monkeypatch.setattr(verify_chunks, "VERIFY_CACHE", 6)  # evictions happen
    got = {}
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a pool worker: OpenCV's thread count must not change a verdict
    try:
        for chunk in verify_chunks.chunks_of(pairs, paths, size=5):
            for a, b, same, score in verify_chunks.verify_task(chunk):
                got[(a, b)] = (same, score)
    finally:
        cv2.setNumThreads(threads)
    assert sorted(got) == sorted(pairs)
    want = {}
    for a, b in pairs:
        r = _fresh(paths[a], paths[b])
        want[(a, b)] = (r.same, r.score)
    assert got == want
    verdicts = [s for s, _ in want.values()]
    assert verdicts.count(True) >= 5 and verdicts.count(False) >= 15  # both kinds were judged
    # the same files' full results through one long-lived Verifier (mirrors cached per file)
    v = Verifier(cache_size=4)
    for a, b in pairs[::5]:
        assert v.verify(paths[a], paths[b]) == _fresh(paths[a], paths[b])


def test_local_order_keeps_every_pair_and_prepares_fewer(tmp_path) -> None:
    """Pairs come sorted by id; in the local order a small per-worker cache prepares each
    file fewer times (files numbered so that neighbourhoods interleave, as in a scan)."""
    rng = np.random.default_rng(0)
    # 6 clusters of 8 files, ids interleaved (a cluster's files are far apart by id)
    cluster = {fid: fid % 6 for fid in range(48)}
    pairs = sorted((a, b) for a in range(48) for b in range(a + 1, 48) if cluster[a] == cluster[b])
    pairs = [p for p in pairs if rng.random() < 0.8]
    order = verify_chunks.local_order(pairs)
    assert sorted(order) == pairs

    def misses(seq: list[tuple[int, int]], cache: int = 10) -> int:
        lru: list[int] = []
        n = 0
        for a, b in seq:
            for x in (a, b):
                if x in lru:
                    lru.remove(x)
                else:
                    n += 1
                lru.append(x)
                del lru[:-cache]
        return n

    assert misses(order) <= 48 + 10 < misses(pairs)


def test_a_changed_file_is_prepared_again(tmp_path) -> None:
    """A worker's Verifier outlives a chunk (and in-process, a scan): an edited file under
    the same path must not be judged from its old pixels."""
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo = Image.fromarray(data.astronaut())
    photo.save(a, quality=90)
    photo.resize((256, 256)).save(b, quality=90)
    v = Verifier()
    assert v.verify(a, b).same
    Image.fromarray(data.coffee()).save(b, quality=90)
    st = os.stat(b)
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new mtime, whatever the clock
    assert v.verify(a, b).same is not True
    assert v.prepared == 3


def _full_mutual(a, b, ratio: float = 0.85):
    """The reference: both directions searched in full (as before the way back was cut)."""
    from lookalike.engine.index import hamming_knn

    d_ab, i_ab = hamming_knn(b.desc, a.desc, 2)
    _, i_ba = hamming_knn(a.desc, b.desc, 1)
    to_b = i_ab[:, 0]
    ok = (d_ab[:, 0] < ratio * d_ab[:, 1]) & (i_ba[to_b, 0] == np.arange(len(a.desc)))
    return a.kps[np.flatnonzero(ok)], b.kps[to_b[ok]]


def test_mutual_matches_equal_the_full_search(tmp_path) -> None:
    """The way back searched only for the ratio test's survivors: the same matches, in the
    same order, on copies (many matches) and unrelated photos (few), mirrored or not."""
    from lookalike.engine.features.verify import _flipped, _mutual_matches

    paths = _files(tmp_path)
    prep = {fid: prepare(load_gray(p)) for fid, p in paths.items()}
    sizes = []
    for a in sorted(prep):
        for b in sorted(prep)[a % 3 :: 3]:
            for pb in (prep[b], _flipped(prep[b])):
                got, want = _mutual_matches(prep[a], pb), _full_mutual(prep[a], pb)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
                sizes.append(len(got[0]))
    assert max(sizes) > 500 and min(sizes) < 100  # copies and strangers were both compared


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=300, unique=True),
    st.integers(1, 20),
)
def test_a_round_is_shared_by_every_worker(pairs, workers) -> None:
    """Every pair once, in local order; no task over VERIFY_CHUNK pairs; a round smaller than
    workers × VERIFY_CHUNK is cut so that the busiest worker has no more than its fair share
    (one task each, of ⌈pairs / workers⌉ at most)."""
    paths = {i: f"/p/{i}.jpg" for i in range(41)}
    chunks = verify_chunks.chunks_of(pairs, paths, workers=workers)
    flat = [(a, b) for c in chunks for a, b, _, _ in c]
    assert flat == verify_chunks.local_order(pairs)
    assert all(0 < len(c) <= verify_chunks.VERIFY_CHUNK for c in chunks)
    assert all(len(c) <= -(-len(pairs) // workers) for c in chunks)
    if len(pairs) >= workers * verify_chunks.VERIFY_CHUNK:
        assert len(chunks) == -(-len(pairs) // verify_chunks.VERIFY_CHUNK)
