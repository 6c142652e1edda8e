"""Encoding evidence for the keeper among copies of one video: bitrate for the picture size,
weighed by how much picture the codec keeps per bit, then the container.

A copy is usually made by re-encoding, and a re-encode keeps less than its source unless it
spends far more bits: so among videos with the same content (the ``original`` and
``content-resolution`` rules come first) the one with the most *effective* bits per pixel is
most likely the source. A modern codec keeps the same picture in fewer bits (HEVC ≈ 1.6×,
AV1 ≈ 2× H.264), so at the same resolution an HEVC file at 60 % of an H.264 file's bitrate is
scored alike, and the ``bytes`` rule decides. Scores are bucketed by a quarter octave, so a few
percent of bitrate never decide; a modern container (MP4, Matroska, WebM) breaks a tie.
"""

from __future__ import annotations

import math

# picture kept per bit, relative to H.264 (rough, from published codec comparisons)
CODEC_EFFICIENCY = {
    "av1": 2.0,
    "libdav1d": 2.0,
    "hevc": 1.6,
    "h265": 1.6,
    "vp9": 1.5,
    "h264": 1.0,
    "vp8": 0.8,
    "mpeg4": 0.6,
    "msmpeg4v3": 0.5,
    "wmv2": 0.5,
    "wmv3": 0.6,
    "mpeg2video": 0.4,
    "mpeg1video": 0.3,
    "mjpeg": 0.15,
}
MODERN_CONTAINERS = frozenset({"mov", "matroska", "webm"})  # libavformat names (mov = MP4)
VIDEO_ENCODING_RANK = 2  # the "encoding" rule's first key: videos compare only by score


def video_encoding(meta: dict, size: int) -> dict:
    """Evidence fields for a video member: ``encoding`` (words), ``encoding_rank`` and
    ``encoding_score`` (higher is better) from the probe in ``meta`` and the file size."""
    codec = str(meta.get("codec") or "?")
    container = str(meta.get("container") or "?")
    duration = float(meta.get("duration") or 0.0)
    bitrate = meta.get("bitrate") or (8 * size / duration if duration > 0 else 0)
    w, h = int(meta.get("width") or 0), int(meta.get("height") or 0)
    fps = float(meta.get("fps") or 25.0)
    bpp = float(bitrate) / max(1.0, w * h * fps) * CODEC_EFFICIENCY.get(codec, 1.0)
    bucket = round(4 * math.log2(bpp)) if bpp > 0 else -99
    modern = container.split(",")[0] in MODERN_CONTAINERS
    shown = str(meta.get("format") or container).upper()
    words = f"{codec} {float(bitrate) / 1e6:.2f} Mbit/s at {w}×{h}, {shown}"
    return {
        "encoding": words,
        "encoding_rank": VIDEO_ENCODING_RANK,
        "encoding_score": 2 * bucket + (1 if modern else 0),
    }
