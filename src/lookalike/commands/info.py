"""``lookalike info FILE…``: raw metadata of photos and videos, as text or JSON.

stdout: one block (text) or one JSON object per line (``--format json``) per file; stderr: one
line per file that cannot be described. Exit 0 when every file was described, 3 when some
could not be (as ``scan``), 2 for a bad command line.
"""

from __future__ import annotations

import json
import os
import sys

import click

from lookalike import extras
from lookalike.engine.actions.fsutil import display_path

FILE_ERRORS = 3


@click.command("info")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def info_cmd(paths: tuple[str, ...], fmt: str) -> None:
    """Everything a photo or video says about itself: EXIF, XMP, IPTC, ICC, PNG text chunks,
    generation prompts (AUTOMATIC1111, ComfyUI) and video streams."""
    from lookalike.engine.metadata.exiv import available
    from lookalike.engine.metadata.info import InfoError, file_info, info_lines

    if not available():  # Pillow and PyAV still give format, size, PNG text and streams
        sys.stderr.write(
            f"lookalike info: warning: EXIF, XMP, IPTC and ICC are not shown: "
            f"{extras.message('metadata', 'pyexiv2')}\n"
        )
    bad = 0
    for p in paths:
        try:
            info = file_info(os.path.abspath(p))
        except InfoError as exc:
            sys.stderr.write(f"lookalike info: {display_path(p)} {exc}\n")
            bad += 1
            continue
        if fmt == "json":
            sys.stdout.write(json.dumps(info, default=str) + "\n")
        else:
            sys.stdout.writelines(line + "\n" for line in info_lines(info))
    sys.exit(FILE_ERRORS if bad else 0)


def register(main: click.Group) -> None:
    main.add_command(info_cmd)
