"""Technical quality of one picture → a 0..1 score, for keep rules ("keep the sharpest").

All measures run on a small grey image (long side :data:`SIDE`) so they cost ~1 ms and are
comparable between a file and its resized copy; resolution comes from the full pixel size.

- sharpness: variance of the Laplacian (blur kills high frequencies)
- exposure: distance of the mean from mid-grey and the share of clipped pixels
- noise: Immerkær's fast sigma estimate (Laplacian-of-differences, robust to edges)
- blocking: JPEG 8×8 block edges (gradient on the block grid vs elsewhere), measured on the
  decode before any resize, when the decode is at most ~2.7× reduced (else the grid is gone)
- resolution: megapixels, on a log scale
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

QUALITY_VERSION = 3
SIDE = 512
WEIGHTS = {"sharpness": 0.4, "exposure": 0.2, "noise": 0.1, "blocking": 0.1, "resolution": 0.2}
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


@dataclass(frozen=True)
class Quality:
    sharpness: float  # variance of Laplacian (after a σ=1 blur) at SIDE
    brightness: float  # mean grey 0..255
    clipped: float  # share of pixels at ≤ 3 or ≥ 252
    noise: float  # sigma estimate, grey levels
    blocking: float  # 0 = no visible JPEG block grid; ~0.5 = heavy (q30)
    megapixels: float
    score: float  # 0..1, higher is better

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def blockiness(gray: np.ndarray, period: int) -> float:
    """Mean gradient across block boundaries over the mean elsewhere, minus 1 (≥ 0)."""
    g = gray.astype(np.float32)
    if min(g.shape) < 4 * period:
        return 0.0
    out = []
    for d, axis in ((np.abs(np.diff(g, axis=1)), 1), (np.abs(np.diff(g, axis=0)), 0)):
        on = (np.arange(d.shape[axis]) % period) == period - 1
        a = d[:, on] if axis == 1 else d[on, :]
        b = d[:, ~on] if axis == 1 else d[~on, :]
        out.append(float(a.mean()) / (float(b.mean()) + 1e-6) - 1.0)
    return max(0.0, sum(out) / 2)


def _native_gray(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"))
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _gray(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("L"))
    else:
        arr = np.asarray(image)
        if arr.ndim == 3:
            arr = cv2.cvtColor(
                np.ascontiguousarray(arr[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY
            )
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    h, w = arr.shape
    if max(h, w) != SIDE:
        f = SIDE / max(h, w)
        interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
        arr = cv2.resize(arr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interp)
    return arr


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkær (1996): sigma ≈ sqrt(pi/2) / (6 (W-2)(H-2)) · Σ|I * N|."""
    h, w = gray.shape
    if h < 3 or w < 3:
        return 0.0
    conv = cv2.filter2D(gray.astype(np.float32), -1, _NOISE_KERNEL)[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2) * np.abs(conv).sum() / (6.0 * (w - 2) * (h - 2)))


def _clamp(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def measure(image: Any, width: int | None = None, height: int | None = None) -> Quality:
    """Quality of a PIL image or grey/RGB array; ``width``/``height`` are the file's full
    pixel size (the image itself may be a reduced decode)."""
    native = _native_gray(image)
    g = _gray(native)
    if width is None or height is None:
        height, width = native.shape[:2]
    reduction = max(1.0, width / max(1, native.shape[1]))
    period = round(8 / reduction)
    blocking = blockiness(native, period) if period >= 3 else 0.0
    # A light blur first, so sensor/JPEG noise does not pass for detail.
    lap = float(cv2.Laplacian(cv2.GaussianBlur(g, (0, 0), 1.0), cv2.CV_32F).var())
    mean = float(g.mean())
    clipped = float(((g <= 3) | (g >= 252)).mean())
    sigma = noise_sigma(g)
    mp = width * height / 1e6
    parts = {
        # var(Lap of a σ=1 blur) ~1 for a blurred photo, ~200+ for a crisp one at 512 px
        "sharpness": _clamp(math.log10(lap + 1.0) / 2.3),
        "exposure": _clamp(1.0 - abs(mean - 120.0) / 135.0) * _clamp(1.0 - 2.5 * clipped),
        # below ~1.5 grey levels the reduced decode shows no visible noise; JPEG smoothing
        # must not win over the original there
        "noise": _clamp(1.0 - max(0.0, sigma - 1.5) / 6.0),
        "blocking": _clamp(1.0 - 2.0 * blocking),
        # 0.25 MP → 0, 32 MP → 1
        "resolution": _clamp((math.log2(max(mp, 1e-6)) + 2.0) / 7.0),
    }
    score = sum(WEIGHTS[k] * v for k, v in parts.items())
    return Quality(lap, mean, clipped, sigma, blocking, mp, round(score, 4))
