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


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> list:
    """CliRunner's streams claim to be a terminal; the app records itself instead of running."""
    import click.testing

    from lookalike.ui.app import LookalikeApp

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True)
    opened: list = []
    monkeypatch.setattr(LookalikeApp, "run", lambda self, *a, **k: opened.append(self))
    return opened


def test_scan_on_a_terminal_opens_the_app_with_every_option(tmp_path: Path, terminal) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    args = ["scan", str(photos), "--include", "*.jpg", "--exclude", "tmp*", "--min-size", "10k"]
    args += ["--sensitivity", "80", "--workers", "1", "--keep-rule", "oldest,bytes", "--hidden"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    (app,) = terminal
    assert app._start_scan  # the scan starts as soon as the app is up
    o = app.scan_options()
    assert o.roots == (photos.resolve(),)
    assert o.include == ("*.jpg",) and o.exclude == ("tmp*",) and o.hidden
    assert o.min_size == 10_000 and o.sensitivity == 80 and o.workers == 1
    assert o.keep_rules == ("oldest", "bytes")
    assert app.scan_settings["sensitivity"] == 80  # the app's knobs start from the options


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--format", "csv"], "--format"),
        (["-o", "g.json"], "-o/--output"),
        (["--link-dir", "links"], "--link-dir"),
    ],
)
def test_scan_on_a_terminal_refuses_output_only_options(
    tmp_path: Path, terminal, extra: list[str], flag: str
) -> None:
    r = CliRunner().invoke(main, ["scan", str(tmp_path), *extra])
    assert r.exit_code == 2 and not terminal
    assert flag in r.output and "--no-ui" in r.output
    # the command the message suggests works
    ok = CliRunner().invoke(main, ["scan", "--no-ui", str(tmp_path), "--format", "json"])
    assert ok.exit_code == 0, ok.output
