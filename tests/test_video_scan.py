"""Videos through the real scan: `lookalike scan --no-ui` groups copies and clips of real
footage, reports segments, caches signatures, and never acts on clip groups."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from video_helpers import DATA, variant


def lookalike(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("videos")
    src = tmp_path_factory.mktemp("src")
    base = variant(DATA / "bikes.mp4", d / "bikes.mp4", scale=0.25)
    shutil.copy(base, d / "bikes-copy.mp4")  # byte-identical
    variant(base, d / "bikes-mirrored.mkv", mirror=True, scale=0.8)  # re-encoded, mirrored
    variant(base, d / "bikes-trimmed.mp4", trim=(0.3, 0.9))  # a part of it
    variant(DATA / "bigbuckbunny.mp4", d / "bunny.mp4", scale=0.125)  # unrelated
    (d / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    del src
    return d


def _scan(folder: Path, db: Path, *extra: str) -> dict:
    r = lookalike("scan", "--no-ui", str(folder), "--db", str(db), "--workers", "1", *extra)
    assert r.returncode in (0, 3), r.stderr.decode()  # 3: broken.mp4 could not be read
    return json.loads(r.stdout)


def test_scan_groups_copies_and_clips(videos: Path, tmp_path: Path) -> None:
    out = _scan(videos, tmp_path / "c.db", "--video-step", "0.5")
    by_tier = {g["tier"]: g for g in out["groups"]}
    assert sorted(by_tier) == ["clip", "same"]
    same = by_tier["same"]
    names = sorted(os.path.basename(f["path"]) for f in same["files"])
    assert names == ["bikes-copy.mp4", "bikes-mirrored.mkv", "bikes.mp4"]
    assert os.path.basename(same["keep"]) in ("bikes.mp4", "bikes-copy.mp4")
    for f in same["files"]:
        assert f["duration"] == pytest.approx(10.0, abs=0.1)
        assert f["codec"] in ("h264", "mpeg4") and f["fps"] == pytest.approx(25.0)
        assert f["width"] > 0 and f["height"] > 0
        # the app's contact strip, written by the same pass as the thumbnail
        assert os.path.isfile(f["strip"]["path"]) and os.path.isfile(f["thumb"])
        assert len(f["strip"]["times"]) == 8
    mirrored = next(f for f in same["files"] if f["path"].endswith(".mkv"))
    (seg,) = mirrored["segments"]
    assert seg["a_start"] <= 1.0 and seg["a_end"] >= 9.0
    clip = by_tier["clip"]
    assert clip["keep"] == same["keep"]  # the long video keeps both groups
    trimmed = next(f for f in clip["files"] if f["path"].endswith("trimmed.mp4"))
    (seg,) = trimmed["segments"]  # trimmed 3.0–9.0 s of the original
    assert abs(seg["a_start"]) <= 1.0 and abs(seg["b_start"] - 3.0) <= 1.0
    assert abs(seg["b_end"] - 9.0) <= 1.0
    errors = {os.path.basename(e["path"]): e["error"] for e in out["errors"]}
    assert list(errors) == ["broken.mp4"] and "not a readable video" in errors["broken.mp4"]


def test_rescan_decodes_nothing_and_step_change_resamples(videos: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    first = _scan(videos, db)
    again = _scan(videos, db)
    assert [g["files"] for g in again["groups"]] == [g["files"] for g in first["groups"]]
    r = lookalike(
        "scan", "--no-ui", str(videos), "--db", str(db), "--workers", "1", "--format", "jsonl"
    )
    assert r.returncode == 3 and b"broken.mp4" in r.stderr  # the broken file is still reported
    assert b"sampling" not in r.stderr  # nothing re-sampled
    r = lookalike(
        "scan",
        "--no-ui",
        str(videos),
        "--db",
        str(db),
        "--workers",
        "1",
        "--format",
        "jsonl",
        "--video-step",
        "0.5",
    )
    assert b"sampling 4 video(s)" in r.stderr  # another step: sampled again (not the broken one)
    assert b'"stage": "video", "done": 4, "total": 4' in r.stdout  # its progress events


def test_no_video_is_exact_only(videos: Path, tmp_path: Path) -> None:
    out = _scan(videos, tmp_path / "c.db", "--no-video")
    assert [g["tier"] for g in out["groups"]] == ["exact"]
    assert "duration" not in out["groups"][0]["files"][0]


def test_csv_and_text_carry_video_fields(videos: Path, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    _scan(videos, db, "--video-step", "0.5")

    def rescan(fmt: str) -> str:
        args = ("--db", str(db), "--workers", "1", "--video-step", "0.5", "--format", fmt)
        return lookalike("scan", "--no-ui", str(videos), *args).stdout.decode()

    rows = list(csv.DictReader(io.StringIO(rescan("csv"))))
    trimmed = next(row for row in rows if row["path"].endswith("trimmed.mp4"))
    assert trimmed["tier"] == "clip" and float(trimmed["duration"]) > 5
    assert json.loads(trimmed["segments"])[0]["b_start"] == pytest.approx(3.0, abs=1.0)
    text = rescan("text")
    assert "· clip ·" in text and ("= keeper 3." in text or "= keeper 2." in text)


def test_scan_action_never_touches_clip_groups(videos: Path, tmp_path: Path) -> None:
    work = tmp_path / "v"
    shutil.copytree(videos, work)
    db = tmp_path / "c.db"
    r = lookalike(
        "scan",
        "--no-ui",
        str(work),
        "--db",
        str(db),
        "--workers",
        "1",
        "--video-step",
        "0.5",
        "--action",
        "quarantine",
        "--yes",
    )
    assert (work / "bikes-trimmed.mp4").exists(), r.stderr.decode()
    left = sorted(p.name for p in work.iterdir() if p.is_file())
    assert "bikes-trimmed.mp4" in left and "bunny.mp4" in left


def test_every_bad_video_is_one_clear_error_and_the_scan_goes_on(tmp_path: Path) -> None:
    """0 bytes, noise named .mkv, a cut-off mp4, an audio-only mp4: one message each (what is
    wrong), exit code 3, and the good video and its copy are still grouped."""
    d = tmp_path / "v"
    d.mkdir()
    base = variant(DATA / "carphone_pristine.mp4", d / "good.mp4")
    shutil.copy(base, d / "good-copy.mp4")
    (d / "empty.mp4").touch()
    (d / "noise.mkv").write_bytes(bytes(range(256)) * 4)
    data = (DATA / "bikes.mp4").read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) // 2])
    import av
    import numpy as np

    with av.open(str(d / "sound.mp4"), "w") as c:
        s = c.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
        frame.sample_rate = 8000
        for p in [*s.encode(frame), *s.encode()]:
            c.mux(p)
    r = lookalike("scan", "--no-ui", str(d), "--db", str(tmp_path / "c.db"), "--workers", "1")
    assert r.returncode == 3, r.stderr.decode()
    out = json.loads(r.stdout)
    errors = {os.path.basename(e["path"]): e["error"] for e in out["errors"]}
    assert errors == {
        "empty.mp4": "empty file (0 bytes)",
        "noise.mkv": "not a video (content is no known video format: damaged, or misnamed)",
        "cut.mp4": errors["cut.mp4"],
        "sound.mp4": "no video stream in this file (audio only or damaged)",
    }
    assert errors["cut.mp4"].startswith("not a readable video")
    (g,) = out["groups"]
    assert sorted(os.path.basename(f["path"]) for f in g["files"]) == ["good-copy.mp4", "good.mp4"]
