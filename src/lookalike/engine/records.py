"""Plain data the engine hands to its clients (CLI, headless runner, TUI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Tier = Literal["exact", "same", "similar", "clip"]


@dataclass(frozen=True)
class Member:
    """One file of a group, with what a reviewer needs to judge it."""

    path: str
    size: int
    width: int
    height: int
    format: str
    score: float  # similarity to the keeper, 1.0 = identical bytes
    mtime_ns: int = 0
    capture_time: str | None = None
    camera: str | None = None
    thumb: str | None = None  # cached thumbnail path, if any
    content_hash: str | None = None
    file_id: int | None = None
    # what this file is relative to the group's keeper ("letterboxed", "re-encoded JPEG→PNG",
    # "metadata stripped" …): only facts the scan measured; empty for the keeper
    flags: tuple[str, ...] = ()
    # evidence of originality the keeper was chosen on (rules/evidence.py), JSON-ready
    evidence: dict[str, Any] | None = field(default=None, compare=False)
    # videos only (video_groups.py): probe, and the footage matched against the keeper
    # ({a_start, a_end, b_start, b_end, score}, a = this file, b = the keeper, in seconds)
    duration: float | None = None
    fps: float | None = None
    codec: str | None = None
    segments: tuple[dict, ...] = field(default=(), compare=False)
    # contact strip written by the same decode: {"path": WebP, "times": [s per tile]} or None
    strip: dict[str, Any] | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        video = (
            {
                "duration": self.duration,
                "fps": self.fps,
                "codec": self.codec,
                "segments": [dict(s) for s in self.segments],
                "strip": self.strip,
            }
            if self.duration is not None
            else {}
        )
        return {
            "path": self.path,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "score": round(self.score, 4),
            "mtime_ns": self.mtime_ns,
            "capture_time": self.capture_time,
            "camera": self.camera,
            "thumb": self.thumb,
            "flags": list(self.flags),
            "evidence": self.evidence,
            **video,
        }


_MEMBER_FIELDS = frozenset(Member.__dataclass_fields__)


def member_with(m: Member, **changes: Any) -> Member:
    """``dataclasses.replace(m, **changes)`` without its per-call look at the fields and the
    frozen ``__init__`` (a ``setattr`` a field): the rank stage makes about three of these a
    file (issue 13). ``Member`` has no ``__post_init__``, so the copy is the same object."""
    if not changes.keys() <= _MEMBER_FIELDS:
        raise TypeError(f"not Member fields: {sorted(changes.keys() - _MEMBER_FIELDS)}")
    new = object.__new__(Member)
    new.__dict__.update(m.__dict__, **changes)
    return new


@dataclass(frozen=True)
class Group:
    """A set of files that are copies of one photo (or look-alike shots)."""

    id: int
    tier: Tier
    keep: str
    reason: str
    members: tuple[Member, ...]

    @property
    def bytes_to_free(self) -> int:
        return sum(m.size for m in self.members if m.path != self.keep)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "tier": self.tier,
            "keep": self.keep,
            "reason": self.reason,
            "bytes_to_free": self.bytes_to_free,
            "files": [m.to_json() for m in self.members],
        }


@dataclass(frozen=True)
class FileError:
    path: str
    error: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class ScanStats:
    files_seen: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_moved: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    images_decoded: int = 0
    bytes_hashed: int = 0
    errors: int = 0
    groups: int = 0
    groups_by_tier: dict[str, int] = field(default_factory=dict)
    duplicate_files: int = 0
    bytes_to_free: int = 0
    seconds: float = 0.0
    seconds_by_stage: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        d["seconds_by_stage"] = {k: round(v, 3) for k, v in self.seconds_by_stage.items()}
        return d
