"""Which file of a group to keep, and why, in words a person can check.

Rules are applied in order; the first rule that tells the best file from the strongest
different file is the reason. Files under a reference folder are always kept and win the
keeper choice. The default order ranks on evidence of originality before size (see
``evidence.py``): ``original`` (camera metadata without editor traces, then the fewest edits
the group shows), ``content-resolution`` (pixels inside borders, never padding), ``encoding``
(a JPEG over its PNG re-save or WebP conversion, then JPEG quality), then bytes and the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from lookalike.engine.records import Member

# Lower is better. RAW and HEIF keep the most, then lossless, then JPEG, then WebP and GIF.
FORMAT_RANK = {
    "RAW": 0,
    "DNG": 0,
    "HEIF": 1,
    "HEIC": 1,
    "AVIF": 2,
    "PNG": 2,
    "TIFF": 2,
    "BMP": 3,
    "JPEG": 4,
    "MPO": 4,
    "WEBP": 5,
    "GIF": 6,
}


def _fmt_rank(m: Member) -> int:
    return FORMAT_RANK.get(m.format.upper(), 7)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.0f} kB"


def _date(m: Member) -> str:
    return m.capture_time or "9999"


def _ev(m: Member) -> dict:
    return m.evidence or {}


def _content_px(m: Member) -> int:
    c = _ev(m).get("content")
    return int(c[0] * c[1]) if c else m.width * m.height


def _content_bucket(m: Member, q: dict[str, float]) -> float:
    """Share of the group's largest content, with 3 % of slack: resampling and a trimmed
    edge line are no loss of picture."""
    share = _content_px(m) / max(1.0, q.get("content_max", 0.0) or _content_px(m))
    return -1.0 if share >= 0.97 else -round(share, 2)


def _content_words(m: Member) -> str:
    c = _ev(m).get("content")
    return f"{c[0]}×{c[1]}" if c else f"{m.width}×{m.height}"


def _camera_words(m: Member) -> str:
    e = _ev(m)
    bits = [b for b in (e.get("camera"), (e.get("date") or "")[:10]) if b]
    return f"camera EXIF ({', '.join(bits)})" if bits else "camera EXIF"


def _edits_words(m: Member) -> str:
    edits = _ev(m).get("edits") or []
    return "no sign of editing" if not edits else "fewer signs of editing"


def _original_key(m: Member, q: dict[str, float]) -> tuple[int, int]:
    e = _ev(m)
    return (0 if e.get("camera_original") else 1, len(e.get("edits") or []))


def _original_words(a: Member, b: Member) -> str:
    if _ev(a).get("camera_original") and not _ev(b).get("camera_original"):
        return f"original: {_camera_words(a)}"
    n, k = len(_ev(a).get("edits") or []), len(_ev(b).get("edits") or [])
    if n == 0:
        return "original: no sign of editing"
    return f"original: fewest signs of editing ({n} vs {k})"


def _encoding_key(m: Member, q: dict[str, float]) -> tuple[int, int]:
    e = _ev(m)
    if "encoding_rank" not in e:
        return (3, 0)
    # photos: JPEG quality; videos: effective bits per pixel (rules/video_evidence.py)
    return (int(e["encoding_rank"]), -int(e.get("encoding_score", e.get("jpeg_quality")) or 0))


def _encoding_words(a: Member, b: Member) -> str:
    ea, eb = _ev(a).get("encoding", a.format), _ev(b).get("encoding", b.format)
    return f"better encoding ({ea} over {eb})"


Rule = tuple[Callable[[Member, dict[str, float]], object], Callable[[Member, Member], str]]

RULES: dict[str, Rule] = {
    "original": (_original_key, _original_words),
    "camera": (
        lambda m, q: 0 if _ev(m).get("camera_original") else 1,
        lambda a, b: f"original: {_camera_words(a)}",
    ),
    "unedited": (
        lambda m, q: len(_ev(m).get("edits") or []),
        lambda a, b: f"original: {_edits_words(a)}",
    ),
    "content-resolution": (
        _content_bucket,
        lambda a, b: f"most picture inside borders ({_content_words(a)} vs {_content_words(b)})",
    ),
    "encoding": (_encoding_key, _encoding_words),
    "resolution": (
        lambda m, q: -(m.width * m.height),
        lambda a, b: f"highest resolution ({a.width}×{a.height} vs {b.width}×{b.height})",
    ),
    "lowest-resolution": (
        lambda m, q: m.width * m.height,
        lambda a, b: f"lowest resolution ({a.width}×{a.height} vs {b.width}×{b.height})",
    ),
    "bytes": (
        lambda m, q: -m.size,
        lambda a, b: f"largest file ({_mb(a.size)} vs {_mb(b.size)})",
    ),
    "smallest": (
        lambda m, q: m.size,
        lambda a, b: f"smallest file ({_mb(a.size)} vs {_mb(b.size)})",
    ),
    "format": (
        lambda m, q: _fmt_rank(m),
        lambda a, b: f"preferred format ({a.format} over {b.format})",
    ),
    "exif": (
        lambda m, q: -q.get(f"exif:{m.path}", 0),
        lambda a, b: "richer EXIF metadata",
    ),
    "oldest": (
        lambda m, q: (_date(m), m.mtime_ns),
        lambda a, b: f"oldest ({a.capture_time or 'file date'})",
    ),
    "newest": (
        lambda m, q: (-(m.mtime_ns or 0), ""),
        lambda a, b: "newest file",
    ),
    "quality": (
        lambda m, q: -q.get(f"quality:{m.path}", 0.0),
        lambda a, b: "best quality score (sharpness, exposure, noise)",
    ),
    "shortest-path": (
        lambda m, q: (len(m.path), m.path),
        lambda a, b: "shortest path",
    ),
    "longest-path": (
        lambda m, q: (-len(m.path), m.path),
        lambda a, b: "longest path",
    ),
}


def under(path: str, folders: Sequence[Path]) -> Path | None:
    """The folder of ``folders`` holding ``path``: by spelling, else by real path (a folder
    scanned or named through a symlink is still the same folder)."""
    for folder in folders:
        f = os.path.join(os.path.abspath(folder), "")
        if path.startswith(f):
            return Path(folder)
    if folders:
        real = os.path.realpath(path)
        for folder in folders:
            if real.startswith(os.path.join(os.path.realpath(folder), "")):
                return Path(folder)
    return None


def rules_for(
    members: Sequence[Member],
    rules: Sequence[str],
    overrides: Sequence[tuple[Path, Sequence[str]]] = (),
) -> tuple[Sequence[str], Path | None]:
    """The rule order for a group: the override of the deepest folder holding every member."""
    best: tuple[int, Path | None, Sequence[str]] = (-1, None, rules)
    for folder, own in overrides:
        f = os.path.join(os.path.abspath(folder), "")
        if all(m.path.startswith(f) for m in members) and len(f) > best[0]:
            best = (len(f), Path(folder), own)
    return best[2], best[1]


def choose_keeper(
    members: Sequence[Member],
    rules: Sequence[str],
    reference: Sequence[Path] = (),
    extra: dict[str, float] | None = None,
    overrides: Sequence[tuple[Path, Sequence[str]]] = (),
) -> tuple[Member, str]:
    """(keeper, reason). ``extra`` carries per-path numbers some rules need (EXIF count…);
    ``overrides`` give folders their own rule order."""
    extra = extra or {}
    rules, folder = rules_for(members, rules, overrides)
    pool = list(members)
    prefix = ""
    refs = [m for m in pool if under(m.path, reference)]
    if refs:
        pool = refs
        prefix = f"in reference folder {under(refs[0].path, reference)}"
        if len(pool) == 1:
            return pool[0], prefix
    chain = list(rules) + ["shortest-path"]
    extra = {**extra, "content_max": float(max(_content_px(m) for m in pool))}

    fns = [RULES[r][0] for r in chain]
    keys = [tuple(fn(m, extra) for fn in fns) for m in pool]  # once a file, not once a look
    order = sorted(range(len(pool)), key=keys.__getitem__)  # stable, as sorting the files
    first = keys[order[0]]
    # explain against the strongest file that differs from the keeper (not its exact copy)
    second = next((i for i in order[1:] if keys[i][:-1] != first[:-1]), order[1])
    best, runner = pool[order[0]], pool[second]
    reason = "identical by every rule; first by path"
    for r, a, b in zip(chain, first, keys[second], strict=True):
        if a != b:
            reason = RULES[r][1](best, runner)
            break
    if folder is not None:
        reason = f"{reason} (rules for {folder})"
    if prefix:
        reason = f"{prefix}; {reason}"
    return best, reason


ORIGINALITY_RULES = frozenset({"original", "camera", "unedited", "content-resolution", "encoding"})


def with_others(reason: str, keeper: str, members: Sequence[Member], limit: int = 5) -> str:
    """The reason plus what the other files are, from their flags ("the others are
    letterboxed / re-encoded JPEG→PNG / metadata stripped"), so the choice can be checked."""
    seen: list[str] = []
    for m in members:
        if m.path == keeper:
            continue
        for f in m.flags[:1]:
            word = f.split(" (")[0].split(" x")[0]
            if word not in seen:
                seen.append(word)
    if not seen:
        return reason
    more = " …" if len(seen) > limit else ""
    return f"{reason}; the others are {' / '.join(seen[:limit])}{more}"
