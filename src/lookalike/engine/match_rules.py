"""When a pair of signatures is "the same photo": the thresholds, and the bound every pair of a
group keeps (grouping.py applies them; tests/test_cliques.py and test_hard_negatives.py hold
them to real photos).

A :class:`Match` is the best framing and turn of two images' DCT signatures: the low-frequency
cosine (the picture's layout), the detail-band cosine (what tells a copy from another shot of
the same scene) and the difference of the compared views' shapes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lookalike.engine.features import perceptual as pc

# A match that needs a rotation or mirror must line up almost perfectly: symmetric scenes
# (a quarter of a round object, a reflected facade) look like turned copies of each other,
# while real turned copies keep both cosines above ~0.99.
TURNED_MIN = (0.97, 0.95)
# The bound every pair of a group keeps (hash mode): two copies that each match the original
# may differ more from each other (a watermark and a heavy re-encode), but only this much:
# a low cosine ≥ low − LINK_FLOOR and a band cosine ≥ band − BAND_FLOOR. The pairs joined by a
# merge also average a score ≥ the threshold score − LINK_SLACK.
LINK_FLOOR = 0.15
BAND_FLOOR = 0.2
LINK_SLACK = 0.08
# Hash edges whose detail band is below this are checked on the pixels too (verify.py): a
# burst frame with a moved subject matches the low frequencies and most of the detail band,
# and so does a mosaic that shares one tile of the same photo with another (0.86–0.89 in the
# 100k scale set, issue 13). Most copies sit above it (the scale set's planted ones ≥ 0.90;
# the corpus's from 0.91 except graphics and heavy blur); those below cost one re-check.
RECHECK_BAND = 0.90
RECHECK_LOW = 0.97  # same for the low frequencies: two pages of one layout match at ~0.96
ALIGNED_BONUS = (0.12, 0.05)
# Views whose aspect ratios differ by more than this (log, ~25 %) are one photo only when
# their signatures agree near-exactly. A copy keeps its shape (a trimmed border or letterbox
# gives it back; a small rotation's inscribed crop moves it ≤ 0.19 in the corpus), while each
# signature squeezes its picture into one square: two pictures of other shapes that share
# only coarse structure — a plain field over a brighter strip, split at the same height —
# match there at low 0.95 / band 0.76, and the pixel check cannot align them to say no.
SHAPE_FREE = 0.22


@dataclass(frozen=True)
class Thresholds:
    """Minimum low-frequency and detail-band cosines for "the same photo"."""

    low: float
    band: float

    def accepts(self, m: Match) -> bool:
        """A verified edge. Pixels that line up well (a high band cosine) excuse a lower low
        cosine: a big watermark over a dark picture moves the low frequencies most."""
        low, band = self.low, self.band
        if not _shape_ok(m):
            return False
        if m.transform != pc.IDENTITY:
            low, band = max(low, TURNED_MIN[0]), max(band, TURNED_MIN[1])
        if m.low >= low and m.band >= band:
            return True
        return m.low >= low - ALIGNED_BONUS[0] and m.band >= band + ALIGNED_BONUS[1]

    def joins(self, cross: Iterable[Match]) -> bool:
        """May two clusters whose cross pairs match like ``cross`` become one group? Only when
        EVERY cross pair lies within the bound (low and detail-band cosines at most
        LINK_FLOOR / BAND_FLOOR under the thresholds) and they agree on average: a bounded
        diameter, so a group is never a chain. ``cross`` is read lazily and the first pair
        out of the bound ends it: two big clusters of a dense component (a video's frames)
        are tried again and again, and matching all their cross pairs each time was most of
        the group stage's CPU there (benchmarks/dense_frames.py)."""
        low, band = self.low - LINK_FLOOR, self.band - BAND_FLOOR
        total, n = 0.0, 0
        for m in cross:
            if m.low < low or m.band < band or not _shape_ok(m):
                return False
            total += m.score
            n += 1
        return total / n >= 0.5 * (self.low + self.band) - LINK_SLACK


def _shape_ok(m: Match) -> bool:
    """Views whose shapes differ by more than SHAPE_FREE match only on near-exact signatures
    (those that need no pixel re-check)."""
    return m.shape <= SHAPE_FREE or (m.low >= RECHECK_LOW and m.band >= RECHECK_BAND)


def thresholds_for(sensitivity: int) -> Thresholds:
    """0 → loosest, 50 → default, 100 → only resized and re-encoded copies."""
    s = max(0, min(100, sensitivity))
    if s <= 50:
        f = s / 50
        return Thresholds(0.70 + 0.10 * f, 0.40 + 0.15 * f)
    f = (s - 50) / 50
    return Thresholds(0.80 + 0.17 * f, 0.55 + 0.40 * f)


@dataclass(frozen=True, slots=True)  # one per matched pair
class Match:
    low: float
    band: float
    transform: int
    shape: float = 0.0  # |log aspect ratio| between the two compared views (after the turn)

    @property
    def score(self) -> float:
        return 0.5 * (self.low + self.band)


NO_MATCH = Match(0.0, 0.0, 0)
