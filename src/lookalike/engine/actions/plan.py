"""Plans: what an action will do to which file, checked for safety before anything is touched.

A plan is plain data (JSON-able) so ``--dry-run -o PLAN.json`` can write it and
``lookalike apply PLAN.json`` can carry it out later. It records, per file, the size, mtime and
content hash seen at plan time; apply re-checks all three right before acting.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lookalike import config
from lookalike.engine.actions import fsutil
from lookalike.engine.actions.errors import PlanRefused, UsageError
from lookalike.engine.model import Group

PLAN_VERSION = 1
KINDS = ("trash", "quarantine", "move", "copy", "hardlink", "symlink", "delete", "shrink")
NEEDS_DIR = frozenset({"move", "copy"})
MAY_HAVE_DIR = frozenset({"quarantine", "move", "copy"})
LINKS = frozenset({"hardlink", "symlink"})
# after these the original bytes are no longer at the source path
REMOVES = frozenset({"trash", "quarantine", "move", "delete", "hardlink", "symlink"})
UNDOABLE = frozenset(KINDS) - {"delete"}
SHRINK_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


@dataclass(frozen=True)
class OpSpec:
    """A parsed ``--action``: ``trash``, ``quarantine[:DIR]``, ``move:DIR``, ``copy:DIR`` …"""

    kind: str
    directory: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.directory}" if self.directory else self.kind


def parse_action(text: str) -> OpSpec:
    """Parse an action spec; a bad one raises :class:`UsageError` naming the valid forms."""
    kind, sep, directory = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise UsageError(
            f"unknown action {text!r}",
            "use one of trash, quarantine[:DIR], move:DIR, copy:DIR, hardlink, symlink, "
            "delete, shrink",
        )
    if sep and kind not in MAY_HAVE_DIR:
        raise UsageError(f"action {kind} takes no folder (got {text!r})")
    if kind in NEEDS_DIR and not directory:
        raise UsageError(f"action {kind} needs a folder", f"write it as {kind}:DIR")
    if directory:
        directory = os.path.abspath(os.path.expanduser(directory))
    return OpSpec(kind, directory or None)


@dataclass(frozen=True)
class ShrinkOptions:
    """Recompress/resize settings. ``replace`` swaps the original for the smaller file (the
    original goes to the trash so undo works); otherwise a new file is written with ``suffix``."""

    quality: int = 85
    max_size: tuple[int, int] | None = None
    keep_ratio: bool = True
    min_bytes: int = 0
    replace: bool = False
    suffix: str = ".small"

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise UsageError(f"--quality must be 1-100 (got {self.quality})")
        if self.max_size and (self.max_size[0] < 1 or self.max_size[1] < 1):
            raise UsageError(f"--max-size must be WxH with positive numbers (got {self.max_size})")


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` → (W, H)."""
    w, sep, h = text.lower().partition("x")
    try:
        if not sep:
            raise ValueError
        return int(w), int(h)
    except ValueError:
        raise UsageError(f"--max-size must look like 1920x1080 (got {text!r})") from None


@dataclass(frozen=True)
class PlanItem:
    """One file operation. ``dest`` is the intended destination (apply adds a ``~N`` suffix if
    the name is taken by then); for links it is the keeper the link will point to."""

    seq: int
    group_id: int
    op: str
    source: str
    dest: str | None
    keeper: str
    size: int
    mtime_ns: int
    hash: str
    keeper_size: int = 0
    keeper_mtime_ns: int = 0
    keeper_hash: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Refusal:
    """A file left out of the plan, and why."""

    group_id: int
    path: str
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    id: str
    op: OpSpec
    items: tuple[PlanItem, ...]
    refused: tuple[Refusal, ...] = ()
    created: float = field(default_factory=time.time)
    shrink: ShrinkOptions | None = None
    meta: dict = field(default_factory=dict)  # groups, reviewed, agreed (for stats)

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.items)

    def to_json(self) -> dict:
        return {
            "lookalike_plan": PLAN_VERSION,
            "id": self.id,
            "action": str(self.op),
            "created": self.created,
            "shrink": asdict(self.shrink) if self.shrink else None,
            "meta": self.meta,
            "items": [i.to_json() for i in self.items],
            "refused": [r.to_json() for r in self.refused],
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        if not isinstance(data, dict) or data.get("lookalike_plan") != PLAN_VERSION:
            raise UsageError(
                "not a lookalike plan (or from another version)",
                "make one with: lookalike scan --no-ui PATH --action OP --dry-run "
                "--format json -o PLAN.json",
            )
        try:
            shrink = data.get("shrink")
            if shrink and shrink.get("max_size"):
                shrink["max_size"] = tuple(shrink["max_size"])
            return cls(
                id=str(data["id"]),
                op=parse_action(data["action"]),
                items=tuple(PlanItem(**i) for i in data["items"]),
                refused=tuple(Refusal(**r) for r in data.get("refused", [])),
                created=float(data.get("created", time.time())),
                shrink=ShrinkOptions(**shrink) if shrink else None,
                meta=dict(data.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"plan file is damaged ({exc})", "make a new plan") from None


def save_plan(plan: Plan, path: Path) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(plan.to_json(), indent=1))
    os.replace(tmp, path)


def load_plan(path: Path) -> Plan:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"plan {path} is not valid JSON ({exc})") from None
    return Plan.from_json(data)


def new_id() -> str:
    """Sortable, readable id: ``20261122-020716-3fa9``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def quarantine_root(path: str) -> str:
    """Default quarantine: the data dir when it shares the file's filesystem (a rename), else a
    ``.lookalike-quarantine`` folder at the top of the file's filesystem."""
    qdir = str(config.data_dir() / "quarantine")
    try:
        if fsutil.device_of(qdir) == fsutil.device_of(path):
            return qdir
    except OSError:
        pass
    return os.path.join(fsutil.mount_point(os.path.dirname(path)), ".lookalike-quarantine")


def intended_dest(
    op: OpSpec, source: str, keeper: str, base: str, plan_id: str, shrink: ShrinkOptions | None
) -> str | None:
    rel = os.path.relpath(source, base) if base else os.path.basename(source)
    if op.kind == "quarantine":
        if op.directory:
            return os.path.join(op.directory, rel)
        return os.path.join(quarantine_root(source), plan_id, rel)
    if op.kind in ("move", "copy"):
        assert op.directory
        return os.path.join(op.directory, rel)
    if op.kind in LINKS:
        return keeper
    if op.kind == "shrink":
        if shrink and shrink.replace:
            return source
        stem, ext = os.path.splitext(source)
        return stem + (shrink.suffix if shrink else ".small") + ext
    return None  # trash (name chosen at apply time), delete


def build_plan(
    groups: Iterable[Group],
    op: OpSpec | str,
    *,
    shrink: ShrinkOptions | None = None,
    suggested: dict[int, str] | None = None,
    hasher: Callable[[str], str] = fsutil.hash_file,
) -> Plan:
    """Turn reviewed groups into a checked plan: every non-keeper gets the operation, the keeper
    never. Files that are missing or changed since the scan are left out (``refused``); a group
    whose keeper is not one of its files refuses the whole plan (it could lose every copy).

    ``suggested`` maps group id → the keeper the ranking proposed, so stats can tell how often
    the user agreed.
    """
    spec = parse_action(op) if isinstance(op, str) else op
    if spec.kind == "shrink" and shrink is None:
        shrink = ShrinkOptions()
    groups = list(groups)
    keepers: dict[str, int] = {}
    broken: list[str] = []
    for g in groups:
        paths = {os.path.abspath(m.path) for m in g.members}
        keep = os.path.abspath(g.keep) if g.keep else ""
        if not keep or keep not in paths:
            broken.append(f"group {g.id} (keeper {g.keep or 'none'} is not one of its files)")
        keepers.setdefault(keep, g.id)
    if broken:
        raise PlanRefused(
            "refusing a plan that could remove every copy of a group: "
            + "; ".join(broken[:5])
            + (f" and {len(broken) - 5} more" if len(broken) > 5 else ""),
            "pick a keeper in each group and plan again",
        )

    refused: list[Refusal] = []
    staged: list[tuple[Group, str, int, int, str, int, int, str | None]] = []
    seen: set[str] = set()
    agreed = reviewed = 0
    for g in groups:
        keep = os.path.abspath(g.keep)
        if suggested and g.id in suggested:
            reviewed += 1
            agreed += os.path.abspath(suggested[g.id]) == keep
        try:
            kst = os.stat(keep)
        except OSError:
            for m in g.members:
                if os.path.abspath(m.path) != keep:
                    refused.append(
                        Refusal(
                            g.id,
                            os.path.abspath(m.path),
                            f"keeper {keep} is missing; group left alone",
                        )
                    )
            continue
        keeper_hash: str | None = None
        for m in g.members:
            path = os.path.abspath(m.path)
            if path == keep or path in seen:
                continue
            if path in keepers:
                refused.append(Refusal(g.id, path, f"it is the keeper of group {keepers[path]}"))
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                refused.append(Refusal(g.id, path, "missing (moved or deleted since the scan)"))
                continue
            except OSError as exc:
                refused.append(Refusal(g.id, path, fsutil.describe_oserror(exc, "read", path)))
                continue
            if not fsutil.is_regular(path):
                refused.append(Refusal(g.id, path, "not a regular file"))
                continue
            if (m.size and st.st_size != m.size) or (m.mtime_ns and st.st_mtime_ns != m.mtime_ns):
                refused.append(Refusal(g.id, path, "changed since the scan (size or time)"))
                continue
            if spec.kind == "shrink":
                assert shrink is not None
                if st.st_size < shrink.min_bytes:
                    refused.append(
                        Refusal(g.id, path, f"smaller than --min-bytes {shrink.min_bytes}")
                    )
                    continue
                if os.path.splitext(path)[1].lower() not in SHRINK_FORMATS:
                    refused.append(Refusal(g.id, path, "shrink supports JPEG, PNG, WebP and TIFF"))
                    continue
            try:
                digest = m.content_hash or hasher(path)
                if spec.kind in LINKS and keeper_hash is None:
                    keeper_hash = hasher(keep)
            except OSError as exc:
                refused.append(Refusal(g.id, path, fsutil.describe_oserror(exc, "read", path)))
                continue
            if spec.kind in LINKS:
                if digest != keeper_hash:
                    refused.append(
                        Refusal(
                            g.id,
                            path,
                            "content differs from the keeper; links only replace exact copies",
                        )
                    )
                    continue
                if spec.kind == "hardlink" and st.st_dev != kst.st_dev:
                    refused.append(
                        Refusal(
                            g.id,
                            path,
                            "on another filesystem than the keeper; "
                            "hard links cannot cross filesystems",
                        )
                    )
                    continue
                if spec.kind == "hardlink" and st.st_ino == kst.st_ino:
                    refused.append(Refusal(g.id, path, "already a hard link to the keeper"))
                    continue
            seen.add(path)
            staged.append(
                (
                    g,
                    path,
                    st.st_size,
                    st.st_mtime_ns,
                    digest,
                    kst.st_size,
                    kst.st_mtime_ns,
                    keeper_hash,
                )
            )

    base = ""
    if staged and spec.kind in ("quarantine", "move", "copy"):
        parents = [os.path.dirname(s[1]) for s in staged]
        base = os.path.commonpath(parents)
    plan_id = new_id()
    items = tuple(
        PlanItem(
            seq=n,
            group_id=g.id,
            op=spec.kind,
            source=path,
            dest=intended_dest(spec, path, os.path.abspath(g.keep), base, plan_id, shrink),
            keeper=os.path.abspath(g.keep),
            size=size,
            mtime_ns=mtime,
            hash=digest,
            keeper_size=ksize,
            keeper_mtime_ns=kmtime,
            keeper_hash=khash,
        )
        for n, (g, path, size, mtime, digest, ksize, kmtime, khash) in enumerate(staged)
    )
    meta = {"groups": len(groups), "reviewed": reviewed, "agreed": agreed}
    return Plan(plan_id, spec, items, tuple(refused), shrink=shrink, meta=meta)
