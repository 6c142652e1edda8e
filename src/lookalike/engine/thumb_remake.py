"""A group member's thumbnail file, made again from its photo when the cache lost it.

Why: the thumbnail cache may be deleted whole (README: to reclaim its space, while no scan
runs), and a rescan decodes only the photos that changed, so a member whose file and pack
entry are both gone used to stay without a picture until its photo changed. When the rank
stage builds a group's members (``rank_pool.member_of``) a missing file is made from the
pack (``thumb_pack.materialize``), and failing that from the photo itself: the same
reduced-size decode and the same bytes the extract would have written
(``features.extract.write_thumbnail`` of ``source_thumbnail`` or the encoded pixels). It
costs a decode a member, paid once after the cache was cleared, on the rank workers or the
driver; a member whose thumbnail is there costs one stat.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from lookalike.engine import thumb_pack
from lookalike.engine.records import Member


def member_thumb(meta: dict, path: str) -> str | None:
    """The thumbnail path of a member (``meta``: its representative's meta row; ``path``:
    the member's file, a byte copy of the representative's when they differ), its file made
    from the pack or the photo if it is missing. The path is returned even when neither
    could make it (the photo unreadable: consumers cope with a missing file)."""
    thumb = meta.get("thumb")
    if thumb and not thumb_pack.materialize(thumb, meta.get("thumb_at"), path):
        remake(thumb, path)
    return thumb


def kept_members(members: Iterable[Member]) -> list[Member]:
    """The members of a stored group a rescan keeps as it was (no change touched it), each
    photo's missing thumbnail file made again from the photo (one stat a member when it is
    there; videos, whose thumbnail and strip come from their own decode, are left as they
    are)."""
    out = list(members)
    for m in out:
        if m.thumb and m.duration is None and not os.path.exists(m.thumb):
            remake(m.thumb, m.path)
    return out


def remake(thumb: str, path: str) -> bool:
    """Decode ``path`` and write its thumbnail to ``thumb``: True when the file is there.
    Never raises: a photo gone, changed into something undecodable or too large only leaves
    the thumbnail missing."""
    from lookalike.engine.features.extract import source_thumbnail, write_thumbnail
    from lookalike.engine.media.decode import decode_reduced

    try:
        decoded = decode_reduced(path)
        return write_thumbnail(decoded.rgb, thumb, source_thumbnail(decoded)) is not None
    except Exception:  # DecodeError, OSError, a bug in a codec: only the picture is lost
        return False
