"""``lookalike rules list | test RULE IMAGE | run [RULE] PATH… [--dry-run]``: content rules.

Rules come from ``[[content_rules]]`` in config.toml (docs/rules.md). ``run`` evaluates them in
order (the first rule that fires wins), prints which rule fired with its score, and carries out
file actions through the same plan builder, journal and undo as every other operation.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from lookalike.commands import rules_state
from lookalike.commands.rules_state import apply_state_actions
from lookalike.engine.actions.fsutil import display_path, safe_text

if TYPE_CHECKING:
    from lookalike.engine.rules.content import ContentRule, Test
    from lookalike.engine.rules.evaluate import RuleEngine, RuleResult

FORMATS = click.Choice(["text", "json"])


def _load(rule_name: str | None = None) -> list[ContentRule]:
    from lookalike import config
    from lookalike.engine.rules.content import RuleError, parse_rules

    rules = parse_rules(config.load_config())
    if rule_name is not None:
        chosen = [r for r in rules if r.name == rule_name]
        if not chosen:
            names = ", ".join(r.name for r in rules) or "none configured"
            raise RuleError(f"no content rule named {rule_name!r} (rules: {names})")
        return chosen
    return rules


def _model_opts(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option(
        "--model",
        default=None,
        metavar="NAME",
        help="Embedding model for prompt and prototype rules (default: [rules] model in "
        "config, else effnet-lite0; prompts need a CLIP-family model).",
    )(f)
    f = click.option(
        "--weights",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="Load the model's weights from FILE (config: [rules] weights).",
    )(f)
    f = click.option(
        "--device",
        default=None,
        metavar="DEVICE",
        help="auto (a CUDA GPU when torch sees one), cpu or cuda[:N] for the embedding model "
        "and PyTorch classifiers (config: [rules] device; default auto).",
    )(f)
    f = click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Catalog whose stored embeddings are reused (default: the usual catalog).",
    )(f)
    return f


def _engine(
    rules: list[ContentRule],
    model: str | None,
    db: Path | None,
    weights: str | None = None,
    device: str | None = None,
) -> RuleEngine:
    from lookalike import config
    from lookalike.engine.rules.evaluate import RuleEngine

    cfg = config.load_config()
    classifiers = {}
    if any(r.classifiers() for r in rules):
        from lookalike.engine.rules.classifier import parse_classifiers

        classifiers = parse_classifiers(cfg)
    return RuleEngine(
        rules,
        model=model or config.get_key(cfg, "rules.model"),
        catalog=db or config.default_catalog_path(),
        classifiers=classifiers,
        weights=weights or config.get_key(cfg, "rules.weights"),
        device=device or str(config.get_key(cfg, "rules.device", "auto") or "auto"),
    )


def _guard(body: Callable[[TextIO, TextIO], int]) -> None:
    """One line on stderr and exit 2 for a bad rule/config/model; 4 for anything else."""
    import sys

    from lookalike.config import ConfigError
    from lookalike.engine.actions.errors import ActionError
    from lookalike.engine.embedders import ModelUnavailable
    from lookalike.engine.rules.content import RuleError

    try:
        code = body(sys.stdout, sys.stderr)
    except (RuleError, ConfigError, ModelUnavailable) as exc:
        sys.stderr.write(f"lookalike rules: {exc}\n")
        code = 2
    except ActionError as exc:  # plan refused, not confirmed, journal busy: as `apply` says
        from lookalike.commands.common import fail

        code = fail(sys.stderr, exc)
    sys.exit(code)


@click.group("rules")
def rules_group() -> None:
    """Content rules: skip, notify, hide, move, copy, trash or quarantine what matches
    (docs/rules.md)."""


@rules_group.command("list")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def list_cmd(fmt: str) -> None:
    """List the configured content rules in the order they are tried."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        from lookalike import config

        rules = _load()
        if fmt == "json":
            stdout.write(json.dumps([_describe(r) for r in rules]) + "\n")
            return 0
        if not rules:
            stdout.write(
                f"no content rules; add [[content_rules]] to {config.config_path()} "
                "(see docs/rules.md)\n"
            )
        for n, r in enumerate(rules, 1):
            d = _describe(r)
            off = "" if r.enabled else " (disabled)"
            stdout.write(f"{n}. {r.name}{off}: {d['when']} -> {d['action']}\n")
            if r.folders:
                stdout.write(f"   folders: {', '.join(display_path(f) for f in r.folders)}\n")
            if r.unless:
                stdout.write(f"   unless: {d['unless']}\n")
        return 0

    _guard(body)


def _describe(r: ContentRule) -> dict[str, Any]:
    def test(t: Test) -> str:
        parts = []
        for c in t.conditions:
            if c.kind == "prompts":
                s = f"prompts {list(c.prompts)}"
                s += f" not {list(c.not_prompts)}" if c.not_prompts else ""
            elif c.kind == "prototype":
                s = f"prototype {display_path(c.prototype or '')}"
                if c.negative_prototype:
                    s += f" - {c.lam:g} x {display_path(c.negative_prototype)}"
            elif c.kind == "classifier":
                s = f"classifier {c.classifier} says {list(c.classes)}"
                s += f" >= {c.min_probability:g}" if c.min_probability is not None else ""
            else:
                s = f"generation prompt has {list(c.substrings)}"
            if c.kind in ("prompts", "prototype"):
                s += f" >= {c.threshold:g}"
            parts.append(s)
        return f" {t.mode} ".join(parts) if len(parts) > 1 else parts[0]

    return {
        "name": r.name,
        "enabled": r.enabled,
        "folders": list(r.folders),
        "when": test(r.when),
        "unless": test(r.unless) if r.unless else None,
        "action": str(r.action),
    }


@rules_group.command("test")
@click.argument("rule")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@_model_opts
def test_cmd(
    rule: str,
    image: str,
    model: str | None,
    db: Path | None,
    weights: str | None,
    device: str | None,
) -> None:
    """Score RULE on IMAGE and say whether it would fire (folders are not checked)."""

    def body(stdout: TextIO, stderr: TextIO) -> int:
        (r,) = _load(rule)
        with _engine([r], model, db, weights, device) as eng:
            (res,) = eng.evaluate(r, [os.path.abspath(image)])
        for note in eng.notes:
            stderr.write(f"lookalike rules: {note}\n")
        if res.error:
            stderr.write(f"lookalike rules: {display_path(image)}: {safe_text(res.error)}\n")
            return 3
        verdict = "fires" if res.hit else ("vetoed by unless" if res.vetoed else "does not fire")
        stdout.write(f"{r.name}: score {res.score:.4f}, {verdict} ({r.action})\n")
        return 0

    _guard(body)


@rules_group.command("run")
@click.argument("args", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Say what would happen; touch nothing.")
@click.option("--yes", "-y", is_flag=True, help="Act without asking.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="LOOKALIKE_JOURNAL",
    help="journal file (default: in the data dir)",
)
@_model_opts
def run_cmd(
    args: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    fmt: str,
    journal: Path | None,
    model: str | None,
    db: Path | None,
    weights: str | None,
    device: str | None,
) -> None:
    """Apply the rules (or only RULE) to the images under PATH…, first match wins.

    \b
    lookalike rules run ~/Pictures --dry-run      what would each rule do?
    lookalike rules run screenshots ~/Pictures    only the rule named screenshots
    File actions are journalled: lookalike undo brings the files back.
    """

    def body(stdout: TextIO, stderr: TextIO) -> int:
        from lookalike import config
        from lookalike.engine.rules.content import RuleError

        rule_name, paths = None, list(args)
        if len(paths) > 1 and not os.path.exists(paths[0]):
            rule_name, paths = paths[0], paths[1:]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise RuleError(
                f"no such file or folder: {', '.join(missing)} "
                "(usage: lookalike rules run [RULE] PATH…)"
            )
        rules = _load(rule_name)
        if not rules:
            raise RuleError(
                f"no content rules configured; add [[content_rules]] to {config.config_path()} "
                "(docs/rules.md)"
            )
        files, hits, errors = _first_hits(rules, paths, model, db, weights, stderr, device)
        rules_state.remember_hits(files, hits, db, every_rule=rule_name is None)
        for res, r in hits:
            if fmt == "json":
                row = {"rule": r.name, "score": round(res.score, 6), "action": str(r.action)}
                stdout.write(json.dumps({**row, "path": display_path(res.path)}) + "\n")
            else:
                stdout.write(f"{r.name}\t{res.score:.4f}\t{r.action}\t{display_path(res.path)}\n")
        code = 3 if errors else 0
        if dry_run:
            stderr.write(f"dry run: {len(hits)} hit(s) in {len(files)} file(s); nothing touched\n")
            return code
        apply_state_actions(hits, db, stderr)
        return max(code, _act(hits, paths, yes, fmt, journal, stdout, stderr))

    _guard(body)


def _first_hits(
    rules: list,
    paths: Sequence[str],
    model: str | None,
    db: Path | None,
    weights: str | None,
    stderr: TextIO,
    device: str | None = None,
) -> tuple[list[str], list[tuple], list]:
    """The image files under PATHS, the first rule that fires on each (result, rule), and the
    files that could not be evaluated (each reported on stderr, the run goes on)."""
    from lookalike.engine.rules.evaluate import image_files

    files: list[str] = []
    for p in paths:
        files += image_files(p) if os.path.isdir(p) else [os.path.abspath(p)]
    with _engine(rules, model, db, weights, device) as eng:
        fired, errors = eng.first_hits(files)
    for note in eng.notes:
        stderr.write(f"lookalike rules: {note}\n")
    for e in errors:
        stderr.write(f"  {e.rule}: {display_path(e.path)}: {safe_text(e.error)}\n")
    by_name = {r.name: r for r in rules}
    return files, [(fired[p], by_name[fired[p].rule]) for p in files if p in fired], errors


def rules_for_scan(
    model: str | None, weights: str | None, device: str | None, dry_run: bool
) -> Any:
    """``scan --rules``: the content rules as scan options (engine/stages/content.py), checked
    before the scan starts. None when no rule is configured (said on stderr); a bad rule,
    classifier table or model raises RuleError/ConfigError/ModelUnavailable."""
    import sys

    from lookalike import config
    from lookalike.engine.options import ContentRulesOptions

    rules = _load()
    if not rules:
        sys.stderr.write("lookalike: --rules: no content rules configured (docs/rules.md)\n")
        return None
    cfg = config.load_config()
    with _engine(rules, model, None, weights, device) as eng:  # checks models and tables
        classifiers = tuple(eng.classifier_specs.items())
    return ContentRulesOptions(
        tuple(rules),
        classifiers,
        model=model or config.get_key(cfg, "rules.model"),
        weights=weights or config.get_key(cfg, "rules.weights"),
        device=device or str(config.get_key(cfg, "rules.device", "auto") or "auto"),
        apply=not dry_run,
    )


def rules_after_scan(
    finished: Any,
    roots: list[str],
    catalog: Path | None,
    *,
    yes: bool,
    dry_run: bool,
    stderr: TextIO,
) -> int:
    """``scan --rules``, after the scan: report the hits the scan's rules stage found (stderr:
    stdout holds the scan results), mark, and carry out the file actions as journalled batches
    like ``rules run``. Returns 0, 2 (the rules could not run) or the action's exit code."""
    from lookalike.engine.actions.errors import ActionError
    from lookalike.engine.rules.evaluate import RuleResult

    if finished.rule_error:
        stderr.write(f"lookalike: --rules: {finished.rule_error}\n")
        return 2
    try:
        by_name = {r.name: r for r in _load()}
        hits = [
            (RuleResult(rule, path, True, score), by_name[rule])
            for path, rule, score, _ in finished.rule_hits
            if rule in by_name
        ]
        for res, r in hits:
            stderr.write(f"rule {r.name} ({res.score:.4f}): {r.action} {display_path(res.path)}\n")
        if dry_run:
            return 0
        apply_state_actions(hits, catalog, stderr)
        code = _act(hits, roots, yes, "text", None, stderr, stderr)
    except ActionError as exc:
        stderr.write(f"lookalike: --rules: {exc}\n")
        code = 2
    stayed = [
        res.path
        for res, r in hits
        if r.action.kind in ("move", "trash", "quarantine") and os.path.lexists(res.path)
    ]
    if stayed:
        stderr.write(
            f"lookalike: --rules: {len(stayed)} file(s) a rule would move away are still in "
            "place and were left out of this scan's groups; a scan without --rules groups them\n"
        )
    return code


def _act(
    hits: list[tuple[RuleResult, ContentRule]],
    paths: list[str],
    yes: bool,
    fmt: str,
    journal: Path | None,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """File actions, one journalled batch per action, through the plan builder."""
    from lookalike.commands.act import config_references, execute_plan
    from lookalike.engine.actions.plan_files import build_file_plan

    by_action: dict[str, list[str]] = defaultdict(list)
    for res, r in hits:
        if r.action.kind in ("move", "copy", "trash", "quarantine"):
            by_action[str(r.action)].append(res.path)
    roots = [os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p)) for p in paths]
    code = 0
    for action, files in by_action.items():
        plan = build_file_plan(
            files,
            action,
            roots=roots,
            references=config_references(),
            meta={"rules": sorted({r.name for res, r in hits if str(r.action) == action})},
        )
        got = execute_plan(
            plan,
            yes=yes,
            permanently=False,
            fmt=fmt,
            stdout=stdout,
            stderr=stderr,
            journal=journal,
            origin="rules",
        )
        code = max(code, got)
    return code


rules_state.register(rules_group)


def register(main: click.Group) -> None:
    main.add_command(rules_group)
