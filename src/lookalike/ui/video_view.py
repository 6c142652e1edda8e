"""What Compare shows of a video: its contact strip, and the matched moments of a copy.

The contact strip (frames of the whole video side by side, written by the scan's own decode)
stands for the video where a photo shows its picture; for a copy whose footage the engine
matched against the suggested keeper, Enter steps through the matched moments and both panes
show the frame at that moment of their file (the port's ``video_frame``). Thread workers only, except
``matched_moments``, which is arithmetic.
"""

from __future__ import annotations

from typing import Any

from lookalike.engine.records import Group, Member

MOMENT_STEP = 1.0  # seconds of the copy between two matched moments


def is_video(member: Member) -> bool:
    return member.duration is not None


def video_picture(member: Member, thumbs: Any) -> tuple[Any, str]:
    """The contact strip (else the thumbnail) of a video member."""
    from PIL import Image

    strip = (member.strip or {}).get("path")
    if strip:
        try:
            with Image.open(strip) as im:
                return im.convert("RGB"), "contact strip"
        except (OSError, ValueError):
            pass
    return thumbs.load(member.thumb), "thumbnail"


def matched_moments(group: Group, a: Member, b: Member) -> list[tuple[float, float]]:
    """(seconds in A, seconds in B) showing the same picture. The engine matched B against the
    group's suggested keeper, so there are moments only when A is that keeper."""
    from lookalike.engine.video_align import Segment

    if not (is_video(a) and is_video(b)) or a.path != group.keep:
        return []
    out: list[tuple[float, float]] = []
    for seg in b.segments:
        out += [(tk, tb) for tb, tk in Segment.from_json(seg).pairs(MOMENT_STEP)]
    return out


def frame_picture(port: Any, path: str, seconds: float) -> tuple[Any, str]:
    """The frame of ``path`` at ``seconds`` through the engine port (None and why, if it cannot
    be decoded: a damaged file, or a server's video, whose frames are not fetched)."""
    try:
        return port.video_frame(path, seconds), f"{seconds:.1f} s"
    except Exception as exc:  # VideoError, OSError, RemoteError: shown, never raised
        return None, f"no frame at {seconds:.1f} s ({exc})"
