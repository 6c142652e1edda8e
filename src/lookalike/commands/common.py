"""What every action command shares: exit codes, terminal input, one-line errors, size
formatting, the report of batches a crash left unfinished, and the ``--format`` / ``--journal``
option decorators.

stdout carries data (batch ids, plans, history, JSON); stderr carries diagnostics (skipped
files, hints, errors). Errors are one line saying what happened and what to do — never a
traceback. Exit codes (also in docs/actions.md):

0 done · 1 some files skipped or failed · 2 usage error · 3 refused or not confirmed ·
5 journal busy or unreadable · 6 nothing to undo/redo or unknown batch · 130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click
from rich.filesize import decimal

from lookalike.config import ConfigError
from lookalike.engine.actions import (
    ActionError,
    ConfirmationRequired,
    JournalError,
    RecoveryReport,
    pending_recovery,
)
from lookalike.engine.actions.fsutil import display_path, safe_text

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


def ask_yes(question: str) -> bool:
    answer = read_typed_confirmation(f"{question} [y/N] ")
    return answer.lower() in ("y", "yes")


# -- formatting ---------------------------------------------------------------------------
def human_bytes(n: float) -> str:
    """Sizes as every screen and command shows them: decimal units (``1.2 MB``)."""
    return decimal(int(n))


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def err(stderr: TextIO, msg: str) -> None:
    stderr.write(f"lookalike: {msg}\n")


def fail(stderr: TextIO, exc: ActionError) -> int:
    err(stderr, f"error: {exc}")
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
        err(stderr, f"warning: cannot check the journal for interrupted batches: {exc}")
        return RecoveryReport()
    for b in report.batches:
        if b.id in _REPORTED:
            continue  # once per process is enough
        _REPORTED.add(b.id)
        err(
            stderr,
            f"batch {b.id} ({b.action}) was interrupted during {b.phase} "
            f"({when(b.created)}): {b.done} file(s) done, {b.not_done} not done",
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


# -- options and the command runner ----------------------------------------------------------
def _io() -> tuple[TextIO, TextIO]:
    return sys.stdout, sys.stderr


def journal_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--journal",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        envvar="LOOKALIKE_JOURNAL",
        help="journal file (default: in the data dir)",
    )(f)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)(f)


def run_body(body: Callable[[TextIO, TextIO], int]) -> None:
    """Run a command body; map errors to one line on stderr and an exit code."""
    stdout, stderr = _io()
    try:
        code = body(stdout, stderr)
    except ActionError as exc:
        code = fail(stderr, exc)
    except KeyboardInterrupt:
        err(stderr, "interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:  # one line, never a traceback (LOOKALIKE_DEBUG=1 shows it)
        code = unexpected(stderr, exc)
    sys.exit(code)


def unexpected(stderr: TextIO, exc: Exception) -> int:
    """Map an error that is not an ActionError to one line and an exit code."""
    if os.environ.get("LOOKALIKE_DEBUG") == "1" or isinstance(exc, BrokenPipeError):
        raise exc  # a closed stdout ends quietly (cli.quiet_broken_pipe), never "error: …"
    if isinstance(exc, ConfigError):
        err(stderr, f"error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        err(stderr, f"error: {exc.strerror or exc}{where}")
        return EXIT_PARTIAL
    err(stderr, f"internal error: {exc!r}; please report it (LOOKALIKE_DEBUG=1 shows details)")
    return EXIT_PARTIAL
