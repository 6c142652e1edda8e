"""Temporal alignment (video_align.py): synthetic timelines, properties, and real footage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lookalike.engine.features.video_sig import VideoFrames, video_features
from lookalike.engine.video_align import (
    EDGE_LOOSE,
    FRAME_RADIUS,
    Match,
    Timeline,
    align,
    classify,
    match_videos,
)
from lookalike.engine.video_groups import _clip_relations
from video_helpers import DATA, read_frames, variant, write_video


def _line(a0: float, a1: float, step: float, ratio: float, offset: float):
    ta = np.arange(a0, a1 + 1e-9, step)
    return ta, ratio * ta + offset


def test_offset_is_recovered() -> None:
    ta, tb = _line(0, 20, 1.0, 1.0, 7.0)
    segs = align(ta, tb, np.ones(len(ta)), 1.0)
    assert len(segs) == 1
    s = segs[0]
    assert (s.a_start, s.a_end, s.b_start, s.b_end) == (0, 20, 7, 27)
    assert s.score == pytest.approx(1.0)


def test_short_gaps_are_bridged_long_ones_split() -> None:
    ta, tb = _line(0, 30, 1.0, 1.0, 3.0)
    keep = ~((ta >= 5) & (ta <= 7)) & ~((ta >= 15) & (ta <= 24))  # 3 s gap, then a 10 s gap
    segs = sorted(align(ta[keep], tb[keep], np.ones(keep.sum()), 1.0), key=lambda s: s.a_start)
    assert [(s.a_start, s.a_end) for s in segs] == [(0, 14), (25, 30)]


@pytest.mark.parametrize("ratio", [0.8, 1.25])
def test_speed_ratios(ratio: float) -> None:
    ta, tb = _line(0, 40, 1.0, ratio, 2.0)
    tb = np.round(tb)  # b sampled on its own 1 s grid
    segs = align(ta, tb, np.ones(len(ta)), 1.0)
    s = segs[0]
    assert s.a_start <= 2 and s.a_end >= 38
    assert s.b_end - s.b_start == pytest.approx(ratio * (s.a_end - s.a_start), abs=2)


def test_compilation_yields_one_segment_per_piece() -> None:
    # b is a compilation: a[10..20] at b 0..10, a[40..55] at b 12..27
    ta1, tb1 = _line(10, 20, 1.0, 1.0, -10.0)
    ta2, tb2 = _line(40, 55, 1.0, 1.0, -28.0)
    ta, tb = np.concatenate([ta1, ta2]), np.concatenate([tb1, tb2])
    segs = sorted(align(ta, tb, np.ones(len(ta)), 1.0), key=lambda s: s.b_start)
    assert [(s.a_start, s.a_end, s.b_start, s.b_end) for s in segs] == [
        (10, 20, 0, 10),
        (40, 55, 12, 27),
    ]


def test_scattered_hits_make_no_segment() -> None:
    rng = np.random.default_rng(1)
    ta, tb = rng.uniform(0, 100, 60), rng.uniform(0, 100, 60)
    assert align(np.round(ta), np.round(tb), np.ones(60), 1.0) == []


def test_frames_common_to_many_videos_make_no_segment() -> None:
    ta, tb = _line(0, 20, 1.0, 1.0, 0.0)
    assert align(ta, tb, np.full(len(ta), 0.3), 1.0) == []  # an intro hitting ~27 videos
    assert len(align(ta, tb, np.full(len(ta), 1.0), 1.0)) == 1


def test_classify_tiers() -> None:
    times = np.arange(0, 100, 1.0)
    short = np.arange(0, 20, 1.0)
    ta, tb = _line(0, 99, 1.0, 1.0, 0.0)
    segs = align(ta, tb, np.ones(len(ta)), 1.0)
    assert classify(segs, times, times, 1.0, 1.0)[0] == "same"
    ta, tb = _line(0, 19, 1.0, 1.0, 30.0)
    segs = align(ta, tb, np.ones(len(ta)), 1.0)
    # b: the 20 matched samples; no edge slack, since a has nothing before or after them
    assert classify(segs, short, times, 1.0, 1.0) == ("clip", 1.0, pytest.approx(0.2))
    ta, tb = _line(0, 9, 1.0, 1.0, 30.0)
    segs = align(ta, tb, np.ones(len(ta)), 1.0)
    assert classify(segs, short, times, 1.0, 1.0)[0] == "partial"


def test_a_trim_is_never_lifted_to_same_by_the_edge_slack() -> None:
    """A 10-sample video and its first 8 samples: 80 % of it, a clip — the samples after the
    trim's end are footage the trim does not have, so no slack covers them."""
    full, trim = np.arange(10.0), np.arange(8.0)
    segs = align(trim, trim, np.ones(8), 1.0)
    assert classify(segs, full, trim, 1.0, 1.0) == ("clip", 0.8, 1.0)


def test_edge_slack_only_where_the_next_frames_look_alike() -> None:
    """Both 19-sample files go on past a segment whose first and last matches were missed:
    the slack covers them when the next frames look alike, not when they show other footage."""
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (19, 32), dtype=np.uint8)
    other = rng.integers(0, 256, (19, 32), dtype=np.uint8)  # another video's pictures
    times = np.arange(19.0)
    segs = align(times[1:18], times[1:18], np.ones(17), 1.0)
    loose = FRAME_RADIUS + EDGE_LOOSE
    assert classify(segs, times, times, 1.0, 1.0, (codes, codes), loose)[0] == "same"
    tier, ca, _ = classify(segs, times, times, 1.0, 1.0, (codes, other), loose)
    assert tier == "clip" and ca == pytest.approx(17 / 19)


def test_closer_matches_decide_between_lines() -> None:
    """Static footage: a line one sample off finds a (poor) match for more samples than the
    true line; the closeness of the matches picks the true one."""
    ta_true, tb_true = _line(0, 9, 1.0, 1.0, 0.0)
    ta_off, tb_off = _line(0, 10, 1.0, 1.0, 3.0)
    ta, tb = np.concatenate([ta_true, ta_off]), np.concatenate([tb_true, tb_off])
    sim = np.concatenate([np.full(10, 0.9), np.full(11, 0.2)])
    (seg,) = align(ta, tb, np.ones(len(ta)), 1.0, sim=sim)  # its matches spend the others
    assert (seg.a_start, seg.b_start, seg.a_end, seg.b_end) == (0.0, 0.0, 9.0, 9.0)
    (blind,) = align(ta, tb, np.ones(len(ta)), 1.0)  # by count alone the wrong line wins
    assert (blind.b_start, blind.b_end) == (3.0, 13.0)


def _timeline(key: int, codes: np.ndarray) -> Timeline:
    return Timeline(
        key, 1.0, np.arange(len(codes), dtype=np.float64), codes, codes, np.arange(len(codes))
    )


def test_many_copies_are_not_a_common_frame_but_a_shared_logo_is() -> None:
    """20 copies of one video all match (copies are one copy-set, not 20 videos); 20 unrelated
    videos that open on the same 6-frame logo never do."""
    rng = np.random.default_rng(7)
    footage = rng.integers(0, 256, (12, 32), dtype=np.uint8)
    copies = [_timeline(k, footage) for k in range(20)]
    found = match_videos(copies)
    assert len(found) == 20 * 19 // 2 and {m.tier for m in found} == {"same"}
    logo = rng.integers(0, 256, (6, 32), dtype=np.uint8)
    unrelated = [
        _timeline(k, np.concatenate([logo, rng.integers(0, 256, (6, 32), dtype=np.uint8)]))
        for k in range(20)
    ]
    assert match_videos(unrelated) == []
    # the same logo on 3 videos is not "common": it is 6 of 12 samples, a partial overlap
    assert {m.tier for m in match_videos(unrelated[:3])} == {"partial"}


def test_a_clip_belongs_to_every_container_it_lies_in() -> None:
    """Relations, not one group per file: a piece inside two compilations is listed under both;
    a compilation keeps all its pieces; a container's copy hands its clips to the keeper."""

    def m(a: int, b: int, tier: str) -> Match:
        return Match(a, b, tier, 1.0, 1.0, ())

    length = {1: 10.0, 2: 60.0, 3: 60.0, 4: 8.0, 5: 90.0}.__getitem__
    matches = [
        m(1, 2, "clip"),
        m(1, 5, "clip"),
        m(4, 2, "clip"),
        m(2, 3, "same"),
        m(1, 3, "clip"),
        m(4, 3, "partial"),
    ]
    pair = {}
    for x in matches:
        pair[(x.a, x.b)] = pair[(x.b, x.a)] = x
    # 2 and 3 are copies, 3 their keeper: 1 matched 3 too and goes there; 4 only matched 2
    got = _clip_relations(matches, pair, {2: 3, 3: 3}, length)
    assert got == {3: [1], 2: [4], 5: [1]}


# random draws each run (`--hypothesis-profile=thorough`: 2000); they once found 0.8x/1.25x runs
# cut 3 steps short: the same-speed margin let a 1.0x line take a short sped-up run's middle
@settings(deadline=None)
@example(offset=36.98673937003966, ratio=0.8, length=18, start=3.122491055341049, noise=0, seed=1)
@example(offset=-5.0, ratio=0.8, length=8, start=0.0, noise=8, seed=62833)  # a hit 4 steps out
# a stray hit 30 s along the same-speed line (found by a CI draw)
@example(offset=0.0, ratio=0.8, length=8, start=1e-06, noise=8, seed=8)
@given(
    offset=st.floats(-50, 50),
    ratio=st.sampled_from([0.8, 1.0, 1.25]),
    length=st.integers(8, 60),
    start=st.floats(0, 30),
    noise=st.integers(0, 30),
    seed=st.integers(0, 2**16),
)
def test_property_segment_bounds_within_two_steps(
    offset: float, ratio: float, length: int, start: float, noise: int, seed: int
) -> None:
    step = 1.0
    ta = start + np.arange(length) * step
    tb = np.round((ratio * ta + offset) / step) * step  # b's own sample grid
    rng = np.random.default_rng(seed)
    na, nb = np.round(rng.uniform(0, 100, noise)), np.round(rng.uniform(-50, 150, noise))
    # a spurious hit that lands on the footage's own line (within 2 steps of the offset) is
    # indistinguishable from footage: noise here is what lies off that line
    off_line = np.abs(nb - (ratio * na + offset)) > 2 * step
    ta = np.concatenate([ta, na[off_line]])
    tb = np.concatenate([tb, nb[off_line]])
    segs = align(ta, tb, np.ones(len(ta)), step)
    assert segs, "a clean run of ≥ 8 samples is always found"
    s = segs[0]
    tol = 2 * step + 1e-6  # sample times are sums of floats
    assert abs(s.a_start - start) <= tol
    assert abs(s.a_end - (start + (length - 1) * step)) <= tol
    assert abs(s.b_start - (ratio * start + offset)) <= tol + 1
    assert abs(s.b_end - (ratio * (start + (length - 1) * step) + offset)) <= tol + 1
    for seg in segs:  # segments never run backwards and stay within what was matched
        assert seg.a_start <= seg.a_end and seg.b_start <= seg.b_end
        assert 0 <= seg.score <= 1


def test_sensitivity_narrows_the_frame_radius() -> None:
    from lookalike.engine.options import ScanOptions
    from lookalike.engine.video_stage import frame_radius

    loose, default, strict = (frame_radius(ScanOptions(sensitivity=s)) for s in (0, 50, 100))
    assert loose > default > strict and default == 72


def test_frames_blob_roundtrip() -> None:
    dct = np.random.default_rng(3).normal(size=(5, 16, 16)).astype(np.float32)
    f = VideoFrames(0.5, 12.0, 20, np.arange(5, dtype=np.float32), dct)
    g = VideoFrames.unpack(f.pack())
    assert (g.step, g.duration, g.sampled) == (0.5, 12.0, 20)
    assert np.array_equal(g.times, f.times) and np.allclose(g.dct, f.dct, atol=1e-2)
    # the hashes are stored, not recomputed: equal to those of the signatures
    fresh = VideoFrames(0.5, 12.0, 20, f.times, dct)
    assert g.codes is not None and np.array_equal(g.hashes(), fresh.hashes())
    q, o = g.query_hashes()
    fq, fo = fresh.query_hashes()
    assert np.array_equal(q, fq) and np.array_equal(o, fo) and len(q) >= 5


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real footage and variants: small re-encode, mirror, letterbox + black start, trim."""
    d = tmp_path_factory.mktemp("footage")
    src = DATA / "bikes.mp4"
    base = variant(src, d / "base.mp4", scale=0.25)
    return {
        "base": base,
        "mirror": variant(base, d / "mirror.mp4", mirror=True),
        "boxed": variant(base, d / "boxed.mp4", letterbox=12, black=1.5),
        "trim": variant(base, d / "trim.mp4", trim=(0.3, 0.9)),
        "fast": variant(base, d / "fast.mp4", speed=1.25),
        "bunny": variant(DATA / "bigbuckbunny.mp4", d / "bunny.mp4", scale=0.125),
        "carphone": DATA / "carphone_pristine.mp4",
        "carphone_bad": DATA / "carphone_distorted.mp4",
    }


def test_real_footage_pairs(footage: dict[str, Path]) -> None:
    names = sorted(footage)
    tls = []
    for n, name in enumerate(names):
        _meta, fr = video_features(str(footage[name]), 0.5, None)
        q, o = fr.query_hashes()
        tls.append(Timeline(n, fr.step, fr.times, fr.hashes(), q, o))
    found = {(names[m.a], names[m.b]): m for m in match_videos(tls)}
    bikes = {"base", "mirror", "boxed", "fast"}
    want_same = {tuple(sorted((a, b))) for a in bikes for b in bikes if a < b}
    want_same.add(("carphone", "carphone_bad"))
    want_clip = {tuple(sorted(("trim", b))) for b in bikes}
    got = {k: m.tier for k, m in found.items() if m.tier != "partial"}
    assert got == {**{k: "same" for k in want_same}, **{k: "clip" for k in want_clip}}
    trim = found[("base", "trim")]
    s = trim.segments[0]  # trim keeps 3.0 s .. 9.0 s of base
    assert abs(s.a_start - 3.0) <= 1.0 and abs(s.b_start) <= 1.0
    boxed = found[("base", "boxed")]
    assert abs(boxed.segments[0].b_start - 1.5) <= 1.0  # after the black start


def test_rescan_reuses_the_verdicts_until_a_video_or_an_option_changes(
    footage: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.engine import video_stage
    from lookalike.engine.catalog import Catalog
    from lookalike.engine.options import ScanOptions

    frames = {}
    for n, name in enumerate(("base", "mirror", "trim")):
        frames[n] = video_features(str(footage[name]), 0.5, None)[1].with_hashes()
    state = video_stage.VideoState({n: {} for n in frames}, frames)
    cat = Catalog(tmp_path / "c.db")
    opts = ScanOptions(video_step=0.5)
    first = video_stage.match(opts, state, set(), cat)
    assert {(m.a, m.b, m.tier) for m in first} == {(0, 1, "same"), (0, 2, "clip"), (1, 2, "clip")}

    def aligned(*_a, **_k):
        raise AssertionError("aligned again")

    monkeypatch.setattr(video_stage, "match_videos", aligned)
    assert video_stage.match(opts, state, set(), cat) == first  # nothing aligned
    assert video_stage.match(opts, state, {(0, 1)}, cat) == first[1:]  # a "not a duplicate"
    with pytest.raises(AssertionError, match="aligned again"):  # another radius
        video_stage.match(ScanOptions(video_step=0.5, sensitivity=90), state, set(), cat)
    changed = video_stage.VideoState(state.metas, {**frames, 2: frames[1]})
    with pytest.raises(AssertionError, match="aligned again"):  # a video's frames changed
        video_stage.match(opts, changed, set(), cat)


def _verdicts(paths: dict[str, Path], step: float | None) -> dict[tuple[str, str], str]:
    names = sorted(paths)
    tls = []
    for n, name in enumerate(names):
        _meta, fr = video_features(str(paths[name]), step, None)
        q, o = fr.query_hashes()
        tls.append(Timeline(n, fr.step, fr.times, fr.hashes(), q, o))
    return {(names[m.a], names[m.b]): m.tier for m in match_videos(tls)}


def test_short_clips_are_sampled_densely_enough_to_tell_75_from_100_percent(
    tmp_path: Path,
) -> None:
    """4 s of slow real footage (carphone), 3 s of which (75 %) follow 3 s of other footage in
    a compilation: the whole 4 s, as is or after 8 s of black, is not a clip of it; the 3 s
    piece on its own is. At the default step these short files get ≥ 30 samples each (0.1 s
    apart), so one sample is 2.5 % of the footage, not the 12.5 % of a 0.5 s step; and the
    line through the matches is chosen by the denser file's samples, so a wrong speed
    stretched over the coarser file does not win."""
    from PIL import Image

    src = DATA / "carphone_pristine.mp4"
    frames, fps = read_frames(src)
    h, w = frames[0].shape[:2]
    other, ofps = read_frames(DATA / "bikes.mp4")
    intro = [np.asarray(Image.fromarray(f).resize((w, h))) for f in other[: round(3 * ofps)]]
    piece = frames[round(0.5 * fps) : round(3.5 * fps)]
    paths = {
        "comp": write_video(tmp_path / "comp.mp4", intro + piece, fps=fps),
        "piece": write_video(tmp_path / "piece.mp4", piece, fps=fps),
        "whole": src,
        "padded": variant(src, tmp_path / "padded.mp4", black=8.0),
    }
    got = _verdicts(paths, None)
    assert got.get(("comp", "piece")) == "clip"
    assert got.get(("padded", "whole")) == "same"
    assert got.get(("padded", "piece")) == got.get(("piece", "whole")) == "clip"
    for other_name in ("padded", "whole"):
        assert got.get(("comp", other_name), "none") not in ("clip", "same"), got
