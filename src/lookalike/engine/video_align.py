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
from lookalike.engine.unionfind import UnionFind
from lookalike.engine.video_edges import refine

RATIOS = (1.0, 0.8, 1.25)  # tb / ta: the same speed, and ±25 %
SPEED_MARGIN = 1.25  # another speed must beat the same speed's support by this factor
SHARP = 3  # a line is as strong as the sum of its matches' closeness to this power
FRAME_RADIUS = 72  # of 256 bits between two frames' canonical hashes
MIN_SAMPLES = 3
MIN_SECONDS = 2.0
GAP_STEPS = 4.0  # a run survives this many steps without a match...
GAP_SECONDS = 1.0  # ...and at least this long (short clips are sampled densely)
END_RESIDUAL = 1.0  # steps off the line through the rest of a run that drop its end match
MAX_SEGMENTS = 32  # per pair
COMMON_FRAME = 8  # a frame hitting more copy-sets than this counts COMMON_FRAME / n
MIN_WEIGHT = 0.5  # segments made of frames that hit > 2·COMMON_FRAME videos are dropped
SAME_COVER = 0.9
CLIP_COVER = 0.8
EDGE_STEPS = 1.0  # segment ends are known to within about a sample step (see _spans)
EDGE_LOOSE = 32  # bits over the frame radius for the two samples just past a segment's end
EDGE_WALK = 24  # bits over the frame radius while a segment's ends are walked (video_edges)


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
    sim: np.ndarray | None = None,
) -> list[Segment]:
    """Segments from matched frame times ``ta[i] ↔ tb[i]`` (weights ``w``), strongest first.

    ``sim`` (0..1 per match, 1 = identical frames) decides between lines: in static footage
    a line one sample off also finds a match for most samples, but worse ones."""
    ta = np.asarray(ta, dtype=np.float64)
    tb = np.asarray(tb, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sim = np.ones(len(ta)) if sim is None else np.asarray(sim, dtype=np.float64)
    alive = np.ones(len(ta), dtype=bool)
    out: list[Segment] = []
    while alive.sum() >= min_samples and len(out) < MAX_SEGMENTS:
        idx = np.flatnonzero(alive)
        best: tuple[tuple[float, float], float, float, np.ndarray] | None = None
        raw: dict[float, tuple[float, float, np.ndarray]] = {}
        for r in ratios:
            off = tb[idx] - r * ta[idx]
            bins = np.round(off / step).astype(np.int64)
            votes: dict[int, float] = defaultdict(float)
            for b, weight in zip(bins, w[idx] * sim[idx], strict=True):
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
            # the most (and closest) matches; on a tie the line that fits best (then 1.0 first)
            raw[r] = (
                _support(ta, tb, _in_runs(ta, tb, picked, near, step, min_samples), sim),
                centre,
                near,
            )
            support = raw[r][0] / (1.0 if r == 1.0 else SPEED_MARGIN)
            strength = (round(support, 6), -round(fit, 6))
            if best is None or strength > best[0]:
                best = (strength, r, centre, near)
        if best is None:
            break
        _, r, centre, near = best
        picked = _one_per_sample(ta, tb, near, r, centre)
        r2 = _slope_ratio(ta, tb, picked, ratios, step)
        if r2 != r and raw[r2][0] >= raw[r][0]:
            # the winner's own matches run along another speed that has as much support: the
            # margin only favours the same speed, it must not cut a sped-up run short
            r, centre, near = r2, raw[r2][1], raw[r2][2]
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


def _slope_ratio(
    ta: np.ndarray, tb: np.ndarray, picked: np.ndarray, ratios: tuple[float, ...], step: float
) -> float:
    """The ratio nearest the least-squares slope of the picked matches. A line of the wrong
    speed keeps the matches within a step of it: over a short run those are a piece of the
    true line, whose slope they still show (a 0.8x run read at 1.0x loses its last steps)."""
    run = max(_runs(ta, tb, picked, step), key=len, default=[])
    if len(run) < MIN_SAMPLES or np.ptp(ta[run]) < 2 * step:
        return min(ratios, key=lambda x: abs(x - 1.0))
    slope = float(np.polyfit(ta[run], tb[run], 1)[0])
    return min(ratios, key=lambda x: abs(x - slope))


def _runs(ta: np.ndarray, tb: np.ndarray, near: np.ndarray, step: float) -> list[list[int]]:
    """``near`` sorted by a's time, split where a gap is too long to bridge, each run's ends
    trimmed to its own line (:func:`_on_line`)."""
    runs: list[list[int]] = [[]]
    for i in near[np.argsort(ta[near], kind="stable")]:
        if runs[-1] and ta[i] - ta[runs[-1][-1]] > max(GAP_STEPS * step, GAP_SECONDS) + 1e-6:
            runs.append([])
        runs[-1].append(int(i))
    return [_on_line(ta, tb, r, step) for r in runs if r]


def _on_line(ta: np.ndarray, tb: np.ndarray, run: list[int], step: float) -> list[int]:
    """The run without end matches that leave the line fitted through the rest of it by more
    than END_RESIDUAL steps. The offset window is a step or two wide, so a spurious hit a few
    steps past the footage's end can still fall in it — and a gap is bridged to reach it: the
    segment would end steps out. True ends lie on the run's line within the b grid's rounding."""
    run = list(run)
    for end in (-1, 0):
        while len(run) > MIN_SAMPLES:
            rest = run[:-1] if end == -1 else run[1:]
            x, y = ta[rest], tb[rest]
            if np.ptp(x) < step:
                break
            slope, icpt = np.polyfit(x, y, 1)
            if abs(slope * ta[run[end]] + icpt - tb[run[end]]) <= END_RESIDUAL * step:
                break
            run = rest
    return run


def _support(ta: np.ndarray, tb: np.ndarray, near: np.ndarray, sim: np.ndarray) -> float:
    """How well a line is supported: per sample of one side, its closest match near the line
    (to the power SHARP), summed — on the side where that is most. One match per sample of
    *both* sides would favour a wrong speed in slow footage when one file is sampled more
    coarsely: stretched along the coarse file, the line reaches more of its samples."""
    best = 0.0
    for t in (ta, tb):
        top: dict[float, float] = {}
        for i in near:
            k = round(float(t[i]), 3)
            top[k] = max(top.get(k, 0.0), float(sim[i]))
        best = max(best, float(sum(v**SHARP for v in top.values())))
    return best


def _in_runs(
    ta: np.ndarray,
    tb: np.ndarray,
    picked: np.ndarray,
    near: np.ndarray,
    step: float,
    min_samples: int,
) -> np.ndarray:
    """The matches of ``near`` inside the a-spans of the line's runs that can become segments.

    A line's support counts only footage: a stray hit far along it (another scene that
    happens to fall on the same offset) made a same-speed line through part of a short
    sped-up run outweigh the sped-up line through all of it (Hypothesis found one)."""
    spans = [
        (ta[run].min() - step / 2, ta[run].max() + step / 2)
        for run in _runs(ta, tb, picked, step)
        if len(run) >= min_samples
    ]
    if not spans:
        return near[:0]
    t = ta[near]
    inside = np.zeros(len(near), dtype=bool)
    for lo, hi in spans:
        inside |= (t >= lo) & (t <= hi)
    return near[inside]


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
    segs = []
    used: list[int] = []
    for run in _runs(ta, tb, near, step):
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


def coverage(times: np.ndarray, spans: list[tuple[float, float]]) -> float:
    """Share of the kept samples lying inside any span (spans already carry their slack)."""
    if not len(times):
        return 0.0
    inside = np.zeros(len(times), dtype=bool)
    for s, e in spans:
        inside |= (times >= s - 1e-3) & (times <= e + 1e-3)
    return float(inside.mean())


def _spans(
    segs: list[Segment],
    mine: str,
    times: tuple[np.ndarray, np.ndarray],
    steps: tuple[float, float],
    codes: tuple[np.ndarray, np.ndarray] | None,
    loose: int,
) -> list[tuple[float, float]]:
    """Segment spans in one file (``mine``: "a" or "b"), each end widened by EDGE_STEPS where
    the edge match was plausibly just missed (speed, crop): both files go on past that end and,
    when the frames' codes are known, the two next samples still look alike (≤ ``loose``
    bits). Footage the other file lacks (a trim) or shows differently (the next piece of a
    compilation) is never counted as shared."""
    me, ot = (0, 1) if mine == "a" else (1, 0)
    other = "b" if mine == "a" else "a"
    out = []
    for sg in segs:
        ends = []
        for side, sign in (("start", -1), ("end", 1)):
            t_me = getattr(sg, f"{mine}_{side}")
            t_ot = getattr(sg, f"{other}_{side}")
            n_me = _next_sample(times[me], t_me, sign, steps[me])
            n_ot = _next_sample(times[ot], t_ot, sign, steps[ot])
            ok = n_me is not None and n_ot is not None
            if ok and codes is not None:
                d = np.unpackbits(codes[me][n_me] ^ codes[ot][n_ot]).sum()
                ok = int(d) <= loose
            ends.append(t_me + sign * (EDGE_STEPS * steps[me] if ok else 0.0))
        out.append((ends[0], ends[1]))
    return out


def _next_sample(times: np.ndarray, t: float, sign: int, step: float) -> int | None:
    """The kept sample just before (sign −1) or after (+1) ``t``, if within 1.5 steps."""
    gap = (times - t) * sign
    cand = np.flatnonzero((gap > 1e-3) & (gap <= 1.5 * step + 1e-3))
    if not len(cand):
        return None
    return int(cand[np.argmin(gap[cand])])


def classify(
    segs: list[Segment],
    times_a: np.ndarray,
    times_b: np.ndarray,
    step_a: float,
    step_b: float,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
    loose: int = FRAME_RADIUS + EDGE_LOOSE,
) -> tuple[str, float, float]:
    """(tier, coverage of a, coverage of b) for a pair's segments; ``codes`` (each file's
    frame hashes) let a segment's edge slack be checked on the pictures."""
    times, steps = (times_a, times_b), (step_a, step_b)
    ca = coverage(times_a, _spans(segs, "a", times, steps, codes, loose))
    cb = coverage(times_b, _spans(segs, "b", times, steps, codes, loose))
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
    candidate pairs come from a Hamming range search over all kept frames.

    Frames that hit many videos (intros, logos, ads) count less — but copies of one video are
    not "many videos": a first pass finds the ``same`` copies, and a frame's weight is
    COMMON_FRAME / the number of distinct copy-sets it hits. Only pairs with a frame over
    that bar are aligned again with the weights."""
    pairs, seen = _frame_hits(videos, radius)
    loose = radius + EDGE_LOOSE
    edge = radius + EDGE_WALK

    def verdict(i: int, j: int, weights: np.ndarray | None) -> Match | None:
        a, b = videos[i], videos[j]
        keys = list(pairs[(i, j)])
        fa = np.fromiter((k[0] for k in keys), dtype=np.int64, count=len(keys))
        fb = np.fromiter((k[1] for k in keys), dtype=np.int64, count=len(keys))
        sim = np.fromiter(pairs[(i, j)].values(), dtype=np.float64, count=len(keys))
        w = np.ones(len(keys)) if weights is None else weights
        step = max(a.step, b.step)
        segs = align(a.times[fa], b.times[fb], w, step, min_samples, min_seconds, sim=sim)
        if not segs:
            return None
        codes = (a.codes, b.codes)
        walked = refine(segs, a, b, edge, RATIOS)
        tier, ca, cb = classify(walked, a.times, b.times, a.step, b.step, codes, loose)
        if (
            tier == "same"
            and classify(segs, a.times, b.times, a.step, b.step, codes, loose)[0] != "same"
        ):
            # the walk's looser frames place the ends, never alone make a copy: in static
            # footage they match a step or two past where the shared footage ends, and a
            # clip called "same" is acted on by default
            tier = "clip"
        segs = walked
        return Match(a.key, b.key, tier, round(ca, 4), round(cb, 4), tuple(segs))

    todo = sorted(p for p, hit in pairs.items() if len(hit) >= min_samples)
    first = {p: verdict(*p, None) for p in todo}
    copies: UnionFind[int] = UnionFind(range(len(videos)))
    for (i, j), m in first.items():
        if m is not None and m.tier == "same":
            copies.union(i, j)
    weight_of: dict[tuple[int, int], float] = {}
    for (n, f), others in seen.items():
        sets = {copies.find(o) for o in others if copies.find(o) != copies.find(n)}
        if len(sets) > COMMON_FRAME:
            weight_of[(n, f)] = COMMON_FRAME / len(sets)
    out: list[Match] = []
    for i, j in todo:
        w = np.fromiter(
            (
                min(weight_of.get((i, fa), 1.0), weight_of.get((j, fb), 1.0))
                for fa, fb in pairs[(i, j)]
            ),
            dtype=np.float64,
        )
        m = verdict(i, j, w) if (w < 1.0).any() else first[(i, j)]
        if m is not None:
            out.append(m)
    return out


def _frame_hits(
    videos: list[Timeline], radius: int
) -> tuple[dict[tuple[int, int], dict[tuple[int, int], float]], dict[tuple[int, int], set[int]]]:
    """Matched frames per video pair ``(i, j)``, i < j: ``{(frame of i, frame of j): similarity
    0..1}`` (closest orientation candidate), and per ``(video, frame)`` the other videos it hits
    (only for frames that hit more than COMMON_FRAME videos)."""
    pairs: dict[tuple[int, int], dict[tuple[int, int], float]] = defaultdict(dict)
    seen: dict[tuple[int, int], set[int]] = defaultdict(set)
    codes = [v.codes for v in videos if len(v.codes)]
    if len(videos) < 2 or not codes:
        return pairs, seen
    vid_of = np.concatenate([np.full(len(v.codes), n) for n, v in enumerate(videos)])
    frame_of = np.concatenate([np.arange(len(v.codes)) for v in videos])
    index = HashIndex(np.concatenate(codes))
    for n, v in enumerate(videos):
        if not len(v.queries):
            continue
        q, r, dist = index.search(v.queries, radius)
        others = vid_of[r]
        per_frame: dict[int, set[int]] = defaultdict(set)
        for fq, o in zip(v.owner[q], others, strict=True):
            if o != n:
                per_frame[int(fq)].add(int(o))
        # only a frame hitting more videos than COMMON_FRAME can hit that many copy-sets:
        # the rest are not kept (memory stays ~ the number of such frames)
        seen.update({(n, f): o for f, o in per_frame.items() if len(o) > COMMON_FRAME})
        keep = others > n  # each pair once, from its lower video
        for fq, o, fr, d in zip(
            v.owner[q][keep], others[keep], frame_of[r][keep], dist[keep], strict=True
        ):
            hit = pairs[(n, int(o))]
            key = (int(fq), int(fr))
            hit[key] = max(1.0 - float(d) / (radius + 1), hit.get(key, 0.0))
    return pairs, seen
