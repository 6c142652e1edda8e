"""Which videos share footage, and where: frame hits → offset votes → segments → a tier.

Two copies of a video show the same pictures at times related by ``tb = ratio·ta + offset``.
Single frame matches are noisy (a black frame, a logo, a static shot matches many things), but
true matches agree on one offset; so, per video pair, matched frame times vote on the offset for
each speed ratio, the strongest peak is walked in time order allowing short gaps, and each run
of at least ``min_samples`` samples spanning ``min_seconds`` becomes a segment. The peak's
matches are removed and the next peak is looked for, so a compilation yields one segment per
piece. Frames that hit many different videos (intros, logos, ads) count less in the score.

Coverage is measured on kept (informative) samples, so black padding or a fade never makes a
copy look partial. Tiers: ``same`` when both videos are ≥ 90 % covered, ``clip`` when the
shorter one is ≥ 80 % covered, else ``partial`` (reported, never grouped or acted on).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from lookalike.engine.index import HashIndex

RATIOS = (1.0, 0.8, 1.25)  # tb / ta: the same speed, and ±25 %
FRAME_RADIUS = 72  # of 256 bits between two frames' canonical hashes
MIN_SAMPLES = 3
MIN_SECONDS = 2.0
GAP_STEPS = 4.0  # a run survives this many steps without a match
MAX_SEGMENTS = 32  # per pair
COMMON_FRAME = 8  # a frame hitting more videos than this counts COMMON_FRAME / n
MIN_WEIGHT = 0.5  # segments made of frames that hit > 2·COMMON_FRAME videos are dropped
SAME_COVER = 0.9
CLIP_COVER = 0.8
EDGE_STEPS = 1.0  # segment ends are known to within about a sample step


@dataclass(frozen=True)
class Segment:
    """Matched footage: [a_start, a_end] of video a shows [b_start, b_end] of video b."""

    a_start: float
    a_end: float
    b_start: float
    b_end: float
    score: float  # mean hit weight × share of the span's samples that matched, in [0, 1]

    def to_json(self) -> dict:
        return {k: round(v, 3) for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, d: dict) -> Segment:
        """From a member's ``segments`` entry (JSON output, the catalog)."""
        return cls(*(float(d[k]) for k in ("a_start", "a_end", "b_start", "b_end", "score")))

    def pairs(self, step: float) -> list[tuple[float, float]]:
        """Moments that show the same picture, one per ``step`` of a's time: (a s, b s) on the
        segment's line — what the app steps through side by side."""
        span = self.a_end - self.a_start
        n = max(1, int(span / step + 1e-6) + 1) if step > 0 else 1
        rate = (self.b_end - self.b_start) / span if span > 0 else 1.0
        out = []
        for k in range(n):
            ta = self.a_start + k * step
            out.append((round(ta, 3), round(self.b_start + (ta - self.a_start) * rate, 3)))
        return out

    def swapped(self) -> Segment:
        return Segment(self.b_start, self.b_end, self.a_start, self.a_end, self.score)


@dataclass(frozen=True)
class Match:
    """The verdict on one video pair."""

    a: int
    b: int
    tier: str  # same / clip / partial
    cover_a: float
    cover_b: float
    segments: tuple[Segment, ...]


def align(
    ta: np.ndarray,
    tb: np.ndarray,
    w: np.ndarray,
    step: float,
    min_samples: int = MIN_SAMPLES,
    min_seconds: float = MIN_SECONDS,
    ratios: tuple[float, ...] = RATIOS,
) -> list[Segment]:
    """Segments from matched frame times ``ta[i] ↔ tb[i]`` (weights ``w``), strongest first."""
    ta = np.asarray(ta, dtype=np.float64)
    tb = np.asarray(tb, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    alive = np.ones(len(ta), dtype=bool)
    out: list[Segment] = []
    while alive.sum() >= min_samples and len(out) < MAX_SEGMENTS:
        idx = np.flatnonzero(alive)
        best: tuple[tuple[int, float], float, float, np.ndarray] | None = None
        for r in ratios:
            off = tb[idx] - r * ta[idx]
            bins = np.round(off / step).astype(np.int64)
            votes: dict[int, float] = defaultdict(float)
            for b, weight in zip(bins, w[idx], strict=True):
                votes[int(b)] += float(weight)
            peak = max(
                sorted(votes),
                key=lambda b: votes[b] + votes.get(b - 1, 0.0) + votes.get(b + 1, 0.0),
            )
            window = np.abs(bins - peak) <= 1
            centre = float(np.median(off[window]))
            near = idx[np.abs(off - centre) <= step]
            picked = _one_per_sample(ta, tb, near, r, centre)
            fit = float(np.abs(tb[picked] - r * ta[picked] - centre).mean()) if len(picked) else 0.0
            # the most matches; on a tie the line that fits them best (then 1.0 first)
            strength = (len(picked), -round(fit, 6))
            if best is None or strength > best[0]:
                best = (strength, r, centre, near)
        if best is None:
            break
        _, r, centre, near = best
        picked = _one_per_sample(ta, tb, near, r, centre)
        segs, used = _walk(ta, tb, w, picked, step, min_samples, min_seconds)
        alive[near] = False
        if not segs:
            continue
        out.extend(segs)
        # matches that pair either side's frames with a used frame are spent too
        used_a = set(np.round(ta[used], 3).tolist())
        used_b = set(np.round(tb[used], 3).tolist())
        for i in np.flatnonzero(alive):
            if round(float(ta[i]), 3) in used_a or round(float(tb[i]), 3) in used_b:
                alive[i] = False
    out.sort(key=lambda s: (-s.score * (s.a_end - s.a_start), s.a_start))
    return out


def _one_per_sample(
    ta: np.ndarray, tb: np.ndarray, near: np.ndarray, ratio: float, centre: float
) -> np.ndarray:
    """At most one match per a-sample and per b-sample: the one closest to the peak's line."""
    if not len(near):
        return near
    err = np.abs(tb[near] - ratio * ta[near] - centre)
    seen_a: set[float] = set()
    seen_b: set[float] = set()
    keep = []
    for i in near[np.argsort(err, kind="stable")]:
        ka, kb = round(float(ta[i]), 3), round(float(tb[i]), 3)
        if ka in seen_a or kb in seen_b:
            continue
        seen_a.add(ka)
        seen_b.add(kb)
        keep.append(i)
    return np.asarray(sorted(keep), dtype=np.int64)


def _walk(
    ta: np.ndarray,
    tb: np.ndarray,
    w: np.ndarray,
    near: np.ndarray,
    step: float,
    min_samples: int,
    min_seconds: float,
) -> tuple[list[Segment], np.ndarray]:
    """Runs along one offset peak: sorted by a's time, split where a gap is too long."""
    if not len(near):
        return [], near
    picked = near[np.argsort(ta[near], kind="stable")]
    runs: list[list[int]] = [[]]
    for i in picked:
        if runs[-1] and ta[i] - ta[runs[-1][-1]] > GAP_STEPS * step + 1e-6:
            runs.append([])
        runs[-1].append(i)
    segs = []
    used: list[int] = []
    for run in runs:
        if len(run) < min_samples:
            continue
        a0, a1 = float(ta[run].min()), float(ta[run].max())
        b0, b1 = float(tb[run].min()), float(tb[run].max())
        if max(a1 - a0, b1 - b0) + 1e-6 < min_seconds:
            continue
        spanned = max(a1 - a0, b1 - b0) / step + 1
        weight = float(w[run].mean())
        if weight < MIN_WEIGHT:  # an intro, a logo, an ad shared by many videos
            continue
        score = weight * min(1.0, len(run) / spanned)
        segs.append(Segment(a0, a1, b0, b1, round(score, 4)))
        used.extend(run)
    return segs, np.asarray(used, dtype=np.int64)


def coverage(times: np.ndarray, spans: list[tuple[float, float]], step: float) -> float:
    """Share of the kept samples lying inside any span, with EDGE_STEPS of slack at each end
    (the first and last matched samples of a speed-changed or tiny copy are often missed)."""
    if not len(times):
        return 0.0
    inside = np.zeros(len(times), dtype=bool)
    for s, e in spans:
        inside |= (times >= s - EDGE_STEPS * step) & (times <= e + EDGE_STEPS * step)
    return float(inside.mean())


def classify(
    segs: list[Segment], times_a: np.ndarray, times_b: np.ndarray, step_a: float, step_b: float
) -> tuple[str, float, float]:
    """(tier, coverage of a, coverage of b) for a pair's segments."""
    ca = coverage(times_a, [(s.a_start, s.a_end) for s in segs], step_a)
    cb = coverage(times_b, [(s.b_start, s.b_end) for s in segs], step_b)
    if ca >= SAME_COVER and cb >= SAME_COVER:
        return "same", ca, cb
    shorter = ca if len(times_a) * step_a <= len(times_b) * step_b else cb
    if shorter >= CLIP_COVER:
        return "clip", ca, cb
    return "partial", ca, cb


@dataclass
class Timeline:
    """One video for matching: kept sample times, index hashes, query hashes and their frame."""

    key: int
    step: float
    times: np.ndarray
    codes: np.ndarray  # (n, 32) best-guess canonical hash per kept frame
    queries: np.ndarray  # (m, 32) every canonical candidate
    owner: np.ndarray  # (m,) frame of each query


def match_videos(
    videos: list[Timeline],
    min_seconds: float = MIN_SECONDS,
    min_samples: int = MIN_SAMPLES,
    radius: int = FRAME_RADIUS,
) -> list[Match]:
    """Every pair of videos that shares footage, with segments and a tier; never all-pairs:
    candidate pairs come from a Hamming range search over all kept frames."""
    if len(videos) < 2:
        return []
    codes = [v.codes for v in videos if len(v.codes)]
    if not codes:
        return []
    all_codes = np.concatenate(codes)
    vid_of = np.concatenate([np.full(len(v.codes), n) for n, v in enumerate(videos)])
    frame_of = np.concatenate([np.arange(len(v.codes)) for v in videos])
    index = HashIndex(all_codes)
    hits: dict[tuple[int, int], dict[tuple[int, int], float]] = defaultdict(dict)
    for n, v in enumerate(videos):
        if not len(v.queries):
            continue
        q, r, _d = index.search(v.queries, radius)
        others = vid_of[r]
        keep = others > n  # each pair once, from its lower video
        # weight: down by the number of other videos this frame hits (intros, logos, ads)
        per_frame: dict[int, set[int]] = defaultdict(set)
        for fq, o in zip(v.owner[q], others, strict=True):
            if o != n:
                per_frame[int(fq)].add(int(o))
        for fq, o, fr in zip(v.owner[q][keep], others[keep], frame_of[r][keep], strict=True):
            weight = min(1.0, COMMON_FRAME / max(1, len(per_frame[int(fq)])))
            hits[(n, int(o))][(int(fq), int(fr))] = weight
    out: list[Match] = []
    for (i, j), pairs in sorted(hits.items()):
        if len(pairs) < min_samples:
            continue
        a, b = videos[i], videos[j]
        fa = np.fromiter((p[0] for p in pairs), dtype=np.int64)
        fb = np.fromiter((p[1] for p in pairs), dtype=np.int64)
        w = np.fromiter(pairs.values(), dtype=np.float64)
        step = max(a.step, b.step)
        segs = align(a.times[fa], b.times[fb], w, step, min_samples, min_seconds)
        if not segs:
            continue
        tier, ca, cb = classify(segs, a.times, b.times, a.step, b.step)
        out.append(Match(a.key, b.key, tier, round(ca, 4), round(cb, 4), tuple(segs)))
    return out
