"""Blocks that differ because part of the picture moved: a burst frame, not an edited copy.

Why: a burst's frames line up by one similarity (the camera drifted) except where the
subject moved, and when the subject is small or soft its few keypoints cannot vote for a
second motion (verify._second_motion), so only 5–9 % of the blocks differ, under the bar a
watermark or a heavy re-encode needs (verify.MAX_BAD_BLOCKS). What tells them apart is
where the differing content went: a patch of differing blocks of a burst frame is the other
frame's content a subject's move away (≥ MOVED_MIN_PX; a copy's loose fit moves it ≤ 4 px);
an edit (a watermark's text, JPEG blocking, noise) puts content there that the other picture
holds nowhere near. A repeated texture or a smooth patch matches itself shifted too, so the
shifted match must beat the patch laid on its own picture at that shift.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookalike.engine.features.photometric import BLOCK, DETAIL_STD, Prepared, target

MOVED_DIFFERS = 0.55  # NCC in place under which a block differs (photometric._votes' bar)
MOVED_FOUND = 0.8  # NCC at the best shift that finds a region's content moved
# ... and by how much it must beat the region in place and the region laid on its own picture
# at that shift (a repeated texture or a smooth patch finds itself there too)
MOVED_MARGIN = 0.08
MOVED_RADIUS = 0.1  # search radius, share of the long side
MOVED_MIN_PX = 6.0  # a shift under this (px at CHECK_SIDE) is a loose fit (copies: ≤ 4), not motion
MOVED_BLOCKS = 2  # differing blocks side by side that make a region worth searching


def _ncc(p: np.ndarray, q: np.ndarray) -> float:
    p, q = p - p.mean(), q - q.mean()
    return float((p * q).sum() / (np.sqrt((p * p).sum() * (q * q).sum()) + 1e-6))


def moved_part(a: Prepared, b: Prepared, m: np.ndarray) -> bool:
    """Is a region of differing blocks of ``b`` laid on ``a`` by ``m`` (as
    photometric.compare_blocks lays them) ``a``'s content shifted by MOVED_MIN_PX or more, or
    one of ``a`` laid back on ``b`` ``b``'s? Both ways: the frame the subject moved into holds
    it whole, the other partly the background it uncovered, found nowhere in the first."""
    return _one_way(a, b, m) or _one_way(b, a, cv2.invertAffineTransform(m))


def _one_way(a: Prepared, b: Prepared, m: np.ndarray) -> bool:
    """:func:`moved_part` for ``b``'s regions only."""
    on = target(a)
    xa = on.xa
    ha, wa = xa.shape
    mm = m.astype(np.float64) * on.fa
    gb = cv2.warpAffine(b.work, mm, (wa, ha), flags=cv2.INTER_AREA, borderValue=0)
    picture = (~np.asarray(b.fill)).astype(np.uint8)  # b's padding left out
    valid = cv2.warpAffine(picture, mm, (wa, ha), flags=cv2.INTER_NEAREST, borderValue=0)
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0
    if on.fill is not None:
        valid &= ~on.fill
    xb = cv2.GaussianBlur(gb.astype(np.float32), (0, 0), 1.2)
    ny, nx = ha // BLOCK, wa // BLOCK
    differs = np.zeros((ny, nx), np.uint8)
    for by in range(ny):
        for bx in range(nx):
            sl = np.s_[by * BLOCK : (by + 1) * BLOCK, bx * BLOCK : (bx + 1) * BLOCK]
            pa, pb = xa[sl], xb[sl]
            if valid[sl].all() and max(pa.std(), pb.std()) >= DETAIL_STD:
                differs[by, bx] = _ncc(pa, pb) < MOVED_DIFFERS
    n, labels, stats, _ = cv2.connectedComponentsWithStats(differs, connectivity=8)
    r = max(4, round(MOVED_RADIUS * max(ha, wa)))
    for k in range(1, n):
        x, y, w, h, size = (int(v) for v in stats[k])
        box = (y * BLOCK, (y + h) * BLOCK, x * BLOCK, (x + w) * BLOCK)
        if size >= MOVED_BLOCKS and _moved(xa, xb, box, r):
            return True
    return False


def _moved(xa: np.ndarray, xb: np.ndarray, box: tuple[int, int, int, int], r: int) -> bool:
    """Is ``xb``'s region ``box`` (y0, y1, x0, x1) found in ``xa`` shifted, clearly better
    than in place and than in its own picture at that shift?"""
    y0, y1, x0, x1 = box
    tpl = xb[y0:y1, x0:x1]
    sy, sx = max(0, y0 - r), max(0, x0 - r)
    res = cv2.matchTemplate(xa[sy : y1 + r, sx : x1 + r], tpl, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(res)
    dy, dx = sy + by - y0, sx + bx - x0
    if best < MOVED_FOUND or np.hypot(dx, dy) < MOVED_MIN_PX:
        return False
    here = _ncc(xa[y0:y1, x0:x1], tpl)
    own = xb[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    alike = _ncc(own, tpl) if own.shape == tpl.shape else 1.0
    return best - max(here, alike) >= MOVED_MARGIN
