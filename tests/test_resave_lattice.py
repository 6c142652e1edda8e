"""The JPEG re-save test's lattice sums (provenance._lattice_agreement), laid out for speed,
give the very numbers the plain broadcast expression gave, on real photos' coefficients: the
stored ``jpeg_resave`` must not move without a PERCEPTUAL_VERSION bump (issue 13)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage import data

from lookalike.engine.features import provenance as pv


def _old(x: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The expression jpeg_resave used before (f0278ef)."""
    sel = np.abs(x)[:, :, None] > steps / 2
    return sel.sum(axis=0), (np.cos(2 * np.pi * x[:, :, None] / steps) * sel).sum(axis=0)


def _coefficients(photo: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Low-frequency DCT coefficients of a JPEG's luma blocks, and its steps, as jpeg_resave
    takes them."""
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=quality)
    with Image.open(buf) as im:
        table = im.quantization[0]
        y = np.asarray(im.convert("L"), dtype=np.float32)
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    b = y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    blocks = b.reshape(-1, 8, 8)[:1024] - 128.0
    c = pv._D8 @ blocks @ pv._D8.T
    us, vs = zip(*pv._RESAVE_FREQS, strict=True)
    q = np.asarray(list(table), dtype=np.float32).reshape(8, 8)
    steps = np.maximum(q[list(us), list(vs)][:, None] * pv._RESAVE_MULT[None, :], 1.5)
    return c[:, list(us), list(vs)], steps


def test_the_lattice_sums_are_the_old_ones_to_the_bit_on_real_photos():
    for photo in (data.astronaut(), data.coffee(), data.chelsea(), data.camera()):
        for quality in (30, 60, 92, 95):
            x, steps = _coefficients(photo, quality)
            n, sums = pv._lattice_agreement(x, steps)
            old_n, old_sums = _old(x, steps)
            assert sums.dtype == old_sums.dtype == np.float32
            assert np.array_equal(n, old_n) and np.array_equal(sums, old_sums), quality
            assert 0 < n.sum() < n.size * len(x)  # some terms selected, some not


def _old_resave(path: str) -> float | None:
    """jpeg_resave as it was (f0278ef) from the strip's decode on: the reference."""
    with Image.open(path) as img:
        table = img.quantization[0]
        with open(path, "rb") as fh:
            cut = pv._top_strip(fh.read(pv.HEAD_BYTES), img.size[0])
    with Image.open(io.BytesIO(cut)) as strip:
        strip.draft("L", strip.size)
        y = np.asarray(strip.convert("L"), dtype=np.float32)
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    b = y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    decoded = b.reshape(h // 8, w // 8, 64).std(axis=2).max(axis=1) > 0
    rows = int(np.argmin(decoded)) if not decoded.all() else len(decoded)
    c = pv._D8 @ (b[: rows - 1].reshape(-1, 8, 8)[:1024] - 128.0) @ pv._D8.T
    us, vs = zip(*pv._RESAVE_FREQS, strict=True)
    x = c[:, list(us), list(vs)]
    q = np.asarray(list(table), dtype=np.float32).reshape(8, 8)
    steps = np.maximum(q[list(us), list(vs)][:, None] * pv._RESAVE_MULT[None, :], 1.5)
    n, sums = _old(x, steps)
    agree = sums / np.maximum(n, 1)
    agree[n < 60] = -1.0
    best = agree.max(axis=1)
    valid = best[best > -1.0]
    return None if len(valid) * 3 < len(best) else float(valid.mean())


def test_the_resave_score_is_the_old_one_to_the_bit(tmp_path):
    """Whole files, originals and re-saves, wide and narrow (the strip is the whole picture
    or its top rows): the same float, not just the same rounding."""
    seen = 0
    for name, photo in (("astronaut", data.astronaut()), ("coffee", data.coffee())):
        for quality, width in ((92, 512), (75, 300), (60, 1200)):
            im = Image.fromarray(photo)
            im = im.resize((width, round(width * im.height / im.width)))
            path = tmp_path / f"{name}{quality}{width}.jpg"
            im.save(path, quality=quality)
            Image.open(path).save(path.with_suffix(".q95.jpg"), quality=95)
            for p in (path, path.with_suffix(".q95.jpg")):
                with Image.open(p) as img:
                    got = pv.jpeg_resave(str(p), img)
                assert got == _old_resave(str(p)), p.name
                seen += got is not None
    assert seen >= 8  # most files measured, not abstentions compared
