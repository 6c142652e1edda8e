"""``lookalike marks …`` and ``lookalike notes …``: the marked set, favourites and notes kept in
the catalog (engine/marks.py), and the marked or favourite files as a selection for a journalled
file operation (``marks act trash``) — the same plan builder, journal and undo as every action.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from lookalike.engine.actions.fsutil import display_path

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


def _db_opt(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="catalog database (default: the usual catalog)",
    )(f)


def _set_opt(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--favourites", "favs", is_flag=True, help="the favourites instead of the marked set"
    )(f)


def _fmt_opt(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
    )(f)


def _catalog(db: Path | None) -> Any:
    from lookalike import config
    from lookalike.engine.catalog import Catalog

    return Catalog(db or config.default_catalog_path())


def _guard(body: Callable[[TextIO, TextIO], int]) -> None:
    """One line on stderr for a bad input (exit 2) or an action error (as ``apply`` maps it)."""
    from lookalike.engine.actions.errors import ActionError
    from lookalike.engine.marks import MarkError

    try:
        code = body(sys.stdout, sys.stderr)
    except MarkError as exc:
        sys.stderr.write(f"lookalike: {exc}\n")
        code = EXIT_USAGE
    except ActionError as exc:
        from lookalike.commands.common import fail

        code = fail(sys.stderr, exc)
    sys.exit(code)


def _files(paths: tuple[str, ...], stderr: TextIO) -> tuple[list[str], int]:
    """Existing regular files among ``paths``; each other one is one line on stderr."""
    good, bad = [], 0
    for p in paths:
        if os.path.isdir(p):
            stderr.write(
                f"  left out: {display_path(p)}: a folder; mark the files in it, or give the "
                "folder a note with lookalike notes set\n"
            )
            bad += 1
        elif not os.path.isfile(p):
            stderr.write(f"  left out: {display_path(p)}: no such file\n")
            bad += 1
        else:
            good.append(os.path.abspath(p))
    return good, bad


@click.group("marks")
def marks_group() -> None:
    """The marked set and favourites, kept in the catalog (they follow a moved file).

    \b
    lookalike marks add PHOTO…               mark files (--favourites: make them favourites)
    lookalike marks list [--favourites]      the marked files (missing ones flagged)
    lookalike marks act trash [--favourites] a journalled operation on the marked files
    """


@marks_group.command("add")
@click.argument("paths", nargs=-1, required=True)
@_set_opt
@_db_opt
def marks_add(paths: tuple[str, ...], favs: bool, db: Path | None) -> None:
    """Add files to the marked set (or the favourites)."""
    _change(paths, favs, db, True)


@marks_group.command("remove")
@click.argument("paths", nargs=-1, required=True)
@_set_opt
@_db_opt
def marks_remove(paths: tuple[str, ...], favs: bool, db: Path | None) -> None:
    """Take files out of the marked set (or the favourites)."""
    _change(paths, favs, db, False)


def _change(paths: tuple[str, ...], favs: bool, db: Path | None, on: bool) -> None:
    from lookalike.engine import marks

    def body(stdout: TextIO, stderr: TextIO) -> int:
        with _catalog(db) as cat:
            if on:
                good, bad = _files(paths, stderr)
            else:
                good, bad = [os.path.abspath(p) for p in paths], 0
            if favs:
                marks.set_favourite(cat, good, on)
            else:
                (marks.mark if on else marks.unmark)(cat, good)
            total = len(marks.favourites(cat) if favs else marks.marked(cat))
        what = "favourite" if favs else "marked"
        stdout.write(f"{len(good)} file(s) {'' if on else 'no longer '}{what}; {total} in all\n")
        return EXIT_PARTIAL if bad else EXIT_OK

    _guard(body)


@marks_group.command("list")
@_set_opt
@_fmt_opt
@_db_opt
def marks_list(favs: bool, fmt: str, db: Path | None) -> None:
    """The marked files (or favourites), one per line; a file not found is flagged missing."""
    from lookalike.engine import marks

    def body(stdout: TextIO, stderr: TextIO) -> int:
        with _catalog(db) as cat:
            got = [m for m in marks.entries(cat) if (m.favourite if favs else m.marked)]
        if fmt == "json":
            stdout.write(json.dumps([m.to_json() for m in got]) + "\n")
            return EXIT_OK
        for m in got:
            stdout.write(display_path(m.path) + ("\t(missing)" if m.missing else "") + "\n")
        return EXIT_OK

    _guard(body)


@marks_group.command("clear")
@_set_opt
@_db_opt
def marks_clear(favs: bool, db: Path | None) -> None:
    """Empty the marked set (or the favourites)."""
    from lookalike.engine import marks

    def body(stdout: TextIO, stderr: TextIO) -> int:
        with _catalog(db) as cat:
            n = marks.clear(cat, "favourite" if favs else "marked")
        stdout.write(f"{n} file(s) cleared\n")
        return EXIT_OK

    _guard(body)


@marks_group.command("act")
@click.argument("action")
@_set_opt
@click.option("--yes", "-y", is_flag=True, help="act without asking")
@click.option("--dry-run", is_flag=True, help="print the plan; touch nothing")
@_fmt_opt
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), default=None)
@_db_opt
def marks_act(
    action: str,
    favs: bool,
    yes: bool,
    dry_run: bool,
    fmt: str,
    journal: Path | None,
    db: Path | None,
) -> None:
    """Trash, quarantine[:DIR], move:DIR or copy:DIR the marked files (journalled, undoable).

    Favourites are never trashed or moved; with --favourites only copy:DIR acts on them.
    """
    from lookalike.commands.act import config_references, execute_plan, print_plan
    from lookalike.engine import marks
    from lookalike.engine.actions.plan import parse_action
    from lookalike.engine.actions.plan_files import build_file_plan

    def body(stdout: TextIO, stderr: TextIO) -> int:
        spec = parse_action(action)
        with _catalog(db) as cat:
            files = marks.favourites(cat) if favs else marks.marked(cat)
            keep = [] if spec.kind == "copy" else marks.favourites(cat, include_missing=True)
        if not files:
            stderr.write(
                f"no {'favourites' if favs else 'marked files'}; add some with lookalike marks "
                f"add{' --favourites' if favs else ''} PHOTO…\n"
            )
            return EXIT_OK
        plan = build_file_plan(
            files,
            spec,
            roots=sorted({os.path.dirname(f) for f in files}),
            references=config_references(),
            favourites=keep,
            meta={"selection": "favourites" if favs else "marked"},
        )
        if dry_run:
            print_plan(plan, fmt, stdout, sign=True)
            return EXIT_OK
        return execute_plan(
            plan, yes=yes, permanently=False, fmt=fmt, stdout=stdout, stderr=stderr,
            journal=journal, origin="marks",
        )  # fmt: skip

    _guard(body)


@click.group("notes")
def notes_group() -> None:
    """Notes on files and folders, kept in the catalog; export and import as text or JSON."""


@notes_group.command("set")
@click.argument("path")
@click.argument("text")
@_db_opt
def notes_set(path: str, text: str, db: Path | None) -> None:
    """Give a file or folder a note ("" removes it)."""
    from lookalike.engine import marks

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if not os.path.exists(path):
            stderr.write(f"lookalike: {display_path(path)}: no such file or folder\n")
            return EXIT_USAGE
        with _catalog(db) as cat:
            marks.set_note(cat, path, text)
        return EXIT_OK

    _guard(body)


@notes_group.command("list")
@_fmt_opt
@_db_opt
def notes_list(fmt: str, db: Path | None) -> None:
    """Folder notes, then file notes."""
    from lookalike.engine import marks

    def body(stdout: TextIO, stderr: TextIO) -> int:
        with _catalog(db) as cat:
            folders, files = marks.folder_notes(cat), marks.notes(cat)
        if fmt == "json":
            stdout.write(json.dumps({"folders": folders, "files": files}) + "\n")
            return EXIT_OK
        for p, n in [*folders.items(), *files.items()]:
            stdout.write(f"{display_path(p)}: {n}\n")
        return EXIT_OK

    _guard(body)


@notes_group.command("export")
@click.argument("dest", default="-")
@_fmt_opt
@_db_opt
def notes_export(dest: str, fmt: str, db: Path | None) -> None:
    """Marks, favourites and notes to DEST (default: stdout), as text or JSON."""
    from lookalike.atomicio import write_atomic
    from lookalike.engine import marks_io

    def body(stdout: TextIO, stderr: TextIO) -> int:
        with _catalog(db) as cat:
            text = marks_io.to_json(cat) if fmt == "json" else marks_io.to_text(cat)
        if dest == "-":
            stdout.write(text)
        else:
            write_atomic(dest, text)
        return EXIT_OK

    _guard(body)


@notes_group.command("import")
@click.argument("source", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--replace", is_flag=True, help="clear every mark, favourite and note first")
@_db_opt
def notes_import(source: str, replace: bool, db: Path | None) -> None:
    """Merge an export (text or JSON, told apart by its first character) into the catalog."""
    from lookalike.engine import marks_io

    def body(stdout: TextIO, stderr: TextIO) -> int:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        name = "stdin" if source == "-" else source
        if text.lstrip().startswith("{"):
            doc = marks_io.parse_json(text, name)
        else:
            doc = marks_io.parse_text(text, name)
        with _catalog(db) as cat:
            files, folders = marks_io.load(cat, doc, replace=replace)
        stdout.write(f"imported {files} file entr(ies) and {folders} folder note(s)\n")
        return EXIT_OK

    _guard(body)


def register(main: click.Group) -> None:
    main.add_command(marks_group)
    main.add_command(notes_group)
