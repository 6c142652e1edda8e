"""Plans, apply and undo over HTTP: the same plan builder, plan check and journal as the CLI.

A plan is built from a done job's groups (the client names a job, never a path), signed and
kept in ``STATE/plans/ID.json``; applying it reads it back as an untrusted file (``apply``'s
full check against the disk and the catalog) and needs the plan id and the typed confirmation
``"<action> <N> files"``. Permanent delete is not offered over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from lookalike.engine.actions import (
    ActionError,
    BatchFinished,
    ItemOutcome,
    OpSpec,
    Plan,
    apply_plan,
    build_plan,
    load_plan,
    parse_action,
    save_plan,
    undo,
)
from lookalike.engine.actions.journal import Journal, journal_lock
from lookalike.engine.actions.plan import ACT_TIERS, TIERS
from lookalike.engine.actions.plan_build import Rewalk
from lookalike.engine.actions.plan_write import json_chunks
from lookalike.engine.actions.plancheck import check_plan
from lookalike.engine.records import Group
from lookalike.engine.result_store import ResultStore
from lookalike.serve.errors import ApiError
from lookalike.serve.jobs import JobManager
from lookalike.serve.scanargs import under_roots
from lookalike.serve.visible import ReviewView

PLAN_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
PLAN_KEYS = {"job", "review", "action", "tiers", "groups", "removals"}


def confirmation(plan: Plan) -> str:
    """The text a client must send back to apply ``plan``."""
    return f"{plan.op} {len(plan.items)} files"


def plan_path(state_dir: Path, plan_id: str) -> Path:
    if not PLAN_ID.match(plan_id):
        raise ApiError(404, f"no plan {plan_id!r}", "POST /plans makes one")
    return Path(state_dir) / "plans" / f"{plan_id}.json"


def plan_answer(plan: Plan) -> dict[str, Any]:
    return {
        **plan.to_json(),
        "confirm": confirmation(plan),
        "apply": f"POST /plans/{plan.id}/apply",
    }


def answer_chunks(plan: Plan) -> Iterator[bytes]:
    """:func:`plan_answer` as the JSON ``AsciiJSON`` writes, a block at a time: a plan's
    items are spooled to a file (plan_spool.py) and streamed from it, never all in memory."""
    return json_chunks(
        plan, {"confirm": confirmation(plan), "apply": f"POST /plans/{plan.id}/apply"}
    )


def make_plan(jobs: JobManager, body: object, references: list[str]) -> dict[str, Any]:
    """:func:`new_plan` as one JSON-able dict (library callers; ``POST /plans`` streams)."""
    return plan_answer(new_plan(jobs, body, references))


def new_plan(jobs: JobManager, body: object, references: list[str]) -> Plan:
    """``POST /plans``: ``{"job": ID, "action": "trash", "tiers": [...], "groups": [ids]}``, or
    ``{"review": true, "removals": {"GROUP": [paths]}, …}`` for the catalog's stored review (the
    app's groups, with the keepers a reviewer chose)."""
    if not isinstance(body, dict) or not (isinstance(body.get("job"), str) or body.get("review")):
        raise ApiError(
            422,
            'the body needs "job" (a done job\'s id) or "review": true, and "action"',
            '{"job": "ID", "action": "trash"}',
        )
    extra = sorted(set(body) - PLAN_KEYS)
    if extra:
        raise ApiError(
            422, f"unknown field(s) {', '.join(extra)}", "send " + ", ".join(sorted(PLAN_KEYS))
        )
    spec = _action(str(body.get("action") or "trash"), jobs.roots)
    tiers = body.get("tiers") or list(ACT_TIERS)
    if not isinstance(tiers, list) or any(t not in TIERS for t in tiers):
        raise ApiError(422, f"tiers must be a list of {', '.join(TIERS)}")
    if body.get("review"):
        view, ids = ReviewView(jobs.engine, jobs.roots), _review_ids(body)
        if ids is None and _whole(body):  # every visible group, read once a chunk at a time
            every = Rewalk(view.groups, once=True, stamp=view.stamp)
            plan = _build(every, spec, {}, list(jobs.roots), references, jobs, tiers)
        else:
            groups, suggested = _chosen(
                view.groups_with_ids(ids or ()), body.get("groups"), body.get("removals")
            )
            plan = _build(groups, spec, suggested, list(jobs.roots), references, jobs, tiers)
    else:
        job = jobs.get(body["job"])
        with ResultStore(jobs.result_file(job.id)) as result:  # 409 until the job is done
            ids = body.get("groups")
            wanted = ids if isinstance(ids, list) and all(type(i) is int for i in ids) else None
            if wanted is None and _whole(body):  # the job's groups from its result file
                groups: Iterable[Group] = Rewalk(result.groups, once=True)  # a done job's
                suggested: dict[int, str] = {}
            else:
                groups, suggested = _chosen(
                    list(result.groups(wanted)), body.get("groups"), body.get("removals")
                )
            plan = _build(groups, spec, suggested, job.paths, references, jobs, tiers)
    path = plan_path(jobs.state_dir, plan.id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    save_plan(plan, path)
    return plan


def _whole(body: dict) -> bool:
    """Neither ``groups`` nor ``removals`` given: the plan covers every group, so they are
    walked a chunk at a time rather than listed (issue 13)."""
    return body.get("groups") is None and body.get("removals") is None


def _build(
    groups: Iterable[Group],
    spec: OpSpec,
    suggested: dict[int, str],
    roots: list[str],
    references: list[str],
    jobs: JobManager,
    tiers: list[str],
) -> Plan:
    """The plan builder over the groups with more than one file (it walks them twice, or
    reads them once: ``Rewalk(once=True)``)."""
    once, stamp = (groups.once, groups.stamp) if isinstance(groups, Rewalk) else (False, None)
    try:
        return build_plan(
            Rewalk(lambda: (g for g in groups if len(g.members) > 1), once=once, stamp=stamp),
            spec,
            suggested=suggested,
            roots=roots,
            references=references,
            catalog=jobs.engine.catalog_path,
            tiers=tuple(tiers),
        )
    except ActionError as exc:
        raise ApiError(409, exc.message, exc.hint) from None


def _review_ids(body: dict) -> set[int] | None:
    """The stored groups a review plan can touch: those ``removals`` or ``groups`` name (so
    only they are decoded, a page at a time); None: every visible group (neither given). A
    malformed id is left for :func:`_chosen` to refuse with its message."""
    named: list[set[int]] = []
    removals, wanted = body.get("removals"), body.get("groups")
    if isinstance(removals, dict):
        named.append({int(k) for k in removals if str(k).isdigit()})
    if isinstance(wanted, list):
        named.append({i for i in wanted if type(i) is int})
    return set.intersection(*named) if named else None


def _action(text: str, roots: tuple[str, ...]) -> OpSpec:
    try:
        spec = parse_action(text)
    except ActionError as exc:
        raise ApiError(422, exc.message, exc.hint) from None
    if spec.kind == "delete" or spec.kind == "shrink":
        raise ApiError(
            422,
            f"{spec.kind} is not offered over HTTP",
            "use trash, quarantine, move:DIR, copy:DIR, hardlink or symlink; "
            "run lookalike on the box for the rest",
        )
    if spec.directory and not under_roots(spec.directory, roots):
        raise ApiError(
            403,
            f"{spec.directory} is outside the server's roots",
            "move or copy to a folder under a root",
        )
    return spec


def _chosen(
    groups: list[Group], wanted: object, removals: object
) -> tuple[list[Group], dict[int, str]]:
    """The groups asked for; with ``removals`` (group id → member paths to act on) each group
    keeps its other files, the engine's keeper first (as the app's own plans do)."""
    if wanted is not None:
        if not isinstance(wanted, list) or not all(isinstance(i, int) for i in wanted):
            raise ApiError(422, '"groups" must be a list of group ids')
        groups = [g for g in groups if g.id in set(wanted)]
    if removals is None:
        return groups, {}
    if not isinstance(removals, dict):
        raise ApiError(422, '"removals" must map a group id to the paths to act on')
    by_id = {str(g.id): g for g in groups}
    planned, suggested = [], {}
    for gid, gone in removals.items():
        g = by_id.get(str(gid))
        if g is None or not isinstance(gone, list):
            raise ApiError(422, f"no group {gid} to act on (or its paths are not a list)")
        paths = {m.path for m in g.members}
        stray = [p for p in gone if p not in paths]
        if stray:
            raise ApiError(422, f"not files of group {gid}: {', '.join(map(str, stray[:3]))}")
        kept = [p for p in paths if p not in set(gone)]
        if not gone or not kept:
            continue  # never plan away every copy
        keeper = g.keep if g.keep in kept else sorted(kept)[0]
        members = tuple(m for m in g.members if m.path == keeper or m.path in set(gone))
        planned.append(replace(g, keep=keeper, members=members))
        suggested[g.id] = g.keep
    return planned, suggested


def read_plan(state_dir: Path, plan_id: str) -> Plan:
    path = plan_path(state_dir, plan_id)
    if not path.exists():
        raise ApiError(404, f"no plan {plan_id}", "POST /plans makes one")
    try:
        return load_plan(path)
    except ActionError as exc:
        raise ApiError(500, f"plan {plan_id} cannot be read: {exc}") from None


def run_batch(events) -> dict[str, Any]:
    """Run apply/undo events; the summary (``BatchFinished``) and each file not done."""
    finished: BatchFinished | None = None
    problems = []
    for ev in events:
        if isinstance(ev, ItemOutcome) and ev.outcome not in ("done", "undone"):
            problems.append(ev.to_json())
        elif isinstance(ev, BatchFinished):
            finished = ev
    assert finished is not None
    return {
        **finished.to_json(),
        "problems": problems,
        "undo": f"POST /batches/{finished.batch_id}/undo",
    }


def apply(
    state_dir: Path, plan_id: str, body: object, references: list[str], journal: Path | None
) -> dict[str, Any]:
    """``POST /plans/{id}/apply`` with ``{"plan": ID, "confirm": "trash 3 files"}`` (blocking)."""
    plan = read_plan(state_dir, plan_id)
    if not isinstance(body, dict) or body.get("plan") != plan_id:
        raise ApiError(
            422,
            f'the body must repeat the plan id: {{"plan": "{plan_id}", ...}}',
            "destructive calls name what they act on",
        )
    if body.get("confirm") != confirmation(plan):
        raise ApiError(
            422, f'not confirmed; send "confirm": "{confirmation(plan)}"', "nothing was touched"
        )
    try:
        check_plan(plan, fresh=True, references=references)
        return run_batch(apply_plan(plan, journal, origin=f"serve:{plan_id}", checked=True))
    except ActionError as exc:
        raise ApiError(409, str(exc.message), exc.hint or "nothing was touched") from None


def undo_batch(batch_id: str, body: object, journal: Path | None) -> dict[str, Any]:
    """``POST /batches/{id}/undo`` with ``{"confirm": "undo ID"}``: the journal rolls it back."""
    want = f"undo {batch_id}"
    if not isinstance(body, dict) or body.get("confirm") != want:
        raise ApiError(422, f'not confirmed; send "confirm": "{want}"', "nothing was touched")
    try:
        with journal_lock(journal), Journal(journal) as j:
            if not j.batch_exists(batch_id):
                raise ApiError(404, f"no batch {batch_id} in the journal", "GET /batches")
        return run_batch(undo(batch_id, journal))
    except ActionError as exc:
        raise ApiError(409, str(exc.message), exc.hint) from None
