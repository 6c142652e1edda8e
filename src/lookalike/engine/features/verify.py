"""Geometric + photometric verification of a candidate "same photo" pair.

Embeddings say two images *look* alike; that also holds for two frames of a burst or two views
of one scene. A true copy (resized, re-encoded, cropped, slightly rotated, mirrored, colour
edited) differs from its original by one similarity transform and nothing else, so:

1. ORB keypoints + mutual ratio-tested matches, RANSAC similarity transform
   (``estimateAffinePartial2D``: rotation, uniform scale, shift; tighter than a homography, so
   parallax between two shots of a scene is not absorbed). Mirrored copies: retried flipped.
2. Warp one onto the other and compare small blocks by normalised cross-correlation (robust to
   colour, gamma, blur and JPEG). A moved subject, a blink or parallax leaves blocks that
   disagree; a copy leaves (almost) none.

Works on reduced decodes (long side :data:`WORK_SIDE`); pure OpenCV/numpy, no torch.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, replace

import cv2
import numpy as np
from PIL import Image, ImageOps

from lookalike.engine.features.frame_check import dihedral_map, frames_refute, turn_ratio
from lookalike.engine.features.moved import moved_part
from lookalike.engine.features.photometric import (
    Source,
    Target,
    compare_blocks,
    fit_side,
    source,
    target,
)
from lookalike.engine.index import hamming_knn

VERIFY_VERSION = 4  # 2: detail, spread, affine sanity (star fields); 3: strokes; 4: moved parts
WORK_SIDE = 512  # ORB works on this long side
MIN_SIDE = 320  # smaller images are upscaled to this long side first (ORB needs borders)
MIN_INLIERS = 12
MIN_INLIER_RATIO = 0.25
MAX_BAD_BLOCKS = 0.095  # share of disagreeing blocks still called "the same photo"
MIN_OVERLAP = 0.45  # share of the smaller image the other must cover
LOOSE_BAD_BLOCKS = 0.075  # with a loose fit (below), this share of differing blocks rejects
LOOSE_RESIDUAL_PX = 0.9
SECOND_MOTION_MIN = 10  # matches agreeing on a second motion that mark a burst
MOVED_FLOOR = 0.03  # a "same" pair with more differing blocks: did part of it move? (moved.py)
# Star fields, night skies, walls: most blocks are flat and "agree" with any other flat block,
# and a few look-alike points fit some transform. A verdict needs blocks with detail that
# agree, inliers spread over the textured overlap, and a transform a copy could have.
MIN_DETAIL_BLOCKS = 12  # fewer detailed blocks in the overlap: too little evidence to say "same"
MIN_SPREAD = 0.2  # inlier hull / hull of the keypoints inside the overlap
SCALE_RANGE = (0.2, 5.0)  # between the two working images (a crop keeping 20 % of a side)
MAX_AFFINE_SKEW = 0.12  # free affine fit of the inliers: |log aspect| and shear a copy stays under


R_MOVED = "part of the picture moved"
R_BUNCHED = "inliers bunched in one spot"
R_DIFFERS = "content differs"
R_VIEWPOINT = "loose fit and differing content (another viewpoint)"
CONTRADICTIONS = frozenset({R_MOVED, R_BUNCHED, R_DIFFERS, R_VIEWPOINT})


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of one pair. ``same`` is None when the images have too little texture to judge
    (flat skies, graphics): callers then rely on other evidence (hashes, very high cosine)."""

    same: bool | None
    inliers: int = 0
    matches: int = 0
    inlier_ratio: float = 0.0
    bad_blocks: float = 1.0  # share of compared blocks that disagree after alignment
    overlap: float = 0.0
    scale: float = 0.0
    angle: float = 0.0  # degrees
    residual_px: float = 0.0  # median inlier reprojection error at WORK_SIDE
    mirrored: bool = False
    detail_blocks: int = 0  # compared blocks that carry detail (evidence, not flat sky)
    spread: float = 0.0  # inlier hull / hull of the keypoints inside the overlap
    reason: str = ""

    @property
    def contradicts(self) -> bool:
        """The pictures lined up and their content disagrees (a burst, another moment):
        evidence against "one photo", unlike a pair that could not be aligned at all."""
        return self.same is False and self.reason in CONTRADICTIONS

    @property
    def score(self) -> float:
        """0..1 confidence that the pair is one photo (for ranking and the group score)."""
        if not self.same:
            return 0.0
        return float(min(1.0, self.inlier_ratio + 0.5) * (1.0 - self.bad_blocks))


# -- decoding -----------------------------------------------------------------------------
def load_gray(path: str | os.PathLike[str], side: int = WORK_SIDE) -> np.ndarray:
    """Reduced, EXIF-transposed grey decode (JPEG draft mode decodes at 1/2..1/8 scale)."""
    with Image.open(path) as im:
        try:
            im.draft("L", (side, side))
        except Exception:
            pass
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        gray = np.asarray(im.convert("L"))
    return gray


def _as_gray(img: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(img, Image.Image):
        img = np.asarray(img.convert("L"))
    if img.ndim == 3:
        img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img, dtype=np.uint8)


# -- features -----------------------------------------------------------------------------
@dataclass
class _Prepared:
    work: np.ndarray  # grey at WORK_SIDE (or MIN_SIDE when small)
    kps: np.ndarray  # (n, 2) float32 positions in ``work`` pixels
    desc: np.ndarray | None  # (n, 32) uint8
    fill: np.ndarray  # bool mask of constant fill touching the border (rotation corners)
    upscale: float = 1.0  # work size / decoded size (>1: a small image, blurrier keypoints)
    mirror: _Prepared | None = None  # the mirrored copy, made once when a pair first needs it

    @property
    def nbytes(self) -> int:
        """Memory held, counting a mirror it may still make (the Verifier's cache budget): the
        mirror's points are its own, its pixels and padding are views of these."""
        points = self.kps.nbytes + (0 if self.desc is None else self.desc.nbytes)
        return self.work.nbytes + _held(self.fill) + 2 * points


def _held(a: np.ndarray) -> int:
    """Bytes an array holds of its own (a broadcast constant: none)."""
    return 0 if 0 in a.strides else a.nbytes


def _no_fill(shape: tuple[int, ...]) -> np.ndarray:
    """An all-False padding mask that holds no memory (most photos have no padding; the mask
    was ≈ 40 % of a prepared file, so a verify worker's cache held fewer files)."""
    return np.broadcast_to(np.False_, shape)


_ORB: dict[int, cv2.ORB] = {}


def _orb(fast: int = 12) -> cv2.ORB:
    if fast not in _ORB:
        _ORB[fast] = cv2.ORB_create(nfeatures=1500, scaleFactor=1.2, nlevels=8, fastThreshold=fast)
    return _ORB[fast]


def _fill_mask(g: np.ndarray) -> np.ndarray:
    """Pure black/white areas flood-connected to a corner: padding, not picture."""
    h, w = g.shape
    if all(4 < int(g[y, x]) < 251 for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1))):
        return _no_fill(g.shape)  # no corner is black or white: nothing to flood (most photos)
    mask = np.zeros((h + 2, w + 2), np.uint8)
    work = g.copy()
    for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        v = int(g[y, x])
        if (v <= 4 or v >= 251) and mask[y + 1, x + 1] == 0:
            cv2.floodFill(work, mask, (x, y), 0, 2, 2, flags=4 | (1 << 8) | cv2.FLOODFILL_MASK_ONLY)
    fill = mask[1:-1, 1:-1].astype(bool)
    # Rotation padding is a few corner triangles; a white page or graphic background is not.
    return fill if fill.mean() < 0.25 else np.zeros_like(fill)


def prepare(img: np.ndarray | Image.Image) -> _Prepared:
    """Grey image → working copy, ORB keypoints and descriptors."""
    g = _as_gray(img)
    side = WORK_SIDE if max(g.shape) >= MIN_SIDE else MIN_SIDE
    work = fit_side(g, min(side, max(max(g.shape), MIN_SIDE)))
    up = max(work.shape) / max(1, max(g.shape))
    return _with_points(work, _fill_mask(work), up)


def _with_points(work: np.ndarray, fill: np.ndarray, up: float) -> _Prepared:
    kps, desc = _orb().detectAndCompute(work, None)
    if len(kps) < 150:  # soft or low-contrast picture: equalise and lower the corner threshold
        kps, desc = _orb(4).detectAndCompute(cv2.equalizeHist(work), None)
    pts = np.asarray(cv2.KeyPoint_convert(kps), np.float32).reshape(-1, 2)  # [k.pt for k in kps]
    fill = fill if fill.any() else _no_fill(work.shape)
    return _Prepared(work=work, kps=pts, desc=desc, fill=fill, upscale=up)


def _flipped(p: _Prepared) -> _Prepared:
    """The mirrored copy, prepared once per image: a file meets many candidates, and the
    mirrored try of each would otherwise re-run ORB on the same flipped pixels. Its pixels and
    padding are kept as views of ``p``'s (the padding's flood fill from the corners gives the
    mirrored mask of a mirrored picture: the same on 2 528 real files)."""
    if p.mirror is None:
        work = p.work[:, ::-1]
        p.mirror = _with_points(np.ascontiguousarray(work), p.fill[:, ::-1], p.upscale)
        p.mirror.work = work
    return p.mirror


# -- matching -----------------------------------------------------------------------------
def _mutual_matches(
    a: _Prepared, b: _Prepared, ratio: float = 0.85
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint pairs that pass the ratio test and are each other's nearest neighbour.
    The way back (b → a) is searched only for the ~10 % of b's points the ratio test kept:
    each query's answer is the same alone as in a full search, at ~half the matching cost."""
    none = np.zeros((0, 2), np.float32)
    if a.desc is None or b.desc is None or len(a.desc) < 2 or len(b.desc) < 2:
        return none, none
    d_ab, i_ab = hamming_knn(b.desc, a.desc, 2)
    to_b = i_ab[:, 0]
    cand = np.flatnonzero(d_ab[:, 0] < ratio * d_ab[:, 1])
    if not len(cand):
        return none, none
    cols = np.unique(to_b[cand])
    _, i_ba = hamming_knn(a.desc, b.desc[cols], 1)
    back = np.empty(len(b.desc), np.int64)
    back[cols] = i_ba[:, 0]
    ok = cand[back[to_b[cand]] == cand]
    return a.kps[ok], b.kps[to_b[ok]]


def _try(a: _Prepared, b: _Prepared, mirrored: bool, verdict_only: bool = False) -> VerifyResult:
    """One alignment of ``b`` on ``a`` and its verdict. ``verdict_only``: the caller reads the
    verdict and its reason alone (the re-check), so the block vote stops once more than
    MAX_BAD_BLOCKS of the blocks differ (the verdict is then R_DIFFERS whatever the rest say;
    ``bad_blocks`` reads 1.0 and ``detail_blocks`` the detail counted so far)."""
    pa, pb = _mutual_matches(a, b)
    n = len(pa)
    if n < MIN_INLIERS:
        return VerifyResult(False, 0, n, 0.0, mirrored=mirrored, reason="few matches")
    m, inl = cv2.estimateAffinePartial2D(
        pb, pa, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=3000, confidence=0.995
    )
    if m is None:
        return VerifyResult(False, 0, n, 0.0, mirrored=mirrored, reason="no transform")
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    thr = 3.0
    if scale > 1.2:  # b was smaller: its keypoint jitter is magnified in a's pixels
        thr = 3.0 * scale
        m2, inl2 = cv2.estimateAffinePartial2D(
            pb, pa, method=cv2.RANSAC, ransacReprojThreshold=thr, maxIters=3000, confidence=0.995
        )
        if m2 is not None:
            m, inl = m2, inl2
            scale = float(np.hypot(m[0, 0], m[1, 0]))
    k = int(inl.sum())
    ratio = k / n
    angle = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
    sel = inl.ravel().astype(bool)
    pts = np.hstack([pb[sel], np.ones((k, 1), np.float32)])
    residual = float(np.median(np.linalg.norm(pts @ m.T - pa[sel], axis=1))) if k else 0.0
    base = dict(
        inliers=k,
        matches=n,
        inlier_ratio=ratio,
        scale=scale,
        angle=angle,
        residual_px=residual,
        mirrored=mirrored,
    )
    if k < MIN_INLIERS or ratio < MIN_INLIER_RATIO:
        return VerifyResult(False, reason="few inliers", **base)
    if not SCALE_RANGE[0] < scale < SCALE_RANGE[1]:
        return VerifyResult(False, reason="implausible scale", **base)
    if _skewed(pb[sel], pa[sel]):
        return VerifyResult(False, reason="inliers fit no similarity (skewed)", **base)
    spread = _spread(a, b, pa[sel], m)
    base["spread"] = spread
    if spread < MIN_SPREAD:
        return VerifyResult(False, reason=R_BUNCHED, **base)
    moved = _second_motion(pa, pb, inl.ravel().astype(bool), m, max(a.work.shape), thr)
    if moved:
        return VerifyResult(False, reason=R_MOVED, **base)
    stop = MAX_BAD_BLOCKS if verdict_only else None
    bad, overlap, detail = compare_blocks(a, b, m, stop_above=stop)
    base["detail_blocks"] = detail
    ok = bad <= MAX_BAD_BLOCKS and overlap >= MIN_OVERLAP
    reason = "same" if ok else (R_DIFFERS if bad > MAX_BAD_BLOCKS else "small overlap")
    if ok and detail < MIN_DETAIL_BLOCKS:
        ok, reason = False, "too little detail in the overlap to compare"
    if ok and bad > MOVED_FLOOR and moved_part(a, b, m):
        ok, reason = False, R_MOVED  # a subject too soft for the points moved: a burst
    loose = LOOSE_RESIDUAL_PX * max(1.0, scale) * max(1.0, b.upscale) * max(1.0, a.upscale)
    if ok and bad > LOOSE_BAD_BLOCKS and residual > loose:
        # Some blocks differ AND the points fit only loosely: a second viewpoint (parallax)
        # or a later moment, not an edit. Measured: copies ≤ 1.0 px, stereo views ≥ 1.09 px.
        ok, reason = False, R_VIEWPOINT
    return VerifyResult(ok, bad_blocks=bad, overlap=overlap, reason=reason, **base)


def _skewed(src: np.ndarray, dst: np.ndarray) -> bool:
    """Does a free affine fit of the inliers need a stretch, shear or reflection? A copy's
    points fit a similarity (so the free fit is one too); chance matches among look-alike
    points (stars, bricks) fit the similarity only loosely and the free fit shows it."""
    if len(src) < 6:
        return False
    x = np.hstack([src.astype(np.float64), np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(x, dst.astype(np.float64), rcond=None)
    lin = sol[:2].T  # 2x2 linear part
    if np.linalg.det(lin) <= 0:
        return True  # a reflection: the mirrored candidate is tried on its own
    sv = np.linalg.svd(lin, compute_uv=False)
    aspect = abs(float(np.log(sv[0] / max(sv[1], 1e-9))))
    return aspect > MAX_AFFINE_SKEW


def _spread(a: _Prepared, b: _Prepared, inl_a: np.ndarray, m: np.ndarray) -> float:
    """Area of the inliers' hull over the area of the hull of ``a``'s keypoints that lie in
    the overlap (where ``b`` lands): a copy matches all over its texture; chance matches in a
    repeated pattern bunch up in one spot."""
    if len(inl_a) < 3:
        return 0.0
    inv = cv2.invertAffineTransform(m)
    pts = a.kps
    back = pts @ inv[:, :2].T + inv[:, 2]
    hb, wb = b.work.shape
    inside = (back[:, 0] >= 0) & (back[:, 0] < wb) & (back[:, 1] >= 0) & (back[:, 1] < hb)
    if inside.sum() < 3:
        return 0.0
    area_all = cv2.contourArea(cv2.convexHull(pts[inside].astype(np.float32)))
    area_in = cv2.contourArea(cv2.convexHull(inl_a.astype(np.float32)))
    return float(min(1.0, area_in / area_all)) if area_all > 0 else 0.0


def _second_motion(
    pa: np.ndarray, pb: np.ndarray, inliers: np.ndarray, m: np.ndarray, side: int, thr: float
) -> bool:
    """Do the matches the main transform rejects agree on a *different* motion of their own?

    A copy's rejected matches are random mistakes; in a burst a subject (or the camera, with
    parallax) moved, and its matches agree on a motion of their own.
    """
    out = ~inliers
    n_out = int(out.sum())
    need = max(SECOND_MOTION_MIN, int(0.04 * len(pa)))
    if n_out < need:
        return False
    qa, qb = pa[out], pb[out]
    m2, inl2 = cv2.estimateAffinePartial2D(
        qb, qa, method=cv2.RANSAC, ransacReprojThreshold=thr * 2 / 3, maxIters=2000, confidence=0.99
    )
    if m2 is None or int(inl2.sum()) < need:
        return False
    sel = inl2.ravel().astype(bool)
    pts = np.hstack([qb[sel], np.ones((int(sel.sum()), 1), np.float32)])
    gap = np.linalg.norm(pts @ m.T - pts @ m2.T, axis=1)
    spread = np.ptp(qa[sel], axis=0).max() if sel.sum() > 1 else 0.0
    # A real second motion: clearly away from the first, over a patch of picture, not a point.
    return bool(np.median(gap) > max(0.01 * side, 2.0 * thr) and spread > 0.03 * side)


def _textureless(p: _Prepared) -> bool:
    return len(p.kps) < MIN_INLIERS * 2


def _direct(a: _Prepared, b: _Prepared) -> VerifyResult:
    """No keypoints to align on (graphics, very soft pictures): compare whole frames under the
    eight right-angle rotations/mirrors, scaled to fit. Finds resized, re-encoded, recoloured
    and turned copies; a crop or small rotation of such an image stays undecided (None)."""
    best: VerifyResult | None = None
    refuted: VerifyResult | None = None  # lined up whole, the strokes differ
    on: Target | None = None  # a at CHECK_SIDE, made once for every turn
    src: Source | None = None  # b's picture mask, made once for every turn
    for k in range(8):
        if abs(turn_ratio(a, b, k) - 1.0) > 0.03:
            continue
        m = dihedral_map(a, b, k)
        on, src = on or target(a), src or source(b)
        # Only a turn that could pass is voted on to the end: most pairs reach here as other
        # photos, and an eighth of their blocks already tells (issue 13, a check's CPU).
        bad, overlap, detail = compare_blocks(
            a, b, m, on=on, src=src, min_overlap=0.8, stop_above=MAX_BAD_BLOCKS / 2
        )
        res = VerifyResult(
            bad <= MAX_BAD_BLOCKS / 2 and overlap >= 0.8 and detail >= MIN_DETAIL_BLOCKS,
            bad_blocks=bad,
            overlap=overlap,
            detail_blocks=detail,
            inlier_ratio=1.0,
            mirrored=k >= 4,
            angle=90.0 * (k % 4),
            reason="same (direct)",
        )
        if res.same:
            # Same-layout pages and screenshots agree at CHECK_SIDE (text lines are stripes
            # there): their strokes must line up too, at the working resolution.
            fine, _, _ = compare_blocks(a, b, m, side=WORK_SIDE, strokes=True, src=src)
            if fine > MAX_BAD_BLOCKS:
                res = replace(res, same=False, reason=R_DIFFERS)
                refuted = refuted or res
        if res.same and (best is None or res.bad_blocks < best.bad_blocks):
            best = res
    return best or refuted or VerifyResult(None, reason="too little texture")


def verify_prepared(a: _Prepared, b: _Prepared, verdict_only: bool = False) -> VerifyResult:
    """Verify two prepared images; tries the mirrored second image when the direct one fails.
    ``verdict_only``: only ``same`` and ``reason`` are read (see :func:`_try`)."""
    if _textureless(a) or _textureless(b):
        return _direct(a, b)
    first = _try(a, b, False, verdict_only)
    if first.same:
        return first
    if first.inliers >= MIN_INLIERS and first.inlier_ratio >= 0.5:
        return first  # aligned well, content differs: a mirror would not help
    second = _try(a, _flipped(b), True, verdict_only)
    if second.same:
        return second
    direct = _direct(a, b)  # soft pictures whose keypoints are mostly noise
    if direct.same or direct.contradicts:
        return direct
    return second if second.inliers > first.inliers else first


def verify_arrays(a: np.ndarray | Image.Image, b: np.ndarray | Image.Image) -> VerifyResult:
    """Verify two images given as grey/RGB arrays or PIL images."""
    return verify_prepared(prepare(a), prepare(b))


class Verifier:
    """Verifies many candidate pairs by path; each file is decoded and prepared once (LRU).

    Entries are keyed by path, size and mtime (a worker's Verifier outlives one chunk of pairs,
    and in-process it outlives a scan: a file changed since is prepared again) and bounded by
    bytes (``cache_mb``), not by count: a 12 MP photo's entry is ~6× a thumbnail's."""

    def __init__(self, cache_size: int = 512, cache_mb: float = 256.0) -> None:
        self._cache: OrderedDict[tuple, _Prepared | None] = OrderedDict()
        self._size = cache_size
        self._budget = int(cache_mb * 2**20)
        self._bytes = 0
        self.prepared = 0  # files decoded and prepared (misses), for benchmarks/verify_rate.py

    def _get(self, path: str | os.PathLike[str]) -> _Prepared | None:
        name = os.fspath(path)
        try:
            st = os.stat(name)
            key: tuple = (name, st.st_size, st.st_mtime_ns)
        except OSError:
            key = (name, -1, -1)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        self.prepared += 1
        try:
            prep: _Prepared | None = prepare(load_gray(name))
        except (OSError, ValueError, Image.DecompressionBombError, cv2.error):
            prep = None
        self._cache[key] = prep
        self._bytes += 0 if prep is None else prep.nbytes
        while len(self._cache) > 1 and (
            len(self._cache) > self._size or self._bytes > self._budget
        ):
            _, old = self._cache.popitem(last=False)
            self._bytes -= 0 if old is None else old.nbytes
        return prep

    def verify(
        self,
        path_a: str | os.PathLike[str],
        path_b: str | os.PathLike[str],
        verdict_only: bool = False,
    ) -> VerifyResult:
        a, b = self._get(path_a), self._get(path_b)
        if a is None or b is None:
            return VerifyResult(None, reason="unreadable")
        return verify_prepared(a, b, verdict_only)

    def refutes(self, path_a: str | os.PathLike[str], path_b: str | os.PathLike[str]) -> bool:
        """The hash grouper's re-check of an uncertain edge: the points contradict it, or,
        when they give no evidence either way, the whole frames do (frame_check.py).
        Embedding candidates (ml_groups.py) are not whole-frame matches and use ``verify``."""
        res = self.verify(path_a, path_b, verdict_only=True)
        if res.contradicts:
            return True
        a, b = self._get(path_a), self._get(path_b)
        if res.same or a is None or b is None:
            return False
        return frames_refute(a, b)
