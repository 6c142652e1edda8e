"""The ``lookalike`` command's entry point: it imports the CLI only when it runs.

Why: the decode workers are spawned, and a spawned process first runs its parent's main
script; pip's console script imports its entry point's module at its top, so with
``lookalike.cli:run`` every worker imported the CLI (click, rich, the journal, SQLite: ≈ 180
modules; a worker's start 94–150 → 76–131 ms of CPU, lower in 6 of 7 A/B pairs, issue 13)
that it never uses. ``python -m
lookalike`` is not affected: spawn skips a package's ``__main__``.
"""

from __future__ import annotations


def run() -> None:
    """``lookalike …``: the click group of lookalike.cli."""
    from lookalike.cli import run as cli_run

    cli_run()
