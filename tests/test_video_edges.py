"""Segment ends walked outward along the line (video_edges.py): synthetic codes, real crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.engine.features.video_sig import video_features
from lookalike.engine.video_align import FRAME_RADIUS, Timeline, match_videos
from video_helpers import DATA, variant

STEP = 0.5
RNG = np.random.default_rng(11)


def _codes(n: int) -> np.ndarray:
    return RNG.integers(0, 256, (n, 32), dtype=np.uint8)


def _flip(codes: np.ndarray, bits: int) -> np.ndarray:
    """Each code with ``bits`` of its 256 bits flipped (a frame this far from the original)."""
    out = np.unpackbits(codes.copy(), axis=1)
    for row in out:
        row[RNG.choice(256, bits, replace=False)] ^= 1
    return np.packbits(out, axis=1)


def _timeline(key: int, codes: np.ndarray, start: float = 0.0) -> Timeline:
    times = (start + np.arange(len(codes)) * STEP).astype(np.float32)
    return Timeline(key, STEP, times, codes, codes, np.arange(len(codes)))


def _copy(footage: np.ndarray, loose_ends: int, loose_bits: int) -> np.ndarray:
    """A copy of ``footage`` whose first and last ``loose_ends`` frames match only loosely."""
    out = _flip(footage, 16)
    out[:loose_ends] = _flip(footage[:loose_ends], loose_bits)
    out[-loose_ends:] = _flip(footage[-loose_ends:], loose_bits)
    return out


def test_loosely_matching_ends_are_walked_to_where_the_footage_starts_and_ends() -> None:
    footage = _codes(40)
    intro = _codes(6)  # b: 3 s of other footage, then the copy
    a = _timeline(0, footage)
    b = _timeline(1, np.concatenate([intro, _copy(footage, 6, FRAME_RADIUS + 12)]))
    (m,) = match_videos([a, b])
    (s,) = m.segments
    # before the walk the segment began and ended 6 samples (3 s) inside the footage
    assert (s.a_start, s.a_end) == (0.0, 19.5)
    assert (s.b_start, s.b_end) == (3.0, 22.5)
    assert m.tier == "clip" and m.cover_a == 1.0


def test_the_walk_stops_at_unrelated_footage_on_both_sides() -> None:
    footage = _codes(30)
    a = _timeline(0, np.concatenate([_codes(8), footage, _codes(8)]))
    b = _timeline(1, np.concatenate([_codes(5), _copy(footage, 4, FRAME_RADIUS + 12), _codes(5)]))
    (m,) = match_videos([a, b])
    (s,) = m.segments
    assert (s.a_start, s.a_end) == (4.0, 18.5)  # a's footage: samples 8..37
    assert (s.b_start, s.b_end) == (2.5, 17.0)  # b's footage: samples 5..34
    assert m.tier == "partial"  # 30 of 46 and of 40 samples: neither a copy nor a clip


def test_frames_past_the_loose_radius_are_not_taken() -> None:
    footage = _codes(40)
    a = _timeline(0, footage)
    b = _timeline(1, _copy(footage, 6, FRAME_RADIUS + 40))  # ends changed beyond recognition
    (m,) = match_videos([a, b])
    (s,) = m.segments
    assert (s.a_start, s.a_end) == (3.0, 16.5)


@pytest.fixture(scope="module")
def bunny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Mostly static real footage and a 10 % crop of it (resized back to the same size)."""
    d = tmp_path_factory.mktemp("edges")
    base = variant(DATA / "bigbuckbunny.mp4", d / "bunny.mp4", scale=0.25)
    return base, variant(base, d / "crop.mp4", crop=0.1)


def test_a_crop_of_static_footage_is_matched_to_its_ends(bunny: tuple[Path, Path]) -> None:
    tls = []
    for n, path in enumerate(bunny):
        _meta, fr = video_features(str(path), None, None)
        q, o = fr.query_hashes()
        tls.append(Timeline(n, fr.step, fr.times, fr.hashes(), q, o))
    (m,) = match_videos(tls)
    step = max(t.step for t in tls)
    last = min(float(t.times[-1]) for t in tls)
    a0 = min(s.a_start for s in m.segments)
    a1 = max(s.a_end for s in m.segments)
    b0 = min(s.b_start for s in m.segments)
    b1 = max(s.b_end for s in m.segments)
    assert m.tier in ("same", "clip")  # the walk alone never makes a copy "same"
    assert max(a0, b0) <= 2 * step and min(a1, b1) >= last - 2 * step, m.segments


def test_the_walk_alone_never_makes_a_copy_same() -> None:
    """Both files hold the same 40 samples, but the first and last 5 match only loosely: the
    walked segment spans all of both (reported), while the strict matches cover 80 %: `clip`,
    not `same` — in static footage the loose frames run past where the shared footage ends,
    and a `same` group is acted on by default."""
    footage = _codes(40)
    a = _timeline(0, footage)
    b = _timeline(1, _copy(footage, 5, FRAME_RADIUS + 12))
    (m,) = match_videos([a, b])
    (s,) = m.segments
    assert (s.a_start, s.a_end, s.b_start, s.b_end) == (0.0, 19.5, 0.0, 19.5)
    assert m.tier == "clip" and m.cover_a == m.cover_b == 1.0
