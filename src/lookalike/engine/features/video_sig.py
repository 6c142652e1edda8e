"""Per-video frame signatures: the photo DCT signature of each sampled frame, stored in a blob.

A video is its sampled frames (media/video.py) turned into the same 24×24 DCT signatures the
photos use (perceptual.py), after cutting the letterbox/pillarbox bars once per video (the bars
do not move, so the median of the per-frame boxes is steadier than any one frame's). Frames
with too little picture (black, a flat colour, the bottom of a fade) are dropped: they match
every other video's black frames and would glue unrelated videos together. The blob stores
the sampling step, so a later scan with another ``--video-step`` re-samples instead of
comparing unlike timelines.

For the app, the same decode writes two pictures next to the catalog's thumbnails: the
thumbnail (a frame a third of the way in; ``meta["thumb"]``) and a *contact strip*
(``meta["strip"]``: ``{"path": WebP file, "times": [seconds of each tile, left to right]}``,
STRIP_TILES frames evenly spaced over the video, each STRIP_HEIGHT px high, side by side).
Both reach the app as ``Member.thumb`` and ``Member.strip``. Frames at other moments (the
matched frame pairs of a segment, ``Segment.pairs``) come from ``media.video.frame_at``.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.engine.features import perceptual as pc
from lookalike.engine.features.extract import MIN_TRIM, write_thumbnail
from lookalike.engine.media.decode import task_failure
from lookalike.engine.media.video import VideoInfo, sample_frames

# Bump when the sampling or the frame signature changes: only video rows recompute.
# 2: the frames' index and query hashes are stored too (a rescan computes nothing).
# 3: a contact strip is written with the thumbnail (meta "strip").
# 4: sampling skips the deblocking filter and non-reference frames; seeks when GOP ≤ 1.5 steps.
# 5: by default a video under 200 s gets 200 samples (step ≥ 0.1 s), not one a second.
VIDEO_VERSION = 5
VIDEO_META = "vmeta"
VIDEO_FRAMES = "vframes"
# Below this grey standard deviation (0..1) a frame is black, flat or deep in a fade.
INFORMATIVE_STD = 0.04
_LOW = pc.DCT_KEEP  # the 16×16 low block is stored: hashes and orientation need only it
STRIP_TILES = 8  # frames in a contact strip
STRIP_HEIGHT = 90  # pixels per tile at most (the sampled frames' size caps it); width by aspect


@dataclass
class VideoFrames:
    """The kept samples of one video: their times and 16×16 low DCT blocks."""

    step: float
    duration: float
    sampled: int  # samples taken, kept or not
    times: np.ndarray  # (n,) float32 seconds, kept samples only
    dct: np.ndarray  # (n, 16, 16) float32
    codes: np.ndarray | None = None  # hashes() and query_hashes(), computed once and stored
    queries: np.ndarray | None = None
    owner: np.ndarray | None = None

    def with_hashes(self) -> VideoFrames:
        self.codes = self.hashes()
        self.queries, self.owner = self.query_hashes()
        return self

    def hashes(self) -> np.ndarray:
        """(n, 32) uint8: each frame's hash in its best-guess canonical orientation."""
        if self.codes is not None:
            return self.codes
        if not len(self.times):
            return np.zeros((0, pc.HASH_BYTES), dtype=np.uint8)
        return np.stack([pc.canonical_hash(s) for s in self.dct])

    def query_hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of every canonical candidate per frame, and the frame each belongs to."""
        if self.queries is not None and self.owner is not None:
            return self.queries, self.owner
        codes: list[np.ndarray] = []
        owner: list[int] = []
        for n, s in enumerate(self.dct):
            cands = pc.canonical_hashes(s)
            codes.append(cands)
            owner.extend([n] * len(cands))
        if not codes:
            return np.zeros((0, pc.HASH_BYTES), dtype=np.uint8), np.zeros(0, dtype=np.int64)
        return np.concatenate(codes), np.asarray(owner, dtype=np.int64)

    def pack(self) -> bytes:
        codes = self.hashes()
        queries, owner = self.query_hashes()
        head = struct.pack("<ffII", self.step, self.duration, self.sampled, len(self.times))
        return b"".join(
            [
                head,
                self.times.astype(np.float32).tobytes(),
                self.dct.astype(np.float16).tobytes(),
                codes.astype(np.uint8).tobytes(),
                struct.pack("<I", len(queries)),
                queries.astype(np.uint8).tobytes(),
                owner.astype(np.uint16).tobytes(),
            ]
        )

    @classmethod
    def unpack(cls, data: bytes) -> VideoFrames:
        step, duration, sampled, n = struct.unpack_from("<ffII", data)
        pos = struct.calcsize("<ffII")
        times = np.frombuffer(data, np.float32, n, pos).copy()
        pos += 4 * n
        dct = np.frombuffer(data, np.float16, n * _LOW * _LOW, pos).astype(np.float32)
        pos += 2 * n * _LOW * _LOW
        hb = pc.HASH_BYTES
        codes = np.frombuffer(data, np.uint8, n * hb, pos).reshape(n, hb)
        pos += n * hb
        (m,) = struct.unpack_from("<I", data, pos)
        pos += 4
        queries = np.frombuffer(data, np.uint8, m * hb, pos).reshape(m, hb)
        pos += m * hb
        owner = np.frombuffer(data, np.uint16, m, pos).astype(np.int64)
        return cls(
            step, duration, sampled, times, dct.reshape(n, _LOW, _LOW), codes, queries, owner
        )


def _content_box(frames: list[np.ndarray]) -> tuple[int, int, int, int]:
    """Median trim box over the frames that have picture: the bars of a letterboxed copy."""
    boxes = [pc.trim_box(f) for f in frames if float(f.std()) > 8]
    h, w = frames[0].shape[:2]
    if not boxes:
        return 0, h, 0, w
    top, bottom, left, right = (int(np.median([b[i] for b in boxes])) for i in range(4))
    cut = max(top / h, (h - bottom) / h, left / w, (w - right) / w)
    if cut < MIN_TRIM or bottom - top < 16 or right - left < 16:
        return 0, h, 0, w
    return top, bottom, left, right


def _grey64(rgb: np.ndarray) -> np.ndarray:
    img = Image.fromarray(rgb, "RGB").convert("L")
    small = img.resize((pc.DCT_SIZE, pc.DCT_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def strip_path(thumb_path: str) -> str:
    """Where a video's contact strip goes: beside its thumbnail."""
    base, ext = os.path.splitext(thumb_path)
    base = base if ext in (".webp", ".jpg") else thumb_path
    return f"{base}.strip.webp"


def write_strip(frames: list[np.ndarray], times: list[float], path: str) -> dict | None:
    """STRIP_TILES sampled frames, evenly spaced, side by side in one WebP (atomic write);
    returns ``{"path", "times"}`` or None when it could not be written (only the strip is lost)."""
    if not frames:
        return None
    n = min(STRIP_TILES, len(frames))
    picks = sorted({round(k * (len(frames) - 1) / max(1, n - 1)) for k in range(n)})
    h, w = frames[0].shape[:2]
    th = min(STRIP_HEIGHT, h)  # never larger than the sampled frames
    tw = max(2, round(w * th / h))
    sheet = Image.new("RGB", (tw * len(picks), th))
    for k, i in enumerate(picks):
        tile = Image.fromarray(frames[i], "RGB").resize((tw, th), Image.Resampling.BOX)
        sheet.paste(tile, (k * tw, 0))
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        sheet.save(tmp, "WEBP", quality=70, method=0)
        os.replace(tmp, path)
    except OSError:
        return None
    return {"path": path, "times": [round(float(times[i]), 3) for i in picks]}


def video_features(
    path: str, step: float | None, thumb_path: str | None
) -> tuple[dict, VideoFrames]:
    """Decode once: the probe (plus the thumbnail path) and the kept frames' signatures."""
    s = sample_frames(path, step)
    top, bottom, left, right = _content_box(s.frames)
    times: list[float] = []
    sigs: list[np.ndarray] = []
    best = None
    for t, f in zip(s.times, s.frames, strict=True):
        grey = _grey64(f[top:bottom, left:right])
        std = float(grey.std())
        if std < INFORMATIVE_STD:
            continue
        times.append(t)
        sigs.append(pc.dct_signature(grey)[:_LOW, :_LOW])
        if best is None and t >= s.times[-1] / 3:
            best = f
    thumb = None
    if thumb_path:
        pick = best if best is not None else s.frames[len(s.frames) // 2]
        thumb = write_thumbnail(Image.fromarray(pick, "RGB"), thumb_path)
    meta = probe_meta(s.info, s.step, thumb, (top, bottom, left, right), s.frames[0].shape)
    meta["strip"] = write_strip(s.frames, s.times, strip_path(thumb_path)) if thumb_path else None
    # share of samples without picture (black padding, long fades): the keeper evidence
    meta["dropped"] = round(1.0 - len(times) / len(s.times), 4)
    frames = VideoFrames(
        step=s.step,
        duration=s.info.duration,
        sampled=len(s.times),
        times=np.asarray(times, dtype=np.float32),
        dct=np.asarray(sigs, dtype=np.float32).reshape(-1, _LOW, _LOW),
    )
    return meta, frames


def probe_meta(
    info: VideoInfo,
    step: float,
    thumb: str | None,
    box: tuple[int, int, int, int],
    shape: tuple[int, ...],
) -> dict:
    h, w = shape[:2]
    top, bottom, left, right = box
    letterbox = box != (0, h, 0, w)
    return {
        **info.to_json(),
        # picture inside the bars, in display pixels: a letterboxed copy never wins the keeper
        "content": [
            round(info.width * (right - left) / w),
            round(info.height * (bottom - top) / h),
        ],
        "format": info.container.upper() if info.container != "mov" else "MP4",
        "step": step,
        "thumb": thumb,
        "letterboxed": letterbox,
    }


def video_task(task: tuple[int, str, float | None, str | None]) -> tuple:
    """Runs in a decode worker: (file id, meta json bytes, packed frames, error message)."""
    file_id, path, step, thumb = task
    try:
        meta, frames = video_features(path, step, thumb)
        return file_id, json.dumps(meta).encode(), frames.pack(), None
    except Exception as exc:  # never let one file stop the scan
        return file_id, None, None, task_failure(exc)
