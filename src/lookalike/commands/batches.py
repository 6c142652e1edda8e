"""Commands over the journal's batches: ``apply`` (a plan file), ``undo``, ``redo``,
``history`` and ``stats``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import click

from lookalike.commands import common
from lookalike.commands.act import (
    config_references,
    confirm_plan,
    drive,
    execute_plan,
    print_plan,
)
from lookalike.commands.common import (
    EXIT_OK,
    format_option,
    human_bytes,
    journal_option,
    report_interrupted,
    run_body,
    when,
)
from lookalike.commands.merge import merge_mode, merge_options
from lookalike.engine.actions import (
    ConfirmationRequired,
    NothingToDo,
    batch_items,
    compute_stats,
    history,
    load_plan,
    redo,
    redo_plan,
    settle_pending,
    undo,
)
from lookalike.engine.actions import journal as jn
from lookalike.engine.actions.fsutil import display_path, safe_text
from lookalike.engine.actions.journal import BatchSummary, Journal
from lookalike.engine.actions.plancheck import PlanRejected, check_plan
from lookalike.engine.actions.undo import UNDO_FROM, undo_target


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
@format_option
@journal_option
@merge_options()[0]
@merge_options()[1]
def apply_cmd(
    plan_file: Path,
    yes: bool,
    dry_run: bool,
    permanently: bool,
    force_unsigned: bool,
    db: Path | None,
    fmt: str,
    journal: Path | None,
    merge_metadata: bool = False,
    merge_into_file: bool = False,
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
            references=config_references(),
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
            merge=merge_mode(merge_metadata, merge_into_file),
        )

    run_body(body)


@click.command("undo")
@click.argument("batch", required=False)
@click.option("--yes", "-y", is_flag=True, help="undo without asking")
@format_option
@journal_option
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
            raise NothingToDo(
                f"batch {b.id} has nothing left to undo (state: {b.state}){_purged_note(b)}"
            )
        if not yes:
            if not sys.stdin.isatty():
                raise ConfirmationRequired(
                    f"undo of batch {b.id} was not confirmed",
                    "add --yes to undo without a question",
                )
            if not common.ask_yes(f"undo batch {b.id} ({b.action}, {n} file(s))?"):
                raise ConfirmationRequired("not confirmed; nothing was undone")
        return drive(undo(b.id, journal), fmt, stdout, stderr)

    run_body(body)


def _purged_note(b: BatchSummary) -> str:
    """Why part of a batch cannot be undone: its files were deleted for good afterwards."""
    n = b.counts.get(jn.PURGED, 0)
    if not n:
        return ""
    if b.action == "merge-metadata":
        return f"; merge backups removed: {n} keeper(s) keep the merge (not undoable)"
    return f"; {n} file(s) deleted for good from the quarantine (not undoable)"


@click.command("redo")
@click.argument("batch", required=False)
@click.option("--yes", "-y", is_flag=True, help="redo without asking")
@click.option("--permanently", is_flag=True, help="needed to redo a delete")
@format_option
@journal_option
def redo_cmd(
    batch: str | None, yes: bool, permanently: bool, fmt: str, journal: Path | None
) -> None:
    """Apply an undone BATCH again (default: the last undone one), re-checking every file."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        settle_pending(journal)
        plan, origin = redo_plan(batch, journal)
        confirm_plan(plan, yes=yes, permanently=permanently, confirm=None, stderr=stderr)
        return drive(
            redo(origin, journal, allow_permanent=plan.op.kind == "delete"), fmt, stdout, stderr
        )

    run_body(body)


@click.command("history")
@click.argument("batch", required=False)
@click.option("--limit", type=click.IntRange(1), default=None, help="newest N batches")
@format_option
@journal_option
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
                f"{b.id}  {when(b.created)}  {display_path(b.action):<12} {b.state:<13} "
                f"{counts}; {human_bytes(b.bytes_done)}{_purged_note(b)}\n"
            )
        return EXIT_OK

    run_body(body)


@click.command("stats")
@format_option
@journal_option
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

    run_body(body)


COMMANDS = (apply_cmd, undo_cmd, redo_cmd, history_cmd, stats_cmd)


def register(main: click.Group) -> None:
    """Add this module's commands to ``main``."""
    for cmd in COMMANDS:
        if cmd.name not in main.commands:
            main.add_command(cmd)
