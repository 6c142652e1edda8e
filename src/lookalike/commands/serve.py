"""``lookalike serve``: the job API over HTTP (docs/api.md); needs the ``serve`` extra."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import click

INSTALL_HINT = "install it with: pip install 'lookalike[serve]'"


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but localhost needs --token-file.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Bearer token file (mode 0600; created with a new token if missing). "
    "Required for a non-local --host; with it every request needs the token.",
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder jobs may scan and act under (repeatable); nothing outside is touched.",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog file (default: in the platform cache dir).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where jobs and plans are kept (default: DATA_DIR/serve).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Decode processes per scan (default: number of cores).",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.1),
    default=50.0,
    show_default=True,
    help="Requests per second allowed per client (bursts up to 10×).",
)
def serve_command(host, port, token_file, roots, db, state_dir, workers, rate) -> None:
    """Serve the job API: launch and watch scans, page their groups, plan, apply and undo.

    \b
    Examples:
      lookalike serve --root ~/Pictures
      lookalike serve --root /photos --host 0.0.0.0 --token-file ~/.lookalike-token

    See docs/api.md for every route, with curl examples. Ctrl-C stops the server; a scan it
    was running resumes when it starts again.
    """
    _serve(host, port, token_file, roots, db, state_dir, workers, rate)


def _serve(host, port, token_file, roots, db, state_dir, workers, rate) -> None:
    """Check the bind and the token, then run uvicorn until Ctrl-C."""
    try:
        import uvicorn

        from lookalike.serve.app import ServeSettings, make_app
        from lookalike.serve.security import TokenError, is_local, read_token
    except ImportError as exc:
        raise click.UsageError(f"lookalike serve needs {exc.name}; {INSTALL_HINT}") from None
    if not is_local(host) and token_file is None:
        raise click.UsageError(
            f"--host {host} is reachable from other machines: add --token-file FILE "
            "(created with a new token if missing), or bind to 127.0.0.1"
        )
    try:
        token = read_token(token_file) if token_file else None
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    settings = ServeSettings(
        roots=tuple(os.path.realpath(r) for r in roots),
        host=host,
        port=port,
        token=token,
        catalog=db,
        state_dir=state_dir,
        workers=workers or os.cpu_count() or 1,
        rate=rate,
        burst=max(10, int(rate * 10)),
    )
    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise click.UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from None
    port = sock.getsockname()[1]  # --port 0: the one the system picked
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    auth = f"; token in {token_file}" if token else ""
    click.echo(
        f"lookalike: serving {where} (roots: {', '.join(settings.roots)}{auth}); Ctrl-C stops",
        err=True,
    )
    # open event streams end 3 s after Ctrl-C (clients reconnect with Last-Event-ID); then a
    # running scan stops like Ctrl-C and stays queued for the next start
    server = uvicorn.Server(
        uvicorn.Config(make_app(settings), log_level="warning", timeout_graceful_shutdown=3)
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: a normal stop
        pass
    click.echo("lookalike: stopped; a scan that was running resumes at the next start", err=True)
    sys.exit(0)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (made here so ``--port 0`` can say which port it got)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def register(main: click.Group) -> None:
    main.add_command(serve_command)
