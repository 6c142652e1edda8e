"""Checks a plan must pass before any file is touched — a plan is checked, never trusted.

``check_plan`` looks at every item and collects every problem; one problem refuses the plan AS A
WHOLE (:class:`PlanRejected`, with the reason per item) so a hand-edited plan cannot get a single
file through. The checks: each item's op is the plan's action; sources, keepers and
destinations are clean absolute paths under the recorded roots (compared by real path) and
where the builder would put them; no source is a keeper, a reference file or a favourite; each
group keeps its keeper; hashes and mtimes are recorded (not blanked); with a catalog, the plan
comes from that catalog, every source is a file the scan recorded with those values, and the
source and its keeper are in one group there. ``fresh=True`` also compares every source and
keeper with the disk (``lstat``: a symlink swapped in is refused).

:func:`verify_keeper` is the keeper's own check, run again right before each file goes away
(apply and redo): a REGULAR file (``lstat``, never through a symlink) with the recorded dev,
inode, size, mtime and content hash.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.engine.actions import fsutil
from lookalike.engine.actions.errors import PlanRefused, VerifyError
from lookalike.engine.actions.guard import RealPaths, is_clean, real_folders, under_any
from lookalike.engine.actions.plan import (
    LINKS,
    MAKE_PLAN_HINT,
    RULE_KINDS,
    Plan,
    PlanItem,
    quarantine_root,
)
from lookalike.engine.actions.plancheck_catalog import CatalogView
from lookalike.engine.actions.plancheck_seen import Clashes, numbers_in_range

HASH_RE = re.compile(r"^[0-9a-f]{32}$")
DEST_PROBLEM = "its destination"
SHOWN = 20  # problems listed in the message (all are on the exception)


class PlanRejected(PlanRefused):
    """The plan failed its checks; ``problems`` holds (path, reason) for every failing item."""

    def __init__(self, message: str, problems: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__(message, hint)
        self.problems = problems

    def __str__(self) -> str:
        """One line (what and what to do), then the first problems, one per line."""
        lines = "".join(f"\n  {p}: {r}" for p, r in self.problems[:SHOWN])
        more = f"\n  … and {len(self.problems) - SHOWN} more" if len(self.problems) > SHOWN else ""
        return super().__str__() + lines + more


def check_plan(
    plan: Plan,
    *,
    fresh: bool,
    catalog: str | os.PathLike[str] | None = None,
    references: Iterable[str | os.PathLike[str]] = (),
    require_catalog: bool = False,
    redo: bool = False,
) -> None:
    """Raise :class:`PlanRejected` unless every item passes (see the module doc).

    ``catalog`` overrides the catalog path the plan records (``apply --db``); ``references`` adds
    reference folders (e.g. from config) to those the plan records. ``require_catalog`` refuses a
    plan that names none (an unsigned plan must be checkable against its catalog). ``redo``: the
    destinations come from the journal (final names, ``~N`` included) and are not re-derived."""
    problems: list[tuple[str, str]] = []
    whole: list[str] = []
    roots = frozenset(r for r in plan.roots if isinstance(r, str) and is_clean(r))
    if not roots or len(roots) != len(set(plan.roots)):
        whole.append("it records no (or damaged) scan roots")
    refs = frozenset(real_folders([*(r for r in plan.references if is_clean(r)), *references]))
    cat = _open_catalog(plan, catalog, require_catalog, whole)
    seen = _Seen()
    seen.clashes = Clashes(plan.items, seen.real)  # pass 1: what the items say about each other
    for n, item in enumerate(plan.items):  # pass 2: each item on its own and with the others
        for reason in _item_problems(plan, n, item, roots, refs, cat, seen):
            if not (redo and reason.startswith(DEST_PROBLEM)):
                problems.append((item.source, reason))
    if fresh and not problems and not whole:
        verified: dict[str, str] = {}
        for item in plan.items:
            try:
                verify_source(item)
                if item.keeper:
                    verify_keeper(item, verified)
            except VerifyError as exc:
                problems.append((item.source, str(exc)))
    if whole or problems:
        n = len({p for p, _ in problems})
        what = "; ".join(whole) if whole else f"{n} of {len(plan.items)} file(s) fail its checks"
        raise PlanRejected(
            f"refusing plan {plan.id} as a whole ({what}); nothing was touched",
            problems,
            MAKE_PLAN_HINT.replace("make one", "make a new plan"),
        )


@dataclass
class _Seen:
    """What the check keeps across items: the values items share (found in SQL, issue 13:
    not a Python entry per item) and the folder caches (real paths, default quarantine
    roots: one lookup per folder)."""

    clashes: Clashes | None = None
    qroots: dict[str, str] = field(default_factory=dict)
    real: RealPaths = field(default_factory=RealPaths)


def _item_problems(
    plan: Plan,
    n: int,
    item: PlanItem,
    roots: frozenset[str],
    refs: frozenset[str],
    cat: CatalogView | None,
    seen: _Seen,
) -> Iterable[str]:
    op, clashes = plan.op.kind, seen.clashes
    assert clashes is not None
    if not numbers_in_range(item):
        yield "a number in it is out of range"
        return
    if item.seq in clashes.seqs:
        yield f"its sequence number {item.seq} is used twice"
    if item.op != op:
        yield f"its operation {item.op!r} is not the plan's action {op!r}"
    if item.keeper == "":
        yield from _solo_problems(plan, item, roots, refs, seen)
        return
    for name, path in (("source", item.source), ("keeper", item.keeper)):
        if not is_clean(path):
            yield f"its {name} path is not a clean absolute path ({path!r})"
    if not is_clean(item.source) or not is_clean(item.keeper):
        return
    src, keep = seen.real(item.source), seen.real(item.keeper)
    if not under_any(src, roots):
        yield "outside the scanned folders"
    if not under_any(keep, roots):
        yield f"its keeper {item.keeper} is outside the scanned folders"
    if src == keep:
        yield (
            "it is its own keeper"
            if item.source == item.keeper
            else f"its keeper {item.keeper} is now this same file (a symlink to it?)"
        )
    elif src in clashes.keeper_of:
        yield f"it is the keeper {clashes.keeper_of[src]} of another file in the plan"
    if src in clashes.sources:
        yield "listed more than once"
    ref = under_any(src, refs)
    if ref:
        yield f"in reference folder {ref}; reference files are never acted on"
    first = clashes.first_keeper.get(item.group_id, keep)
    if first != keep:
        yield f"group {item.group_id} names two keepers ({first} and {item.keeper})"
    if not HASH_RE.match(item.hash or ""):
        yield "no content hash recorded (blank or damaged), so a change could not be seen"
    if item.mtime_ns <= 0 or item.size < 0:
        yield "no modification time or size recorded, so a change could not be seen"
    if not HASH_RE.match(item.keeper_hash or "") or item.keeper_mtime_ns <= 0:
        yield "its keeper's content hash or time is not recorded"
    if not item.keeper_dev or not item.keeper_ino:
        yield "its keeper's device and inode are not recorded"
    if op in LINKS and item.keeper_hash != item.hash:
        yield "links only replace exact copies of the keeper (the hashes differ)"
    dest = _dest_problem(plan, item, seen.qroots)
    if dest:
        yield dest
    if cat is not None:
        yield from cat.problems(n, item, src)


def _solo_problems(
    plan: Plan,
    item: PlanItem,
    roots: frozenset[str],
    refs: frozenset[str],
    seen: _Seen,
) -> Iterable[str]:
    """An item with no keeper: a content rule's file. Such plans are made and applied in one
    process (or redone from the journal), never read from a file, and only move bytes
    reversibly (trash, quarantine, move, copy) — a plan file cannot use this to drop a keeper."""
    if plan.from_file:
        yield "it names no keeper; only content rules act on single files, never from a plan file"
        return
    if plan.op.kind not in RULE_KINDS:
        yield f"a file with no keeper cannot be given {plan.op.kind}"
    if not is_clean(item.source):
        yield f"its source path is not a clean absolute path ({item.source!r})"
        return
    src, clashes = seen.real(item.source), seen.clashes
    assert clashes is not None
    if not under_any(src, roots):
        yield "outside the scanned folders"
    if src in clashes.keeper_of:
        yield f"it is the keeper {clashes.keeper_of[src]} of another file in the plan"
    if src in clashes.sources:
        yield "listed more than once"
    ref = under_any(src, refs)
    if ref:
        yield f"in reference folder {ref}; reference files are never acted on"
    if not HASH_RE.match(item.hash or ""):
        yield "no content hash recorded (blank or damaged), so a change could not be seen"
    if item.mtime_ns <= 0 or item.size < 0:
        yield "no modification time or size recorded, so a change could not be seen"
    dest = _dest_problem(plan, item, seen.qroots)
    if dest:
        yield dest


def _dest_problem(plan: Plan, item: PlanItem, qroots: dict[str, str]) -> str:
    op, dest = plan.op.kind, item.dest
    if op in ("trash", "delete"):
        return "" if dest is None else f"its destination: a {op} item cannot name one"
    if dest is None or not is_clean(dest):
        return f"its destination is missing or not a clean absolute path ({dest!r})"
    if op in LINKS:
        return "" if dest == item.keeper else "its destination must be its keeper (a link)"
    if op == "shrink":
        stem, ext = os.path.splitext(item.source)
        want = (
            item.source
            if plan.shrink and plan.shrink.replace
            else stem + (plan.shrink.suffix if plan.shrink else ".small") + ext
        )
        return "" if dest == want else "its destination is not where shrink writes"
    if os.path.basename(dest) != os.path.basename(item.source):
        return "its destination does not keep the file's name"
    folder = plan.op.directory
    if folder is None:  # default quarantine: the batch's folder in the quarantine root
        parent = os.path.dirname(item.source)
        if parent not in qroots:
            qroots[parent] = quarantine_root(item.source)
        folder = os.path.join(qroots[parent], plan.id)
    if not is_clean(folder) or not dest.startswith(os.path.join(folder, "")):
        return f"its destination {dest} is not under {folder}"
    return ""


def _open_catalog(
    plan: Plan,
    override: str | os.PathLike[str] | None,
    required: bool,
    whole: list[str],
) -> CatalogView | None:
    """The catalog the plan came from, checked against the plan in SQL (plancheck_catalog);
    None (and why, in ``whole``) when it is missing, another one or cannot be read."""
    if override is None and plan.catalog_id is None:
        if required:
            whole.append("it names no catalog, so its files cannot be checked against a scan")
        return None
    path = os.fspath(override) if override is not None else plan.catalog
    if not path or not os.path.isfile(path):
        whole.append(f"its catalog {path} does not exist")
        return None
    from lookalike.engine.catalog import Catalog, CatalogError

    try:
        with Catalog(Path(path)) as cat:
            if plan.catalog_id is None or cat.catalog_id() != plan.catalog_id:
                whole.append(f"it was made from another catalog than {path}")
                return None
            return CatalogView(cat.db, plan, cat.favourites())
    except (CatalogError, sqlite3.Error, OSError) as exc:
        whole.append(f"its catalog {path} cannot be read ({exc})")
        return None


# -- checks against the disk -------------------------------------------------------------------
def verify_source(item: PlanItem) -> None:
    """Raise :class:`VerifyError` unless the source is exactly what was scanned (``lstat``)."""
    try:
        st = os.lstat(item.source)
    except FileNotFoundError:
        raise VerifyError("missing (moved or deleted since the scan)") from None
    except OSError as exc:
        raise VerifyError(fsutil.describe_oserror(exc, "read", item.source)) from None
    if not stat.S_ISREG(st.st_mode):
        raise VerifyError("no longer a regular file (a symlink or something else is there now)")
    if st.st_size != item.size or st.st_mtime_ns != item.mtime_ns:
        raise VerifyError("changed since the scan (size or modification time differs)")
    try:
        digest = fsutil.hash_file(item.source)
    except OSError as exc:
        raise VerifyError(fsutil.describe_oserror(exc, "read", item.source)) from None
    if digest != item.hash:
        raise VerifyError("content changed since the scan")


def verify_keeper(item: PlanItem, verified: dict[str, str]) -> None:
    """The keeper must still be the regular file the plan recorded before a copy goes away:
    ``lstat`` (never through a symlink), then dev, inode, size, mtime, and the content hash
    (computed once per keeper and batch, cached in ``verified``)."""
    keep = item.keeper
    try:
        st = os.lstat(keep)
    except OSError:
        raise VerifyError(
            f"its keeper {keep} is missing; left alone so the group keeps a copy"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise VerifyError(
            f"its keeper {keep} is no longer a regular file (a symlink?); left alone so the "
            "group keeps a real copy"
        )
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (
        item.keeper_dev,
        item.keeper_ino,
        item.keeper_size,
        item.keeper_mtime_ns,
    ):
        raise VerifyError(f"its keeper {keep} changed since the scan; left alone")
    if keep not in verified:
        try:
            verified[keep] = fsutil.hash_file(keep)
        except OSError as exc:
            raise VerifyError(fsutil.describe_oserror(exc, "read", keep)) from None
    if verified[keep] != item.keeper_hash:
        raise VerifyError(f"its keeper {keep} no longer has the content it had; left alone")
    if item.op in LINKS and verified[keep] != item.hash:
        raise VerifyError(f"its keeper {keep} no longer has the same content; not linking")
