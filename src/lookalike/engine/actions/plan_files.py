"""Plans for single files (content rules, marks): no group and no keeper, so only operations
that keep the bytes (trash, quarantine, move, copy), with the same checks as a group plan."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterable

from lookalike.engine.actions import fsutil
from lookalike.engine.actions.errors import UsageError
from lookalike.engine.actions.guard import real, real_folders, under_any
from lookalike.engine.actions.plan import (
    RULE_KINDS,
    RULE_ORIGIN,
    OpSpec,
    Plan,
    PlanItem,
    Refusal,
    intended_dest,
    new_id,
    parse_action,
)


def _file_refusal(
    rpath: str,
    roots: frozenset[str],
    refs: frozenset[str],
    favs: set[str],
    dest_real: str | None,
    directory: str | None,
) -> tuple[str, bool]:
    """Why a single file may not be acted on ('' when it may), and whether a rule the user set
    is the reason."""
    ref = under_any(rpath, refs)
    if not under_any(rpath, roots):
        return "outside the folders given", False
    if ref:
        return f"in reference folder {ref}; reference files are never acted on", True
    if rpath in favs:
        return "a favourite; favourites are never acted on", True
    if dest_real and under_any(rpath, frozenset([dest_real])):
        return f"already in {directory}", True
    return "", False


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
        why, by_rule = _file_refusal(rpath, root_set, ref_set, favs, dest_real, spec.directory)
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
