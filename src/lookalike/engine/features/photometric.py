"""The photometric half of verification: warp one picture onto the other and compare small
blocks by normalised cross-correlation. Robust to colour, gamma, blur and JPEG; a moved subject,
a blink or parallax leaves blocks that disagree, a copy leaves (almost) none.

Kept apart from verify.py (the geometric half and the verdict) so each stays one idea.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

CHECK_SIDE = 256  # photometric check on this long side
BLOCK = 16  # block size (pixels at CHECK_SIDE) for the photometric check
DETAIL_STD = 3.0  # grey-level std (at CHECK_SIDE, blurred) above which a block carries detail


class Prepared(Protocol):
    work: np.ndarray  # grey working copy
    fill: np.ndarray  # bool mask of border padding


def fit_side(gray: np.ndarray, side: int) -> np.ndarray:
    """Grey image scaled so its long side is ``side`` (area when shrinking, cubic when growing)."""
    h, w = gray.shape[:2]
    long_side = max(h, w)
    if long_side == side:
        return gray
    f = side / long_side
    size = (max(1, round(w * f)), max(1, round(h * f)))
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, size, interpolation=interp)


def compare_blocks(
    a: Prepared, b: Prepared, m: np.ndarray, side: int = CHECK_SIDE, strokes: bool = False
) -> tuple[float, float, int]:
    """Share of disagreeing blocks after warping ``b`` onto ``a``, the overlap share, and how
    many blocks carried detail (flat blocks agree with anything flat: a night sky, a wall)."""
    side = min(side, max(a.work.shape))
    fa = side / max(a.work.shape)
    ga = fit_side(a.work, side)
    ha, wa = ga.shape
    # m maps b.work → a.work; bring it to ``side`` on the ``a`` side only.
    mm = m.astype(np.float64) * fa
    gb = cv2.warpAffine(b.work, mm, (wa, ha), flags=cv2.INTER_AREA, borderValue=0)
    valid_b = np.ones(b.work.shape, np.uint8)
    valid_b[b.fill] = 0
    valid = cv2.warpAffine(valid_b, mm, (wa, ha), flags=cv2.INTER_NEAREST, borderValue=0)
    fill_a = fit_side(a.fill.astype(np.uint8), side).astype(bool) if a.fill.any() else None
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8)).astype(bool)
    if fill_a is not None:
        valid &= ~fill_a
    area_b = float((~b.fill).sum()) * (fa * fa) * (m[0, 0] ** 2 + m[0, 1] ** 2)
    area_a = float(ha * wa) - (0.0 if fill_a is None else float(fill_a.sum()))
    overlap = float(valid.sum()) / max(1.0, min(area_a, area_b))
    xa = cv2.GaussianBlur(ga.astype(np.float32), (0, 0), 1.2)
    xb = cv2.GaussianBlur(gb.astype(np.float32), (0, 0), 1.2)
    # Global gain/offset fit inside the overlap: brightness/contrast edits cancel out.
    va, vb = xa[valid], xb[valid]
    if va.size < BLOCK * BLOCK * 4:
        return 1.0, overlap, 0
    sa, sb = va.std(), vb.std()
    if sb > 1e-3:
        xb = (xb - vb.mean()) * (sa / sb) + va.mean()
    bad, detail = _block_votes(xa, xb, ga, gb, valid, strokes)
    return bad, overlap, detail


def _block_stats(x: np.ndarray, w: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each block's valid pixels (w: 0/1 weights)."""
    mean = (x * w).sum(axis=1) / n
    dev = (x - mean[:, None]) * w
    return mean, np.sqrt((dev * dev).sum(axis=1) / n)


def _blocks(a: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """(ny * nx, BLOCK²) float64: the image cut into BLOCK × BLOCK tiles, row by row."""
    t = a[: ny * BLOCK, : nx * BLOCK].astype(np.float64)
    return t.reshape(ny, BLOCK, nx, BLOCK).transpose(0, 2, 1, 3).reshape(ny * nx, BLOCK * BLOCK)


def _block_votes(
    xa: np.ndarray,
    xb: np.ndarray,
    ga: np.ndarray,
    gb: np.ndarray,
    valid: np.ndarray,
    strokes: bool,
) -> tuple[float, int]:
    """Per block of the overlap: do the two pictures agree (NCC on textured blocks, levels on
    flat ones)? Returns the share that disagree and how many carried detail. All blocks at
    once (the re-check's hot spot: a loop over blocks cost ~0.2 s a pair)."""
    ha, wa = ga.shape
    ny, nx = ha // BLOCK, wa // BLOCK
    if ny == 0 or nx == 0:
        return 1.0, 0
    # Clipped highlights/shadows carry no evidence (a brightness edit blows them out).
    clipped = (ga >= 250) | (ga <= 5) | (gb >= 250) | (gb <= 5)
    w = _blocks(valid, ny, nx)
    used = w.mean(axis=1) >= 0.9
    w = w[used]
    clip = _blocks(clipped, ny, nx)[used].mean(axis=1) > 0.3
    pa, pb = _blocks(xa, ny, nx)[used], _blocks(xb, ny, nx)[used]
    n = w.sum(axis=1)
    ma, sa = _block_stats(pa, w, n)
    mb, sb = _block_stats(pb, w, n)
    cov = ((pa - ma[:, None]) * (pb - mb[:, None]) * w).sum(axis=1) / n
    ncc = cov / (sa * sb + 1e-6)
    hi, lo = np.maximum(sa, sb), np.minimum(sa, sb)
    # clipped blocks, kept aside: only used when a picture is nearly all clipped (silhouettes,
    # scans of black-on-white), where levels are the only evidence there is; text on a white
    # page: the strokes must line up, not only the levels
    levels_differ = np.abs(ma - mb) > 40.0
    c_differs = levels_differ | ((lo >= DETAIL_STD) & (ncc < 0.55))
    c_bad, c_total = int((c_differs & clip).sum()), int(clip.sum())
    c_detail = int((clip & (hi >= DETAIL_STD)).sum())
    # unclipped blocks: flat ones compare levels, textured ones NCC and contrast
    body = ~clip
    flat = body & (sa < 3.0) & (sb < 3.0)
    tex = body & ~flat
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), 0.0)
    bad = int((flat & (np.abs(ma - mb) > 18.0)).sum())
    bad += int((tex & ((ncc < 0.55) | (ratio < 0.3))).sum())
    total = int(body.sum())
    detail = int((tex & (hi >= DETAIL_STD)).sum())
    if strokes:  # fine pass: strokes count
        fine = clip & (lo >= DETAIL_STD)
        total += int(fine.sum())
        detail += int(fine.sum())
        bad += int((fine & c_differs).sum())
    if total < 8:
        bad, total, detail = bad + c_bad, total + c_total, detail + c_detail
    if total == 0:
        return 1.0, 0
    return bad / total, detail
