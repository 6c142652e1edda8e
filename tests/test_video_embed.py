"""``--model`` on videos (video_embed.py): frame embeddings find a crop the frame hashes miss,
never alone (the pictures must verify), cached with their step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lookalike.engine.video_align import Match, Segment
from lookalike.engine.video_embed import Embedded, candidates, emb_step, improve, is_current
from video_helpers import DATA, variant


def _video(n: int, dim: int = 16, seed: int = 0) -> Embedded:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return Embedded(
        0.5, np.arange(n, dtype=np.float32) * 0.5, v / np.linalg.norm(v, axis=1)[:, None]
    )


def test_embedded_frames_blob_roundtrip() -> None:
    e = _video(7)
    g = Embedded.unpack(e.pack())
    assert g.step == 0.5 and np.array_equal(g.times, e.times)
    assert np.allclose(g.vecs, e.vecs, atol=1e-3)


def test_stored_embeddings_are_current_at_their_step_only() -> None:
    blob = Embedded(emb_step(0.1064), np.zeros(2, np.float32), np.zeros((2, 4))).pack()
    assert emb_step(0.1064) == 0.532  # five sample steps, not a float32-exact number
    assert is_current(blob, 0.1064)  # a rescan embeds nothing again
    assert not is_current(blob, 0.2) and not is_current(None, 0.1064)


def test_embeddings_add_a_pair_only_when_the_hashes_missed_it_and_the_pictures_verify() -> None:
    a = _video(20, seed=1)
    b = Embedded(0.5, a.times[4:] - 2.0, a.vecs[4:] + 0.01)  # b = a from 2 s on
    other = _video(20, seed=2)
    emb = {1: a, 2: b, 3: other}
    (m,) = candidates(emb, 2.0)
    assert (m.a, m.b, m.tier) == (1, 2, "clip")
    s = m.segments[0]
    assert (s.a_start, s.a_end, s.b_start, s.b_end) == (2.0, 9.5, 0.0, 7.5)
    paths = {1: "a.mp4", 2: "b.mp4", 3: "c.mp4"}
    asked = []

    def yes(pa: str, ta: float, pb: str, tb: float) -> bool:
        asked.append((pa, round(ta, 3), pb, round(tb, 3)))
        return True

    # verified: raised; the moments checked lie on the segment's line
    (got,) = improve([], emb, paths, 2.0, verify=yes)
    assert got.tier == "clip" and len(asked) == 3
    assert all(ta - tb == pytest.approx(2.0) for _, ta, _, tb in asked)
    # not verified (two shots of one place look alike too): nothing added
    assert improve([], emb, paths, 2.0, verify=lambda *_: False) == []
    assert improve([], emb, paths, 2.0, verify=lambda *_: None) == []
    # a pair the hashes matched keeps their verdict: their timing is finer
    partial = Match(1, 2, "partial", 0.3, 0.4, (Segment(2.0, 4.0, 0.0, 2.0, 1.0),))
    assert improve([partial], emb, paths, 2.0, verify=yes) == [partial]
    same = Match(1, 2, "same", 1.0, 1.0, (Segment(0.0, 9.5, 0.0, 9.5, 1.0),))
    assert improve([same], emb, paths, 2.0, verify=yes) == [same]


def _scan(folder: Path, db: Path, *extra: str) -> tuple[dict, str]:
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(folder), "--db", str(db)]
        + ["--workers", "1", "--no-thumbnails", *extra],
        capture_output=True,
        timeout=600,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout), r.stderr.decode()


def _groups(res: dict) -> list[tuple[str, list[str]]]:
    return [
        (g["tier"], sorted(os.path.basename(f["path"]) for f in g["files"])) for g in res["groups"]
    ]


def test_model_finds_a_cropped_copy_the_hashes_miss(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    from lookalike.engine.embedders import effnet_weights_path

    if effnet_weights_path() is None:
        pytest.skip("the offline EfficientNet-Lite0 weights are not installed")
    d = tmp_path / "videos"
    d.mkdir()
    base = variant(DATA / "bigbuckbunny.mp4", d / "bunny.mp4", scale=0.5)
    variant(base, d / "bunny-crop25.mp4", crop=0.25)  # a quarter of each side cut off
    variant(DATA / "bikes.mp4", d / "bikes.mp4", scale=0.5, trim=(0.0, 0.5))  # unrelated
    db = tmp_path / "c.db"
    plain, _ = _scan(d, db)
    assert _groups(plain) == []  # the frame hashes alone do not see the crop
    res, err = _scan(d, db, "--model", "effnet-lite0")
    assert _groups(res) == [("same", ["bunny-crop25.mp4", "bunny.mp4"])]
    (seg,) = next(f for g in res["groups"] for f in g["files"] if f.get("segments"))["segments"]
    assert seg["a_start"] <= 1.0 and seg["a_end"] >= 4.0  # most of the 5.3 s
    assert "embeddings:" in err
    again, err2 = _scan(d, db, "--model", "effnet-lite0")  # cached: nothing embedded again
    assert _groups(again) == _groups(res) and "embeddings:" not in err2


def test_many_embedded_frames_go_through_the_ivf_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.engine import vector_index

    monkeypatch.setattr(vector_index, "FLAT_MAX", 8)  # 60 frames: above it, so IVF-SQ8
    a = _video(20, seed=1)
    b = Embedded(0.5, a.times[4:] - 2.0, a.vecs[4:] + 0.01)
    (m,) = candidates({1: a, 2: b, 3: _video(20, seed=2)}, 2.0)
    assert (m.a, m.b, m.tier) == (1, 2, "clip")
