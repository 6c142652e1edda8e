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


def _block_votes(
    xa: np.ndarray,
    xb: np.ndarray,
    ga: np.ndarray,
    gb: np.ndarray,
    valid: np.ndarray,
    strokes: bool,
) -> tuple[float, int]:
    """Per block of the overlap: do the two pictures agree (NCC on textured blocks, levels on
    flat ones)? Returns the share that disagree and how many carried detail."""
    ha, wa = ga.shape
    # Clipped highlights/shadows carry no evidence (a brightness edit blows them out).
    clipped = (ga >= 250) | (ga <= 5) | (gb >= 250) | (gb <= 5)
    bad = total = detail = 0
    clip_bad = clip_total = clip_detail = 0
    for y in range(0, ha - BLOCK + 1, BLOCK):
        for x in range(0, wa - BLOCK + 1, BLOCK):
            vm = valid[y : y + BLOCK, x : x + BLOCK]
            if vm.mean() < 0.9:
                continue
            pa = xa[y : y + BLOCK, x : x + BLOCK][vm]
            pb = xb[y : y + BLOCK, x : x + BLOCK][vm]
            if clipped[y : y + BLOCK, x : x + BLOCK].mean() > 0.3:
                # Kept aside: only used when a picture is nearly all clipped (silhouettes,
                # scans of black-on-white), where levels are the only evidence there is.
                clip_total += 1
                ca, cb = float(pa.std()), float(pb.std())
                clip_detail += max(ca, cb) >= DETAIL_STD
                differs = abs(float(pa.mean() - pb.mean())) > 40.0
                if not differs and min(ca, cb) >= DETAIL_STD:
                    # text on a white page: the strokes must line up, not only the levels
                    qa, qb = pa - pa.mean(), pb - pb.mean()
                    differs = float((qa * qb).mean() / (ca * cb + 1e-6)) < 0.55
                clip_bad += differs
                if strokes and min(ca, cb) >= DETAIL_STD:  # fine pass: strokes count
                    total += 1
                    detail += 1
                    bad += differs
                continue
            da, db = pa - pa.mean(), pb - pb.mean()
            sda, sdb = float(da.std()), float(db.std())
            total += 1
            if sda < 3.0 and sdb < 3.0:  # flat block: compare levels
                bad += abs(float(pa.mean() - pb.mean())) > 18.0
                continue
            detail += max(sda, sdb) >= DETAIL_STD
            ncc = float((da * db).mean() / (sda * sdb + 1e-6))
            if ncc < 0.55 or min(sda, sdb) / max(sda, sdb) < 0.3:
                bad += 1
    if total < 8:
        bad, total, detail = bad + clip_bad, total + clip_total, detail + clip_detail
    if total == 0:
        return 1.0, 0
    return bad / total, detail
