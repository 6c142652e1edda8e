"""Content rules' catalog-state actions: ``hide`` (and the ``rules hidden|unhide`` commands).

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
    from lookalike.engine.rules.content import ContentRule
    from lookalike.engine.rules.evaluate import RuleResult


def _catalog_path(db: Path | None) -> Path:
    from lookalike import config

    return Path(db) if db else config.default_catalog_path()


@contextlib.contextmanager
def _catalog(db: Path | None) -> Iterator[sqlite3.Connection]:
    """The catalog's connection; a catalog that cannot be opened is one line and exit 2."""
    from lookalike.engine.catalog import Catalog, CatalogError

    try:
        with Catalog(_catalog_path(db)) as cat:
            yield cat.db
    except (CatalogError, sqlite3.Error) as exc:
        click.echo(f"lookalike rules: {exc}", err=True)
        sys.exit(2)


def apply_state_actions(
    hits: list[tuple[RuleResult, ContentRule]], db: Path | None, stderr: TextIO
) -> int:
    """Hide the files whose rule says ``hide``; one summary line. Returns how many."""
    todo = [(res.path, r.name, res.score) for res, r in hits if r.action.kind == "hide"]
    if not todo:
        return 0
    from lookalike.engine import hidden
    from lookalike.engine.catalog import Catalog

    with Catalog(_catalog_path(db)) as cat:
        n = hidden.hide(cat.db, todo)
    stderr.write(
        f"hid {n} file(s) from scans and review; show them with lookalike rules hidden, "
        "bring them back with lookalike rules unhide --all\n"
    )
    return n


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

    with _catalog(db) as con:
        files = hidden.hidden_files(con)
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
    with _catalog(db) as con:
        n = hidden.unhide(con, paths, rule, everything)
    click.echo(f"{n} file(s) back in scans and review")


def register(group: click.Group) -> None:
    group.add_command(hidden_cmd)
    group.add_command(unhide_cmd)
