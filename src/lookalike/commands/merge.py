"""``--merge-metadata`` / ``--merge-into-file`` for the commands that remove copies (``scan
--action``, ``apply``): the options, and the step that runs the journalled merge before the file
operation and reports it on stderr (engine: engine/actions/metawrite.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from lookalike import extras
from lookalike.engine.actions.fsutil import display_path, safe_text

if TYPE_CHECKING:
    from lookalike.engine.actions import Plan


def merge_options() -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    """``--merge-metadata`` / ``--merge-into-file`` (apply and scan --action)."""
    return [
        click.option(
            "--merge-metadata",
            "merge_metadata",
            is_flag=True,
            help="before a copy goes, write what it knows and its keeper lacks (date, GPS, "
            "camera, keywords, title, description, rating) to the keeper's NAME.EXT.xmp sidecar",
        ),
        click.option(
            "--merge-into-file",
            "merge_into_file",
            is_flag=True,
            help="with --merge-metadata: into the keeper itself (JPEG, PNG, WebP, TIFF; metadata "
            "segments only, pixels untouched) instead of a sidecar",
        ),
    ]


def merge_mode(merge_metadata: bool | None, merge_into_file: bool | None) -> str | None:
    """The merge asked for (None, "sidecar" or "file"); without the [metadata] extra a merge
    is refused here, before the command touches any file."""
    if merge_metadata or merge_into_file:
        extras.require("metadata")
    if merge_into_file:
        return "file"
    return "sidecar" if merge_metadata else None


def merge_first(plan: Plan, merge: str, journal: Path | None, stderr: TextIO, origin: str) -> Plan:
    """``--merge-metadata``: the keepers learn what their copies knew, before the copies go;
    what was merged, the conflicts and the undo command go to stderr."""
    from lookalike.engine.actions.metawrite import merge_for_plan

    was = len(plan.refused)
    plan, planned, got = merge_for_plan(
        plan, into_file=merge == "file", journal_path=journal, origin=f"merge:{origin}"
    )
    for note in planned.notes:
        stderr.write(f"  metadata: {safe_text(note)}\n")
    for job in planned.jobs:
        what = ", ".join(f"{k} from {display_path(v)}" for k, v in sorted(job.sources.items()))
        stderr.write(f"  metadata → {display_path(job.target)}: {safe_text(what)}\n")
        for c in job.conflicts:
            stderr.write(f"    conflict: {safe_text(c)}\n")
    for target, msg in got.failed:
        stderr.write(f"  metadata not merged into {display_path(target)}: {safe_text(msg)}\n")
    for r in plan.refused[was:]:
        stderr.write(f"  left out: {display_path(r.path)}: {safe_text(r.reason)}\n")
    if got.batch_id and got.done:
        stderr.write(
            f"metadata merged into {len(got.done)} keeper(s); undo with: "
            f"lookalike undo {got.batch_id}\n"
        )
    return plan
