"""The photometric half of verification: warp one picture onto the other and compare small
blocks by normalised cross-correlation. Robust to colour, gamma, blur and JPEG; a moved subject,
a blink or parallax leaves blocks that disagree, a copy leaves (almost) none.

Kept apart from verify.py (the geometric half and the verdict) so each stays one idea.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class Target:
    """``a``'s half of :func:`compare_blocks` at one check side, made once for every way ``b``
    is laid on it (the right-angle turns of verify._direct, frame_check's layouts), where each
    of them used to resize, mask and blur ``a`` again (issue 13, a check's CPU)."""

    fa: float  # check side / a's working side
    ga: np.ndarray  # a's grey at the check side
    fill: np.ndarray | None  # a's padding at the check side (None: none)
    area: float  # a's picture area (pixels at the check side, padding left out)
    xa: np.ndarray  # ga blurred, float32


def target(a: Prepared, side: int = CHECK_SIDE) -> Target:
    """``a`` made ready to have pictures compared with it at ``side``."""
    side = min(side, max(a.work.shape))
    fa = side / max(a.work.shape)
    ga = fit_side(a.work, side)
    ha, wa = ga.shape
    fill_a = fit_side(a.fill.astype(np.uint8), side).astype(bool) if a.fill.any() else None
    area_a = float(ha * wa) - (0.0 if fill_a is None else float(fill_a.sum()))
    xa = cv2.GaussianBlur(ga.astype(np.float32), (0, 0), 1.2)
    return Target(fa, ga, fill_a, area_a, xa)


@dataclass
class Source:
    """``b``'s half of :func:`compare_blocks`, made once for every map ``b`` is laid on ``a``
    by (frame_check's layouts, verify._direct's turns), where each of them used to mask and
    count ``b``'s padding again (issue 13, session 14: ~10 % of the frames' refutation)."""

    valid: np.ndarray  # uint8: 1 on b's picture, 0 on its padding (at b's working side)
    area: float  # b's picture pixels (padding left out) at b's working side


def source(b: Prepared) -> Source:
    """``b`` made ready to be laid on pictures by :func:`compare_blocks`."""
    valid = np.ones(b.work.shape, np.uint8)
    valid[b.fill] = 0
    return Source(valid, float((~b.fill).sum()))


def compare_blocks(
    a: Prepared,
    b: Prepared,
    m: np.ndarray,
    side: int = CHECK_SIDE,
    strokes: bool = False,
    *,
    on: Target | None = None,
    src: Source | None = None,
    min_overlap: float = 0.0,
    stop_above: float | None = None,
    stop_detail: int = 0,
) -> tuple[float, float, int]:
    """Share of disagreeing blocks after warping ``b`` onto ``a``, the overlap share, and how
    many blocks carried detail (flat blocks agree with anything flat: a night sky, a wall).

    ``on``: ``target(a, side)``, when the caller lays several maps on one ``a``; ``src``:
    ``source(b)``, when it lays ``b`` by several maps. A caller that
    only asks "do at most ``stop_above`` of the blocks differ, over at least ``min_overlap``?"
    gets ``(1.0, overlap, detail)`` as soon as the answer is no (a smaller overlap: detail 0,
    or every eighth row of blocks already holding more differing blocks than that share of all
    of them: the detail counted there, a floor of the whole vote's): the same answer, without
    voting on every block."""
    on = on or target(a, side)
    src = src or source(b)
    ga, fill_a = on.ga, on.fill
    ha, wa = ga.shape
    # m maps b.work → a.work; bring it to ``side`` on the ``a`` side only.
    mm = m.astype(np.float64) * on.fa
    gb = cv2.warpAffine(b.work, mm, (wa, ha), flags=cv2.INTER_AREA, borderValue=0)
    valid = cv2.warpAffine(src.valid, mm, (wa, ha), flags=cv2.INTER_NEAREST, borderValue=0)
    valid = cv2.erode(valid, np.ones((5, 5), np.uint8)).astype(bool)
    if fill_a is not None:
        valid &= ~fill_a
    area_b = src.area * (on.fa * on.fa) * (m[0, 0] ** 2 + m[0, 1] ** 2)
    overlap = float(valid.sum()) / max(1.0, min(on.area, area_b))
    if overlap < min_overlap:
        return 1.0, overlap, 0
    xa = on.xa
    xb = cv2.GaussianBlur(gb.astype(np.float32), (0, 0), 1.2)
    # Global gain/offset fit inside the overlap: brightness/contrast edits cancel out.
    va, vb = xa[valid], xb[valid]
    if va.size < BLOCK * BLOCK * 4:
        return 1.0, overlap, 0
    sa, sb = va.std(), vb.std()
    if sb > 1e-3:
        xb = (xb - vb.mean()) * (sa / sb) + va.mean()
    if stop_above is None:
        bad, detail = _block_votes(xa, xb, ga, gb, valid, strokes)
    else:
        stop = {"stop_above": stop_above, "stop_detail": stop_detail}
        bad, detail = _block_votes(xa, xb, ga, gb, valid, strokes, **stop)
    return bad, overlap, detail


def _block_counts(mask: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """(ny, nx) counts of a bool mask's pixels in each BLOCK x BLOCK tile, exact, from its
    summed-area table (a sum over the tiles' axes cost ~7x as much: ~0.1 ms a vote)."""
    s = cv2.integral(np.ascontiguousarray(mask[: ny * BLOCK, : nx * BLOCK]).view(np.uint8))
    b = BLOCK
    return s[b::b, b::b] - s[:-b:b, b::b] - s[b::b, :-b:b] + s[:-b:b, :-b:b]


def _block_stats(x: np.ndarray, w: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mean and standard deviation of each block's valid pixels (w: 0/1 weights), and the
    pixels' deviations from the mean (0 where not valid)."""
    mean = (x * w).sum(axis=1) / n
    dev = (x - mean[:, None]) * w
    return mean, np.sqrt((dev * dev).sum(axis=1) / n), dev


def _blocks(a: np.ndarray, ny: int, nx: int, rows: np.ndarray | None = None) -> np.ndarray:
    """(blocks, BLOCK²) float64: the image cut into BLOCK × BLOCK tiles, row by row (only the
    rows of blocks ``rows`` when given)."""
    t = a[: ny * BLOCK, : nx * BLOCK].reshape(ny, BLOCK, nx, BLOCK)
    t = (t if rows is None else t[rows]).astype(np.float64)
    return t.transpose(0, 2, 1, 3).reshape(-1, BLOCK * BLOCK)


def _block_votes(
    xa: np.ndarray,
    xb: np.ndarray,
    ga: np.ndarray,
    gb: np.ndarray,
    valid: np.ndarray,
    strokes: bool,
    stop_above: float | None = None,
    stop_detail: int = 0,
) -> tuple[float, int]:
    """Per block of the overlap: do the two pictures agree (NCC on textured blocks, levels on
    flat ones)? Returns the share that disagree and how many carried detail. All blocks at
    once (the re-check's hot spot: a loop over blocks cost ~0.2 s a pair).

    ``stop_above`` (not with ``strokes``): the rows of blocks are voted on an eighth at a time
    (every eighth row, then the rows between), and once the unclipped blocks that differ are
    already more than that share of all the blocks compared, the answer is ``(1.0, detail so
    far)``: whatever the other rows say, the share is above it (clipped blocks only ever add to
    both counts, up to all the blocks compared), and the detail of all the rows is at least
    that counted so far (it stops only with ``stop_detail`` counted). Measured on the 1 000-file
    set's candidate pairs: every vote of the whole-frame fallback stopped after the first eighth.
    The eighths are voted on in batches (:func:`_batches`): an eighth after which the vote
    cannot stop yet is voted on with the next, in one pass (session 14: a layout of the frames'
    refutation, above a quarter, can stop after three eighths at the soonest)."""
    ha, wa = ga.shape
    ny, nx = ha // BLOCK, wa // BLOCK
    if ny == 0 or nx == 0:
        return 1.0, 0
    # Clipped highlights/shadows carry no evidence (a brightness edit blows them out).
    clipped = (ga >= 250) | (ga <= 5) | (gb >= 250) | (gb <= 5)
    # A block is voted on when 90 % of its pixels are valid, and is clipped when 30 % are: both
    # counted in integers (the shares are exact either way), the 0/1 weights of valid pixels
    # made only for the rows a batch votes on.
    used = _block_counts(valid, ny, nx) / (BLOCK * BLOCK) >= 0.9
    clipped_share = _block_counts(clipped, ny, nx) / (BLOCK * BLOCK)
    n_used = int(used.sum())
    every = np.arange(ny)
    # One row of blocks in eight at a time, spread over the picture, while the answer may stop.
    staged = stop_above is not None and not strokes
    stages = [every[r::8] for r in (0, 4, 2, 6, 1, 5, 3, 7) if r < ny] if staged else [every]
    per_row = used.sum(axis=1)
    sizes = [int(per_row[rows].sum()) for rows in stages]
    counts = np.zeros(8, np.int64)
    done = 0
    while done < len(stages):
        upto = _batches(sizes, done, counts, n_used, stop_above, stop_detail) if staged else 1
        rows = stages[done] if upto == done + 1 else np.concatenate(stages[done:upto])
        done = upto
        keep = used[rows].ravel()
        w = _blocks(valid, ny, nx, rows)[keep]
        clip = clipped_share[rows].ravel()[keep] > 0.3
        pa, pb = _blocks(xa, ny, nx, rows)[keep], _blocks(xb, ny, nx, rows)[keep]
        counts += _votes(pa, pb, w, clip)
        over = staged and n_used and int(counts[0]) / n_used > stop_above  # type: ignore[operator]
        if over and int(counts[2]) >= stop_detail:
            return 1.0, int(counts[2])
    bad, total, detail, c_bad, c_total, c_detail, f_total, f_bad = (int(x) for x in counts)
    if strokes:  # fine pass: strokes count
        total += f_total
        detail += f_total
        bad += f_bad
    if total < 8:
        bad, total, detail = bad + c_bad, total + c_total, detail + c_detail
    if total == 0:
        return 1.0, 0
    return bad / total, detail


def _batches(
    sizes: list[int], done: int, counts: np.ndarray, n_used: int, above: float, detail: int
) -> int:
    """Where the next batch of eighths ends (exclusive): at the first eighth after which the
    vote could stop. Each block adds at most one to the differing and to the detailed count,
    so until the batch's blocks reach what the stop still lacks (differing blocks above
    ``above`` of ``n_used`` that are not there yet, detail up to ``detail``) no eighth inside
    it could have stopped the vote: voting on them together answers as one at a time."""
    bad, seen = int(counts[0]), int(counts[2])
    lack_bad = 0 if n_used and bad / n_used > above else int(above * n_used) - bad
    need = max(lack_bad, detail - seen, 1)
    upto, got = done, 0
    while upto < len(sizes) and (got < need or upto == done):
        got += sizes[upto]
        upto += 1
    return upto


def _votes(pa: np.ndarray, pb: np.ndarray, w: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Counts over these blocks (each alone: a block's vote depends on its pixels only):
    unclipped bad, total, detail; clipped bad, total, detail; strokes total, bad."""
    n = w.sum(axis=1)
    ma, sa, da = _block_stats(pa, w, n)
    mb, sb, db = _block_stats(pb, w, n)
    # = ((pa - ma) * (pb - mb) * w).sum(axis=1) / n to the bit, w being 0 or 1 (at most a
    # zero's sign differs, which no comparison below sees), with three passes fewer
    cov = (da * db).sum(axis=1) / n
    ncc = cov / (sa * sb + 1e-6)
    hi, lo = np.maximum(sa, sb), np.minimum(sa, sb)
    # clipped blocks, kept aside: only used when a picture is nearly all clipped (silhouettes,
    # scans of black-on-white), where levels are the only evidence there is; text on a white
    # page: the strokes must line up, not only the levels
    levels_differ = np.abs(ma - mb) > 40.0
    c_differs = levels_differ | ((lo >= DETAIL_STD) & (ncc < 0.55))
    # unclipped blocks: flat ones compare levels, textured ones NCC and contrast
    body = ~clip
    flat = body & (sa < 3.0) & (sb < 3.0)
    tex = body & ~flat
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), 0.0)
    fine = clip & (lo >= DETAIL_STD)
    return np.array(
        [
            (flat & (np.abs(ma - mb) > 18.0)).sum() + (tex & ((ncc < 0.55) | (ratio < 0.3))).sum(),
            body.sum(),
            (tex & (hi >= DETAIL_STD)).sum(),
            (c_differs & clip).sum(),
            clip.sum(),
            (clip & (hi >= DETAIL_STD)).sum(),
            fine.sum(),
            (fine & c_differs).sum(),
        ],
        np.int64,
    )
