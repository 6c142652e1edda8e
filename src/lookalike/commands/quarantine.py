"""``lookalike quarantine list|empty`` and ``lookalike lock set|clear`` (the optional
passphrase that guards permanent deletes and emptying the quarantine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

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
        for path, why in res.skipped:
            stderr.write(f"  skipped: {display_path(path)}: {safe_text(why)}; left in place\n")
        stdout.write(
            f"deleted {res.files} file(s), {human_bytes(res.bytes)} from quarantine"
            + (f"; {len(res.skipped)} left in place (see above)" if res.skipped else "")
            + "\n"
        )
        return EXIT_PARTIAL if res.skipped else EXIT_OK

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


COMMANDS = (quarantine_group, lock_group)


def register(main: click.Group) -> None:
    """Add this module's commands to ``main``."""
    for cmd in COMMANDS:
        if cmd.name not in main.commands:
            main.add_command(cmd)
