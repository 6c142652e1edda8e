"""``lookalike quarantine list|empty``, ``lookalike merge-backups list|remove`` (what lookalike
leaves behind for undo, removed for good on request) and ``lookalike lock set|clear`` (the
optional passphrase that guards permanent deletes and emptying the quarantine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import click

from lookalike.commands import common
from lookalike.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    format_option,
    human_bytes,
    journal_option,
    report_interrupted,
    run_body,
)
from lookalike.engine.actions import (
    ConfirmationRequired,
    NothingToDo,
    empty_quarantine,
    quarantine_contents,
)
from lookalike.engine.actions import lock as passlock
from lookalike.engine.actions.fsutil import display_path, safe_text
from lookalike.engine.actions.merge_backups import (
    MergeBackup,
    merge_backups,
    remove_merge_backups,
)


@click.group("quarantine")
def quarantine_group() -> None:
    """List or empty the quarantine (files moved there by --action quarantine)."""


@quarantine_group.command("list")
@click.argument("batch", required=False)
@format_option
@journal_option
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

    run_body(body)


@quarantine_group.command("empty")
@click.argument("batch", required=False)
@journal_option
def quarantine_empty(batch: str | None, journal: Path | None) -> None:
    """Delete quarantined files for good (typed confirmation; passphrase if one is set)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        recs = quarantine_contents(batch, journal)
        if not recs:
            raise NothingToDo("the quarantine is empty")
        passlock.require_unlocked(common.read_secret)
        expected = f"empty {len(recs)} files"
        got = common.read_typed_confirmation(
            f"This deletes {len(recs)} quarantined file(s) "
            f"({human_bytes(sum(r.size for r in recs))}) for good.\nType '{expected}': "
        )
        if got.strip() != expected:
            raise ConfirmationRequired("confirmation did not match; nothing was deleted")
        res = empty_quarantine(batch, journal)
        return _report_removal(
            res, "deleted {files} file(s), {size} from quarantine", stdout, stderr
        )

    run_body(body)


def _report_removal(res: Any, done: str, stdout: TextIO, stderr: TextIO) -> int:
    """One line per file left in place (stderr), one summary line (stdout), the exit code."""
    for path, why in res.skipped:
        stderr.write(f"  skipped: {display_path(path)}: {safe_text(why)}; left in place\n")
    stdout.write(
        done.format(files=res.files, size=human_bytes(res.bytes))
        + (f"; {len(res.skipped)} left in place (see above)" if res.skipped else "")
        + "\n"
    )
    return EXIT_PARTIAL if res.skipped else EXIT_OK


@click.group("merge-backups")
def merge_backups_group() -> None:
    """List or remove the backups --merge-metadata keeps beside keepers for undo
    (.NAME.lookalike-BATCH-N.orig)."""


def _older_than(f):  # type: ignore[no-untyped-def]
    return click.option(
        "--older-than",
        "days",
        type=click.FloatRange(0),
        default=None,
        metavar="DAYS",
        help="only batches that ran at least DAYS days ago",
    )(f)


def _write_backups(stdout: TextIO, stderr: TextIO, found: list[MergeBackup], fmt: str) -> None:
    if fmt == "json":
        stdout.write(json.dumps([b.to_json() for b in found]) + "\n")
        return
    for b in found:
        stdout.write(
            f"{b.batch}  {common.when(b.created)}  {display_path(b.backup)}  "
            f"(of {display_path(b.target)})\n"
        )
    stderr.write(f"{len(found)} merge backup(s), {human_bytes(sum(b.size for b in found))}\n")


@merge_backups_group.command("list")
@click.argument("batch", required=False)
@_older_than
@format_option
@journal_option
def merge_backups_list(
    batch: str | None, days: float | None, fmt: str, journal: Path | None
) -> None:
    """Merge backups still on disk (each one still lets undo restore its file)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        _write_backups(stdout, stderr, merge_backups(batch, days, journal), fmt)
        return EXIT_OK

    run_body(body)


@merge_backups_group.command("remove")
@click.argument("batch", required=False)
@_older_than
@click.option("--dry-run", is_flag=True, help="list what would be removed; remove nothing")
@click.option("--yes", "-y", is_flag=True, help="remove without the typed confirmation")
@journal_option
def merge_backups_remove(
    batch: str | None, days: float | None, dry_run: bool, yes: bool, journal: Path | None
) -> None:
    """Delete merge backups for good; the merges they belong to can then no longer be undone."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        report_interrupted(stderr, journal)
        found = merge_backups(batch, days, journal)
        if not found:
            raise NothingToDo("no merge backups to remove", "lookalike merge-backups list")
        batches = sorted({b.batch for b in found})
        lost = (
            f"undo of the metadata merge will no longer be possible for batch(es) "
            f"{', '.join(batches)} (the keepers keep the merged metadata)"
        )
        if dry_run:
            _write_backups(stdout, stderr, found, "text")
            stderr.write(f"dry run: nothing removed; removing them means {lost}\n")
            return EXIT_OK
        passlock.require_unlocked(common.read_secret)
        size = human_bytes(sum(b.size for b in found))
        if yes:
            stderr.write(f"removing {len(found)} merge backup(s) ({size}): {lost}\n")
        else:
            expected = f"remove {len(found)} backups"
            try:
                got = common.read_typed_confirmation(
                    f"This deletes {len(found)} merge backup(s) ({size}) for good; {lost}.\n"
                    f"Type '{expected}': "
                )
            except ConfirmationRequired:
                raise ConfirmationRequired(
                    "removing merge backups needs a typed confirmation but there is no terminal",
                    "add --yes to remove them without a question, or --dry-run to see them",
                ) from None
            if got.strip() != expected:
                raise ConfirmationRequired("confirmation did not match; nothing was removed")
        res = remove_merge_backups(batch, days, journal, only=found)
        return _report_removal(res, "removed {files} merge backup(s), {size}", stdout, stderr)

    run_body(body)


@click.group("lock")
def lock_group() -> None:
    """Optional passphrase for sensitive operations (permanent delete, emptying quarantine)."""


@lock_group.command("set")
def lock_set() -> None:
    """Set or change the passphrase (asked twice)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if passlock.configured():
            passlock.require_unlocked(common.read_secret)
        first = common.read_secret("new passphrase: ")
        if common.read_secret("again: ") != first:
            raise ConfirmationRequired("the two passphrases differ; nothing changed")
        passlock.set_passphrase(first)
        stderr.write("passphrase set; sensitive operations will ask for it\n")
        return EXIT_OK

    run_body(body)


@lock_group.command("clear")
def lock_clear() -> None:
    """Remove the passphrase (asks for it first)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if not passlock.configured():
            raise NothingToDo("no passphrase is set")
        passlock.lock()
        passlock.require_unlocked(common.read_secret)
        passlock.clear_passphrase()
        stderr.write("passphrase removed\n")
        return EXIT_OK

    run_body(body)


COMMANDS = (quarantine_group, merge_backups_group, lock_group)


def register(main: click.Group) -> None:
    """Add this module's commands to ``main``."""
    for cmd in COMMANDS:
        if cmd.name not in main.commands:
            main.add_command(cmd)
