"""Face count per image, for ``--by faces`` (off by default, as in the seed tool).

OpenCV 4.x wheels bundle Haar cascades (``cv2.data.haarcascades``) and ``cv2.CascadeClassifier``;
OpenCV 5 moved both out of the main wheel. Then we fall back to scikit-image's LBP face cascade
(``lbpcascade_frontalface_opencv.xml``, shipped with skimage). Works on a small grey image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

FACES_VERSION = 1
FACE_SIDE = 320  # detection runs on this long side: faces smaller than ~6 % of it are missed
_detector: Any = None
_backend: str | None = None


class FacesUnavailable(RuntimeError):
    """No face detector on this install; the message says what to add."""


@dataclass(frozen=True)
class Face:
    """Box in 0..1 image coordinates (x, y of the top-left corner)."""

    x: float
    y: float
    w: float
    h: float


def backend() -> str:
    """Which detector is in use: ``opencv-haar`` or ``skimage-lbp`` (loads it once)."""
    _load()
    assert _backend is not None
    return _backend


def _load() -> None:
    global _detector, _backend
    if _detector is not None:
        return
    import cv2

    cascade_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if hasattr(cv2, "CascadeClassifier") and cascade_dir:
        path = os.path.join(cascade_dir, "haarcascade_frontalface_default.xml")
        if os.path.isfile(path):
            det = cv2.CascadeClassifier(path)
            if not det.empty():
                _detector, _backend = det, "opencv-haar"
                return
    try:
        import skimage.data
        from skimage.feature import Cascade
    except ImportError as exc:
        raise FacesUnavailable(
            "face mode needs OpenCV's Haar cascades (opencv-python-headless < 5) or "
            "scikit-image's LBP cascade: pip install 'lookalike[faces]'"
        ) from exc
    path = os.path.join(os.path.dirname(skimage.data.__file__), "lbpcascade_frontalface_opencv.xml")
    _detector, _backend = Cascade(path), "skimage-lbp"


def _small_gray(image: Any) -> np.ndarray:
    from PIL import Image

    if isinstance(image, Image.Image):
        im = image.convert("L")
        im.thumbnail((FACE_SIDE, FACE_SIDE), Image.Resampling.BILINEAR)
        return np.asarray(im)
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = np.asarray(Image.fromarray(arr[..., :3]).convert("L"))
    h, w = arr.shape
    if max(h, w) > FACE_SIDE:
        im = Image.fromarray(arr)
        im.thumbnail((FACE_SIDE, FACE_SIDE), Image.Resampling.BILINEAR)
        arr = np.asarray(im)
    return arr.astype(np.uint8)


def detect_faces(image: Any) -> list[Face]:
    """Faces in a PIL image or grey/RGB array, as boxes in 0..1 coordinates (sorted)."""
    _load()
    g = _small_gray(image)
    h, w = g.shape
    min_side = max(16, int(0.06 * min(h, w)))
    if _backend == "opencv-haar":
        rects = _detector.detectMultiScale(g, 1.1, 5, minSize=(min_side, min_side))
        boxes = [(int(x), int(y), int(bw), int(bh)) for x, y, bw, bh in rects]
    else:
        found = _detector.detect_multi_scale(
            img=g.astype(np.float64) / 255.0,
            scale_factor=1.2,
            step_ratio=1,
            min_size=(min_side, min_side),
            max_size=(h, w),
            min_neighbor_number=4,
        )
        boxes = [(d["c"], d["r"], d["width"], d["height"]) for d in found]
    faces = [Face(x / w, y / h, bw / w, bh / h) for x, y, bw, bh in boxes]
    return sorted(faces, key=lambda f: (f.y, f.x))


def count_faces(image: Any) -> int:
    return len(detect_faces(image))


def same_faces(count_a: int, count_b: int) -> bool:
    """Face mode keeps a candidate pair only when both show people, and as many of them."""
    return count_a > 0 and count_a == count_b
