"""Where a matched segment really starts and ends: its ends walked outward along its line.

The offset vote keeps only frame matches under the frame radius, so a segment ends on its
last *strict* match; in a crop or in slow footage the first and last seconds of shared
footage often match just over that radius, and the segment stops short — up to a second on
a cropped copy of static footage. The alignment already says which moment of b shows a given
moment of a, so each end is walked one sample at a time past the segment: the sample of the
one file just outside, the best of the other file's samples within a step of the line
(static footage puts the line a step or two off), and the pair is taken
while the two frames are within a looser radius (one miss is stepped over, two stop the
walk). It stops where either file has no kept sample on the line (the footage ends: a trim,
a black pad, the other file's start) and never walks into another segment of the pair.
Unrelated frames lie ~128 ± 8 bits apart, so the loose radius still tells them apart.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # video_align calls refine(): no import cycle at run time
    from lookalike.engine.video_align import Segment

MISSES = 1  # samples that may fail in a row while an end is walked outward


class _Frames(Protocol):
    step: float
    times: np.ndarray
    codes: np.ndarray
    queries: np.ndarray
    owner: np.ndarray


def refine(
    segs: list[Segment], a: _Frames, b: _Frames, loose: int, ratios: tuple[float, ...]
) -> list[Segment]:
    """Each segment with both ends walked outward while the frames on its line (the nearest
    of ``ratios`` to its slope) still match within ``loose`` bits: along a's samples, then
    along b's (a sped-up copy runs out of samples before the other file does)."""
    segs = [_refine_one(s, segs, a, b, loose, ratios) for s in segs]
    flipped = [s.swapped() for s in segs]
    return [_refine_one(s, flipped, b, a, loose, ratios).swapped() for s in flipped]


def _refine_one(
    sg: Segment, segs: list[Segment], a: _Frames, b: _Frames, loose: int, ratios: tuple
) -> Segment:
    """Walk outward from each end of ``sg`` along a's samples."""
    span = sg.a_end - sg.a_start
    fit = (sg.b_end - sg.b_start) / span if span > 0 else 1.0
    r = min(ratios, key=lambda x: abs(x - fit))
    others = [(o.a_start, o.a_end) for o in segs if o is not sg]
    ends = {}
    for side, sign in (("start", -1), ("end", 1)):
        ta0, tb0 = getattr(sg, f"a_{side}"), getattr(sg, f"b_{side}")
        ta, tb, prev = ta0, tb0, ta0
        misses = 0
        for i in _outward(a.times, ta0, sign):
            t = float(a.times[i])
            if abs(t - prev) > 1.5 * a.step + 1e-3:
                break  # a's footage has a hole here (dropped frames: black, a fade)
            prev = t
            if any(s - 1e-3 <= t <= e + 1e-3 for s, e in others):
                break
            near = _near(b.times, tb0 + r * (t - ta0), b.step, tb, sign)
            if not len(near):
                break  # b has no footage there
            d = [_distance(a, i, b, j) for j in near]
            if min(d) <= loose:
                ta, tb = t, float(b.times[near[int(np.argmin(d))]])
                misses = 0
            else:
                misses += 1
                if misses > MISSES:
                    break
        ends[side] = (ta, tb)
    (a0, b0), (a1, b1) = ends["start"], ends["end"]
    return replace(sg, a_start=a0, a_end=a1, b_start=min(b0, sg.b_start), b_end=max(b1, sg.b_end))


def _outward(times: np.ndarray, t: float, sign: int) -> np.ndarray:
    """Indices of the samples past ``t`` in direction ``sign``, nearest first."""
    idx = np.flatnonzero((times - t) * sign > 1e-3)
    return idx[np.argsort((times[idx] - t) * sign, kind="stable")]


def _near(times: np.ndarray, t: float, step: float, last: float, sign: int) -> np.ndarray:
    """Samples of ``times`` within a step of ``t`` (the line is known to about a step) and
    past ``last``, the walk's current end on this side; ``last`` itself only while ``t`` is
    still within half a step of it (the other file is sampled more coarsely) — or a whole
    step when ``last`` is the file's last sample (its footage goes on for a step: a sped-up
    copy's last sample stands for its last step; the first sample is the file's start, so
    nothing before it is reused) — else a static first frame would stretch the walk on one
    side alone."""
    past = (times - last) * sign
    ok = np.abs(times - t) <= step + 1e-3
    # a file's last sample stands for the step after it; its first sample is its start
    at_edge = sign > 0 and bool(len(times)) and not (times - last > 1e-3).any()
    reach = step if at_edge else step / 2
    ok &= (past > 1e-3) | ((np.abs(past) <= 1e-3) & (abs(t - last) <= reach + 1e-3))
    return np.flatnonzero(ok)


def _distance(a: _Frames, i: int, b: _Frames, j: int) -> int:
    """Bits between frame i of a (closest orientation candidate) and frame j of b."""
    q = a.queries[a.owner == i]
    if not len(q):
        q = a.codes[i : i + 1]
    return int(np.unpackbits(q ^ b.codes[j], axis=1).sum(axis=1).min())
