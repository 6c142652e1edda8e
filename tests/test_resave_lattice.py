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
