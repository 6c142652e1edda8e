"""End to end in tmux: the real app scans real footage, a video group is reviewed (duration,
codec and the matched segment in the details pane) and applied; the clip is never touched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from test_tmux_e2e import start_app, tree
from video_helpers import DATA, variant

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


@pytest.fixture
def videos_in_tmux(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "videos"
    folder.mkdir()
    base = variant(DATA / "bikes.mp4", folder / "bikes.mp4", scale=0.25)
    variant(base, folder / "bikes-mirrored.mkv", mirror=True, scale=0.8)
    variant(base, folder / "bikes-trimmed.mp4", trim=(0.3, 0.9))
    shutil.copy(DATA / "carphone_pristine.mp4", folder / "carphone.mp4")  # unrelated
    tmux = start_app(tmp_path, folder, "lookalike-video")
    try:
        yield tmux, folder, tmp_path / "data"
    finally:
        tmux.run("kill-server")


def test_review_and_apply_a_video_group_in_tmux(videos_in_tmux) -> None:  # type: ignore[no-untyped-def]
    tmux, folder, data_dir = videos_in_tmux
    before = tree(folder)
    tmux.wait_for("Roots to scan", "s Start scan")
    tmux.keys("s")
    tmux.wait_for("Group 1/", "KEEP", timeout=180)

    tmux.keys("/")
    tmux.wait_for("Go to")
    tmux.type("bikes-mirrored")
    tmux.keys("Enter")
    screen = tmux.wait_for("file    bikes-mirrored.mkv", "10.0 s · 25 fps", "= keeper")
    assert "same" in screen
    tmux.keys("a")  # accept the suggestion: keep bikes.mp4, remove the mirrored copy
    tmux.wait_for("1 decided")

    tmux.keys("4")
    tmux.wait_for("Operation: trash")
    tmux.keys("o")
    tmux.wait_for("Operation: quarantine")
    tmux.keys("a")
    tmux.wait_for("Type apply")
    tmux.type("apply")
    tmux.keys("Enter")
    tmux.wait_for("Done: batch", timeout=60)

    after = tree(folder)
    assert "bikes-mirrored.mkv" not in after  # the same video's copy went to quarantine
    assert after["bikes-trimmed.mp4"] == before["bikes-trimmed.mp4"]  # a clip: never acted on
    assert after["bikes.mp4"] == before["bikes.mp4"]
    assert after["carphone.mp4"] == before["carphone.mp4"]
    assert {p.name for p in (data_dir / "quarantine").rglob("*.mkv")} == {"bikes-mirrored.mkv"}
    tmux.keys("q")
    tmux.wait_for("LOOKALIKE-EXITED", timeout=30)
