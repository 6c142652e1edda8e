"""Clip relations through the real scan: a piece of footage inside two longer videos is
reported under both (with its times in each), never chained through a third file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from video_helpers import DATA, read_frames, variant, write_video


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("relations")
    full = variant(DATA / "bikes.mp4", d / "bikes.mp4", scale=0.25)  # 10 s
    piece = variant(full, d / "piece.mp4", trim=(0.4, 0.7))  # 4.0–7.0 s of it
    # a compilation: 4 s of other footage, then the piece
    other, _ = read_frames(DATA / "bigbuckbunny.mp4")
    frames, _ = read_frames(piece)
    h, w = frames[0].shape[:2]
    intro = [np.asarray(Image.fromarray(f).resize((w, h))) for f in other[:100]]
    write_video(d / "compilation.mp4", intro + frames, fps=25)
    return d


def test_a_piece_inside_two_videos_is_in_both_clip_groups(folder: Path, tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "scan",
            "--no-ui",
            str(folder),
            "--db",
            str(tmp_path / "c.db"),
            "--workers",
            "1",
            "--video-step",
            "0.5",
            "--no-thumbnails",
        ],
        capture_output=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr.decode()
    groups = json.loads(r.stdout)["groups"]
    clips = {os.path.basename(g["keep"]): g for g in groups if g["tier"] == "clip"}
    assert sorted(clips) == ["bikes.mp4", "compilation.mp4"]
    assert len(groups) == 2  # the piece is in both; nothing ties bikes to the compilation
    for keep, g in clips.items():
        assert sorted(os.path.basename(f["path"]) for f in g["files"]) == sorted(
            [keep, "piece.mp4"]
        )
    seg_bikes = next(f for f in clips["bikes.mp4"]["files"] if "piece" in f["path"])["segments"]
    seg_comp = next(f for f in clips["compilation.mp4"]["files"] if "piece" in f["path"])[
        "segments"
    ]
    # a = the piece, b = the keeper; within 2 steps of the truth
    (s,) = seg_bikes
    assert abs(s["a_start"]) <= 1.0 and abs(s["b_start"] - 4.0) <= 1.0
    assert abs(s["b_end"] - 7.0) <= 1.0
    (s,) = seg_comp
    assert abs(s["b_start"] - 4.0) <= 1.0 and abs(s["b_end"] - 7.0) <= 1.0
