"""Running a plan from the command line, and what ``scan --action`` reuses: the preview,
confirmation, progress and summary of a batch (:func:`execute_plan`), the ``--action`` options
(:func:`action_options`, :func:`action_args_from`) and :func:`run_action_for_groups`."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import click

from lookalike.commands import common
from lookalike.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    err,
    fail,
    human_bytes,
    report_interrupted,
    unexpected,
)
from lookalike.commands.merge import merge_mode, merge_options
from lookalike.engine.actions import (
    ActionError,
    BatchFinished,
    ConfirmationRequired,
    ItemOutcome,
    Plan,
    ShrinkOptions,
    UsageError,
    parse_action,
)
from lookalike.engine.actions.fsutil import display_path, safe_text, unique_path
from lookalike.engine.actions.plan import ACT_TIERS, TIERS, parse_size
from lookalike.engine.actions.plan_write import write_plan
from lookalike.engine.records import Group


def _preview(plan: Plan) -> Iterator[tuple[str, str, str]]:
    """(op, source, what happens) as apply would do it now, ``~N`` suffixes included."""
    reserved: set[str] = set()
    for it in plan.items:
        if it.op == "trash":
            what = "→ trash"
        elif it.op == "delete":
            what = "→ deleted permanently"
        elif it.op in ("hardlink", "symlink"):
            what = f"→ {it.op} to {display_path(it.keeper)}"
        elif it.op == "shrink" and plan.shrink and plan.shrink.replace:
            what = "→ replaced by a smaller file (original to trash)"
        else:
            dest = unique_path(it.dest or "", reserved)
            reserved.add(dest)
            what = f"→ {display_path(dest)}"
        yield it.op, it.source, what


def print_plan(plan: Plan, fmt: str, stdout: TextIO, *, sign: bool = False) -> None:
    """The plan as text or JSON. ``sign``: a plan just built here is written signed, so
    ``scan … --dry-run --format json > PLAN.json`` is a plan ``apply`` accepts; a plan read
    from a file is never re-signed (that would launder an edited plan)."""
    if fmt == "json":
        write_plan(plan, stdout, sign=sign)  # an item at a time
        stdout.write("\n")
        return
    for op, src, what in _preview(plan):
        stdout.write(f"{op:<10} {display_path(src)} {what}\n")
    stdout.write(
        f"# {len(plan.items)} file(s), {human_bytes(plan.bytes)}; {len(plan.refused)} left out\n"
    )


# -- running a plan --------------------------------------------------------------------------
def confirm_plan(
    plan: Plan,
    *,
    yes: bool,
    permanently: bool,
    confirm: Callable[[str], str] | None,
    stderr: TextIO,
) -> None:
    reader = confirm or common.read_typed_confirmation
    n = len(plan.items)
    if plan.op.kind == "delete" or any(i.op == "delete" for i in plan.items):
        if not permanently:
            raise ConfirmationRequired(
                "delete removes files for good and cannot be undone",
                "add --permanently (you will also type a confirmation), or use trash instead",
            )
        from lookalike.engine.actions import lock as passlock

        passlock.require_unlocked(confirm or common.read_secret)
        expected = f"delete {n} files"
        got = reader(
            f"This deletes {n} file(s) ({human_bytes(plan.bytes)}) permanently; "
            f"undo cannot bring them back.\nType '{expected}' to go on: "
        )
        if got.strip() != expected:
            raise ConfirmationRequired("confirmation did not match; nothing was deleted")
        return
    if yes:
        return
    if confirm is None and not sys.stdin.isatty():
        raise ConfirmationRequired(
            f"{plan.op} of {n} file(s) was not confirmed", "add --yes to act without a question"
        )
    if reader(
        f"{plan.op}: {n} file(s), {human_bytes(plan.bytes)}. Go on? [y/N] "
    ).strip().lower() not in ("y", "yes"):
        raise ConfirmationRequired("not confirmed; nothing was done")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def drive(
    events: Iterable[Any],
    fmt: str,
    stdout: TextIO,
    stderr: TextIO,
    extra_skipped: int = 0,
    refused: list[dict] | None = None,
) -> int:
    """Consume apply/undo/redo events: problems to stderr, summary to stdout."""
    finished: BatchFinished | None = None
    problems: list[dict] = list(refused or [])
    live = _isatty(stderr)
    shown = 0.0
    try:
        for ev in events:
            if isinstance(ev, ItemOutcome):
                if ev.outcome not in ("done", "undone"):
                    problems.append(ev.to_json())
                    stderr.write(
                        ("\r\033[K" if live else "") + f"  {ev.outcome}: "
                        f"{safe_text(ev.message) or display_path(ev.source)}\n"
                    )
                if live and (time.monotonic() - shown > 0.2 or ev.index == ev.total):
                    shown = time.monotonic()
                    stderr.write(f"\r\033[K  {ev.index}/{ev.total} file(s)")
                    stderr.flush()
            elif isinstance(ev, BatchFinished):
                finished = ev
                if live:
                    stderr.write("\r\033[K")
    except KeyboardInterrupt:
        err(
            stderr,
            "interrupted; the journal records every file handled so far "
            "(see lookalike history; lookalike undo rolls it back)",
        )
        return EXIT_INTERRUPTED
    assert finished is not None
    verb = {"apply": "applied", "redo": "redone", "undo": "undone"}[finished.phase]
    if fmt == "json":
        out = finished.to_json()
        out["problems"] = problems
        stdout.write(json.dumps(out) + "\n")
    else:
        freed = "restored" if finished.phase == "undo" else "freed"
        stdout.write(
            f"batch {finished.batch_id}: {finished.action} {verb} for {finished.done} "
            f"file(s), {human_bytes(finished.bytes)} {freed}; "
            f"{finished.skipped + extra_skipped} skipped, {finished.failed} failed\n"
        )
    if finished.phase != "undo" and finished.done:
        stderr.write(f"undo with: lookalike undo {finished.batch_id}\n")
    bad = finished.skipped + finished.failed + extra_skipped
    return EXIT_INTERRUPTED if finished.cancelled else (EXIT_PARTIAL if bad else EXIT_OK)


def execute_plan(
    plan: Plan,
    *,
    yes: bool,
    permanently: bool,
    fmt: str,
    stdout: TextIO,
    stderr: TextIO,
    journal: Path | None = None,
    confirm: Callable[[str], str] | None = None,
    origin: str = "plan",
    checked: bool = False,
    catalog: Path | None = None,
    merge: str | None = None,
) -> int:
    """Confirm, apply and report a plan; returns the exit code. ``checked``: the caller has
    just run the full plan check (``apply``), so apply does not hash every file twice.
    ``merge``: ``sidecar`` or ``file`` — first merge what the copies know into their keepers
    (a batch of its own, undoable apart)."""
    for r in plan.refused:
        stderr.write(f"  left out: {display_path(r.path)}: {safe_text(r.reason)}\n")
    if not plan.items:
        if fmt == "json":
            stdout.write(
                json.dumps(
                    {"batch": None, "done": 0, "problems": [r.to_json() for r in plan.refused]}
                )
                + "\n"
            )
        else:
            stdout.write("nothing to do\n")
        return EXIT_PARTIAL if _problems(plan) else EXIT_OK
    confirm_plan(plan, yes=yes, permanently=permanently, confirm=confirm, stderr=stderr)
    if merge:
        from lookalike.commands.merge import merge_first

        plan = merge_first(plan, merge, journal, stderr, origin)
        if not plan.items:
            stdout.write("nothing to do\n" if fmt != "json" else '{"batch": null, "done": 0}\n')
            return EXIT_PARTIAL
    from lookalike.engine.actions.apply import apply_plan  # only when acting: scans start faster

    permanent = plan.op.kind == "delete" or any(i.op == "delete" for i in plan.items)
    events = apply_plan(
        plan,
        journal,
        allow_permanent=permanent and permanently,
        origin=origin,
        checked=checked,
        catalog=catalog,
    )
    return drive(
        events,
        fmt,
        stdout,
        stderr,
        _problems(plan),
        [r.to_json() for r in plan.refused],
    )


def _problems(plan: Plan) -> int:
    """Files left out for a problem (missing, changed, …), not by a rule the user set
    (reference folder, favourite, a tier not asked for): those do not make the exit code 1."""
    return sum(1 for r in plan.refused if not r.kept)


def run_action_for_groups(
    groups: Iterable[Group],
    action: str,
    *,
    dry_run: bool,
    yes: bool,
    permanently: bool,
    plan_out: Path | None,
    fmt: str,
    stdout: TextIO,
    stderr: TextIO,
    journal: Path | None = None,
    shrink: ShrinkOptions | None = None,
    suggested: dict[int, str] | None = None,
    confirm: Callable[[str], str] | None = None,
    roots: list[str] | None = None,
    references: list[Path] | None = None,
    catalog: Path | None = None,
    tiers: tuple[str, ...] = ACT_TIERS,
    merge: str | None = None,
) -> int:
    """What ``scan --action OP`` does with its groups: non-keepers get ``action``, keepers
    never. ``--dry-run`` prints the plan; ``plan_out`` writes it for ``lookalike apply`` (and
    acts on nothing). Returns the exit code. ``confirm`` replaces terminal input in tests.

    The plan builder enforces what may be acted on: ``roots`` (what was scanned),
    ``references`` (never touched), the ``catalog``'s favourites, and ``tiers`` (default exact
    and same; similar groups only when asked for). ``groups`` is walked as ``build_plan``
    walks it (twice, a group at a time: a ``ScanGroups`` or a ``Rewalk`` is never listed)."""
    from lookalike.engine.actions.plan import save_plan
    from lookalike.engine.actions.plan_build import build_plan

    try:
        report_interrupted(stderr, journal)
        spec = parse_action(action)
        plan = build_plan(
            groups,
            spec,
            shrink=shrink,
            suggested=suggested,
            roots=roots,
            references=references or (),
            catalog=catalog,
            tiers=tiers,
        )
        if plan_out is not None or dry_run:
            for r in plan.refused:
                stderr.write(f"  left out: {display_path(r.path)}: {safe_text(r.reason)}\n")
            if plan_out is not None:
                save_plan(plan, Path(plan_out))
                err(
                    stderr,
                    f"plan written to {plan_out} ({len(plan.items)} file(s)); "
                    f"carry it out with: lookalike apply {plan_out}",
                )
            if dry_run or plan_out is None:
                print_plan(plan, fmt, stdout, sign=True)
            return EXIT_OK
        return execute_plan(
            plan,
            yes=yes,
            permanently=permanently,
            fmt=fmt,
            stdout=stdout,
            stderr=stderr,
            journal=journal,
            confirm=confirm,
            origin="scan",
            merge=merge,
        )
    except ActionError as exc:
        return fail(stderr, exc)
    except KeyboardInterrupt:
        err(stderr, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        return unexpected(stderr, exc)


# -- options shared with scan ------------------------------------------------------------------
ACTION_KEYS = (
    "action",
    "yes",
    "dry_run",
    "permanently",
    "plan_out",
    "quality",
    "max_size",
    "min_bytes",
    "shrink_replace",
    "ignore_ratio",
    "tier",
    "merge_metadata",
    "merge_into_file",
)


def action_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--action OP --yes --dry-run --permanently --plan-out FILE --quality --max-size
    --min-bytes --shrink-replace --ignore-ratio`` to a click command (``scan`` uses it)."""
    opts = [
        click.option(
            "--action",
            "action",
            metavar="OP",
            default=None,
            help="act on every non-keeper: trash, quarantine[:DIR], move:DIR, "
            "copy:DIR, hardlink, symlink, delete, shrink",
        ),
        click.option("--yes", "-y", "yes", is_flag=True, help="act without asking"),
        click.option(
            "--tier",
            "tier",
            multiple=True,
            metavar="TIERS",
            help="which groups --action touches: exact, same, similar (comma-separated or "
            "repeated; default exact,same). Look-alike shots (similar, also every --by colour "
            "/ --by faces group) are different photos: they are acted on only when named here",
        ),
        click.option(
            "--dry-run",
            "dry_run",
            is_flag=True,
            help="print exactly what would happen; touch nothing",
        ),
        click.option(
            "--permanently",
            is_flag=True,
            help="allow --action delete (a typed confirmation is still asked)",
        ),
        click.option(
            "--plan-out",
            "plan_out",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="write the plan as JSON for `lookalike apply`; act on nothing",
        ),
        click.option(
            "--quality",
            type=click.IntRange(1, 100),
            default=85,
            show_default=True,
            help="shrink: encoder quality",
        ),
        click.option(
            "--max-size",
            "max_size",
            metavar="WxH",
            default=None,
            help="shrink: fit within WxH (aspect ratio kept)",
        ),
        click.option(
            "--min-bytes",
            "min_bytes",
            type=click.IntRange(0),
            default=0,
            help="shrink: only files at least this big",
        ),
        click.option(
            "--shrink-replace",
            "shrink_replace",
            is_flag=True,
            help="shrink: replace the original (it goes to the trash, undo restores "
            "it) instead of writing NAME.small.EXT",
        ),
        *merge_options(),
        click.option(
            "--ignore-ratio",
            "ignore_ratio",
            is_flag=True,
            help="shrink: resize to exactly --max-size",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@dataclass(frozen=True)
class ActionArgs:
    action: str
    yes: bool
    dry_run: bool
    permanently: bool
    plan_out: Path | None
    shrink: ShrinkOptions | None
    tiers: tuple[str, ...] = ACT_TIERS
    merge: str | None = None


def parse_tiers(values: Iterable[str] | None) -> tuple[str, ...]:
    """``--tier`` values (repeated and/or comma-separated) → tiers; default exact and same."""
    tiers = tuple(
        dict.fromkeys(t.strip().lower() for v in values or () for t in v.split(",") if t.strip())
    )
    bad = [t for t in tiers if t not in TIERS]
    if bad:
        raise UsageError(
            f"unknown tier {', '.join(bad)} in --tier", "use exact, same and/or similar"
        )
    return tiers or ACT_TIERS


def action_args_from(params: dict[str, Any]) -> ActionArgs | None:
    """Pop the :func:`action_options` keys from a command's kwargs; None without ``--action``.
    Raises :class:`UsageError` for a bad ``--max-size``."""
    vals = {k: params.pop(k, None) for k in ACTION_KEYS}
    if not vals["action"]:
        return None
    shrink = None
    if parse_action(vals["action"]).kind == "shrink":
        shrink = ShrinkOptions(
            quality=vals["quality"] or 85,
            max_size=parse_size(vals["max_size"]) if vals["max_size"] else None,
            keep_ratio=not vals["ignore_ratio"],
            min_bytes=vals["min_bytes"] or 0,
            replace=bool(vals["shrink_replace"]),
        )
    return ActionArgs(
        vals["action"],
        bool(vals["yes"]),
        bool(vals["dry_run"]),
        bool(vals["permanently"]),
        vals["plan_out"],
        shrink,
        parse_tiers(vals["tier"]),
        merge_mode(vals["merge_metadata"], vals["merge_into_file"]),
    )


def config_references() -> list[str]:
    """Reference folders from config.toml ([rules] reference): never acted on, even by a plan
    made before they were added."""
    from lookalike import config

    refs = config.get_key(config.load_config(), "rules.reference", []) or []
    return [os.path.expanduser(str(r)) for r in refs]
