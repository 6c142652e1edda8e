"""Which file of a group to keep, and why, in words a person can check.

Rules are applied in order; the first rule that tells the best file from the runner-up is the
reason. Files under a reference folder are always kept and win the keeper choice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from lookalike.engine.model import Member

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


Rule = tuple[Callable[[Member, dict[str, float]], object], Callable[[Member, Member], str]]

RULES: dict[str, Rule] = {
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
    for folder in folders:
        f = os.path.join(os.path.abspath(folder), "")
        if path.startswith(f):
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

    def key(m: Member) -> tuple:
        return tuple(RULES[r][0](m, extra) for r in chain)

    ranked = sorted(pool, key=key)
    best, runner = ranked[0], ranked[1]
    reason = "identical by every rule; first by path"
    for r in chain:
        fn, say = RULES[r]
        if fn(best, extra) != fn(runner, extra):
            reason = say(best, runner)
            break
    if folder is not None:
        reason = f"{reason} (rules for {folder})"
    if prefix:
        reason = f"{prefix}; {reason}"
    return best, reason
