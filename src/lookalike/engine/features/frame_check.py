"""Whole frames lined up by a right-angle turn: the hash grouper's last word on an uncertain
edge that the points (verify.py) could not judge.

Why: a hash edge says the two WHOLE frames match (each signature squeezes its picture into one
square), so a copy lines up whole, stretched to fit: resized, re-encoded, recoloured, turned,
given a border (its contents line up), turned a few degrees and cropped (it lines up turned
back). Two mosaics that share only a layout (a plain field beside a darker one) or one tile of
the same photo have too few matching points to align, and a third or more of their blocks
differ however they are laid on each other (issue 13: the 100k scale set's false groups).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from lookalike.engine.features.perceptual import trim_box
from lookalike.engine.features.photometric import (
    CHECK_SIDE,
    Prepared,
    Source,
    Target,
    compare_blocks,
    source,
    target,
)

FRAME_SHAPES = 0.22  # |log aspect| between frames still compared (as match_rules.SHAPE_FREE)
# More disagreeing blocks than this in EVERY way of laying the frames on each other refutes
# the edge. Measured (benchmarks/accuracy.py corpora, 100k scale set): real copies whose
# points gave no verdict ≤ 0.23, the scale set's mosaic look-alikes ≥ 0.28.
FRAMES_DIFFER = 0.25
FRAME_TURNS = (0.0, -3.0, 3.0)  # degrees: a slightly turned copy, cropped to its inscribed frame
FRAME_SIDES = (CHECK_SIDE, CHECK_SIDE // 2)  # fine and coarse: soft pictures agree coarsely
MIN_DETAIL = 12  # fewer detailed blocks: flat where they meet, levels alone prove nothing
MIN_OVERLAP = 0.8


@dataclass
class Frame:
    """A grey picture and its padding mask (what photometric.compare_blocks reads)."""

    work: np.ndarray
    fill: np.ndarray


def turn_ratio(a: Prepared, b: Prepared, k: int) -> float:
    """The ratio of the two frames' aspect ratios once ``b`` is turned by right-angle
    turn/mirror ``k`` (1.0: the turn fits ``b``'s whole frame on ``a``'s unstretched)."""
    hb, wb = b.work.shape
    h2, w2 = (hb, wb) if k % 2 == 0 else (wb, hb)
    ha, wa = a.work.shape
    return (w2 / h2) / (wa / ha)


def dihedral_map(a: Prepared, b: Prepared, k: int) -> np.ndarray:
    """The 2x3 map of right-angle turn/mirror ``k`` of ``b``'s whole frame onto ``a``'s (scaled
    to fit; whether the turn fits unstretched is :func:`turn_ratio`'s)."""
    hb, wb = b.work.shape
    # The turn/mirror moves corners to corners: where it puts them is where it puts the four
    # corners of a 2 × 2 grid (was: the whole frame's pixel numbers turned, per map).
    corners = np.array([[(0, 0), (wb - 1, 0)], [(0, hb - 1), (wb - 1, hb - 1)]], np.float32)
    ops = np.rot90(corners, k % 4)
    if k >= 4:
        ops = ops[:, ::-1]
    ha, wa = a.work.shape
    # Affine from the three corners of the op's output back to b's pixel grid.
    src = np.ascontiguousarray([ops[0, 0], ops[0, -1], ops[-1, 0]], dtype=np.float32)
    dst = np.array([[0, 0], [wa - 1, 0], [0, ha - 1]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def frames_differ(a: Prepared, b: Prepared) -> float | None:
    """The smallest share of disagreeing blocks over every way of laying ``b`` on ``a`` (turn,
    a few degrees, whole frame or contents, fine or coarse) when it is above FRAMES_DIFFER:
    evidence that they are other pictures. None: no evidence (one way agrees, or none had
    enough detail and overlap to say)."""
    best: float | None = None
    for fa, fb, m, side, on, src in _laid(a, b):
        bad, overlap, detail = compare_blocks(
            fa, fb, m, side=side, on=on, src=src, min_overlap=MIN_OVERLAP
        )
        if detail < MIN_DETAIL or overlap < MIN_OVERLAP:
            continue
        if bad <= FRAMES_DIFFER:
            return None
        best = bad if best is None else min(best, bad)
    return best


def frames_refute(a: Prepared, b: Prepared) -> bool:
    """``frames_differ(a, b) is not None``, sooner: the re-check asks only whether the frames
    refute the pair, so a layout's vote stops once its blocks differ above FRAMES_DIFFER
    (compare_blocks' ``stop_above``; most ways of laying two other pictures on each other do,
    and a refuted pair tries them all). Until one layout has had the detail to count, a vote
    stops only with that detail counted (``stop_detail``) (issue 13, a re-check's CPU)."""
    counted = False  # a layout with the detail and overlap to say, all above FRAMES_DIFFER
    for fa, fb, m, side, on, src in _laid(a, b):
        bad, overlap, detail = compare_blocks(
            fa,
            fb,
            m,
            side=side,
            on=on,
            src=src,
            min_overlap=MIN_OVERLAP,
            stop_above=FRAMES_DIFFER,
            stop_detail=0 if counted else MIN_DETAIL,
        )
        if detail < MIN_DETAIL or overlap < MIN_OVERLAP:
            continue  # stopped with less detail: it differs above FRAMES_DIFFER anyway
        if bad <= FRAMES_DIFFER:
            return False
        counted = True
    return counted


Laid = tuple[Prepared, Prepared, np.ndarray, int, Target, Source]


def _laid(a: Prepared, b: Prepared) -> Iterator[Laid]:
    """Each layout of :func:`_layouts` at each side of FRAME_SIDES, with ``a``'s framing made
    ready for that side once and ``b``'s framing made ready to be laid once (each kept with
    its framing, so the framing's id is not reused meanwhile)."""
    targets: dict[tuple[int, int], tuple[Prepared, Target]] = {}
    sources: dict[int, tuple[Prepared, Source]] = {}
    for fa, fb, m in _layouts(a, b):
        if id(fb) not in sources:
            sources[id(fb)] = (fb, source(fb))
        for side in FRAME_SIDES:
            if (id(fa), side) not in targets:
                targets[(id(fa), side)] = (fa, target(fa, side))
            yield fa, fb, m, side, targets[(id(fa), side)][1], sources[id(fb)][1]


def _layouts(a: Prepared, b: Prepared) -> Iterator[tuple[Prepared, Prepared, np.ndarray]]:
    """(frame of a, frame of b, map of b onto a) for each framing, right-angle turn of shape
    within FRAME_SHAPES, and small turn; the plain whole-frame fit first (a copy stops there)."""
    frames_b = _framings(b)  # once: its contents' frame is one object in every layout
    for fa in _framings(a):
        for fb in frames_b:
            for k in range(8):
                if abs(np.log(turn_ratio(fa, fb, k))) > FRAME_SHAPES:
                    continue
                m = dihedral_map(fa, fb, k)
                for deg in FRAME_TURNS:
                    yield fa, fb, _turned(m, deg, fa.work.shape)


def _framings(p: Prepared) -> list[Prepared]:
    """The whole frame, then its contents inside uniform borders when it has any."""
    h, w = p.work.shape
    top, bottom, left, right = trim_box(p.work[..., None])
    if (top, bottom, left, right) == (0, h, 0, w) or bottom - top < 16 or right - left < 16:
        return [p]
    inner = np.ascontiguousarray(p.work[top:bottom, left:right])
    return [p, Frame(inner, np.zeros(inner.shape, bool))]


def _turned(m: np.ndarray, degrees: float, shape: tuple[int, int]) -> np.ndarray:
    """``m`` followed by a turn of ``degrees`` about the centre of the target frame."""
    if not degrees:
        return m
    h, w = shape
    turn = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), [0, 0, 1]])
    return (turn @ np.vstack([m, [0, 0, 1]]))[:2]
