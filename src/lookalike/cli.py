"""Command line: ``lookalike [PATH…]`` opens the TUI; ``lookalike scan --no-ui`` is for scripts.

Subcommands live in ``lookalike.commands.*`` (one module per area); each module's ``register``
adds its commands here. The UI is imported lazily so headless runs never load textual.
"""

from __future__ import annotations

import click

from lookalike import __version__
from lookalike.commands.common import report_interrupted

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Command → the ``lookalike.commands`` module whose ``register`` adds it. Modules are imported
# when one of their commands runs (or --help lists them): `lookalike scan` does not load the
# action, rules, serve and ui modules at start-up. tests/test_cli_lazy.py keeps this complete.
COMMAND_MODULES = {
    "scan": "scan",
    **dict.fromkeys(["apply", "undo", "redo", "history", "stats"], "batches"),
    "export": "export",
    **dict.fromkeys(["quarantine", "merge-backups", "lock"], "quarantine"),
    **dict.fromkeys(["models", "query"], "ml"),
    "rules": "rules",
    **dict.fromkeys(["marks", "notes"], "marks"),
    "info": "info",
    "cache": "cache",
    "pdf": "pdf",
    "serve": "serve",
    **dict.fromkeys(["ui", "config", "locate"], "ui"),
}


class DefaultToUiGroup(click.Group):
    """Bare ``lookalike`` or ``lookalike PATH…`` opens the terminal app."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own = {"--help", "-h", "--version"}
        known = args and (args[0] in self.commands or args[0] in COMMAND_MODULES)
        if not args or (not known and args[0] not in own):
            args = ["ui", *args]  # `lookalike --graphics halfcell ~/Pictures` too
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            import importlib

            importlib.import_module(f"lookalike.commands.{COMMAND_MODULES[cmd_name]}").register(
                self
            )
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        # click turns EPIPE into a silent exit 1; `lookalike … | head` is not a failure
        from lookalike.engine.catalog import CatalogError

        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            quiet_broken_pipe()
        except CatalogError as exc:  # a damaged or unusable catalog, from any command
            import sys

            from lookalike.headless.exitcodes import FATAL

            sys.stderr.write(f"lookalike: {exc}\n")
            sys.exit(FATAL)


@click.group(cls=DefaultToUiGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="lookalike")
def main() -> None:
    """Find exact duplicates, edited copies and look-alike shots among photos.

    \b
    lookalike [PATH…]                  open the terminal app (browse, scan, review, act)
    lookalike scan --no-ui PATH…       scan without a UI; results on stdout
    lookalike undo                     undo the last batch of file operations

    Run "lookalike COMMAND --help" for the options of each command.
    """
    import sys

    # The journal's promise: a batch a crash left unfinished is reported on the next start.
    report_interrupted(sys.stderr)


def quiet_broken_pipe() -> None:
    """The reader of stdout went away (``| head``): end at once, quietly, with 128 + SIGPIPE.

    stdout is pointed at /dev/null first so the interpreter's last flush cannot complain.
    """
    import os
    import sys

    from lookalike.headless.exitcodes import BROKEN_PIPE

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(BROKEN_PIPE)


def run() -> None:
    """Console entry point: no traceback reaches the user unless LOOKALIKE_DEBUG is set."""
    import os
    import sys

    try:
        main(standalone_mode=True)
    except BrokenPipeError:
        quiet_broken_pipe()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, keep the details for a report
        if os.environ.get("LOOKALIKE_DEBUG"):
            raise
        sys.stderr.write(
            f"lookalike: internal error ({type(exc).__name__}: {exc}).\n"
            "Run again with LOOKALIKE_DEBUG=1 to see the traceback, and please report it.\n"
        )
        sys.exit(4)
