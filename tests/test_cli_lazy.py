"""The CLI imports a command's module only when that command runs (issue 13: a rescan of a
few hundred files spent a quarter of its second importing the action machinery)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click


def test_the_lazy_command_map_lists_every_command_of_every_module() -> None:
    from lookalike.cli import COMMAND_MODULES

    found: dict[str, str] = {}
    for module in sorted(set(COMMAND_MODULES.values())):
        group = click.Group()
        importlib.import_module(f"lookalike.commands.{module}").register(group)
        found.update(dict.fromkeys(group.commands, module))
    assert found == COMMAND_MODULES


def test_scan_does_not_import_the_action_machinery() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from lookalike.cli import main\n"
        "r = CliRunner().invoke(main, ['scan', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = ['lookalike.engine.actions.apply', 'lookalike.engine.actions.operations',\n"
        "         'lookalike.engine.actions.plan_build', 'lookalike.commands.batches',\n"
        "         'lookalike.commands.serve', 'lookalike.commands.rules']\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_command_still_answers_help() -> None:
    from click.testing import CliRunner

    from lookalike.cli import COMMAND_MODULES, main

    top = CliRunner().invoke(main, ["--help"])
    assert top.exit_code == 0
    for name in COMMAND_MODULES:
        assert f"  {name} " in top.output
        r = CliRunner().invoke(main, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.output
