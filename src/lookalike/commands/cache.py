"""``lookalike cache prune``: remove the thumbnail cache's files and packs no catalog uses.

stdout: what was removed and kept, and why (text, or one JSON object with ``--format json``);
stderr: errors. Exit 0 done, 1 some files could not be removed, 3 refused (no catalog is known
to use the cache), 4 a catalog could not be read (nothing removed), 5 a scan is running.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.filesize import decimal

EXIT_PARTIAL, EXIT_REFUSED, EXIT_BUSY = 1, 3, 5


@click.group("cache")
def cache_group() -> None:
    """The thumbnail cache (``lookalike locate cache`` → thumbs/), shared by every catalog."""


@cache_group.command("prune")
@click.option(
    "--db",
    "--catalog",
    "named",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="a catalog that uses the cache (repeatable); every catalog a scan recorded in the "
    "cache, and the default one, are read anyway. Name a catalog last scanned by a "
    "lookalike older than this command once, so it is recorded.",
)
@click.option("--dry-run", is_flag=True, help="say what would go; remove nothing")
@click.option(
    "--compact",
    is_flag=True,
    help="also remove packs less than half of whose bytes are used (the groups' members' "
    "files are made from them first; any other photo of theirs is decoded again if it "
    "joins a group later), and the files of photos in no group whose entry stays",
)
@click.option(
    "--min-age",
    type=click.FloatRange(min=0),
    default=600,
    show_default=True,
    help="seconds: keep any file or pack changed more recently than this",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def prune_cmd(
    named: tuple[Path, ...], dry_run: bool, compact: bool, min_age: float, fmt: str
) -> None:
    """Remove the thumbnails and packs that no catalog using the cache names any more:
    those of photos changed, moved or deleted since, of catalogs deleted, of older versions.
    Never while a scan runs (one that starts waits for the prune)."""
    from lookalike.engine import settings, thumb_prune

    s = settings.current()
    try:
        out = thumb_prune.prune(
            s.thumbnail_dir, named, s.catalog_path, dry_run, compact, grace=min_age
        )
    except thumb_prune.PruneBusy as exc:
        sys.stderr.write(f"lookalike cache prune: {exc}\n")
        sys.exit(EXIT_BUSY)
    except thumb_prune.NoCatalog as exc:
        sys.stderr.write(f"lookalike cache prune: {exc}\n")
        sys.exit(EXIT_REFUSED)
    if fmt == "json":
        sys.stdout.write(json.dumps(out.to_json()) + "\n")
    else:
        sys.stdout.writelines(line + "\n" for line in report_lines(out))
    for problem in out.failed:
        sys.stderr.write(f"lookalike cache prune: could not remove {problem}\n")
    sys.exit(EXIT_PARTIAL if out.failed else 0)


def report_lines(out) -> list[str]:  # noqa: ANN001 - a thumb_prune.Outcome
    """The text report: the catalogs read, then what went and what stayed, by reason."""
    verb = "would remove" if out.dry_run else "removed"
    lines = [f"cache {out.cache}"]
    lines += [f"catalog {c}" for c in out.catalogs]
    lines += [f"forgotten {c} (gone: protects nothing now)" for c in out.forgotten]
    for why, (n, size) in sorted(out.removed.items()):
        lines.append(f"{verb} {n} × {why} ({decimal(size)})")
    for why, (n, size) in sorted(out.kept.items()):
        lines.append(f"kept {n} × {why} ({decimal(size)})")
    if out.made:
        made = "would make" if out.dry_run else "made"
        lines.append(f"{made} {out.made} group members' files from sparse packs first")
    if out.orphaned:
        lines.append(
            f"{out.orphaned} photos' thumbnails left only in their photos (a decode each, "
            "only if one joins a group)"
        )
    lines.append(f"{'would free' if out.dry_run else 'freed'} {decimal(out.freed)}")
    return lines


def register(main: click.Group) -> None:
    main.add_command(cache_group)
