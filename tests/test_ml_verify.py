"""Geometric verification on real bundled photos: copies pass, other moments/views do not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.features.verify import Verifier, verify_arrays

data = pytest.importorskip("skimage.data")


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _crop(img: Image.Image, frac: float) -> Image.Image:
    """Keep (1 - frac) of each side, hugging the bottom-right corner (off-centre)."""
    w, h = img.size
    cw, ch = round(w * (1 - frac)), round(h * (1 - frac))
    return img.crop((w - cw, h - ch, w, h))


def _rotate(img: Image.Image, deg: float) -> Image.Image:
    """Rotate and crop the empty corners away, as an editor's straighten tool does."""
    w, h = img.size
    rot = img.rotate(deg, resample=Image.Resampling.BICUBIC)
    a = math.radians(abs(deg))
    cw = int((w * math.cos(a) - h * math.sin(a)) / math.cos(2 * a)) - 4
    ch = int((h * math.cos(a) - w * math.sin(a)) / math.cos(2 * a)) - 4
    x, y = (w - cw) // 2, (h - ch) // 2
    return rot.crop((x, y, x + cw, y + ch))


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "rocket"])
@pytest.mark.parametrize(
    "edit",
    [
        lambda im: _crop(im, 0.20),
        lambda im: _crop(im, 0.25),
        lambda im: _rotate(im, 6),
        lambda im: _rotate(im, -10),
        lambda im: _rotate(im, 3).resize((im.width // 2, im.height // 2)),
        lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        lambda im: im.convert("L"),
    ],
    ids=["crop20", "crop25", "rot6", "rot-10", "rot3-half", "mirror", "grey"],
)
def test_copies_are_verified(name: str, edit) -> None:
    img = _photo(name)
    res = verify_arrays(np.asarray(img), np.asarray(edit(img)))
    assert res.same, res


def test_unrelated_photos_are_rejected() -> None:
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    for a in names:
        for b in names:
            if a < b:
                res = verify_arrays(_photo(a), _photo(b))
                assert res.same is False, (a, b, res)


def test_stereo_views_are_not_the_same_photo() -> None:
    left, right, _disp = data.stereo_motorcycle()
    res = verify_arrays(left, right)
    assert res.same is False, res
    res = verify_arrays(_crop(Image.fromarray(left), 0.1), right)
    assert res.same is False, res


def _burst(img: Image.Image, seed: int) -> tuple[Image.Image, Image.Image]:
    """Two frames of one scene: the camera drifted and a subject (a large patch) moved."""
    rng = np.random.default_rng(seed)
    w, h = img.size
    cw, ch = int(w * 0.85), int(h * 0.85)
    x0, y0 = int(w * 0.07), int(h * 0.07)
    first = img.crop((x0, y0, x0 + cw, y0 + ch))
    moved = img.copy()
    pw, ph = int(w * 0.25), int(h * 0.3)
    px, py = int(w * 0.35), int(h * 0.3)
    moved.paste(img.crop((px, py, px + pw, py + ph)), (px + int(w * 0.05), py + int(h * 0.015)))
    dx = int(w * 0.03)
    second = moved.crop((x0 + dx, y0, x0 + dx + cw, y0 + ch))
    noisy = np.asarray(second).astype(np.float32) + rng.normal(0, 2, (ch, cw, 3))
    return first, Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_burst_frames_are_not_the_same_photo(name: str) -> None:
    a, b = _burst(_photo(name), 0)
    res = verify_arrays(a, b)
    assert res.same is False, res


def test_verifier_by_path_and_unreadable(tmp_path) -> None:
    img = _photo("coffee")
    pa, pb, bad = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "bad.jpg"
    img.save(pa, quality=90)
    _crop(img, 0.2).save(pb, quality=80)
    bad.write_bytes(b"not a jpeg")
    v = Verifier()
    assert v.verify(pa, pb).same
    assert v.verify(pa, bad).same is None


# -- hard negatives: night skies, textures --------------------------------------------------
def _sky(seed: int, n: int = 500, size: tuple[int, int] = (1400, 1800)) -> np.ndarray:
    """Stars of one sky: (y, x, peak, width) rows."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(0, size[0], n),
            rng.uniform(0, size[1], n),
            rng.pareto(1.5, n) * 40 + 30,
            rng.uniform(0.7, 2.0, n),
        ]
    )


def _exposure(
    stars: np.ndarray, top_left: tuple[int, int], seed: int, shift=(0.0, 0.0), rot: float = 0.0
) -> np.ndarray:
    """One 768×1024 exposure of the sky: its own sensor noise, drift and field rotation."""
    rng = np.random.default_rng(seed)
    h, w = 768, 1024
    img = rng.normal(12, 5, (h, w)).astype(np.float32)
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    cy, cx = 700, 900
    for y, x, peak, width in stars:
        yy = c * (y - cy) - s * (x - cx) + cy + shift[0] - top_left[0]
        xx = s * (y - cy) + c * (x - cx) + cx + shift[1] - top_left[1]
        if not (0 <= yy < h and 0 <= xx < w):
            continue
        ys = slice(max(0, int(yy) - 8), min(h, int(yy) + 9))
        xs = slice(max(0, int(xx) - 8), min(w, int(xx) + 9))
        gy, gx = np.mgrid[ys, xs]
        img[ys, xs] += peak * np.exp(-((gy - yy) ** 2 + (gx - xx) ** 2) / (2 * width * width))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_night_sky_frames_are_not_the_same_photo() -> None:
    stars = _sky(1)
    frames = {
        "exposure1": _exposure(stars, (300, 400), 1),
        "exposure2": _exposure(stars, (300, 400), 2, shift=(3, 5), rot=0.2),
        "rotated": _exposure(stars, (300, 400), 3, rot=1.5),
        "next_field": _exposure(stars, (300, 900), 4),  # a mosaic neighbour, half overlapping
        "other_sky": _exposure(_sky(2), (300, 400), 5),
    }
    names = sorted(frames)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            res = verify_arrays(frames[a], frames[b])
            assert not res.same, (a, b, res)


def _regions(img: np.ndarray, cols: int, rows: int) -> list[np.ndarray]:
    h, w = img.shape[:2]
    out = []
    for r in range(rows):
        for c in range(cols):
            part = Image.fromarray(
                img[r * h // rows : (r + 1) * h // rows, c * w // cols :][:, : w // cols]
            )
            f = 640 / min(part.size)
            out.append(np.asarray(part.resize((round(part.width * f), round(part.height * f)))))
    return out


@pytest.mark.parametrize("name", ["hubble_deep_field", "brick", "gravel", "grass", "text"])
def test_regions_of_a_sky_or_texture_are_not_the_same_photo(name: str) -> None:
    parts = _regions(getattr(data, name)(), 2, 2)
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            res = verify_arrays(parts[i], parts[j])
            assert not res.same, (i, j, res)


def test_a_copy_of_an_astrophoto_is_still_the_same_photo() -> None:
    sky = _photo("hubble_deep_field")
    w, h = sky.size
    crop = sky.crop((int(w * 0.1), int(h * 0.1), w, h)).resize((w // 2, h // 2))
    res = verify_arrays(np.asarray(sky), np.asarray(crop))
    assert res.same, res
    assert res.detail_blocks >= 12 and res.spread >= 0.2
