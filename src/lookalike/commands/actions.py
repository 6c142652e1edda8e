"""CLI of the action layer: ``apply``, ``undo``, ``redo``, ``history``, ``stats``, ``export``,
``quarantine`` and ``lock``, plus what ``scan --action`` reuses (:func:`action_options`,
:func:`action_args_from`, :func:`run_action_for_groups`).

stdout carries data (batch ids, plans, history, JSON); stderr carries diagnostics (skipped
files, hints, errors). Errors are one line saying what happened and what to do — never a
traceback. Exit codes (also in docs/actions.md):

0 done · 1 some files skipped or failed · 2 usage error · 3 refused or not confirmed ·
5 journal busy or unreadable · 6 nothing to undo/redo or unknown batch · 130 interrupted (Ctrl-C)
"""

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

from lookalike.config import ConfigError
from lookalike.engine.actions import (
    ActionError,
    BatchFinished,
    ConfirmationRequired,
    ItemOutcome,
    JournalError,
    NothingToDo,
    Plan,
    RecoveryReport,
    ShrinkOptions,
    UsageError,
    apply_plan,
    batch_items,
    build_plan,
    compute_stats,
    empty_quarantine,
    export_kept,
    history,
    kept_set,
    load_plan,
    parse_action,
    pending_recovery,
    quarantine_contents,
    redo,
    redo_plan,
    save_plan,
    settle_pending,
    undo,
)
from lookalike.engine.actions import lock as passlock
from lookalike.engine.actions.fsutil import display_path, safe_text, unique_path
from lookalike.engine.actions.journal import Journal
from lookalike.engine.actions.plan import ACT_TIERS, TIERS, parse_size, plan_document
from lookalike.engine.actions.plancheck import PlanRejected, check_plan
from lookalike.engine.actions.undo import UNDO_FROM, undo_target
from lookalike.engine.records import Group, Member

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
EXIT_BUSY, EXIT_NOTHING, EXIT_INTERRUPTED = 5, 6, 130
FORMATS = click.Choice(["text", "json"])


# -- terminal input (tests replace these two) ---------------------------------------------
def read_typed_confirmation(prompt: str) -> str:
    """Read one line from the controlling terminal, not stdin: a pipe cannot confirm.

    The terminal is opened twice, once to write and once to read: a single ``"r+"`` text
    stream needs a seekable file, which a terminal is not (Python 3.11 refuses it).
    """
    out = inp = None
    try:
        out = open("/dev/tty", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        inp = open("/dev/tty", encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError:
        if out is not None:
            out.close()
        raise ConfirmationRequired(
            "this needs a typed confirmation but there is no terminal",
            "run the command from a terminal",
        ) from None
    with out, inp:
        out.write(prompt)
        out.flush()
        line = inp.readline()
        if not line.endswith("\n"):
            out.write("\n")  # Ctrl-D: end the prompt's line before the next message
            out.flush()
        return line.strip()


def read_secret(prompt: str) -> str:
    import getpass

    try:
        return getpass.getpass(prompt)
    except (EOFError, OSError):
        raise ConfirmationRequired(
            "the passphrase is needed but there is no terminal", "run the command from a terminal"
        ) from None


def _ask_yes(question: str) -> bool:
    answer = read_typed_confirmation(f"{question} [y/N] ")
    return answer.lower() in ("y", "yes")


# -- formatting ---------------------------------------------------------------------------
def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _err(stderr: TextIO, msg: str) -> None:
    stderr.write(f"lookalike: {msg}\n")


def _fail(stderr: TextIO, exc: ActionError) -> int:
    _err(stderr, f"error: {exc}")
    return exc.exit_code


_REPORTED: set[str] = set()


def report_interrupted(
    stderr: TextIO, journal: Path | None = None, report: RecoveryReport | None = None
) -> RecoveryReport:
    """Tell the user about batches a crash left unfinished, file by file (first 20 per batch;
    ``lookalike history BATCH`` lists them all). Call at the start of any command."""
    try:
        report = report if report is not None else pending_recovery(journal)
    except Exception as exc:  # best effort: a warning, never a failure of the command
        if isinstance(exc, JournalError):  # the command that needs the journal says it
            return RecoveryReport()
        _err(stderr, f"warning: cannot check the journal for interrupted batches: {exc}")
        return RecoveryReport()
    for b in report.batches:
        if b.id in _REPORTED:
            continue  # once per process is enough
        _REPORTED.add(b.id)
        _err(
            stderr,
            f"batch {b.id} ({b.action}) was interrupted during {b.phase} "
            f"({_when(b.created)}): {b.done} file(s) done, {b.not_done} not done",
        )
        for item in b.items[:20]:
            stderr.write(
                f"  {'done    ' if item.done else 'not done'}  {display_path(item.source)}: "
                f"{safe_text(item.message)}\n"
            )
        if len(b.items) > 20:
            stderr.write(f"  … {len(b.items) - 20} more: lookalike history {b.id}\n")
        if b.phase == "apply":
            stderr.write(
                f"  nothing is redone automatically; roll back the done part with: "
                f"lookalike undo {b.id}\n"
            )
        else:
            stderr.write("  the interrupted undo will be finished by the next lookalike undo\n")
    return report


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
        doc = plan_document(plan) if sign else plan.to_json()
        stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    for op, src, what in _preview(plan):
        stdout.write(f"{op:<10} {display_path(src)} {what}\n")
    stdout.write(
        f"# {len(plan.items)} file(s), {human_bytes(plan.bytes)}; {len(plan.refused)} left out\n"
    )


# -- running a plan --------------------------------------------------------------------------
def _confirm(
    plan: Plan,
    *,
    yes: bool,
    permanently: bool,
    confirm: Callable[[str], str] | None,
    stderr: TextIO,
) -> None:
    reader = confirm or read_typed_confirmation
    n = len(plan.items)
    if plan.op.kind == "delete" or any(i.op == "delete" for i in plan.items):
        if not permanently:
            raise ConfirmationRequired(
                "delete removes files for good and cannot be undone",
                "add --permanently (you will also type a confirmation), or use trash instead",
            )
        passlock.require_unlocked(confirm or read_secret)
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


def _drive(
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
        _err(
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
) -> int:
    """Confirm, apply and report a plan; returns the exit code. ``checked``: the caller has
    just run the full plan check (``apply``), so apply does not hash every file twice."""
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
    _confirm(plan, yes=yes, permanently=permanently, confirm=confirm, stderr=stderr)
    permanent = plan.op.kind == "delete" or any(i.op == "delete" for i in plan.items)
    events = apply_plan(
        plan,
        journal,
        allow_permanent=permanent and permanently,
        origin=origin,
        checked=checked,
        catalog=catalog,
    )
    return _drive(
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
    groups: list[Group],
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
) -> int:
    """What ``scan --action OP`` does with its groups: non-keepers get ``action``, keepers
    never. ``--dry-run`` prints the plan; ``plan_out`` writes it for ``lookalike apply`` (and
    acts on nothing). Returns the exit code. ``confirm`` replaces terminal input in tests.

    The plan builder enforces what may be acted on: ``roots`` (what was scanned),
    ``references`` (never touched), the ``catalog``'s favourites, and ``tiers`` (default exact
    and same; similar groups only when asked for)."""
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
                _err(
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
        )
    except ActionError as exc:
        return _fail(stderr, exc)
    except KeyboardInterrupt:
        _err(stderr, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _unexpected(stderr, exc)


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
    )


# -- commands --------------------------------------------------------------------------------
def _io() -> tuple[TextIO, TextIO]:
    return sys.stdout, sys.stderr


def _journal_opt(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--journal",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="LOOKALIKE_JOURNAL",
        help="journal file (default: in the data dir)",
    )(f)


def _format_opt(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)(f)


def _run(body: Callable[[TextIO, TextIO], int]) -> None:
    """Run a command body; map errors to one line on stderr and an exit code."""
    stdout, stderr = _io()
    try:
        code = body(stdout, stderr)
    except ActionError as exc:
        code = _fail(stderr, exc)
    except KeyboardInterrupt:
        _err(stderr, "interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:  # one line, never a traceback (LOOKALIKE_DEBUG=1 shows it)
        code = _unexpected(stderr, exc)
    sys.exit(code)


def _unexpected(stderr: TextIO, exc: Exception) -> int:
    """Map an error that is not an ActionError to one line and an exit code."""
    if os.environ.get("LOOKALIKE_DEBUG") == "1" or isinstance(exc, BrokenPipeError):
        raise exc  # a closed stdout ends quietly (cli.quiet_broken_pipe), never "error: …"
    if isinstance(exc, ConfigError):
        _err(stderr, f"error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        _err(stderr, f"error: {exc.strerror or exc}{where}")
        return EXIT_PARTIAL
    _err(stderr, f"internal error: {exc!r}; please report it (LOOKALIKE_DEBUG=1 shows details)")
    return EXIT_PARTIAL


@click.command("apply")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="act without asking")
@click.option("--dry-run", is_flag=True, help="check and print what would happen; touch nothing")
@click.option("--permanently", is_flag=True, help="allow a delete plan (typed confirmation too)")
@click.option(
    "--force-unsigned",
    is_flag=True,
    help="accept a plan this install did not sign (edited on purpose); every other check "
    "still applies",
)
@click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="catalog the plan must come from (default: the one the plan names)",
)
@_format_opt
@_journal_opt
def apply_cmd(
    plan_file: Path,
    yes: bool,
    dry_run: bool,
    permanently: bool,
    force_unsigned: bool,
    db: Path | None,
    fmt: str,
    journal: Path | None,
) -> None:
    """Carry out a plan written by ``scan … --action OP --plan-out PLAN.json``.

    The plan is checked as a whole before anything is touched: it must be signed by this
    install (``--force-unsigned`` skips only that), come from the catalog it names, act only
    on files under its scan roots that are not keepers, reference files or favourites, keep a
    copy of every group, and every file and keeper must still match the scan (size, time,
    content hash). One failure refuses the whole plan (exit 3), with the reason per file.
    """

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        plan = load_plan(plan_file)
        if not plan.signed and not force_unsigned:
            raise PlanRejected(
                f"refusing plan {plan_file}: it is not signed by this install (edited by hand, "
                "or made by another user or machine); nothing was touched",
                [],
                "make a new plan with: lookalike scan --no-ui PATH --action OP --plan-out "
                "PLAN.json, or pass --force-unsigned if you edited it on purpose (every other "
                "check still applies)",
            )
        check_plan(
            plan,
            fresh=True,
            catalog=db,
            references=_config_references(),
            require_catalog=not plan.signed,
        )
        if dry_run:
            print_plan(plan, fmt, stdout)
            return EXIT_OK
        return execute_plan(
            plan,
            yes=yes,
            permanently=permanently,
            fmt=fmt,
            stdout=stdout,
            stderr=stderr,
            journal=journal,
            origin=f"plan:{plan_file}",
            checked=True,
            catalog=db,
        )

    _run(body)


def _config_references() -> list[str]:
    """Reference folders from config.toml ([rules] reference): never acted on, even by a plan
    made before they were added."""
    from lookalike import config

    refs = config.get_key(config.load_config(), "rules.reference", []) or []
    return [os.path.expanduser(str(r)) for r in refs]


@click.command("undo")
@click.argument("batch", required=False)
@click.option("--yes", "-y", is_flag=True, help="undo without asking")
@_format_opt
@_journal_opt
def undo_cmd(batch: str | None, yes: bool, fmt: str, journal: Path | None) -> None:
    """Bring back the files of BATCH (default: the last batch), byte for byte.

    Works across sessions and reboots, and on the done part of an interrupted batch.
    """

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        settled = settle_pending(journal)
        finished = [x for x in settled.batches if x.phase == "undo" and batch in (None, x.id)]
        if finished:  # the undo this command repeats was completed by settling: say so, stop
            for x in finished:
                if fmt == "json":
                    stdout.write(json.dumps({"batch_id": x.id, "finished_interrupted_undo": True}))
                    stdout.write("\n")
                else:
                    stdout.write(
                        f"batch {x.id}: the interrupted undo of "
                        f"{display_path(x.action)} is finished\n"
                    )
            return EXIT_OK
        with Journal(journal) as j:
            b = undo_target(j, batch)
            n = len(j.items(b.id, UNDO_FROM))
        if n == 0:
            raise NothingToDo(f"batch {b.id} has nothing left to undo (state: {b.state})")
        if not yes:
            if not sys.stdin.isatty():
                raise ConfirmationRequired(
                    f"undo of batch {b.id} was not confirmed",
                    "add --yes to undo without a question",
                )
            if not _ask_yes(f"undo batch {b.id} ({b.action}, {n} file(s))?"):
                raise ConfirmationRequired("not confirmed; nothing was undone")
        return _drive(undo(b.id, journal), fmt, stdout, stderr)

    _run(body)


@click.command("redo")
@click.argument("batch", required=False)
@click.option("--yes", "-y", is_flag=True, help="redo without asking")
@click.option("--permanently", is_flag=True, help="needed to redo a delete")
@_format_opt
@_journal_opt
def redo_cmd(
    batch: str | None, yes: bool, permanently: bool, fmt: str, journal: Path | None
) -> None:
    """Apply an undone BATCH again (default: the last undone one), re-checking every file."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        settle_pending(journal)
        plan, origin = redo_plan(batch, journal)
        _confirm(plan, yes=yes, permanently=permanently, confirm=None, stderr=stderr)
        return _drive(
            redo(origin, journal, allow_permanent=plan.op.kind == "delete"), fmt, stdout, stderr
        )

    _run(body)


@click.command("history")
@click.argument("batch", required=False)
@click.option("--limit", type=click.IntRange(1), default=None, help="newest N batches")
@_format_opt
@_journal_opt
def history_cmd(batch: str | None, limit: int | None, fmt: str, journal: Path | None) -> None:
    """List past batches (newest first), or every file of BATCH with its state."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report = report_interrupted(stderr, journal)
        if batch:
            recs = batch_items(batch, journal)
            if fmt == "json":
                stdout.write(json.dumps([r.to_json() for r in recs], indent=1) + "\n")
            else:
                for r in recs:
                    dest = f" → {display_path(r.dest)}" if r.dest else ""
                    err = f"  ({safe_text(r.error)})" if r.error else ""
                    stdout.write(f"{r.state:<12} {r.op:<10} {display_path(r.source)}{dest}{err}\n")
            return EXIT_OK
        rows = history(journal, limit)
        if fmt == "json":
            stdout.write(
                json.dumps({"batches": [b.to_json() for b in rows], **report.to_json()}, indent=1)
                + "\n"
            )
            return EXIT_OK
        if not rows:
            stderr.write("no batches yet\n")
        for b in rows:
            counts = ", ".join(f"{v} {k}" for k, v in sorted(b.counts.items()))
            stdout.write(
                f"{b.id}  {_when(b.created)}  {display_path(b.action):<12} {b.state:<13} "
                f"{counts}; {human_bytes(b.bytes_done)}\n"
            )
        return EXIT_OK

    _run(body)


@click.command("stats")
@_format_opt
@_journal_opt
def stats_cmd(fmt: str, journal: Path | None) -> None:
    """Files and bytes freed, groups reviewed and keeper agreement, per batch and in total."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        rep = compute_stats(journal)
        if fmt == "json":
            stdout.write(json.dumps(rep.to_json(), indent=1) + "\n")
            return EXIT_OK
        agree = "-" if rep.agreement is None else f"{rep.agreement:.0%}"
        stdout.write(
            f"total: {len(rep.batches)} batch(es), {rep.files} file(s), "
            f"{human_bytes(rep.bytes_freed)} freed, {rep.reviewed} group(s) reviewed, "
            f"suggested keeper kept in {agree}\n"
        )
        for b in rep.batches:
            stdout.write(
                f"{b.batch}  {display_path(b.action):<12} {b.state:<13} {b.files} file(s), "
                f"{human_bytes(b.bytes_freed)} freed, {b.reviewed}/{b.groups} "
                f"reviewed, {b.agreed} agreed\n"
            )
        return EXIT_OK

    _run(body)


def _groups_from_json(path: Path) -> tuple[list[Group], dict[int, list[str]]]:
    """Groups (and the user's picks) from ``scan --format json`` output or a list of groups."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read groups from {path}: {exc}") from None
    raw = data.get("groups", []) if isinstance(data, dict) else data
    groups, picks = [], {}
    try:
        for g in raw:
            files = g.get("files") or g.get("members") or []
            members = tuple(
                Member(
                    path=f["path"] if isinstance(f, dict) else f,
                    size=int(f.get("size", 0)) if isinstance(f, dict) else 0,
                    width=0,
                    height=0,
                    format="",
                    score=1.0,
                )
                for f in files
            )
            groups.append(
                Group(
                    int(g["id"]),
                    g.get("tier", "exact"),
                    g.get("keep", ""),
                    g.get("reason", ""),
                    members,
                )
            )
            if g.get("picks") is not None:
                picks[int(g["id"])] = list(g["picks"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path} does not hold lookalike groups ({exc})") from None
    return groups, picks


@click.command("export")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="groups JSON (from scan --format json); default: last scan",
)
@click.option("--zip", "as_zip", is_flag=True, help="write a ZIP file instead of a folder")
@click.option(
    "--all",
    "all_roots",
    multiple=True,
    type=click.Path(path_type=Path),
    help="also export every file under this folder that is in no group",
)
@_format_opt
def export_cmd(
    dest: Path, groups_file: Path | None, as_zip: bool, all_roots: tuple[Path, ...], fmt: str
) -> None:
    """Copy the kept set to DEST (a folder, or a ZIP with --zip); originals are not touched.

    Reviewed groups give the files the user picked (a group's "picks"), unreviewed groups give
    all their files, and files in no group are all kept.
    """

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if groups_file:
            groups, picks = _groups_from_json(groups_file)
        else:
            try:
                from lookalike.engine.api import Engine

                groups, picks = Engine().last_groups(), {}
            except Exception:  # the catalog may not exist yet
                raise UsageError(
                    "no groups to export",
                    "pass --groups FILE (the JSON of lookalike scan --no-ui --format json)",
                ) from None
        extra = [str(p) for root in all_roots for p in Path(root).rglob("*") if p.is_file()]
        paths = kept_set(groups, picks, extra)
        res = export_kept(paths, dest, as_zip=as_zip)
        for e in res.errors:
            stderr.write(f"  failed: {safe_text(e)}\n")
        if fmt == "json":
            stdout.write(json.dumps(res.to_json()) + "\n")
        else:
            stdout.write(
                f"exported {res.files} file(s), {human_bytes(res.bytes)} "
                f"to {display_path(res.dest)}\n"
            )
        return EXIT_PARTIAL if res.errors else EXIT_OK

    _run(body)


@click.group("quarantine")
def quarantine_group() -> None:
    """List or empty the quarantine (files moved there by --action quarantine)."""


@quarantine_group.command("list")
@click.argument("batch", required=False)
@_format_opt
@_journal_opt
def quarantine_list(batch: str | None, fmt: str, journal: Path | None) -> None:
    """Quarantined files that undo can still restore."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        recs = quarantine_contents(batch, journal)
        if fmt == "json":
            stdout.write(json.dumps([{**r.to_json(), "batch": r.batch} for r in recs]) + "\n")
        else:
            for r in recs:
                stdout.write(
                    f"{r.batch}  {display_path(r.dest or '')}  (from {display_path(r.source)})\n"
                )
            stderr.write(f"{len(recs)} file(s), {human_bytes(sum(r.size for r in recs))}\n")
        return EXIT_OK

    _run(body)


@quarantine_group.command("empty")
@click.argument("batch", required=False)
@_journal_opt
def quarantine_empty(batch: str | None, journal: Path | None) -> None:
    """Delete quarantined files for good (typed confirmation; passphrase if one is set)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        recs = quarantine_contents(batch, journal)
        if not recs:
            raise NothingToDo("the quarantine is empty")
        passlock.require_unlocked(read_secret)
        expected = f"empty {len(recs)} files"
        got = read_typed_confirmation(
            f"This deletes {len(recs)} quarantined file(s) "
            f"({human_bytes(sum(r.size for r in recs))}) for good.\nType '{expected}': "
        )
        if got.strip() != expected:
            raise ConfirmationRequired("confirmation did not match; nothing was deleted")
        res = empty_quarantine(batch, journal)
        for path, why in res.skipped:
            stderr.write(f"  skipped: {display_path(path)}: {safe_text(why)}; left in place\n")
        stdout.write(
            f"deleted {res.files} file(s), {human_bytes(res.bytes)} from quarantine"
            + (f"; {len(res.skipped)} left in place (see above)" if res.skipped else "")
            + "\n"
        )
        return EXIT_PARTIAL if res.skipped else EXIT_OK

    _run(body)


@click.group("lock")
def lock_group() -> None:
    """Optional passphrase for sensitive operations (permanent delete, emptying quarantine)."""


@lock_group.command("set")
def lock_set() -> None:
    """Set or change the passphrase (asked twice)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if passlock.configured():
            passlock.require_unlocked(read_secret)
        first = read_secret("new passphrase: ")
        if read_secret("again: ") != first:
            raise ConfirmationRequired("the two passphrases differ; nothing changed")
        passlock.set_passphrase(first)
        stderr.write("passphrase set; sensitive operations will ask for it\n")
        return EXIT_OK

    _run(body)


@lock_group.command("clear")
def lock_clear() -> None:
    """Remove the passphrase (asks for it first)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if not passlock.configured():
            raise NothingToDo("no passphrase is set")
        passlock.lock()
        passlock.require_unlocked(read_secret)
        passlock.clear_passphrase()
        stderr.write("passphrase removed\n")
        return EXIT_OK

    _run(body)


COMMANDS = (
    apply_cmd,
    undo_cmd,
    redo_cmd,
    history_cmd,
    stats_cmd,
    export_cmd,
    quarantine_group,
    lock_group,
)


def register(main: click.Group) -> None:
    """Add this module's commands to ``main`` (cli.py's group callback reports batches a crash
    left unfinished, through :func:`report_interrupted`)."""
    for cmd in COMMANDS:
        if cmd.name not in main.commands:
            main.add_command(cmd)
