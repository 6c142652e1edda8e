"""Errors of the action layer. Each carries a message that says what happened and what to do,
so the CLI can print it as one line instead of a traceback."""

from __future__ import annotations


class ActionError(Exception):
    """Base class: ``str(exc)`` is the user-facing message; ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(ActionError):
    """A bad action spec, option or plan file."""

    exit_code = 2


class PlanRefused(ActionError):
    """The plan would break a safety rule (e.g. a group would lose all of its copies)."""

    exit_code = 3


class ConfirmationRequired(ActionError):
    """A sensitive operation was not confirmed (``--yes``, ``--permanently``, typed text)."""

    exit_code = 3


class JournalBusy(ActionError):
    """Another lookalike process holds the journal lock."""

    exit_code = 5


class JournalError(ActionError):
    """The journal cannot be opened or is damaged."""

    exit_code = 5


class NothingToDo(ActionError):
    """No batch to undo/redo, or an unknown batch id."""

    exit_code = 6


class VerifyError(ActionError):
    """A file no longer matches what was scanned (size, mtime or content hash)."""


class OperationFailed(ActionError):
    """A file operation failed; the file was left where it was."""
