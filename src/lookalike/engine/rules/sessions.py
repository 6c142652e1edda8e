"""Frames of one shooting session are different shots, never copies of one photo.

Why: a night-sky session, a time-lapse or a burst holds frames that differ by a pixel of
drift and their own sensor noise. The signatures cannot tell such a new exposure from a
copy, so the grouper can put them in one "same" group, and scan actions and accept-all act
on "same" groups: ``--action trash`` would throw away the subframes kept for stacking.

A camera writes each frame's capture time (EXIF DateTimeOriginal to the second,
SubSecTimeOriginal below it). A copy (re-save, resize, conversion, export) keeps its
original's capture time or loses it, and an edited copy is no camera original
(``rules/evidence.py`` ``camera_original``: camera or capture date, no editor, not modified
after capture). So two camera originals with different capture times are two shots, and a
"same" group holding such a pair becomes "similar": look-alike shots, which nothing acts on
unless ``--tier similar`` asks (actions/plan.py ``ACT_TIERS``).

The whole group changes tier, re-saves of a frame included (they stay beside their frame,
not acted on by default): splitting it by shot is left to the pixels. Photos only: video
groups are built by ``video_groups.py`` from aligned frames and never come here. Files with
no capture time (stripped, rendered, most of a scanner's) are judged as before.
"""

from __future__ import annotations

from collections.abc import Sequence

REASON = "frames taken at different times (camera originals): look-alike shots, not copies"


def different_shots(evidence: Sequence[dict | None], provs: Sequence[dict | None]) -> bool:
    """Whether two of a group's files are camera originals taken at different times
    (``evidence``: each file's ``evidence.analyse`` facts, ``provs`` its measured
    provenance, same order). Sub-seconds count only where both files have them: a burst
    shot within one second differs there, a copy that dropped the tag does not."""
    seconds: set[str] = set()
    fractions: dict[str, set[str]] = {}
    for ev, prov in zip(evidence, provs, strict=True):
        if not ev or not ev.get("camera_original") or not ev.get("date"):
            continue
        seconds.add(ev["date"])
        frac = (prov or {}).get("subsec_original")
        if frac is not None:
            fractions.setdefault(ev["date"], set()).add(frac)
    return len(seconds) > 1 or any(len(f) > 1 for f in fractions.values())
