"""``lookalike export``: copy the kept set (a folder or a ZIP); originals are not touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click

from lookalike.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    format_option,
    human_bytes,
    run_body,
)
from lookalike.engine.actions import UsageError, export_kept, kept_set
from lookalike.engine.actions.fsutil import display_path, safe_text
from lookalike.engine.records import Group, Member

PAGE = 500  # stored groups read at a time when the last scan's review is exported


def _groups_from_json(path: Path) -> tuple[list[Group], dict[int, list[str]]]:
    """Groups (and the user's picks) from ``scan --format json`` output or a list of groups."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read groups from {path}: {exc}") from None
    raw = data.get("groups", []) if isinstance(data, dict) else data
    groups, picks = [], {}
    try:
        for g in raw:
            files = g.get("files") or g.get("members") or []
            members = tuple(
                Member(
                    path=f["path"] if isinstance(f, dict) else f,
                    size=int(f.get("size", 0)) if isinstance(f, dict) else 0,
                    width=0,
                    height=0,
                    format="",
                    score=1.0,
                )
                for f in files
            )
            groups.append(
                Group(
                    int(g["id"]),
                    g.get("tier", "exact"),
                    g.get("keep", ""),
                    g.get("reason", ""),
                    members,
                )
            )
            if g.get("picks") is not None:
                picks[int(g["id"])] = list(g["picks"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsageError(f"{path} does not hold lookalike groups ({exc})") from None
    return groups, picks


def _stored_groups() -> Iterator[Group]:
    """The stored review's groups, read a page at a time from the member columns (path and
    size, no JSON decoded), hidden files left out as in ``Engine.last_groups``: the export
    holds the paths it copies, not every group (issue 13). The catalog is read here, so a
    missing one fails before anything is exported."""
    from lookalike.engine.api import Engine

    engine = Engine()
    ords = engine.group_columns().tolist()

    def pages() -> Iterator[Group]:
        for i in range(0, len(ords), PAGE):
            yield from engine.group_facts(ords[i : i + PAGE])

    return pages()


@click.command("export")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="groups JSON (from scan --format json); default: last scan",
)
@click.option("--zip", "as_zip", is_flag=True, help="write a ZIP file instead of a folder")
@click.option(
    "--all",
    "all_roots",
    multiple=True,
    type=click.Path(path_type=Path),
    help="also export every file under this folder that is in no group",
)
@format_option
def export_cmd(
    dest: Path, groups_file: Path | None, as_zip: bool, all_roots: tuple[Path, ...], fmt: str
) -> None:
    """Copy the kept set to DEST (a folder, or a ZIP with --zip); originals are not touched.

    Reviewed groups give the files the user picked (a group's "picks"), unreviewed groups give
    all their files, and files in no group are all kept.
    """

    def body(stdout: TextIO, stderr: TextIO) -> int:
        if groups_file:
            groups, picks = _groups_from_json(groups_file)
        else:
            try:
                groups, picks = _stored_groups(), {}
            except Exception:  # the catalog may not exist yet
                raise UsageError(
                    "no groups to export",
                    "pass --groups FILE (the JSON of lookalike scan --no-ui --format json)",
                ) from None
        extra = [str(p) for root in all_roots for p in Path(root).rglob("*") if p.is_file()]
        paths = kept_set(groups, picks, extra)
        res = export_kept(paths, dest, as_zip=as_zip)
        for e in res.errors:
            stderr.write(f"  failed: {safe_text(e)}\n")
        if fmt == "json":
            stdout.write(json.dumps(res.to_json()) + "\n")
        else:
            stdout.write(
                f"exported {res.files} file(s), {human_bytes(res.bytes)} "
                f"to {display_path(res.dest)}\n"
            )
        return EXIT_PARTIAL if res.errors else EXIT_OK

    run_body(body)


COMMANDS = (export_cmd,)


def register(main: click.Group) -> None:
    """Add this module's commands to ``main``."""
    for cmd in COMMANDS:
        if cmd.name not in main.commands:
            main.add_command(cmd)
