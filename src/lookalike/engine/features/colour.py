"""Colour-histogram feature for ``--by colour``: groups pictures with the same palette.

HSV histogram (hue × saturation × value, plus a separate grey ramp for unsaturated pixels),
stored as the square root of the normalised histogram: the vector has unit length and the
inner product of two such vectors is the Bhattacharyya coefficient. So colour similarity uses
the same faiss inner-product index (``vector_index``) as embeddings.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

COLOUR_VERSION = 1
H_BINS, S_BINS, V_BINS, GREY_BINS = 12, 3, 3, 6
DIM = H_BINS * S_BINS * V_BINS + GREY_BINS
GREY_SAT = 40  # below this saturation (0..255) a pixel counts as grey
SIDE = 128
DEFAULT_THRESHOLD = 0.93  # Bhattacharyya coefficient for "same palette"


def _rgb(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        im = image.convert("RGB")
        im.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
        return np.asarray(im)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
    h, w = arr.shape[:2]
    if max(h, w) > SIDE:
        f = SIDE / max(h, w)
        arr = cv2.resize(
            arr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
        )
    return arr


def colour_vector(image: Any) -> np.ndarray:
    """PIL image or RGB array → unit float32 vector of length :data:`DIM`."""
    rgb = _rgb(image)
    if rgb.size == 0:
        return np.zeros(DIM, np.float32)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int32)
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    grey = s < GREY_SAT
    hb = np.minimum(h * H_BINS // 180, H_BINS - 1)
    sb = np.minimum((s - GREY_SAT).clip(0) * S_BINS // (256 - GREY_SAT), S_BINS - 1)
    vb = np.minimum(v * V_BINS // 256, V_BINS - 1)
    colour_idx = (hb * S_BINS + sb) * V_BINS + vb
    grey_idx = H_BINS * S_BINS * V_BINS + np.minimum(v * GREY_BINS // 256, GREY_BINS - 1)
    idx = np.where(grey, grey_idx, colour_idx)
    hist = np.bincount(idx, minlength=DIM).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return np.zeros(DIM, np.float32)
    return np.sqrt(hist / total).astype(np.float32)


def colour_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two colour vectors: 1 = same palette, 0 = disjoint."""
    return float(np.clip(np.dot(a, b), 0.0, 1.0))
