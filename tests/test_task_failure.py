"""A decode worker's task never raises: a photo or a video it cannot read comes back as one
user-facing message (media/decode.py ``task_failure``), and the scan goes on."""

from __future__ import annotations

from pathlib import Path

from lookalike.engine.features.video_sig import video_task
from lookalike.engine.media.decode import DecodeError, task_failure
from lookalike.engine.stages.extract_worker import extract_task


def test_the_message_says_what_went_wrong() -> None:
    assert task_failure(DecodeError("truncated JPEG")) == "truncated JPEG"
    assert task_failure(MemoryError()) == "out of memory while decoding; skipped"
    assert task_failure(ValueError("bad")) == "unexpected error (ValueError: bad)"


def test_unreadable_files_come_back_as_messages(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    fid, meta, views, err = extract_task((7, str(broken), None, 10**7, 2**28))
    assert (fid, meta, views) == (7, None, None) and err
    fid, meta, frames, err = video_task((8, str(tmp_path / "gone.mp4"), None, None))
    assert (fid, meta, frames) == (8, None, None) and err
