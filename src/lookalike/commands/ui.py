"""CLI commands of the terminal app: ``ui`` (what bare ``lookalike [PATH…]`` runs), ``config``
and ``locate``. Textual is imported only inside ``ui`` so headless commands never load it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click

from lookalike import config, extras

GRAPHICS = ("auto", "kitty", "sixel", "halfcell", "unicode", "none")


@click.command("ui")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--graphics",
    type=click.Choice(GRAPHICS),
    default=None,
    help="How thumbnails are drawn (default: ui.graphics in config, else auto). "
    "halfcell works everywhere incl. tmux; none shows text only.",
)
@click.option("--db", type=click.Path(path_type=Path), default=None, help="Catalog database path.")
@click.option(
    "--files-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Scan the files listed in this file (one path per line).",
)
@click.option(
    "--mode",
    "start_mode",
    type=click.Choice(["browse", "scan", "review", "apply", "rules", "history"]),
    default=None,
    help="Screen to open first.",
)
@click.option(
    "--server",
    metavar="URL",
    default=None,
    help="Work on a running `lookalike serve` (its catalog, paths and journal) instead of "
    "this machine's engine; PATHs are the server's.",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --server: the server's bearer token file.",
)
def ui_command(
    paths: tuple[Path, ...],
    graphics: str | None,
    db: Path | None,
    files_from: Path | None,
    start_mode: str | None,
    server: str | None = None,
    token_file: Path | None = None,
) -> None:
    """Open the terminal app: browse folders, scan, review groups, apply and undo.

    \b
    lookalike ~/Pictures               open with ~/Pictures chosen; press s to scan
    lookalike --graphics halfcell      coloured half blocks (good inside tmux)
    Press ? on any screen for its keys.
    """
    extras.require("ui")
    for p in paths:
        if server is None and not p.exists():  # a server's paths are checked by the server
            raise click.BadParameter(f"{p} does not exist", param_hint="PATH")
    try:
        settings = config.load_config()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc

    from lookalike.engine.api import Engine
    from lookalike.ui.app import make_app

    engine: Any = Engine(catalog_path=db) if server is None else _remote(server, token_file)
    app = make_app(
        settings,
        engine,
        graphics=graphics,
        roots=list(paths),
        files_from=files_from,
        start_mode=start_mode,
    )
    app.run()


def _remote(url: str, token_file: Path | None) -> Any:
    """The app's engine port on a ``lookalike serve`` at ``url`` (docs/api.md)."""
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url} is not an http(s) URL", param_hint="--server")
    try:
        from lookalike.ui.remote_port import RemotePort
    except ImportError as exc:  # pragma: no cover - httpx missing
        raise click.UsageError(
            f"--server needs {exc.name}; pip install 'lookalike[serve]'"
        ) from None
    token = token_file.read_text(encoding="utf-8").strip() if token_file else None
    return RemotePort(url, token)


#: ``scan`` options that only shape the output of a run without the app, with their flag names.
OUTPUT_ONLY = {
    "fmt": "--format",
    "output": "-o/--output",
    "link_dir": "--link-dir",
    "progress": "--progress",
}


def launch_ui(options: Any, db: Path | None) -> int:
    """``lookalike scan PATH…`` on a terminal without ``--no-ui``: the app opens with every scan
    option applied and the scan started. Options that only shape a headless run's output are
    refused with a message that says how to get that output."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        from click.core import ParameterSource

        given = [
            flag
            for name, flag in OUTPUT_ONLY.items()
            if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} only work without the terminal app: add --no-ui "
                "(e.g. lookalike scan --no-ui PATH --format json -o groups.json), or leave "
                f"{'them' if len(given) > 1 else 'it'} out to scan and review in the app."
            )
    extras.require("ui")
    from lookalike.engine.api import Engine
    from lookalike.ui.app import make_app

    try:
        settings = config.load_config()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    app = make_app(settings, Engine(catalog_path=db), scan_base=options, start_scan=True)
    app.run()
    return 0


@click.group("config")
def config_group() -> None:
    """Read and change settings in config.toml (``lookalike locate config`` prints its path)."""


def _parse_value(text: str) -> Any:
    """TOML value if it parses (numbers, true/false, [lists], "strings"), else the raw text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@config_group.command("get")
@click.argument("key")
def config_get(key: str) -> None:
    """Print the value of KEY (dotted, e.g. ui.graphics or keymap)."""
    try:
        data = config.load_config()
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    value = config.get_key(data, key)
    if value is None:
        raise click.ClickException(f"{key} is not set in {config.config_path()}")
    click.echo(value if isinstance(value, str) else json.dumps(value))


@config_group.command("set")
@click.argument("key")
@click.argument("value")
def config_set(key: str, value: str) -> None:
    """Set KEY to VALUE (TOML syntax for non-strings: 80, true, ["a", "b"]).

    The passphrase lock is not a setting: `lookalike lock set` and `lookalike lock clear`
    change it, after asking for the current passphrase.
    """
    if _touches_passphrase(key):
        raise click.ClickException(
            f"{key} holds the passphrase lock and cannot be set here; "
            "change it with: lookalike lock set, or remove it with: lookalike lock clear "
            "(both ask for the current passphrase)"
        )
    parsed = _parse_value(value)
    try:
        data = config.update_config(lambda d: config.set_key(d, key, parsed))
    except config.ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{key} = {json.dumps(config.get_key(data, key))}  ({config.config_path()})")


def _touches_passphrase(key: str) -> bool:
    """``actions.passphrase`` itself, or a table above it (``actions``) that would replace it."""
    target = ["actions", "passphrase"]
    parts = [p.strip().strip('"') for p in key.split(".")]
    return parts == target[: len(parts)] or parts[:2] == target


@click.command("locate")
@click.argument("what", type=click.Choice(["config", "cache", "data", "themes"]))
def locate(what: str) -> None:
    """Print where lookalike keeps its config file, cache (catalog, thumbnails) or data (journal)."""
    paths = {
        "config": config.config_path(),
        "cache": config.cache_dir(),
        "data": config.data_dir(),
        "themes": config.config_dir() / "themes",
    }
    click.echo(str(paths[what]))


def register(main: click.Group) -> None:
    """Add this module's commands to ``main``."""
    main.add_command(ui_command, "ui")
    main.add_command(config_group, "config")
    main.add_command(locate, "locate")
