"""The engine, the headless runner and the CLI never load the UI toolkit.

Run in fresh subprocesses so modules imported by other tests cannot hide a stray import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, runpy, sys
mods = sys.argv[1].split(",")
for m in mods:
    __import__(m)
if len(sys.argv) > 2:
    sys.argv = ["lookalike", *sys.argv[2:]]
    try:
        runpy.run_module("lookalike", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
loaded = sorted({n.split(".")[0] for n in sys.modules} & {"textual", "textual_image"})
print("\\n" + json.dumps(loaded))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LOOKALIKE_CONFIG_DIR=str(tmp_path / "config"),
        LOOKALIKE_CACHE_DIR=str(tmp_path / "cache"),
        LOOKALIKE_DATA_DIR=str(tmp_path / "data"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
    )
    return env


def _loaded(tmp_path: Path, modules: list[str], argv: tuple[str, ...] = ()) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(modules), *argv],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["lookalike.engine", "lookalike.headless", "lookalike.cli"])
def test_module_does_not_import_ui(tmp_path: Path, module: str) -> None:
    assert _loaded(tmp_path, [module]) == []


def test_all_together_and_scan_help(tmp_path: Path) -> None:
    modules = ["lookalike.engine", "lookalike.headless", "lookalike.cli"]
    assert _loaded(tmp_path, modules, ("scan", "--help")) == []


def test_ui_does_load_them(tmp_path: Path) -> None:
    """Guards the probe itself: importing the app must show up."""
    assert "textual" in _loaded(tmp_path, ["lookalike.ui.app"])
