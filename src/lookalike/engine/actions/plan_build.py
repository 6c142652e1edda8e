"""Building plans: which files of reviewed groups (or of a content rule's hits) may be acted on.

:func:`build_plan` is the ONE place that decides it: keepers, files under reference folders,
favourites, files outside the scanned roots and look-alike (``similar``) or ``clip`` groups
without an explicit opt-in are left out, whoever asks (CLI, ``apply``, the app), each with its
reason. :func:`~lookalike.engine.actions.plan_files.build_file_plan` does the same for single files.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.engine.actions import fsutil
from lookalike.engine.actions.errors import PlanRefused, UsageError
from lookalike.engine.actions.guard import RealPaths, real, real_folders, under_any
from lookalike.engine.actions.plan import (
    ACT_TIERS,
    LINKS,
    SHRINK_FORMATS,
    TIERS,
    OpSpec,
    Plan,
    PlanItem,
    Refusal,
    ShrinkOptions,
    intended_dest,
    new_id,
    parse_action,
    quarantine_root,
)
from lookalike.engine.actions.plan_spool import RowSpool, SpooledRows, item_row, refusal_row
from lookalike.engine.actions.plan_walk import CHANGED, Rewalk, two_walks
from lookalike.engine.records import Group, Member

__all__ = ["Rewalk", "build_plan"]


@dataclass(frozen=True, slots=True)
class _Keeper:
    """The keeper of a group as the plan records it (a real, regular file): the few stat
    fields the plan needs, not the stat result (one is held per acted group)."""

    path: str
    real: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
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
    groups: Iterable[Group],
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


def _scan_info_or_error(
    groups: Iterable[Group],
    roots: Iterable[str | os.PathLike[str]] | None,
    catalog: str | os.PathLike[str] | None,
    favourites: Collection[str] | None,
) -> tuple[_Scan, UsageError | None]:
    """The scan info, or (with no catalog info) the error reading it: a plan that could lose
    every copy of a group is refused first, whatever else is wrong (the order it always had),
    and that check walks the groups with the keepers."""
    try:
        return _scan_info(groups, roots, catalog, favourites), None
    except UsageError as exc:
        return _scan_info(groups, roots, None, favourites), exc


def _resolve_keeper(
    g: Group, hasher: Callable[[str], str], roots: tuple[str, ...], real: Callable[[str], str]
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
    return _Keeper(keep, real(keep), st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, digest)


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

    ``groups`` is walked twice (every keeper is known before any file is staged), a group at
    a time: pass a sequence that reads its groups in chunks (``ScanGroups``) or a
    :class:`Rewalk`, and no list of every group is built; a one-shot iterator is listed.

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
    if isinstance(groups, Iterator):  # read once only: the passes below walk it twice
        groups = list(groups)
    scan, late = _scan_info_or_error(groups, roots, catalog, favourites)
    refs = real_folders(references)
    ctx = _Ctx(spec, shrink, hasher, scan, frozenset(refs), frozenset(scan.roots))
    refused: RowSpool[Refusal] = RowSpool(Refusal, refusal_row)
    first, second = hashlib.blake2b(digest_size=16), hashlib.blake2b(digest_size=16)
    walk_one, walk_two = two_walks(groups, first, second)
    kept, keeper_of = _resolve_keepers(walk_one, act_tiers, ctx, refused)
    if late is not None:
        raise late
    staged, meta = _stage_all(walk_two(), act_tiers, kept, keeper_of, ctx, suggested, refused)
    if first.digest() != second.digest():
        raise PlanRefused(CHANGED, "plan again")
    del kept, keeper_of
    plan_id = new_id()
    items = _group_items(staged.done(), spec, shrink, plan_id)
    del staged
    return Plan(
        plan_id,
        spec,
        items,
        refused.done(),
        shrink=shrink,
        meta=meta,
        roots=scan.roots,
        references=refs,
        catalog=scan.catalog,
        catalog_id=scan.catalog_id,
        scan_id=scan.scan_id,
        tiers=act_tiers,
    )


@dataclass(frozen=True)
class _Ctx:
    """What every member check of one build_plan call needs."""

    spec: OpSpec
    shrink: ShrinkOptions | None
    hasher: Callable[[str], str]
    scan: _Scan
    refs: frozenset[str]
    roots: frozenset[str]
    real: RealPaths = field(default_factory=RealPaths)  # one realpath per folder (issue 13)


# (group id, the keeper's 7 fields, source path, its size, its mtime, its content hash),
# spooled to a temp file (plan_spool.py): neither a Group nor an item is held
_Staged = tuple[int, str, str, int, int, int, int, "str | None", str, int, int, str]


def _staged_row(*row: object) -> tuple:
    return row


def _keeperless(g: Group) -> str | None:
    """Why a group whose keeper is not one of its files refuses the whole plan (it could lose
    every copy), else None."""
    keep = os.path.abspath(g.keep) if g.keep else ""
    if keep and any(os.path.abspath(m.path) == keep for m in g.members):
        return None
    return f"group {g.id} (keeper {g.keep or 'none'} is not one of its files)"


def _refuse_keeperless(broken: list[str], more: int) -> PlanRefused:
    return PlanRefused(
        "refusing a plan that could remove every copy of a group: "
        + "; ".join(broken)
        + (f" and {more} more" if more else ""),
        "pick a keeper in each group and plan again",
    )


def _others(g: Group) -> list[str]:
    """The group's files other than its keeper (absolute paths)."""
    keep = os.path.abspath(g.keep)
    return [p for p in (os.path.abspath(m.path) for m in g.members) if p != keep]


def _resolve_keepers(
    groups: Iterable[Group], act_tiers: tuple[str, ...], ctx: _Ctx, refused: RowSpool[Refusal]
) -> tuple[dict[int, _Keeper], dict[str, int]]:
    """The first walk over the groups: each acted-on group's keeper (a group without a usable
    one is refused whole), and the real path of every keeper → its group (a keeper of any
    group is never acted on). A group whose keeper is not one of its files refuses the whole
    plan (raised once the walk is done, naming the first five)."""
    kept: dict[int, _Keeper] = {}
    keeper_of: dict[str, int] = {}  # real path of every keeper (and of every group's g.keep)
    broken: list[str] = []
    more = 0
    for g in groups:
        why = _keeperless(g)
        if why is not None:
            if len(broken) < 5:
                broken.append(why)
            else:
                more += 1
        if broken:  # the plan is refused: only the rest of the check goes on
            continue
        keeper_of.setdefault(ctx.real(g.keep), g.id)
        if g.tier not in act_tiers:
            continue
        got = _resolve_keeper(g, ctx.hasher, ctx.scan.roots, ctx.real)
        if isinstance(got, str):
            refused.extend(Refusal(g.id, p, got) for p in _others(g))
            continue
        kept[g.id] = got
        keeper_of.setdefault(got.real, g.id)
    if broken:
        raise _refuse_keeperless(broken, more)
    return kept, keeper_of


def _stage_all(
    groups: Iterable[Group],
    act_tiers: tuple[str, ...],
    kept: dict[int, _Keeper],
    keeper_of: dict[str, int],
    ctx: _Ctx,
    suggested: dict[int, str] | None,
    refused: RowSpool[Refusal],
) -> tuple[RowSpool[_Staged], dict[str, int]]:
    """The second walk: each group's files checked against every group's keeper, the files
    to act on spooled; and the plan's meta (groups, reviewed, agreed with the suggested
    keeper)."""
    staged: RowSpool[_Staged] = RowSpool(_staged_row, tuple)
    seen: set[str] = set()
    count = reviewed = agreed = 0
    for g in groups:
        count += 1
        if suggested and g.id in suggested:
            reviewed += 1
            agreed += os.path.abspath(suggested[g.id]) == os.path.abspath(g.keep)
        if g.tier not in act_tiers:
            refused.extend(_tier_refusals(g))
        elif g.id in kept:
            for row in _stage_group(g, kept[g.id], ctx, keeper_of, seen, refused):
                staged.add_row(row)
    return staged, {"groups": count, "reviewed": reviewed, "agreed": agreed}


def _tier_refusals(g: Group) -> list[Refusal]:
    what = (
        "a part of a longer video, not a copy of it"
        if g.tier == "clip"
        else "look-alike shots are different photos"
    )
    why = (
        f"a {g.tier} group ({what}); "
        f"pass --tier {g.tier} to act on it (in the app: S on the Apply screen)"
    )
    return [Refusal(g.id, p, why, kept=True) for p in _others(g)]


def _stage_group(
    g: Group,
    k: _Keeper,
    ctx: _Ctx,
    keeper_of: dict[str, int],
    seen: set[str],
    refused: RowSpool[Refusal],
) -> list[_Staged]:
    """The group's files that may be acted on, each checked against the disk and the keeper."""
    out: list[_Staged] = []
    for m in g.members:
        path = os.path.abspath(m.path)
        rpath = ctx.real(path)
        if path == k.path or path == os.path.abspath(g.keep) or rpath in seen:
            continue
        why, by_rule = _why_not(
            path, rpath, m, g, k, ctx.spec, ctx.shrink, ctx.scan, ctx.refs, ctx.roots, keeper_of
        )
        if why:
            refused.append(Refusal(g.id, path, why, kept=by_rule))
            continue
        st = os.lstat(path)
        try:
            digest = m.content_hash or ctx.hasher(path)
        except OSError as exc:
            refused.append(Refusal(g.id, path, fsutil.describe_oserror(exc, "read", path)))
            continue
        if ctx.spec.kind in LINKS and digest != k.hash:
            why = "content differs from the keeper; links only replace exact copies"
            refused.append(Refusal(g.id, path, why))
            continue
        seen.add(rpath)
        keeper = (k.path, k.real, k.size, k.mtime_ns, k.dev, k.ino, k.hash)
        out.append((g.id, *keeper, path, st.st_size, st.st_mtime_ns, digest))
    return out


def _common_folder(staged: SpooledRows[_Staged]) -> str:
    """``os.path.commonpath`` of every staged file's folder, one row at a time."""
    base = ""
    for row in staged:
        folder = os.path.dirname(row[8])
        base = os.path.commonpath([base, folder]) if base else folder
    return base


def _group_items(
    staged: SpooledRows[_Staged], spec: OpSpec, shrink: ShrinkOptions | None, plan_id: str
) -> SpooledRows[PlanItem]:
    """The plan's items, spooled as they are made (``dest`` needs every file's folder
    first: the staged rows are read twice)."""
    base = ""
    if len(staged) and spec.kind in ("quarantine", "move", "copy"):
        base = _common_folder(staged)
    qroots: dict[str, str] = {}  # one quarantine-root lookup per folder

    def qroot(path: str) -> str:
        parent = os.path.dirname(path)
        if parent not in qroots:
            qroots[parent] = quarantine_root(path)
        return qroots[parent]

    items: RowSpool[PlanItem] = RowSpool(PlanItem, item_row)
    for n, row in enumerate(staged):
        gid, kpath, _real, ksize, kmtime, kdev, kino, khash, path, size, mtime_ns, digest = row
        dest = intended_dest(spec, path, kpath, base, plan_id, shrink, qroot)
        items.add_row(
            (n, gid, spec.kind, path, dest, kpath, size, mtime_ns, digest)
            + (ksize, kmtime, khash, kdev, kino)
        )
    return items.done()


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
        if st.st_dev != k.dev:
            return (
                "on another filesystem than the keeper; hard links cannot cross filesystems",
                False,
            )
        if st.st_ino == k.ino:
            return "already a hard link to the keeper", False
    return "", False
