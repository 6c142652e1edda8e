"""Plans: what an action will do to which file, checked for safety before anything is touched.

A plan is plain data (JSON-able) so ``scan … --plan-out PLAN.json`` can write it and
``lookalike apply PLAN.json`` can carry it out later. It records the scan it came from (real
roots, catalog path and id, scan id, creation time), the reference folders, and per file the
size, mtime and content hash seen at scan/plan time plus the keeper's (dev, inode, size, mtime,
hash). Saved plans are signed by this install (:mod:`.signing`); a loaded plan is untrusted
input and :mod:`.plancheck` re-checks every item before anything is touched.

:func:`build_plan` is the ONE place that decides which files may be acted on: keepers, files
under reference folders, favourites, files outside the scanned roots and look-alike (``similar``)
groups without an explicit opt-in are left out, whoever asks (CLI, ``apply``, the app).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from lookalike.engine import settings
from lookalike.engine.actions import fsutil, signing
from lookalike.engine.actions.errors import PlanRefused, UsageError
from lookalike.engine.actions.guard import real, real_folders, under_any
from lookalike.engine.records import Group, Member

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
        return asdict(self)


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


def _item_from_json(raw: object) -> PlanItem:
    """A plan item with every field of the right type (bool is not an int here)."""
    if not isinstance(raw, dict):
        raise ValueError("an item is not an object")
    unknown = set(raw) - set(_ITEM_TYPES)
    if unknown:
        raise ValueError(f"unknown item field(s) {', '.join(sorted(unknown))}")
    for f in fields(PlanItem):
        if f.name not in raw:
            continue
        v = raw[f.name]
        if isinstance(v, bool) or not isinstance(v, _ITEM_TYPES[f.name]):
            raise ValueError(f"item field {f.name} has the wrong type")
    return PlanItem(**raw)


@dataclass(frozen=True)
class Refusal:
    """A file left out of the plan, and why. ``kept``: left out by a rule the user set (a
    reference folder, a favourite, a tier not asked for) — reported, but not a problem, so it
    does not make the exit code say "some files skipped"."""

    group_id: int
    path: str
    reason: str
    kept: bool = False

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """What will happen, and the scan it came from. ``from_file``/``signed`` say how far to
    trust it: a plan read from a file is re-checked as a whole before anything is touched."""

    id: str
    op: OpSpec
    items: tuple[PlanItem, ...]
    refused: tuple[Refusal, ...] = ()
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

    def to_json(self) -> dict:
        return {
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
            "items": [i.to_json() for i in self.items],
            "refused": [r.to_json() for r in self.refused],
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
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
                items=tuple(_item_from_json(i) for i in data["items"]),
                refused=tuple(Refusal(**r) for r in data.get("refused", [])),
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
                signed=signing.is_signed_here(data),
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
    path = Path(path)
    text = json.dumps(plan_document(plan), indent=1)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = _unique_temp(folder, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
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
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"plan {path} is not valid JSON ({exc})", MAKE_PLAN_HINT) from None
    return Plan.from_json(data)


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


@dataclass(frozen=True)
class _Keeper:
    """The keeper of a group as the plan records it (a real, regular file)."""

    path: str
    real: str
    st: os.stat_result
    hash: str | None


@dataclass(frozen=True)
class _Scan:
    """What the plan records about the scan: roots, catalog, its id and scan, favourites."""

    roots: tuple[str, ...]
    catalog: str | None = None
    catalog_id: str | None = None
    scan_id: int | None = None
    favourites: frozenset[str] = frozenset()


def _scan_info(
    groups: list[Group],
    roots: Iterable[str | os.PathLike[str]] | None,
    catalog: str | os.PathLike[str] | None,
    favourites: Collection[str] | None,
) -> _Scan:
    favs = {real(p) for p in favourites or ()}
    cat_path = cat_id = scan_id = None
    scan_roots: list[str] = []
    if catalog is not None:
        from lookalike.engine.catalog import Catalog, CatalogError

        cat_path = os.path.abspath(os.fspath(catalog))
        if not os.path.isfile(cat_path):
            raise UsageError(f"no catalog at {cat_path}", "scan first: lookalike scan --no-ui PATH")
        try:
            with Catalog(Path(cat_path)) as cat:
                cat_id = cat.catalog_id()
                scans = cat.last_scans(1000)
                scan_id = scans[0]["id"] if scans else None
                scan_roots = [r for s in scans for r in s["roots"]]
                favs |= {real(p) for p in cat.favourites()}
        except (CatalogError, sqlite3.Error, OSError) as exc:
            raise UsageError(
                f"cannot read the catalog {cat_path} ({exc})",
                "scan again: lookalike scan --no-ui PATH",
            ) from None
    if roots is not None:
        chosen = real_folders(roots)
    elif scan_roots:
        chosen = real_folders(scan_roots)
    else:  # groups handed in by a library caller: the folders of their files
        chosen = real_folders(
            os.path.dirname(os.path.abspath(m.path)) for g in groups for m in g.members
        )
    return _Scan(chosen, cat_path, cat_id, scan_id, frozenset(favs))


def _resolve_keeper(
    g: Group, hasher: Callable[[str], str], roots: tuple[str, ...]
) -> _Keeper | str:
    """The group's keeper as a regular file, or why the group must be left alone. A keeper that
    is a symlink (``--follow-symlinks``) is replaced by the real file it points to (a member,
    or a file under the scanned roots); otherwise the group is skipped: a link is never the
    proof that a copy is kept."""
    keep = os.path.abspath(g.keep)
    by_real: dict[str, str] = {}
    for m in g.members:
        p = os.path.abspath(m.path)
        try:
            if stat.S_ISREG(os.lstat(p).st_mode):
                by_real.setdefault(real(p), p)
        except OSError:
            continue
    try:
        st = os.lstat(keep)
    except FileNotFoundError:
        return f"keeper {keep} is missing; group left alone"
    except OSError as exc:
        return f"keeper: {fsutil.describe_oserror(exc, 'read', keep)}; group left alone"
    if stat.S_ISLNK(st.st_mode):
        target = real(keep)
        if target in by_real:
            keep = by_real[target]
        elif under_any(target, frozenset(roots)) and os.path.isfile(target):
            keep = target
        else:
            return f"keeper {keep} is a symlink to a file outside the scanned folders; group left alone"
        try:
            st = os.lstat(keep)
        except OSError:
            return f"keeper {keep} vanished; group left alone"
    if not stat.S_ISREG(st.st_mode):
        return f"keeper {keep} is not a regular file; group left alone"
    rec = next((m for m in g.members if os.path.abspath(m.path) == os.path.abspath(g.keep)), None)
    if rec is not None and (
        (rec.size and st.st_size != rec.size) or (rec.mtime_ns and st.st_mtime_ns != rec.mtime_ns)
    ):
        return f"keeper {keep} changed since the scan; group left alone"
    try:
        digest = hasher(keep)
    except OSError as exc:
        return f"keeper: {fsutil.describe_oserror(exc, 'read', keep)}; group left alone"
    if rec is not None and rec.content_hash and rec.content_hash != digest:
        return f"keeper {keep} changed since the scan (content); group left alone"
    return _Keeper(keep, real(keep), st, digest)


def build_plan(
    groups: Iterable[Group],
    op: OpSpec | str,
    *,
    shrink: ShrinkOptions | None = None,
    suggested: dict[int, str] | None = None,
    hasher: Callable[[str], str] = fsutil.hash_file,
    roots: Iterable[str | os.PathLike[str]] | None = None,
    references: Iterable[str | os.PathLike[str]] = (),
    favourites: Collection[str] | None = None,
    catalog: str | os.PathLike[str] | None = None,
    tiers: Iterable[str] = ACT_TIERS,
) -> Plan:
    """Turn reviewed groups into a checked plan: every non-keeper gets the operation, the keeper
    never. The one place that enforces what may be acted on — CLI, ``apply`` and the app all
    come through here:

    * files under ``references`` (compared by real path), favourites (given, and the catalog's
      favourites table), files outside the scanned ``roots`` and files that are the keeper of
      any group are left out (``refused``, with the reason);
    * groups whose tier is not in ``tiers`` (default exact and same: look-alike ``similar`` shots
      are different photos) are left out;
    * the keeper must be a regular file (a symlink keeper is resolved to the member it points
      to, else the group is skipped); its (dev, inode, size, mtime, hash) go into the plan;
    * files missing or changed since the scan are left out; a group whose keeper is not one of
      its files refuses the whole plan (it could lose every copy).

    ``roots`` default to the catalog's scan roots, else the folders of the files. ``catalog``
    (a path) is recorded with its id and last scan so ``apply`` can refuse a plan from another
    catalog. ``suggested`` maps group id → the keeper the ranking proposed (stats).
    """
    spec = parse_action(op) if isinstance(op, str) else op
    if spec.kind == "shrink" and shrink is None:
        shrink = ShrinkOptions()
    act_tiers = tuple(dict.fromkeys(tiers))
    bad_tiers = [t for t in act_tiers if t not in TIERS]
    if bad_tiers:
        raise UsageError(f"unknown tier(s) {', '.join(bad_tiers)}", "use exact, same, similar")
    groups = list(groups)
    broken: list[str] = []
    for g in groups:
        paths = {os.path.abspath(m.path) for m in g.members}
        keep = os.path.abspath(g.keep) if g.keep else ""
        if not keep or keep not in paths:
            broken.append(f"group {g.id} (keeper {g.keep or 'none'} is not one of its files)")
    if broken:
        raise PlanRefused(
            "refusing a plan that could remove every copy of a group: "
            + "; ".join(broken[:5])
            + (f" and {len(broken) - 5} more" if len(broken) > 5 else ""),
            "pick a keeper in each group and plan again",
        )
    scan = _scan_info(groups, roots, catalog, favourites)
    refs = real_folders(references)
    ref_set, root_set = frozenset(refs), frozenset(scan.roots)

    refused: list[Refusal] = []
    kept: dict[int, _Keeper] = {}
    keeper_of: dict[str, int] = {}  # real path of every keeper (and of every group's g.keep)
    for g in groups:
        keeper_of.setdefault(real(g.keep), g.id)
        if g.tier not in act_tiers:
            continue
        got = _resolve_keeper(g, hasher, scan.roots)
        if isinstance(got, str):
            refused.extend(
                Refusal(g.id, os.path.abspath(m.path), got)
                for m in g.members
                if os.path.abspath(m.path) != os.path.abspath(g.keep)
            )
            continue
        kept[g.id] = got
        keeper_of.setdefault(got.real, g.id)

    staged: list[tuple[Group, _Keeper, str, os.stat_result, str]] = []
    seen: set[str] = set()
    agreed = reviewed = 0
    for g in groups:
        if suggested and g.id in suggested:
            reviewed += 1
            agreed += os.path.abspath(suggested[g.id]) == os.path.abspath(g.keep)
        if g.tier not in act_tiers:
            refused.extend(
                Refusal(
                    g.id,
                    os.path.abspath(m.path),
                    f"a {g.tier} group ("
                    + (
                        "a part of a longer video, not a copy of it"
                        if g.tier == "clip"
                        else "look-alike shots are different photos"
                    )
                    + "); "
                    f"pass --tier {g.tier} to act on it (in the app: S on the Apply screen)",
                    kept=True,
                )
                for m in g.members
                if os.path.abspath(m.path) != os.path.abspath(g.keep)
            )
            continue
        k = kept.get(g.id)
        if k is None:
            continue
        for m in g.members:
            path = os.path.abspath(m.path)
            rpath = real(path)
            if path == k.path or path == os.path.abspath(g.keep) or rpath in seen:
                continue
            why, by_rule = _why_not(
                path, rpath, m, g, k, spec, shrink, scan, ref_set, root_set, keeper_of
            )
            if why:
                refused.append(Refusal(g.id, path, why, kept=by_rule))
                continue
            st = os.lstat(path)
            try:
                digest = m.content_hash or hasher(path)
            except OSError as exc:
                refused.append(Refusal(g.id, path, fsutil.describe_oserror(exc, "read", path)))
                continue
            if spec.kind in LINKS and digest != k.hash:
                refused.append(
                    Refusal(
                        g.id,
                        path,
                        "content differs from the keeper; links only replace exact copies",
                    )
                )
                continue
            seen.add(rpath)
            staged.append((g, k, path, st, digest))

    base = ""
    if staged and spec.kind in ("quarantine", "move", "copy"):
        base = os.path.commonpath([os.path.dirname(s[2]) for s in staged])
    plan_id = new_id()
    qroots: dict[str, str] = {}  # one quarantine-root lookup per folder

    def qroot(path: str) -> str:
        parent = os.path.dirname(path)
        if parent not in qroots:
            qroots[parent] = quarantine_root(path)
        return qroots[parent]

    items = tuple(
        PlanItem(
            seq=n,
            group_id=g.id,
            op=spec.kind,
            source=path,
            dest=intended_dest(spec, path, k.path, base, plan_id, shrink, qroot),
            keeper=k.path,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            hash=digest,
            keeper_size=k.st.st_size,
            keeper_mtime_ns=k.st.st_mtime_ns,
            keeper_hash=k.hash,
            keeper_dev=k.st.st_dev,
            keeper_ino=k.st.st_ino,
        )
        for n, (g, k, path, st, digest) in enumerate(staged)
    )
    meta = {"groups": len(groups), "reviewed": reviewed, "agreed": agreed}
    return Plan(
        plan_id,
        spec,
        items,
        tuple(refused),
        shrink=shrink,
        meta=meta,
        roots=scan.roots,
        references=refs,
        catalog=scan.catalog,
        catalog_id=scan.catalog_id,
        scan_id=scan.scan_id,
        tiers=act_tiers,
    )


def _why_not(
    path: str,
    rpath: str,
    m: Member,
    g: Group,
    k: _Keeper,
    spec: OpSpec,
    shrink: ShrinkOptions | None,
    scan: _Scan,
    refs: frozenset[str],
    roots: frozenset[str],
    keeper_of: dict[str, int],
) -> tuple[str, bool]:
    """Why ``path`` may not be acted on ('' when it may), and whether a rule the user set
    (reference folder, favourite) is the reason rather than a problem."""
    if rpath in keeper_of:
        return f"it is the keeper of group {keeper_of[rpath]}", False
    if rpath == k.real:
        return "it is the keeper (the same file under another name)", False
    ref = under_any(rpath, refs)
    if ref:
        return f"in reference folder {ref}; reference files are never acted on", True
    if rpath in scan.favourites:
        return "a favourite; favourites are never acted on", True
    if not under_any(rpath, roots):
        return "outside the scanned folders", False
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing (moved or deleted since the scan)", False
    except OSError as exc:
        return fsutil.describe_oserror(exc, "read", path), False
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file", False
    if (m.size and st.st_size != m.size) or (m.mtime_ns and st.st_mtime_ns != m.mtime_ns):
        return "changed since the scan (size or time)", False
    if st.st_mtime_ns == 0:
        return "its modification time is 0, so a later change could not be seen", False
    if spec.kind == "shrink":
        assert shrink is not None
        if st.st_size < shrink.min_bytes:
            return f"smaller than --min-bytes {shrink.min_bytes}", False
        if os.path.splitext(path)[1].lower() not in SHRINK_FORMATS:
            return "shrink supports JPEG, PNG, WebP and TIFF", False
    if spec.kind == "hardlink":
        if st.st_dev != k.st.st_dev:
            return (
                "on another filesystem than the keeper; hard links cannot cross filesystems",
                False,
            )
        if st.st_ino == k.st.st_ino:
            return "already a hard link to the keeper", False
    return "", False


# -- single files (content rules) -------------------------------------------------------------
RULE_KINDS = ("trash", "quarantine", "move", "copy")  # what a content rule may do; never delete
RULE_ORIGIN = "content-rules"


def build_file_plan(
    paths: Iterable[str | os.PathLike[str]],
    op: OpSpec | str,
    *,
    roots: Iterable[str | os.PathLike[str]],
    references: Iterable[str | os.PathLike[str]] = (),
    favourites: Collection[str] = (),
    hasher: Callable[[str], str] = fsutil.hash_file,
    meta: dict | None = None,
) -> Plan:
    """A plan for files that are not duplicates of anything (content rules): no group, no
    keeper, so only reversible operations that keep the bytes (trash, quarantine, move, copy).
    The same checks as :func:`build_plan` otherwise: under ``roots``, not in a reference folder,
    not a favourite, a regular file; each item records size, mtime and content hash so apply
    re-verifies it, and the batch is journalled and undoable like any other."""
    spec = parse_action(op) if isinstance(op, str) else op
    if spec.kind not in RULE_KINDS:
        raise UsageError(
            f"a content rule cannot {spec.kind} files",
            "use trash, quarantine[:DIR], move:DIR or copy:DIR",
        )
    root_set = frozenset(real_folders(roots))
    ref_set = frozenset(real_folders(references))
    favs = {real(p) for p in favourites}
    dest_real = real(spec.directory) if spec.directory else None
    refused: list[Refusal] = []
    staged: list[tuple[str, os.stat_result, str]] = []
    seen: set[str] = set()
    for raw in paths:
        path = os.path.abspath(os.fsdecode(raw))
        rpath = real(path)
        if rpath in seen:
            continue
        seen.add(rpath)
        why, by_rule = "", False
        ref = under_any(rpath, ref_set)
        if not under_any(rpath, root_set):
            why = "outside the folders given"
        elif ref:
            why, by_rule = f"in reference folder {ref}; reference files are never acted on", True
        elif rpath in favs:
            why, by_rule = "a favourite; favourites are never acted on", True
        elif dest_real and under_any(rpath, frozenset([dest_real])):
            why, by_rule = f"already in {spec.directory}", True
        if why:
            refused.append(Refusal(0, path, why, kept=by_rule))
            continue
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                refused.append(Refusal(0, path, "not a regular file"))
                continue
            if st.st_mtime_ns == 0:
                refused.append(Refusal(0, path, "its modification time is 0"))
                continue
            digest = hasher(path)
        except OSError as exc:
            refused.append(Refusal(0, path, fsutil.describe_oserror(exc, "read", path)))
            continue
        staged.append((path, st, digest))
    base = ""
    if staged and spec.kind in ("quarantine", "move", "copy"):
        base = os.path.commonpath([os.path.dirname(s[0]) for s in staged])
    plan_id = new_id()
    items = tuple(
        PlanItem(
            seq=n,
            group_id=0,
            op=spec.kind,
            source=path,
            dest=intended_dest(spec, path, "", base, plan_id, None),
            keeper="",
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            hash=digest,
        )
        for n, (path, st, digest) in enumerate(staged)
    )
    return Plan(
        plan_id,
        spec,
        items,
        tuple(refused),
        meta={"origin": RULE_ORIGIN, **(meta or {})},
        roots=tuple(sorted(root_set)),
        references=tuple(sorted(ref_set)),
    )
