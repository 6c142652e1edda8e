"""Variants of the shipped real footage (tests/data/video), made with PyAV's encoders."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

DATA = Path(__file__).parent / "data" / "video"


def read_frames(src: Path) -> tuple[list[np.ndarray], float]:
    """Every frame of ``src`` as RGB arrays, and its frame rate."""
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate or 25)
        return [f.to_ndarray(format="rgb24") for f in c.decode(s)], fps


def write_video(
    dst: Path,
    frames: list[np.ndarray],
    fps: float = 25,
    codec: str = "libx264",
    gop: int | None = None,
    rotation: int = 0,
    faststart: bool = False,
) -> Path:
    h, w = frames[0].shape[:2]
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(dst), "w", options=opts) as c:
        s = c.add_stream(codec, rate=round(fps))
        s.width, s.height = w - w % 2, h - h % 2
        s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "crf": "30"}
        if gop:
            s.codec_context.gop_size = gop
        if rotation:
            s.set_display_rotation(rotation)
        for f in frames:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(f[: s.height, : s.width]), "rgb24"
            )
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return dst


def variant(
    src: Path,
    dst: Path,
    *,
    scale: float = 1.0,
    mirror: bool = False,
    trim: tuple[float, float] = (0.0, 1.0),
    speed: float = 1.0,
    letterbox: int = 0,
    black: float = 0.0,
    codec: str = "libx264",
    gop: int | None = None,
    rotation: int = 0,
    crop: float = 0.0,
) -> Path:
    """A re-encoded copy of ``src``: resized, mirrored, trimmed (fractions), sped up, with black
    bars of ``letterbox`` pixels top and bottom, ``black`` seconds of black at the start,
    ``crop`` of each side's length cut off (centred) and resized back to the frame size."""
    from PIL import Image

    frames, fps = read_frames(src)
    n = len(frames)
    lo, hi = int(trim[0] * n), int(trim[1] * n)
    picked = [frames[min(hi - 1, int(lo + k * speed))] for k in range(int((hi - lo) / speed))]
    out = []
    for f in picked:
        if scale != 1.0:
            img = Image.fromarray(f).resize((int(f.shape[1] * scale), int(f.shape[0] * scale)))
            f = np.asarray(img)
        if crop:
            h, w = f.shape[:2]
            dy, dx = int(h * crop / 2), int(w * crop / 2)
            f = np.asarray(Image.fromarray(f[dy : h - dy, dx : w - dx]).resize((w, h)))
        if mirror:
            f = f[:, ::-1]
        if letterbox:
            bar = np.zeros((letterbox, f.shape[1], 3), np.uint8)
            f = np.concatenate([bar, f, bar])
        out.append(f)
    if black:
        out = [np.zeros_like(out[0])] * int(black * fps) + out
    return write_video(dst, out, fps, codec, gop, rotation)
