"""Content rules' catalog-state actions: ``hide`` and ``mark``, and ``rules hidden|unhide|unmark``.

A hidden file is not moved or changed: the catalog remembers it (engine/hidden.py) and scans
and review leave it out. Kept apart from commands/rules.py, which runs the rules and the
journalled file actions.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from lookalike.engine.actions.fsutil import display_path

if TYPE_CHECKING:
    from lookalike.engine.catalog import Catalog
    from lookalike.engine.rules.content import ContentRule
    from lookalike.engine.rules.evaluate import RuleResult


def _catalog_path(db: Path | None) -> Path:
    from lookalike import config

    return Path(db) if db else config.default_catalog_path()


@contextlib.contextmanager
def _catalog(db: Path | None) -> Iterator[Catalog]:
    """The catalog; one that cannot be opened is one line and exit 2."""
    from lookalike.engine.catalog import Catalog, CatalogError

    try:
        with Catalog(_catalog_path(db)) as cat:
            yield cat
    except (CatalogError, sqlite3.Error) as exc:
        click.echo(f"lookalike rules: {exc}", err=True)
        sys.exit(2)


def apply_state_actions(
    hits: list[tuple[RuleResult, ContentRule]], db: Path | None, stderr: TextIO
) -> int:
    """Hide or mark the files whose rule says so; one summary line each. Returns how many."""
    hide = [(res.path, r.name, res.score) for res, r in hits if r.action.kind == "hide"]
    mark = [res.path for res, r in hits if r.action.kind == "mark"]
    if not hide and not mark:
        return 0
    from lookalike.engine import hidden, marks
    from lookalike.engine.catalog import Catalog

    with Catalog(_catalog_path(db)) as cat:
        n_hide = hidden.hide(cat.db, hide) if hide else 0
        n_mark = marks.mark(cat, mark) if mark else 0
    if hide:
        stderr.write(
            f"hid {n_hide} file(s) from scans and review; list them with lookalike rules hidden, "
            "bring them back with lookalike rules unhide --all\n"
        )
    if mark:
        stderr.write(
            f"marked {n_mark} file(s) (the app's marked set); lookalike rules unmark PATH… "
            "takes them out\n"
        )
    return n_hide + n_mark


def remember_hits(
    files: list[str],
    hits: list[tuple[RuleResult, ContentRule]],
    db: Path | None,
    every_rule: bool,
) -> None:
    """Keep the hits in the catalog (engine/rule_hits.py) for the app's badges; with every
    rule tried, the files no rule fires on lose an old hit. A catalog that cannot be written
    costs the badges only, never the run."""
    from lookalike.engine import rule_hits
    from lookalike.engine.catalog import Catalog, CatalogError

    rows = [(res.path, r.name, res.score, str(r.action)) for res, r in hits]
    try:
        with Catalog(_catalog_path(db)) as cat:
            rule_hits.record(cat.db, files, rows, replace_all=every_rule)
    except (CatalogError, sqlite3.Error, OSError):
        pass


_DB = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog that holds the hidden set (default: the usual catalog).",
)


@click.command("hidden")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_DB
def hidden_cmd(fmt: str, db: Path | None) -> None:
    """List the files content rules hid (RULE<TAB>SCORE<TAB>PATH)."""
    from lookalike.engine import hidden

    with _catalog(db) as cat:
        files = hidden.hidden_files(cat.db)
    for f in files:
        if fmt == "json":
            row = {"rule": f.rule, "score": round(f.score, 6), "path": display_path(f.path)}
            click.echo(json.dumps(row))
        else:
            click.echo(f"{f.rule}\t{f.score:.4f}\t{display_path(f.path)}")
    if not files and fmt == "text":
        click.echo("no hidden files", err=True)


@click.command("unhide")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--rule", "rule", metavar="NAME", help="Every file the rule NAME hid.")
@click.option("--all", "everything", is_flag=True, help="Every hidden file.")
@_DB
def unhide_cmd(paths: tuple[str, ...], rule: str | None, everything: bool, db: Path | None) -> None:
    """Bring hidden files back into scans and review: PATH…, --rule NAME or --all."""
    from lookalike.engine import hidden

    if not paths and rule is None and not everything:
        raise click.UsageError("say what to unhide: PATH…, --rule NAME or --all")
    with _catalog(db) as cat:
        n = hidden.unhide(cat.db, paths, rule, everything)
    click.echo(f"{n} file(s) back in scans and review")


@click.command("unmark")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--all", "everything", is_flag=True, help="Empty the whole marked set.")
@_DB
def unmark_cmd(paths: tuple[str, ...], everything: bool, db: Path | None) -> None:
    """Take files out of the marked set (shared with the app): PATH… or --all."""
    import os

    from lookalike.engine import marks

    if not paths and not everything:
        raise click.UsageError("say what to unmark: PATH… or --all")
    with _catalog(db) as cat:
        if everything:
            n = marks.clear(cat, "marked")
        else:
            n = marks.unmark(cat, [os.path.abspath(p) for p in paths])
    click.echo(f"{n} file(s) out of the marked set")


def register(group: click.Group) -> None:
    group.add_command(hidden_cmd)
    group.add_command(unhide_cmd)
    group.add_command(unmark_cmd)
