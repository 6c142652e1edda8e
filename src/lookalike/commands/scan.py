"""``lookalike scan``: find duplicates under PATHs (``--no-ui`` for scripts)."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from lookalike.atomicio import AtomicFile
from lookalike.commands.act import action_args_from, action_options, run_action_for_groups
from lookalike.commands.executor import check_executor
from lookalike.commands.ml import NO_MODEL, build_ml_options
from lookalike.commands.scan_options import output_options, scan_options
from lookalike.engine.actions.errors import ActionError
from lookalike.engine.options import DEFAULT_KEEP_RULES, KEEP_RULE_NAMES
from lookalike.headless import exitcodes

_DONE = (exitcodes.OK, exitcodes.FILE_ERRORS)  # the scan finished


def _rules_from_config() -> tuple[tuple[str, ...] | None, list[Path], list[tuple[Path, tuple]]]:
    """[rules] keep / reference / overrides from config.toml (written by the Rules screen)."""
    from lookalike import config

    try:
        data = config.load_config()
    except config.ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    keep = config.get_key(data, "rules.keep")
    refs = [Path(p).expanduser() for p in config.get_key(data, "rules.reference", []) or []]
    overrides = [
        (Path(folder).expanduser(), tuple(rules))
        for folder, rules in (config.get_key(data, "rules.overrides", {}) or {}).items()
    ]
    names = list(keep or []) + [r for _, rs in overrides for r in rs]
    bad = [r for r in names if r not in KEEP_RULE_NAMES]
    if bad:
        raise click.UsageError(
            f"{config.config_path()}: unknown keep rule(s) {', '.join(bad)} in [rules]; "
            f"choose from {', '.join(sorted(KEEP_RULE_NAMES))}"
        )
    return (tuple(keep) if keep else None), refs, overrides


def _budget_from_config() -> int:
    """``[scan] max_decode_mb`` from config.toml, else the default (512 MiB)."""
    from lookalike import config
    from lookalike.engine.media.decode import DEFAULT_BUDGET_MB

    value = config.get_key(config.load_config(), "scan.max_decode_mb", DEFAULT_BUDGET_MB)
    if not isinstance(value, int) or isinstance(value, bool) or value < 16:
        raise click.UsageError(
            f"{config.config_path()}: scan.max_decode_mb must be a whole number of MiB, at "
            "least 16; fix it with: lookalike config set scan.max_decode_mb 512"
        )
    return value


def build_options(
    paths,
    files_from,
    null,
    include,
    exclude,
    min_size,
    hidden,
    follow_symlinks,
    one_file_system,
    workers,
    sensitivity,
    exact_only,
    keep_rules,
    reference,
    max_pixels,
    no_thumbnails,
    max_decode_mb=None,
    video_step=None,
    video_min_segment=2.0,
    no_video=False,
    show_hidden=False,
    executor="local",
    remote_root=(),
    **ml_kw,
):
    from lookalike.engine.media.discover import read_file_list
    from lookalike.engine.options import ScanOptions

    listed: list[str] = []
    if files_from:
        if files_from == "-":
            data = sys.stdin.buffer.read()
        else:
            try:
                data = Path(files_from).read_bytes()
            except OSError as exc:
                raise click.BadParameter(
                    f"cannot read {files_from}: {exc.strerror}", param_hint="--files-from"
                ) from exc
        listed = read_file_list(data, null)
    if not paths and not listed:
        raise click.UsageError("give at least one PATH or --files-from FILE")
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise click.UsageError(f"{', '.join(missing)}: no such file or folder; check the path")
    cfg_keep, cfg_refs, cfg_overrides = _rules_from_config()
    executor, remote_roots = check_executor(executor, remote_root)
    return ScanOptions(
        roots=tuple(Path(p) for p in paths),
        files_from=tuple(Path(p) for p in listed),
        include=tuple(include),
        exclude=tuple(exclude),
        min_size=min_size,
        hidden=hidden,
        follow_symlinks=follow_symlinks,
        one_file_system=one_file_system,
        workers=workers or os.cpu_count() or 1,
        sensitivity=sensitivity,
        same=not exact_only,
        keep_rules=keep_rules or cfg_keep or DEFAULT_KEEP_RULES,
        reference=tuple(reference) + tuple(r for r in cfg_refs if r.is_dir()),
        keep_overrides=tuple(cfg_overrides),
        max_pixels=max_pixels,
        max_decode_mb=max_decode_mb or _budget_from_config(),
        thumbnails=not no_thumbnails,
        video=not no_video,
        video_step=video_step,
        video_min_segment=video_min_segment,
        show_rule_hidden=show_hidden,
        executor=executor,
        remote_roots=remote_roots,
        ml=build_ml_options(**ml_kw),  # ml: None unless an ML option was given
    )


def _content_rules(kw: dict, dry_run: bool) -> Any:
    """``--rules``: the content rules as scan options, checked before the scan (a bad rule,
    classifier table or model is one line and exit 2; the scan does not start)."""
    from lookalike.commands.rules import rules_for_scan
    from lookalike.config import ConfigError
    from lookalike.engine.embedders import ModelUnavailable
    from lookalike.engine.rules.content import RuleError

    model = kw.get("model")
    device = kw.get("device")
    try:
        return rules_for_scan(
            None if model == "auto" or (model or "").lower() in NO_MODEL else model,
            kw.get("weights"),
            None if device in (None, "auto") else device,
            dry_run,
        )
    except (RuleError, ConfigError, ModelUnavailable) as exc:
        click.echo(f"lookalike: --rules: {exc}", err=True)
        sys.exit(2)


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--no-ui", is_flag=True, help="Run without the terminal app; results go to stdout or -o."
)
@scan_options
@output_options
@action_options
@click.option(
    "--no-cache-sweep",
    is_flag=True,
    envvar="LOOKALIKE_NO_CACHE_SWEEP",
    help="Do not sweep the thumbnail cache after this scan, even when a sweep is due "
    "(cache.thumbs_mb, cache.sweep_days; `lookalike cache status`).",
)
def scan_command(
    paths, no_ui, fmt, output, link_dir, progress, db, wait, content_rules, no_cache_sweep, **kw
):
    """Find exact duplicates and edited copies of photos under PATHs.

    \b
    Examples:
      lookalike scan --no-ui ~/Pictures --format json -o groups.json
      find /photos -name '*.jpg' -print0 | lookalike scan --no-ui --files-from - -0
      lookalike scan --no-ui ~/Pictures --format text --sensitivity 80
      lookalike scan --no-ui ~/Pictures --action trash --yes     # then: lookalike undo

    Results go to stdout (or -o FILE); progress and messages go to stderr. With --action,
    stdout reports the batch (or the plan with --dry-run) and results go only to -o FILE.

    \b
    Exit codes:
      0    done
      3    done, but some files could not be read (listed under "errors")
      2    bad usage (unknown option, a PATH that does not exist)
      4    fatal: the catalog is damaged or the output could not be written
      5    another scan is running on the same catalog (see --wait)
      130  interrupted; run the same command again to resume
      141  stdout was closed early (e.g. piped into head)
    """
    from lookalike.commands.cache import sweep_after_scan
    from lookalike.engine import settings
    from lookalike.engine.api import Engine
    from lookalike.headless.runner import run_scan

    yes, dry_run = bool(kw.get("yes")), bool(kw.get("dry_run"))  # action_args_from takes them
    try:
        act = action_args_from(kw)
    except ActionError as exc:
        raise click.UsageError(str(exc)) from None
    options = build_options(paths, **kw)
    if content_rules:
        options = _with_rules(options, kw, dry_run, app_opens=not no_ui and act is None)
    if not no_ui and act is None:
        _open_app_on_a_terminal(options, db)
    engine = Engine(db)
    out, results = _open_output(output, act is not None)
    try:
        result = run_scan(engine, replace(options, wait=wait), fmt, out, link_dir, progress)
        result = _commit_output(results, output, result)
    finally:
        if results is not None:
            results.discard()
    finished_ok = result.finished is not None and result.code in _DONE
    if options.content_rules and finished_ok:
        result = _rules_after(result, options, engine.catalog_path, yes, dry_run)
    code = result.code
    if act is not None and finished_ok:
        code = _act(result.finished.groups, act, options, engine.catalog_path, fmt) or code
    if finished_ok and not no_cache_sweep:  # after the results: engine/thumb_sweep.py
        sweep_after_scan(engine.thumb_dir, settings.current().catalog_path)
    sys.exit(code)


def _act(spooled: Any, act: Any, options: Any, catalog: Path, fmt: str) -> int:
    """``--action``/``--plan-out``/``--dry-run`` on the finished scan's groups."""
    from lookalike.engine.actions.plan_build import Rewalk

    # the plan builder leaves out keepers, reference files (by real path), favourites, files
    # outside the scanned roots, and similar groups unless --tier names them; it walks the
    # scan's groups from their spool a chunk at a time (no list of every group, issue 13),
    # decoded once: its second walk reads the few fields it needs from its own spool
    return run_action_for_groups(
        Rewalk(lambda: (g for g in spooled if len(g.members) > 1), once=True),
        act.action,
        dry_run=act.dry_run,
        yes=act.yes,
        permanently=act.permanently,
        plan_out=act.plan_out,
        fmt="json" if fmt in ("json", "jsonl") else "text",
        stdout=sys.stdout,
        stderr=sys.stderr,
        shrink=act.shrink,
        roots=[str(p) for p in (*options.roots, *options.files_from)],
        references=list(options.reference),
        catalog=catalog,
        tiers=act.tiers,
        merge=act.merge,
    )


def _with_rules(options: Any, kw: dict, dry_run: bool, app_opens: bool) -> Any:
    """--rules runs in the scan; the app (a terminal without --no-ui) scores them on its Rules
    screen instead, so there it is refused rather than dropped."""
    if app_opens and _on_a_terminal():
        raise click.UsageError(
            "--rules runs without the terminal app: add --no-ui (or run"
            " `lookalike rules run PATH`); in the app, Rules (5) then c scores the rules"
        )
    return replace(options, content_rules=_content_rules(kw, dry_run))


def _on_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _open_app_on_a_terminal(options: Any, db: Path | None) -> None:
    """``scan`` without --no-ui on a terminal opens the app with the scan running; elsewhere
    it says it goes on without one."""
    from lookalike.commands import ui as ui_commands

    launch = getattr(ui_commands, "launch_ui", None)
    if launch is not None and _on_a_terminal():
        sys.exit(launch(options=options, db=db))
    click.echo("lookalike: running without the terminal app (add --no-ui to say so)", err=True)


def _open_output(output: str, acting: bool) -> tuple[Any, AtomicFile | None]:
    """Where results go: FILE is written beside itself and renamed over it at the end (Ctrl-C,
    a busy or damaged catalog leave yesterday's results whole); stdout otherwise, unless an
    --action reports there."""
    try:
        if output != "-":
            results = AtomicFile(output)
            return results.fh, results
        return (io.StringIO() if acting else sys.stdout), None
    except OSError as exc:
        click.echo(f"lookalike: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(exitcodes.FATAL)


def _commit_output(results: AtomicFile | None, output: str, result: Any) -> Any:
    if results is not None and result.code in _DONE:
        try:
            results.commit()
        except OSError as exc:
            click.echo(f"lookalike: cannot write {output}: {exc.strerror or exc}", err=True)
            result = replace(result, code=exitcodes.FATAL)
    return result


def _rules_after(result: Any, options: Any, catalog: Path, yes: bool, dry_run: bool) -> Any:
    """``scan --rules``: the content rules act after the scan; their hits set the exit code."""
    from lookalike.commands.rules import rules_after_scan

    got = rules_after_scan(
        result.finished,
        [str(p) for p in (*options.roots, *options.files_from)],
        catalog,
        yes=yes,
        dry_run=dry_run,
        stderr=sys.stderr,
    )
    if got and result.code == exitcodes.OK:
        result = replace(result, code=got)
    return result


def register(main: click.Group) -> None:
    main.add_command(scan_command)
