"""Video probe and sampling (media/video.py) on the shipped real footage and variants of it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from lookalike.engine.media.video import (
    MAX_SAMPLES,
    MIN_SAMPLES,
    MIN_STEP,
    VideoError,
    sample_frames,
    sample_step,
)
from video_helpers import DATA, read_frames, variant, write_video

SHIPPED = {
    # name: (duration, fps, coded size, display width)
    "bikes.mp4": (10.0, 25.0, (640, 272), 640),
    "bigbuckbunny.mp4": (5.28, 25.0, (1280, 720), 1280),
    "carphone_pristine.mp4": (4.004, 29.97, (176, 144), 193),  # sample aspect 128/117
    "carphone_distorted.mp4": (4.004, 29.97, (176, 144), 193),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_probe_and_sample_every_shipped_file(name: str) -> None:
    duration, fps, coded, display_w = SHIPPED[name]
    s = sample_frames(str(DATA / name), 1.0)
    assert s.info.codec == "h264"
    assert s.info.duration == pytest.approx(duration, abs=0.05)
    assert s.info.fps == pytest.approx(fps, abs=0.01)
    assert (s.info.coded_width, s.info.coded_height) == coded
    assert s.info.width == display_w
    # one sample per second, each at its frame's own timestamp (29.97 fps: 1.001 s apart)
    assert len(s.times) == int(np.floor(duration - 1.0 / fps)) + 1
    for k, t in enumerate(s.times):
        assert k <= t < k + 1.0 / fps + 0.01
    h, w = s.frames[0].shape[:2]
    assert max(h, w) == 160 and w / h == pytest.approx(display_w / coded[1], rel=0.03)


def test_step_grows_for_long_videos_and_caps_samples() -> None:
    assert sample_step(300.0) == 1.0
    assert sample_step(30.0, 1.0) == 1.0  # an asked step is kept
    assert sample_step(3600.0) == 3600.0 / MAX_SAMPLES
    assert sample_step(3600.0, 0.5) * MAX_SAMPLES == pytest.approx(3600.0)
    with pytest.raises(ValueError):
        sample_step(10.0, 0.0)


def test_default_step_shrinks_for_short_videos() -> None:
    """By default a video shorter than MIN_SAMPLES seconds gets MIN_SAMPLES samples, never
    closer than MIN_STEP: a 4 s clip is not decided on 4 samples."""
    assert sample_step(MIN_SAMPLES * 0.5) == 0.5
    assert sample_step(4.0) == sample_step(1.0) == MIN_STEP
    s = sample_frames(str(DATA / "carphone_pristine.mp4"))
    assert s.step == MIN_STEP and len(s.times) >= 38  # 4 s at 0.1 s, each at its own time
    assert np.all(np.diff(s.times) > 0) and np.all(np.diff(s.times) < MIN_STEP + 0.07)


@pytest.fixture(scope="module")
def short_gop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gop")
    return variant(DATA / "carphone_pristine.mp4", d / "gop.mp4", gop=4)


def test_seeking_and_sequential_sampling_take_the_same_moments(short_gop: Path) -> None:
    seek = sample_frames(str(short_gop), 0.5)
    assert seek.seeked  # keyframes every 4 frames < 0.5 s: seek to each
    seq = sample_frames(str(DATA / "carphone_pristine.mp4"), 0.5)
    assert not seq.seeked  # one keyframe in 4 s: decode sequentially
    assert len(seek.times) == len(seq.times) == 8
    assert np.allclose(seek.times, seq.times, atol=0.04)
    diff = [
        np.abs(_small(a) - _small(b)).mean() for a, b in zip(seek.frames, seq.frames, strict=True)
    ]
    assert max(diff) < 12  # the same pictures (re-encoded at crf 30, square pixels)


def test_b_frames_and_long_gop_sample_the_moments_a_phone_encoding_does(tmp_path: Path) -> None:
    """x264 defaults (B-frames, a keyframe per 250 frames: read on, non-reference frames
    skipped) and a phone-like encoding (a keyframe a second, no B-frames: seek) of the same
    footage sample the same moments, each labelled with its own frame's time."""
    frames, fps = read_frames(DATA / "bikes.mp4")
    frames = [np.asarray(Image.fromarray(f).resize((320, 136))) for f in frames]
    download = _x264(tmp_path / "download.mp4", frames, {"g": "250", "preset": "veryfast"})
    phone = _x264(tmp_path / "phone.mp4", frames, {"g": "25", "bf": "0", "preset": "veryfast"})
    with av.open(str(download)) as c:  # the fixture really has B-frames
        kinds = {int(f.pict_type) for f in c.decode(c.streams.video[0])}
    assert 3 in kinds  # AV_PICTURE_TYPE_B
    seq, seek = sample_frames(str(download), 1.0), sample_frames(str(phone), 1.0)
    assert not seq.seeked and seek.seeked
    assert len(seq.times) == len(seek.times) == 10
    assert np.allclose(seq.times, seek.times, atol=2.5 / fps)  # a skipped B-frame or two
    # each sample shows the source frame of its own timestamp (a skipped B-frame moves the
    # sample a frame later, never mislabels it)
    for got in (seq, seek):
        diff = [
            np.abs(_small(f) - _small(frames[round(t * fps)])).mean()
            for t, f in zip(got.times, got.frames, strict=True)
        ]
        assert max(diff) < 6
    assert np.abs(_small(seq.frames[2]) - _small(frames[6 * 25])).mean() > 12


def _x264(dst: Path, frames: list[np.ndarray], opts: dict[str, str]) -> Path:
    with av.open(str(dst), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p"
        s.options = opts
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, "rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return dst


def _small(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((32, 24)), dtype=np.int16)


def test_rotation_metadata_turns_the_frames(tmp_path: Path) -> None:
    src = DATA / "carphone_pristine.mp4"
    plain = sample_frames(str(src), 1.0)
    rotated = variant(src, tmp_path / "rot.mp4", rotation=90)
    s = sample_frames(str(rotated), 1.0)
    assert s.info.rotation in (90, 270)
    assert (s.info.width, s.info.height) == (144, 176)  # display size turned (square pixels)
    h, w = s.frames[0].shape[:2]
    assert h > w
    k = s.info.rotation // 90
    back = np.rot90(s.frames[0], -k)
    assert np.abs(_small(back) - _small(plain.frames[0])).mean() < 12
    assert np.abs(_small(np.rot90(back, 2)) - _small(plain.frames[0])).mean() > 20


def test_sample_aspect_ratio_gives_the_display_shape(tmp_path: Path) -> None:
    """Anamorphic video (pixels twice as wide as high, as DV and some phones write): the
    probe reports the display size and the frames come out in it, matching the square copy."""
    from fractions import Fraction

    src = DATA / "carphone_pristine.mp4"
    frames, fps = read_frames(src)
    squeezed = [np.asarray(Image.fromarray(f).resize((88, 144))) for f in frames]
    dst = tmp_path / "sar.mp4"
    with av.open(str(dst), "w") as c:
        st = c.add_stream("libx264", rate=round(fps))
        st.width, st.height, st.pix_fmt = 88, 144, "yuv420p"
        st.codec_context.sample_aspect_ratio = Fraction(2, 1)
        for f in squeezed:
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), "rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    s = sample_frames(str(dst), 1.0)
    plain = sample_frames(str(src), 1.0)
    assert s.info.sample_aspect == 2.0 and (s.info.coded_width, s.info.coded_height) == (88, 144)
    assert (s.info.width, s.info.height) == (176, 144)
    assert s.frames[0].shape[:2] == (131, 160)  # 176:144, not the coded 88:144
    assert np.abs(_small(s.frames[0]) - _small(plain.frames[0])).mean() < 12


def test_corrupt_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(VideoError, match="not a readable video"):
        sample_frames(str(bad))


def test_truncated_file_is_one_clear_error(tmp_path: Path) -> None:
    data = (DATA / "bikes.mp4").read_bytes()  # index (moov) at the end: lost with the tail
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="not a readable video"):
        sample_frames(str(cut))


def test_truncated_faststart_file_is_one_clear_error(tmp_path: Path) -> None:
    frames, _ = read_frames(DATA / "carphone_pristine.mp4")
    whole = write_video(tmp_path / "fast.mp4", frames * 3, fps=30, faststart=True)
    assert sample_frames(str(whole), 1.0).times[-1] > 10.5
    data = whole.read_bytes()  # index first: it survives the cut and promises 12 s
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated video: frames stop at"):
        sample_frames(str(cut), 1.0)


def test_zero_second_video_is_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
    with pytest.raises(VideoError, match="no frames|not a readable"):
        sample_frames(str(empty))


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    snd = tmp_path / "sound.mp4"
    with av.open(str(snd), "w") as c:
        s = c.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(VideoError, match="no video stream"):
        sample_frames(str(snd))


@pytest.mark.parametrize(
    ("name", "codec", "container"),
    [
        ("v.webm", "libvpx-vp9", "matroska"),
        ("v.avi", "mjpeg", "avi"),
        ("v.mov", "libx264", "mov"),
        ("v.mp4", "mpeg4", "mov"),
    ],
)
def test_common_containers_and_codecs(
    tmp_path: Path, name: str, codec: str, container: str
) -> None:
    from lookalike.engine.media.sniff import VIDEO, sniff

    frames, _ = read_frames(DATA / "carphone_pristine.mp4")
    path = write_video(tmp_path / name, frames[:60], fps=30, codec=codec)
    assert sniff(path.read_bytes()[:32])[0] == VIDEO
    s = sample_frames(str(path), 0.5)
    assert s.info.container == container and s.info.duration == pytest.approx(2.0, abs=0.1)
    assert [round(t * 2) for t in s.times] == [0, 1, 2, 3]
    ref = sample_frames(str(DATA / "carphone_pristine.mp4"), 0.5)
    assert np.abs(_small(s.frames[2]) - _small(ref.frames[2])).mean() < 15


def test_other_codec_and_container(tmp_path: Path) -> None:
    frames = [np.full((64, 96, 3), k * 20, np.uint8) for k in range(10)]
    path = write_video(tmp_path / "v.mkv", frames, fps=5, codec="mpeg4")
    s = sample_frames(str(path), 0.4)
    assert s.info.codec == "mpeg4" and s.info.container == "matroska"
    assert s.info.duration == pytest.approx(2.0, abs=0.25)
    # sample k shows the frame of time ≥ 0.4·k: brightness steps with it
    assert [round(t, 1) for t in s.times] == [0.0, 0.4, 0.8, 1.2, 1.6]
    assert [round(f.mean() / 20) for f in s.frames] == [0, 2, 4, 6, 8]
