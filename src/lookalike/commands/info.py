"""``lookalike info FILE…``: raw metadata of photos and videos, as text or JSON.

stdout: one block (text) or one JSON object per line (``--format json``) per file; stderr: one
line per file that cannot be described. Exit 0 when every file was described, 3 when some
could not be (as ``scan``), 2 for a bad command line.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

import click

from lookalike.engine.actions.fsutil import display_path, safe_text

FILE_ERRORS = 3
SECTIONS = ("exif", "xmp", "iptc", "png_text", "comment", "icc", "generation", "metadata_error")


def _line(value: Any) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return safe_text(str(value)).replace("\n", "\\n")


def render_text(info: dict[str, Any], out: TextIO) -> None:
    out.write(f"== {display_path(info['path'])}\n")
    out.write(f"file: {info['kind']} {info['format']}, {info['size']} bytes\n")
    im = info.get("image")
    if im:
        out.write(f"image: {im['format']} {im['mode']} {im['width']}x{im['height']}")
        out.write(f", {im['frames']} frames\n" if im["frames"] > 1 else "\n")
    vid = info.get("video")
    if vid:
        out.write(f"video: {vid['container']}, {vid['duration']} s, {vid['bit_rate']} bit/s\n")
        for s in vid["streams"]:
            rest = {k: v for k, v in s.items() if k not in ("index", "type", "codec")}
            out.write(f"  stream {s['index']}: {s['type']} {s['codec']} {_line(rest)}\n")
        for k, v in vid["tags"].items():
            out.write(f"  {k} = {_line(v)}\n")
    for section in SECTIONS:
        got = info.get(section)
        if not got:
            continue
        out.write(f"[{section}]\n")
        if isinstance(got, dict):
            for k, v in got.items():
                out.write(f"  {k} = {_line(v)}\n")
        else:
            out.write(f"  {_line(got)}\n")


@click.command("info")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def info_cmd(paths: tuple[str, ...], fmt: str) -> None:
    """Everything a photo or video says about itself: EXIF, XMP, IPTC, ICC, PNG text chunks,
    generation prompts (AUTOMATIC1111, ComfyUI) and video streams."""
    from lookalike.engine.metadata.info import InfoError, file_info

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
            render_text(info, sys.stdout)
    sys.exit(FILE_ERRORS if bad else 0)


def register(main: click.Group) -> None:
    main.add_command(info_cmd)
