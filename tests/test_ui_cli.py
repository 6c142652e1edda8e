"""CLI of the UI area: ``config get/set``, ``locate``, and ``ui --help`` (no terminal needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lookalike.cli import main


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, sub in (
        ("LOOKALIKE_CONFIG_DIR", "config"),
        ("LOOKALIKE_CACHE_DIR", "cache"),
        ("LOOKALIKE_DATA_DIR", "data"),
        ("XDG_DATA_HOME", "xdg"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))


def test_locate(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["locate", "config"]).output.strip() == str(
        tmp_path / "config" / "config.toml"
    )
    assert runner.invoke(main, ["locate", "cache"]).output.strip() == str(tmp_path / "cache")
    assert runner.invoke(main, ["locate", "data"]).output.strip() == str(tmp_path / "data")


def test_config_set_get_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["config", "set", "ui.graphics", "halfcell"])
    assert r.exit_code == 0, r.output
    assert runner.invoke(main, ["config", "get", "ui.graphics"]).output.strip() == "halfcell"
    runner.invoke(main, ["config", "set", "keymap.review.next_group", "x"])
    runner.invoke(main, ["config", "set", "scan.sensitivity", "70"])
    assert runner.invoke(main, ["config", "get", "scan.sensitivity"]).output.strip() == "70"
    text = (tmp_path / "config" / "config.toml").read_text()
    assert "sensitivity = 70" in text and 'graphics = "halfcell"' in text
    missing = runner.invoke(main, ["config", "get", "nope.nothing"])
    assert missing.exit_code != 0 and "not set" in missing.output


def test_ui_help_lists_graphics_modes() -> None:
    r = CliRunner().invoke(main, ["ui", "--help"])
    assert r.exit_code == 0
    for mode in ("auto", "kitty", "sixel", "halfcell", "unicode", "none"):
        assert mode in r.output
    assert "--db" in r.output
