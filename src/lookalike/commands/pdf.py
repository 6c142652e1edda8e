"""``lookalike pdf OUT.pdf [--marked | --favourites | FILE…]``: a PDF of photos (engine/pdf.py).

stderr: progress on long jobs (a terminal, or every 100 files), one line per file left out, a
summary. Exit 0 when every file became a page, 3 when some were left out, 2 for a bad command
line or when no page could be made.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from lookalike import extras
from lookalike.engine.actions.fsutil import display_path, safe_text

FILE_ERRORS, USAGE = 3, 2


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    from lookalike.engine.actions.errors import UsageError
    from lookalike.engine.actions.plan import parse_size

    try:
        return parse_size(text)
    except UsageError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-size") from None


def _selection(files: tuple[str, ...], marked: bool, favs: bool, db: Path | None) -> list[str]:
    if not (marked or favs):
        return [os.path.abspath(f) for f in files]
    from lookalike import config
    from lookalike.engine import marks
    from lookalike.engine.catalog import Catalog

    with Catalog(db or config.default_catalog_path()) as cat:
        got = marks.favourites(cat) if favs else marks.marked(cat)
    return [*got, *(os.path.abspath(f) for f in files)]


@click.command("pdf")
@click.argument("out", type=click.Path(dir_okay=False))
@click.argument("files", nargs=-1)
@click.option("--marked", is_flag=True, help="the marked files (lookalike marks list)")
@click.option("--favourites", "favs", is_flag=True, help="the favourites")
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=85,
    show_default=True,
    help="JPEG quality of pages that are re-encoded (JPEGs that fit are embedded as they are)",
)
@click.option("--max-size", "max_size", metavar="WxH", help="fit every page's image within WxH")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None)
def pdf_cmd(
    out: str,
    files: tuple[str, ...],
    marked: bool,
    favs: bool,
    quality: int,
    max_size: str | None,
    db: Path | None,
) -> None:
    """One page per photo, the page the photo's size; JPEGs embedded byte for byte."""
    extras.require("pdf")
    from lookalike.engine.pdf import PdfError, make_pdf

    size = _size(max_size)
    paths = _selection(files, marked, favs, db)
    if not paths:
        what = "marked files" if marked else "favourites" if favs else "files"
        raise click.UsageError(f"no {what} to put in {out}; give FILE… or mark some first")
    live = sys.stderr.isatty()

    def progress(n: int, total: int) -> None:
        if (live and (n == total or n % 5 == 0)) or (not live and n % 100 == 0):
            sys.stderr.write(("\r\033[K" if live else "") + f"pdf: {n}/{total} file(s)")
            sys.stderr.write("" if live and n != total else "\n")
            sys.stderr.flush()

    try:
        res = make_pdf(paths, out, quality=quality, max_size=size, progress=progress)
    except PdfError as exc:
        sys.stderr.write(f"lookalike pdf: {exc}\n")
        sys.exit(USAGE)
    for p, why in res.skipped:
        sys.stderr.write(f"  left out: {display_path(p)}: {safe_text(why)}\n")
    sys.stderr.write(
        f"{out}: {res.pages} page(s), {res.embedded} JPEG(s) embedded as they are, "
        f"{res.encoded} re-encoded at quality {quality}; {len(res.skipped)} left out\n"
    )
    sys.exit(FILE_ERRORS if res.skipped else 0)


def register(main: click.Group) -> None:
    main.add_command(pdf_cmd)
