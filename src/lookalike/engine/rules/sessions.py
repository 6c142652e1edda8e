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
no capture time (stripped, rendered, most of a scanner's) need another sign, their encoding:

A copy is an original plus files that went through something: another encoding (JPEG
quality, format), another size, a turn, a crop, an edit. A session is many files of ONE
encoding and ONE size. So a "same" group in which ``SESSION_FRAMES`` distinct files (not
byte-identical: distinct representatives) are JPEGs of one pixel size and one estimated
quality (``provenance.jpeg_quality``, from the quantisation tables) with no edit measured
against the keeper (no flags: a watermark, noise, a recolour saved at the original's
settings is a copy) is look-alike shots too (``one_encoding_frames``). Two such files
alone (an original and its re-save at the same settings) stay "same"; other formats are
judged as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

REASON = "frames taken at different times (camera originals): look-alike shots, not copies"
SESSION_FRAMES = 3  # distinct files of one size and one encoding: a session, not copies


def one_encoding_reason(n: int) -> str:
    """The reason a group of ``n`` frames of one size and encoding is look-alike shots."""
    return f"{n} frames of one size and encoding: look-alike shots (a session), not copies"


def one_encoding_frames(
    members: Sequence[Any],
    rids: Sequence[int],
    evidence: Sequence[dict | None],
    views_of: Callable[[int], Sequence[Any] | None] | None = None,
) -> int:
    """The most distinct files (representatives ``rids``: byte-identical files share one) of
    a group that are JPEGs of one pixel size (``members``' width and height) and one
    estimated quality (``evidence``' ``jpeg_quality``) and show nothing done to them
    against the keeper (no ``flags``: an edit saved at the original's settings is a copy
    that went through something), same order; 0 where fewer than ``SESSION_FRAMES``.
    Files whose perceptual views (``views_of``) are bit-identical are one picture too: the same
    pixels with their metadata rewritten (a rating, a tag, a re-embedded date) by different
    apps are copies, never a session's frames, whose sensor noise makes every view differ."""
    same: dict[tuple[int, int, int], set[int | bytes]] = {}
    for m, rid, ev in zip(members, rids, evidence, strict=True):
        q = (ev or {}).get("jpeg_quality")
        if q is None or m.flags or str(m.format).upper() not in ("JPEG", "JPG") or not m.width:
            continue
        same.setdefault((m.width, m.height, int(q)), set()).add(_content(rid, views_of))
    n = max((len(r) for r in same.values()), default=0)
    return n if n >= SESSION_FRAMES else 0


def _content(rid: int, views_of: Callable[[int], Sequence[Any] | None] | None) -> int | bytes:
    """What tells two representatives' pictures apart: their views' bytes, or the id itself
    where the views are not known."""
    views = views_of(rid) if views_of is not None else None
    if not views:
        return rid
    h = hashlib.blake2b()
    for v in views:  # extract.View: the DCT block, the Haar signature, the aspect
        h.update(np.ascontiguousarray(v.dct).tobytes())
        h.update(bytes(v.haar))
        h.update(repr(float(v.aspect)).encode())
    return h.digest()


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


def session_reason(
    members: Sequence[Any],
    rids: Sequence[int],
    provs: Sequence[dict | None],
    views_of: Callable[[int], Sequence[Any] | None] | None = None,
) -> str | None:
    """Why a "same" group is a session's frames (look-alike shots), or None where nothing
    says so (``members`` judged as copies: with their evidence and their flags against the
    keeper; ``rids`` their representatives, ``provs`` their measured provenance, same
    order; ``views_of`` their perceptual views, to tell metadata-only copies apart)."""
    evidence = [m.evidence for m in members]
    if different_shots(evidence, provs):
        return REASON
    n = one_encoding_frames(members, rids, evidence, views_of)
    return one_encoding_reason(n) if n else None
