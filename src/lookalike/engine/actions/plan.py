"""Plans: what an action will do to which file, checked for safety before anything is touched.

A plan is plain data (JSON-able) so ``scan … --plan-out PLAN.json`` can write it and
``lookalike apply PLAN.json`` can carry it out later. It records the scan it came from (real
roots, catalog path and id, scan id, creation time), the reference folders, and per file the
size, mtime and content hash seen at scan/plan time plus the keeper's (dev, inode, size, mtime,
hash). Saved plans are signed by this install (:mod:`.signing`); a loaded plan is untrusted
input and :mod:`.plancheck` re-checks every item before anything is touched.

:func:`~lookalike.engine.actions.plan_build.build_plan` is the ONE place that decides which
files may be acted on (plan_build.py); this module holds the plan's data and its file format.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from lookalike.engine import settings
from lookalike.engine.actions import fsutil, signing
from lookalike.engine.actions.errors import UsageError

PLAN_VERSION = 2
ACT_TIERS = ("exact", "same")  # what acts by default; "similar" needs --tier similar
TIERS = ("exact", "same", "similar", "clip")  # clip: a video found inside a longer one
MAKE_PLAN_HINT = "make one with: lookalike scan --no-ui PATH --action OP --plan-out PLAN.json"
KINDS = ("trash", "quarantine", "move", "copy", "hardlink", "symlink", "delete", "shrink")
NEEDS_DIR = frozenset({"move", "copy"})
MAY_HAVE_DIR = frozenset({"quarantine", "move", "copy"})
LINKS = frozenset({"hardlink", "symlink"})
# after these the original bytes are no longer at the source path
REMOVES = frozenset({"trash", "quarantine", "move", "delete", "hardlink", "symlink"})
UNDOABLE = frozenset(KINDS) - {"delete"}
RULE_KINDS = ("trash", "quarantine", "move", "copy")  # what a content rule may do; never delete
RULE_ORIGIN = "content-rules"  # the origin a single-file plan records (plan_files.build_file_plan)
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


@dataclass(frozen=True, slots=True)  # one per acted file: no __dict__ each (issue 13)
class PlanItem:
    """One file operation. ``dest`` is the intended destination (apply adds a ``~N`` suffix if
    the name is taken by then); for links it is the keeper the link will point to. The
    ``keeper_*`` fields are the keeper's identity at plan time: apply, undo and redo check the
    keeper against them with ``lstat`` (a symlink never stands in for the keeper)."""

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
    keeper_dev: int = 0
    keeper_ino: int = 0

    def to_json(self) -> dict:
        # asdict() deep-copies each field: it was half the time of writing a 300k-item plan
        return {f: getattr(self, f) for f in self.__slots__}


_ITEM_TYPES: dict[str, tuple[type, ...]] = {
    "seq": (int,),
    "group_id": (int,),
    "op": (str,),
    "source": (str,),
    "dest": (str, type(None)),
    "keeper": (str,),
    "size": (int,),
    "mtime_ns": (int,),
    "hash": (str,),
    "keeper_size": (int,),
    "keeper_mtime_ns": (int,),
    "keeper_hash": (str, type(None)),
    "keeper_dev": (int,),
    "keeper_ino": (int,),
}
_ITEM_DEFAULTS = tuple((f.name, f.default) for f in fields(PlanItem))
_ITEM_NAMES = tuple(name for name, _ in _ITEM_DEFAULTS)
_ITEM_EXACT = tuple(frozenset(_ITEM_TYPES[name]) for name in _ITEM_NAMES)  # what JSON decodes to


def _item_from_json(raw: object) -> PlanItem:
    """A plan item with every field of the right type (bool is not an int here)."""
    return PlanItem(*item_row_from_json(raw))


def item_row_from_json(raw: object) -> tuple:
    """An item's fields in order (``PlanItem(*row)``), each of the right type, defaults for
    the optional ones; a damaged item raises ValueError saying what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError("an item is not an object")
    if not raw.keys() <= _ITEM_TYPES.keys():
        unknown = sorted(set(raw) - set(_ITEM_TYPES))
        raise ValueError(f"unknown item field(s) {', '.join(unknown)}")
    if len(raw) == len(_ITEM_DEFAULTS):  # every field there (a plan this tool wrote): one pass
        row = tuple(map(raw.__getitem__, _ITEM_NAMES))
        if all(type(v) in t for v, t in zip(row, _ITEM_EXACT, strict=True)):
            return row
    slow: list = []  # the first wrong field, named (and int/str subclasses, if handed in)
    for name, default in _ITEM_DEFAULTS:
        if name in raw:
            v = raw[name]
            if isinstance(v, bool) or not isinstance(v, _ITEM_TYPES[name]):
                raise ValueError(f"item field {name} has the wrong type")
            slow.append(v)
        elif default is MISSING:
            raise ValueError(f"item field {name} is missing")
        else:
            slow.append(default)
    return tuple(slow)


def _refusal(raw: object) -> Refusal:
    if not isinstance(raw, dict):
        raise ValueError("a refusal is not an object")
    return Refusal(**raw)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A file left out of the plan, and why. ``kept``: left out by a rule the user set (a
    reference folder, a favourite, a tier not asked for) — reported, but not a problem, so it
    does not make the exit code say "some files skipped"."""

    group_id: int
    path: str
    reason: str
    kept: bool = False

    def to_json(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}


@dataclass(frozen=True)
class Plan:
    """What will happen, and the scan it came from. ``from_file``/``signed`` say how far to
    trust it: a plan read from a file is re-checked as a whole before anything is touched."""

    id: str
    op: OpSpec
    items: Sequence[PlanItem]  # a tuple, or spooled to a temp file (plan_spool.py)
    refused: Sequence[Refusal] = ()
    created: float = field(default_factory=time.time)
    shrink: ShrinkOptions | None = None
    meta: dict = field(default_factory=dict)  # groups, reviewed, agreed (for stats)
    roots: tuple[str, ...] = ()  # real paths of what was scanned
    references: tuple[str, ...] = ()  # real paths of reference folders
    catalog: str | None = None  # catalog file the scan used
    catalog_id: str | None = None  # that catalog's random id
    scan_id: int | None = None
    tiers: tuple[str, ...] = ACT_TIERS
    from_file: bool = field(default=False, compare=False)
    signed: bool = field(default=False, compare=False)

    @property
    def bytes(self) -> int:
        return sum(i.size for i in self.items)

    def to_json(self, lists: bool = True) -> dict:
        """The plan as JSON; ``lists=False``: without its items and refusals (plan_write.py
        writes those one at a time)."""
        doc = {
            "lookalike_plan": PLAN_VERSION,
            "id": self.id,
            "action": str(self.op),
            "created": self.created,
            "roots": list(self.roots),
            "references": list(self.references),
            "catalog": {"path": self.catalog, "id": self.catalog_id, "scan": self.scan_id},
            "tiers": list(self.tiers),
            "shrink": asdict(self.shrink) if self.shrink else None,
            "meta": self.meta,
        }
        if lists:
            doc["items"] = [i.to_json() for i in self.items]
            doc["refused"] = [r.to_json() for r in self.refused]
        return doc

    @classmethod
    def from_json(
        cls,
        data: dict,
        lists: tuple[Sequence[PlanItem], Sequence[Refusal]] | None = None,
        signed: bool | None = None,
    ) -> Plan:
        """The plan in ``data``; ``lists`` and ``signed``: its items and refusals, and whether
        this install signed it, when they were read and checked already (plan_read.py streams
        them from the file instead of holding them in ``data``)."""
        if not isinstance(data, dict) or data.get("lookalike_plan") != PLAN_VERSION:
            raise UsageError("not a lookalike plan (or from another version)", MAKE_PLAN_HINT)
        try:
            shrink = data.get("shrink")
            if shrink and shrink.get("max_size"):
                shrink["max_size"] = tuple(shrink["max_size"])
            cat = data.get("catalog") or {}
            roots = data.get("roots") or []
            refs = data.get("references") or []
            if not all(isinstance(p, str) for p in [*roots, *refs]):
                raise ValueError("roots and references must be paths")
            scan = cat.get("scan")
            if scan is not None and (isinstance(scan, bool) or not isinstance(scan, int)):
                raise ValueError("catalog.scan must be a number")
            return cls(
                id=str(data["id"]),
                op=parse_action(data["action"]),
                items=lists[0] if lists else tuple(_item_from_json(i) for i in data["items"]),
                refused=lists[1] if lists else tuple(_refusal(r) for r in data.get("refused", [])),
                created=float(data["created"]),
                shrink=ShrinkOptions(**shrink) if shrink else None,
                meta=dict(data.get("meta") or {}),
                roots=tuple(roots),
                references=tuple(refs),
                catalog=str(cat["path"]) if cat.get("path") else None,
                catalog_id=str(cat["id"]) if cat.get("id") else None,
                scan_id=scan,
                tiers=tuple(str(t) for t in data.get("tiers") or ()),
                from_file=True,
                signed=signing.is_signed_here(data) if signed is None else signed,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"plan file is damaged ({exc})", MAKE_PLAN_HINT) from None


def plan_document(plan: Plan) -> dict:
    """The plan as written to disk: its JSON plus this install's signature."""
    data = plan.to_json()
    data[signing.SIGNATURE_FIELD] = signing.sign(data)
    return data


def save_plan(plan: Plan, path: Path) -> None:
    """Write the signed plan atomically (unique temp in the same folder, fsync, rename, fsync
    the folder): an interrupted write never leaves a half plan under ``path``."""
    from lookalike.engine.actions.plan_write import write_plan

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = _unique_temp(folder, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write_plan(plan, fh, sign=True)  # an item at a time (a plan may hold 300k)
            fh.flush()
            fsutil.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsutil.fsync_dir(folder, now=True)


def _unique_temp(folder: Path, name: str) -> tuple[int, str]:
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            continue
    raise OSError(f"cannot create a temporary file in {folder}")


def load_plan(path: Path) -> Plan:
    """The plan in ``path``, read a window at a time with its items spooled to a temp file
    (plan_read.py, issue 13); any damage is found here, before anything is acted on."""
    from lookalike.engine.actions.plan_read import read_plan

    return read_plan(Path(path))


def new_id() -> str:
    """Sortable, readable id: ``20261122-020716-3fa9``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def quarantine_root(path: str) -> str:
    """Default quarantine: the data dir when it shares the file's filesystem (a rename), else a
    ``.lookalike-quarantine`` folder at the top of the file's filesystem."""
    qdir = str(settings.current().data_dir / "quarantine")
    try:
        if fsutil.device_of(qdir) == fsutil.device_of(path):
            return qdir
    except OSError:
        pass
    return os.path.join(fsutil.mount_point(os.path.dirname(path)), ".lookalike-quarantine")


def intended_dest(
    op: OpSpec,
    source: str,
    keeper: str,
    base: str,
    plan_id: str,
    shrink: ShrinkOptions | None,
    qroot: Callable[[str], str] = quarantine_root,
) -> str | None:
    rel = os.path.relpath(source, base) if base else os.path.basename(source)
    if op.kind == "quarantine":
        if op.directory:
            return os.path.join(op.directory, rel)
        return os.path.join(qroot(source), plan_id, rel)
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
