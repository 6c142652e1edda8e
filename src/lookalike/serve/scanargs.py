"""A job's body → :class:`ScanOptions`, validated by ``lookalike scan``'s own click parameters.

The body names scan options the way the flags are spelt (``min_size`` for ``--min-size``); they
are turned into an argument list and parsed by a click command built from the very
``scan_options`` decorator ``lookalike scan`` uses, then :func:`build_options` makes the options.
So the API accepts exactly what the CLI accepts, with the same messages, and nothing else.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import click

from lookalike.commands.scan import build_options, scan_options
from lookalike.engine.options import ScanOptions
from lookalike.serve.errors import ApiError

# The server owns its catalog; reading a file list from the server's stdin makes no sense.
NOT_OVER_HTTP = {
    "db": "the server's catalog is set by lookalike serve --db",
    "files_from": 'send the paths in "paths"',
    "null": 'send the paths in "paths"',
}
BODY_KEYS = {"paths", "options"}
OPTIONS_HINT = "options are lookalike scan's flags spelt with _ (min_size for --min-size)"


@functools.cache
def _command() -> click.Command:
    @click.command("scan", add_help_option=False)
    @click.argument("paths", nargs=-1, type=click.Path(path_type=str))
    @scan_options
    def parse(**kw: Any) -> None:  # never invoked: only its parameters are used
        pass

    return parse


def _key(opt: click.Option) -> str:
    """``--keep-rule`` → ``keep_rule``: the body key of an option is its long flag."""
    return max(opt.opts, key=len).lstrip("-").replace("-", "_")


def option_names() -> dict[str, click.Option]:
    """Body key → the click option it stands for (what ``POST /jobs`` accepts)."""
    return {
        _key(p): p
        for p in _command().params
        if isinstance(p, click.Option) and _key(p) not in NOT_OVER_HTTP
    }


def under_roots(path: str, roots: tuple[str, ...]) -> bool:
    """True when ``path`` (resolved, symlinks followed) is a root or lies below one."""
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _args(options: dict[str, Any]) -> list[str]:
    known = option_names()
    args: list[str] = []
    for key, value in options.items():
        if key in NOT_OVER_HTTP:
            raise ApiError(422, f"option {key!r} cannot be set over HTTP", NOT_OVER_HTTP[key])
        opt = known.get(key)
        if opt is None:
            raise ApiError(
                422,
                f"unknown option {key!r}",
                f"{OPTIONS_HINT}; known: " + ", ".join(sorted(known)),
            )
        flag = max(opt.opts, key=len)
        values = value if isinstance(value, list) else [value]
        for v in values:
            if opt.is_flag:
                if not isinstance(v, bool):
                    raise ApiError(
                        422,
                        f"option {key!r} is a switch",
                        'give true or false, e.g. {"hidden": true}',
                    )
                if v:
                    args.append(flag)
            elif isinstance(v, str | int | float) and not isinstance(v, bool):
                args.append(f"{flag}={v}")  # one token: a value can never pass for a flag
            else:
                raise ApiError(
                    422, f"option {key!r} needs a text or number value, not {v!r}", OPTIONS_HINT
                )
    return args


def scan_options_from(body: object, roots: tuple[str, ...], workers: int) -> ScanOptions:
    """Validate a ``POST /jobs`` body; raises :class:`ApiError` (422, or 403 outside the roots)."""
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", 'e.g. {"paths": ["/photos"]}')
    extra = sorted(set(body) - BODY_KEYS)
    if extra:
        raise ApiError(422, f"unknown field(s) {', '.join(extra)}", "send paths and options")
    paths = body.get("paths")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise ApiError(
            422,
            '"paths" must be a non-empty list of folders or files',
            'e.g. {"paths": ["/photos"]}',
        )
    relative = [p for p in paths if not os.path.isabs(p)]
    if relative:
        raise ApiError(
            422,
            f"paths must be absolute: {', '.join(relative)}",
            "the server does not know your working folder",
        )
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise ApiError(422, '"options" must be a JSON object', OPTIONS_HINT)
    # every path option (reference, weights) too, before anything touches the disk: a refusal
    # must not tell what exists outside the roots
    named = [
        v
        for key, opt in option_names().items()
        if isinstance(opt.type, click.Path) and key in options
        for v in (options[key] if isinstance(options[key], list) else [options[key]])
    ]
    outside = [str(p) for p in [*paths, *named] if not under_roots(str(p), roots)]
    if outside:
        raise ApiError(
            403,
            f"outside the server's roots: {', '.join(outside)}",
            "this server scans only under: "
            + ", ".join(roots)
            + " (lookalike serve --root DIR adds one)",
        )
    try:
        ctx = _command().make_context("scan", [*_args(options), "--", *paths])
        params = {k: v for k, v in ctx.params.items() if k not in ("paths", *NOT_OVER_HTTP)}
        params["workers"] = params.get("workers") or workers
        scan = build_options(tuple(paths), files_from=None, null=False, **params)
    except click.ClickException as exc:
        raise ApiError(422, exc.format_message(), OPTIONS_HINT) from None
    except ValueError as exc:
        raise ApiError(422, str(exc), OPTIONS_HINT) from None
    return scan
