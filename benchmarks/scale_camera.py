"""Camera-sized photos for the scale benchmark (``scale.py --design camera``).

Why: the mosaic set's files are 160–400 px, so a file's fixed costs (thumbnail, the result's
trip, the stages around extraction) weigh far more than on the photos people keep — 2–24 MP
camera JPEGs, where the one reduced decode dominates. This design asks the same question
(scan rate against the per-core floor) of 12 MP files: each is a mosaic of 2–4 tiles of the
real photos (as ``scale._mosaic``, so two files share no large region) laid out on a
1000×750 canvas, upscaled ×4 to 4000×3000 (3000×4000 for a third), given sensor grain (the
upscale alone would be smoother than any camera's output, and a smooth JPEG decodes faster),
and saved at q90 with camera EXIF (make, model, dates, orientation 1). Planted copies are the
mosaic design's kinds (exact, q60 re-save, 70 % downscale, mirror, 90° turn), saved without
EXIF as an editor would.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

BASE = (1000, 750)  # the canvas the tiles are laid out on, before the ×4 upscale
UPSCALE = 4
GRAIN = 3.0  # std of the added grain, grey levels (a phone's ISO 100-400 look at q90)


def render(srcs: list[Image.Image], rng: random.Random) -> Image.Image:
    """One 12 MP photo: a mosaic of different sources, upscaled, with grain."""
    import scale

    w, h = BASE if rng.random() >= 1 / 3 else BASE[::-1]
    boxes = scale._layout(w, h, rng.choice([2, 3, 3, 4, 4]), rng)
    canvas = Image.new("RGB", (w, h))
    for (x0, y0, x1, y1), s in zip(boxes, rng.sample(range(len(srcs)), len(boxes)), strict=False):
        canvas.paste(scale._tile(srcs[s], x1 - x0, y1 - y0, rng), (x0, y0))
    big = cv2.resize(np.asarray(canvas), (w * UPSCALE, h * UPSCALE), interpolation=cv2.INTER_CUBIC)
    up, down = _grain()  # a window of it at a drawn offset: each file its own grain
    y, x = (
        rng.randrange(0, up.shape[0] - big.shape[0] + 1),
        rng.randrange(0, up.shape[1] - big.shape[1] + 1),
    )
    win = np.s_[y : y + big.shape[0], x : x + big.shape[1]]
    return Image.fromarray(cv2.subtract(cv2.add(big, up[win]), down[win]))  # saturating


_GRAIN: list[np.ndarray] = []


def _grain() -> tuple[np.ndarray, np.ndarray]:
    """Luma grain (the same on the three channels, as most phones leave it) as two uint8
    planes, its positive and negative parts, made once a process: drawing 12 M normals a
    file cost more than the rest of the file."""
    if not _GRAIN:
        side = BASE[0] * UPSCALE + 256
        g = np.rint(np.random.default_rng(0).normal(0, GRAIN, (side, side))).astype(np.int16)
        for part in (np.clip(g, 0, 255), np.clip(-g, 0, 255)):
            _GRAIN.append(np.repeat(part.astype(np.uint8)[..., None], 3, axis=2))
    return _GRAIN[0], _GRAIN[1]


def save(im: Image.Image, path: Path, i: int) -> None:
    """JPEG q90 with the EXIF a phone writes (the scan reads dates and orientation)."""
    exif = Image.Exif()
    stamp = f"2025:{1 + i % 12:02d}:{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(7 * i) % 60:02d}"
    exif[0x010F], exif[0x0110], exif[0x0112], exif[0x0132] = "Lookalike", "Bench 12", 1, stamp
    exif.get_ifd(0x8769).update({0x9003: stamp, 0x9004: stamp})  # DateTimeOriginal, Digitized
    im.save(path, quality=90, exif=exif)
