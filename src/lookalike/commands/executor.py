"""``--executor`` and ``--remote-root``: where a scan's decode + features run (ray_pool.py)."""

from __future__ import annotations

import click


def executor_options(f):
    """The two options, for ``scan`` and the app launcher."""
    f = click.option(
        "--remote-root",
        "remote_root",
        multiple=True,
        metavar="LOCAL=REMOTE",
        help="With a Ray cluster: files under LOCAL are read by the workers under REMOTE "
        "(repeatable).",
    )(f)
    return click.option(
        "--executor",
        default="local",
        show_default=True,
        metavar="local|ray|ray://HOST:PORT",
        help="Where decoding and features run: this machine's process pool, a local Ray, "
        "or a Ray cluster (needs the ray extra: pip install 'lookalike[ray]').",
    )(f)


def check_executor(
    executor: str, specs: tuple[str, ...]
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Checked up front: Ray missing or a bad mapping is a usage error that says what to do,
    before any file is read."""
    if executor not in ("local", "ray") and not executor.startswith("ray://"):
        raise click.BadParameter(
            f"{executor!r}: use local, ray or ray://HOST:PORT", param_hint="--executor"
        )
    from lookalike.engine.ray_pool import RayUnavailable, import_ray, parse_remote_root

    if executor != "local":
        try:
            import_ray()
        except RayUnavailable as exc:
            raise click.UsageError(str(exc)) from None
    try:
        return executor, tuple(parse_remote_root(s) for s in specs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--remote-root") from None
