"""Video probe and frame sampling with PyAV (libavformat/libavcodec in-process, no ffmpeg program).

Frames are taken at a fixed time step, not every n-th frame, so two copies at different frame
rates sample the same moments; every sample keeps the frame's own presentation time. When
keyframes come at most 1.5 steps apart, seeking to the keyframe before each sample decodes
fewer frames than reading the whole stream (about GOP/2 per sample instead of a step's worth);
otherwise decoding sequentially is cheaper (a seek would land on the same keyframe and decode
the same frames again). Either way the deblocking filter and the frames no other frame refers
to (most B-frames) are skipped: neither changes a 160 px sample. Frames come out
reduced by libswscale (``VideoFrame.reformat``), already at the size the signatures need,
with the sample aspect ratio and the rotation metadata applied.

``frame_at(path, seconds)`` is the app's way to show one moment (the matched frame pairs of a
segment, side by side): a keyframe seek and a short decode, at a size the app asks for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from lookalike.engine.media.decode import DecodeError

DEFAULT_STEP = 1.0  # seconds between samples for videos from MIN_SAMPLES to MAX_SAMPLES seconds
MAX_SAMPLES = 600  # per file: longer videos sample more sparsely
MIN_SAMPLES = 200  # per file, by default: shorter videos sample more densely...
MIN_STEP = 0.1  # ...but never more often than this
FRAME_SIDE = 160  # longest side of a sampled frame, in pixels
SEEK_GOP = 1.5  # seek to each sample's keyframe when keyframes are at most this many steps apart
GOP_PROBE_PACKETS = 400  # packets read (not decoded) to estimate the keyframe interval


class VideoError(DecodeError):
    """A video that cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the first video stream."""

    duration: float  # seconds
    fps: float | None
    codec: str
    width: int  # display size: sample aspect and rotation applied
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees, counter-clockwise, from the display matrix (0, 90, 180, 270)
    sample_aspect: float
    bitrate: int | None  # bits per second of the whole file
    container: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Sampled:
    """The probe and the sampled frames (uint8 RGB, display orientation) with their times."""

    info: VideoInfo
    step: float
    times: list[float]
    frames: list[np.ndarray]
    seeked: bool  # True when sampled by seeking to keyframes


def sample_step(duration: float, step: float | None = None) -> float:
    """The time step for a file: the asked step, or by default 1 s narrowed so that a video
    shorter than MIN_SAMPLES seconds still gets MIN_SAMPLES samples (never closer than
    MIN_STEP) — one sample must not weigh 14 % of a 3.5 s clip, or whether 75 % or 80 % of it
    lies in another video cannot be decided — and either widened so that a long file never
    yields more than MAX_SAMPLES samples."""
    if step is not None and step <= 0:
        raise ValueError("the video step must be positive")
    if duration <= 0:
        return DEFAULT_STEP if step is None else step
    if step is None:
        step = round(min(DEFAULT_STEP, max(duration / MIN_SAMPLES, MIN_STEP)), 3)
    return max(step, duration / MAX_SAMPLES)


def _open(path: str):  # -> av.container.InputContainer
    import av

    try:
        container = av.open(path, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(f"not a readable video ({_why(exc)})") from exc
    except OSError as exc:
        raise VideoError(f"cannot be read ({exc.strerror or exc})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError("no video stream in this file (audio only or damaged)")
    return container


def _why(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '")[0].strip() or type(exc).__name__


def _stream_duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        d = float(stream.duration * stream.time_base)
        if d > 0:
            return d
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return 0.0


def _fraction(x: Fraction | None) -> float:
    return float(x) if x else 1.0


def _info(container, stream, rotation: int) -> VideoInfo:
    ctx = stream.codec_context
    cw, ch = int(ctx.width or 0), int(ctx.height or 0)
    sar = _fraction(stream.sample_aspect_ratio or ctx.sample_aspect_ratio)
    if not (0.2 < sar < 5):
        sar = 1.0
    dw, dh = round(cw * sar), ch
    if rotation % 180:
        dw, dh = dh, dw
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return VideoInfo(
        duration=round(_stream_duration(container, stream), 3),
        fps=round(float(rate), 3) if rate else None,
        codec=str(ctx.name or "?"),
        width=dw,
        height=dh,
        coded_width=cw,
        coded_height=ch,
        rotation=rotation,
        sample_aspect=round(sar, 4),
        bitrate=int(container.bit_rate) if container.bit_rate else None,
        container=str(container.format.name or "?").split(",")[0],
    )


def _rotation(frame) -> int:
    """Display-matrix rotation in degrees, snapped to a multiple of 90 (0 when absent)."""
    try:
        r = float(frame.rotation or 0)
    except Exception:
        return 0
    return int(round(r / 90.0)) % 4 * 90


def _keyframe_interval(path: str, stream_index: int, limit: float) -> float:
    """Mean seconds between keyframes near the start; ``limit`` when fewer than two are seen."""
    container = _open(path)
    try:
        s = container.streams[stream_index]
        tb = s.time_base
        keys: list[float] = []
        for n, packet in enumerate(container.demux(s)):
            if packet.pts is not None and packet.is_keyframe:
                keys.append(float(packet.pts * tb))
                if len(keys) >= 4:
                    break
            if n >= GOP_PROBE_PACKETS or (
                packet.pts is not None and keys and float(packet.pts * tb) - keys[0] > limit
            ):
                break
    finally:
        container.close()
    if len(keys) < 2:
        return limit
    return (keys[-1] - keys[0]) / (len(keys) - 1)


def _out_size(info: VideoInfo, side: int) -> tuple[int, int]:
    """Coded-orientation output size whose display aspect matches the video's."""
    dw = info.coded_width * info.sample_aspect
    dh = float(info.coded_height)
    scale = min(1.0, side / max(dw, dh, 1.0))
    return max(2, round(dw * scale)), max(2, round(dh * scale))


def _to_rgb(frame, size: tuple[int, int], rotation: int) -> np.ndarray:
    out = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
    arr = out.to_ndarray()
    if rotation:
        arr = np.ascontiguousarray(np.rot90(arr, k=rotation // 90))
    return arr


def _frame_time(frame, start: float) -> float | None:
    if frame.time is None:
        return None
    return float(frame.time) - start


def _decoded(container, stream) -> Iterator:
    import av

    try:
        for packet in container.demux(stream):
            yield from packet.decode()
    except av.EOFError:
        return


def sample_frames(path: str, step: float | None = None, side: int = FRAME_SIDE) -> Sampled:
    """Probe the video and take one frame per time step; raises VideoError for unusable files."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # the deblocking filter is most of a P-frame's cost and invisible at FRAME_SIDE px
        stream.codec_context.options = {"skip_loop_filter": "all"}
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        try:
            first = next(_decoded(container, stream), None)
        except av.FFmpegError as exc:
            raise VideoError(
                f"damaged video: the first frame cannot be decoded ({_why(exc)})"
            ) from exc
        if first is None:
            raise VideoError("video has no frames (0 seconds or damaged)")
        rotation = _rotation(first)
        info = _info(container, stream, rotation)
        if info.coded_width <= 0 or info.coded_height <= 0:
            raise VideoError("video stream has no picture size (damaged header)")
        duration = info.duration
        use_step = sample_step(duration, step)
        size = _out_size(info, side)
        gop = _keyframe_interval(path, stream.index, 4 * use_step)
        # seeking decodes ~GOP/2 frames per sample, reading on decodes a step's worth
        seek = gop <= SEEK_GOP * use_step and duration > 2 * use_step
        # frames no other frame refers to (most B-frames) are never needed: the sample is then
        # the next decoded frame, a frame or two later, with its own timestamp
        stream.codec_context.skip_frame = "NONREF"
        times: list[float] = []
        frames: list[np.ndarray] = []

        def take(frame, t: float) -> None:
            times.append(round(t, 4))
            frames.append(_to_rgb(frame, size, rotation))

        half_frame = 0.5 / info.fps if info.fps else 0.01
        try:
            if seek:
                _sample_by_seeking(container, stream, start, duration, use_step, half_frame, take)
            else:
                _sample_sequentially(container, stream, first, start, use_step, half_frame, take)
        except av.FFmpegError as exc:
            at = f" at {times[-1]:.1f} s" if times else ""
            raise VideoError(
                f"damaged or truncated video: decoding failed{at} of {duration:.1f} s ({_why(exc)})"
            ) from exc
        if not frames:
            raise VideoError("video has no frames (0 seconds or damaged)")
        if duration > 0 and times[-1] < duration - 2 * use_step - 0.5:
            raise VideoError(
                f"truncated video: frames stop at {times[-1]:.1f} s of {duration:.1f} s "
                "(an interrupted copy or download; copy it again from its source)"
            )
        if duration <= 0:
            info = VideoInfo(**{**info.to_json(), "duration": round(times[-1] + use_step, 3)})
        return Sampled(info, use_step, times, frames, seek)
    finally:
        container.close()


def frame_at(path: str, seconds: float, side: int = 480) -> np.ndarray:
    """The frame shown at ``seconds`` (from the video's start), RGB in display orientation,
    ``side`` px on its longest side; the last frame when ``seconds`` is past the end."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        target = max(0.0, float(seconds))
        container.seek(int((target + start) / stream.time_base), stream=stream, backward=True)
        got = None
        try:
            for frame in _decoded(container, stream):
                t = _frame_time(frame, start)
                got = frame
                if t is not None and t >= target - 1e-3:
                    break
        except av.FFmpegError as exc:
            if got is None:
                raise VideoError(
                    f"damaged video: no frame at {target:.1f} s ({_why(exc)})"
                ) from exc
        if got is None:
            raise VideoError(f"no frame at {target:.1f} s (0 seconds or damaged)")
        rotation = _rotation(got)
        info = _info(container, stream, rotation)
        return _to_rgb(got, _out_size(info, side), rotation)
    finally:
        container.close()


def _sample_sequentially(container, stream, first, start, step, half_frame, take) -> None:
    """Decode every frame; keep the first one at or after each sample time."""
    target = 0.0
    for frame in _chain(first, _decoded(container, stream)):
        t = _frame_time(frame, start)
        if t is None or t + half_frame < target:
            continue
        take(frame, t)
        target = (math.floor((t + half_frame) / step) + 1) * step


def _sample_by_seeking(container, stream, start, duration, step, half_frame, take) -> None:
    """Seek to the keyframe before each sample time and decode up to it."""
    tb = stream.time_base
    k = 0
    last = -1.0
    while k * step < duration:
        target = k * step
        container.seek(int((target + start) / tb), stream=stream, backward=True)
        got = None
        for frame in _decoded(container, stream):
            t = _frame_time(frame, start)
            if t is not None and t + half_frame >= target:
                got = (frame, t)
                break
        if got is None:
            break
        frame, t = got
        if t > last:
            take(frame, t)
            last = t
        k = max(k + 1, math.floor((t + half_frame) / step) + 1)


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest
