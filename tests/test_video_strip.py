"""What the app shows of a video: the contact strip from the sampling pass, a frame at any
moment (``frame_at``) and the matched moments of a segment (``Segment.pairs``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.catalog import group_from_row, group_to_row
from lookalike.engine.features.video_sig import (
    STRIP_HEIGHT,
    STRIP_TILES,
    strip_path,
    video_features,
)
from lookalike.engine.media.video import VideoError, frame_at, sample_frames
from lookalike.engine.records import Group, Member
from lookalike.engine.video_align import Segment
from video_helpers import DATA


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_strip_and_thumbnail_come_from_the_sampling_pass(tmp_path: Path) -> None:
    thumb = str(tmp_path / "t" / "ab.webp")
    meta, frames = video_features(str(DATA / "bikes.mp4"), 1.0, thumb)
    assert meta["thumb"] == thumb and Path(thumb).is_file()
    strip = meta["strip"]
    assert strip["path"] == strip_path(thumb) == str(tmp_path / "t" / "ab.strip.webp")
    times = strip["times"]
    assert len(times) == STRIP_TILES and times == sorted(times)
    assert times[0] == pytest.approx(0.0, abs=0.05) and times[-1] == pytest.approx(9.0, abs=0.05)
    sheet = np.asarray(Image.open(strip["path"]).convert("RGB"))
    tile_w, tile_h = sheet.shape[1] // STRIP_TILES, sheet.shape[0]
    assert tile_h == min(STRIP_HEIGHT, 68) and tile_w == 160  # the 160 px samples, 640:272
    # each tile is the frame at its time, not just any frame of the video
    for k, t in enumerate(times):
        tile = sheet[:, k * tile_w : (k + 1) * tile_w]
        want = np.asarray(
            Image.fromarray(frame_at(str(DATA / "bikes.mp4"), t)).resize((tile_w, tile_h))
        )
        other = np.asarray(
            Image.fromarray(frame_at(str(DATA / "bikes.mp4"), (t + 4.5) % 9)).resize(
                (tile_w, tile_h)
            )
        )
        assert _diff(tile, want) < 6 < 2 * 6 < _diff(tile, other), (
            k,
            _diff(tile, want),
            _diff(tile, other),
        )


def test_no_thumbnail_dir_no_strip() -> None:
    meta, _ = video_features(str(DATA / "carphone_pristine.mp4"), 1.0, None)
    assert meta["strip"] is None and meta["thumb"] is None


def test_frame_at_shows_the_sampled_moment() -> None:
    path = str(DATA / "bikes.mp4")
    s = sample_frames(path, 1.0)
    got = frame_at(path, 4.0, side=160)
    assert got.shape == s.frames[4].shape
    assert _diff(got, s.frames[4]) < 2 < _diff(got, s.frames[7])
    big = frame_at(path, 4.0)
    assert max(big.shape[:2]) == 480
    last = frame_at(path, 99.0, side=160)  # past the end: the last frame
    assert _diff(last, frame_at(path, 9.96, side=160)) < 1


def test_frame_at_a_broken_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(VideoError, match="not a readable video"):
        frame_at(str(bad), 1.0)


def test_segment_pairs_follow_offset_and_speed() -> None:
    seg = Segment(2.0, 6.0, 10.0, 15.0, 1.0)  # b plays 1.25× slower than a
    pairs = seg.pairs(1.0)
    assert pairs == [(2.0, 10.0), (3.0, 11.25), (4.0, 12.5), (5.0, 13.75), (6.0, 15.0)]
    back = Segment.from_json(seg.to_json())
    assert back == seg and back.swapped().pairs(5.0) == [(10.0, 2.0), (15.0, 6.0)]


def test_strip_survives_the_catalog() -> None:
    strip = {"path": "/cache/ab.strip.webp", "times": [0.0, 1.5, 3.0]}
    m = Member(
        path="/v/a.mp4",
        size=1,
        width=2,
        height=2,
        format="MP4",
        score=1.0,
        duration=3.0,
        strip=strip,
    )
    g = Group(1, "same", "/v/a.mp4", "r", (m,))
    assert group_from_row(group_to_row(g)).members[0].strip == strip
    assert m.to_json()["strip"] == strip
