"""The options ``scan`` and the terminal app launcher share: what to scan, how to match, which
file to keep, the executor and the ML stage (its own options live in commands/ml.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lookalike.commands.executor import executor_options
from lookalike.commands.ml import ml_scan_options
from lookalike.engine.options import DEFAULT_KEEP_RULES, KEEP_RULE_NAMES


def _size(value: str) -> int:
    """'10k', '2M', '1G' or bytes."""
    v = value.strip().lower()
    mult = {"k": 10**3, "m": 10**6, "g": 10**9, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    for suffix in sorted(mult, key=len, reverse=True):
        if v.endswith(suffix) or v.endswith(suffix + "b"):
            num = v[: -len(suffix)] if v.endswith(suffix) else v[: -len(suffix) - 1]
            return int(float(num) * mult[suffix])
    return int(v.rstrip("b"))


class SizeParam(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):  # type: ignore[override]
        if isinstance(value, int):
            return value
        try:
            return _size(value)
        except ValueError:
            self.fail(f"{value!r} is not a size (examples: 1000, 10k, 2M)", param, ctx)


def _keep_rules(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if not value:
        return None  # config [rules] keep, else the default order
    rules = tuple(r.strip() for r in value.split(",") if r.strip())
    bad = [r for r in rules if r not in KEEP_RULE_NAMES]
    if bad:
        raise click.BadParameter(
            f"unknown rule(s) {', '.join(bad)}; choose from {', '.join(sorted(KEEP_RULE_NAMES))}"
        )
    return rules


FORMATS = ("json", "jsonl", "csv", "text")

# Options shared by ``scan`` and the TUI launcher (bare ``lookalike PATH…``).
_DECORATORS = [
    click.option(
        "--files-from",
        "files_from",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Read paths to scan from FILE, one per line ('-' = stdin).",
    ),
    click.option(
        "-0",
        "--null",
        "null",
        is_flag=True,
        help="Paths in --files-from are NUL-separated (find -print0).",
    ),
    click.option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="Only files whose name or path matches GLOB (repeatable).",
    ),
    click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Skip files and folders whose name or path matches GLOB (repeatable).",
    ),
    click.option(
        "--min-size",
        type=SizeParam(),
        default="0",
        show_default=True,
        help="Skip files smaller than SIZE (e.g. 10k, 1M).",
    ),
    click.option("--hidden", is_flag=True, help="Also scan hidden files and folders."),
    click.option(
        "--show-hidden",
        "show_hidden",
        is_flag=True,
        help="Also group the files content rules hid (lookalike rules hidden lists them).",
    ),
    click.option(
        "--follow-symlinks",
        is_flag=True,
        help="Follow symbolic links (loops are detected and reported).",
    ),
    click.option(
        "--one-file-system",
        is_flag=True,
        help="Do not cross into other file systems below each PATH.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(1, 256),
        default=None,
        help="Decode processes (default: number of cores).",
    ),
    click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Catalog file (default: in the platform cache dir).",
    ),
    click.option(
        "--sensitivity",
        type=click.IntRange(0, 100),
        default=50,
        show_default=True,
        help="Same-photo strictness: 0 = loosest, 100 = only resized copies.",
    ),
    click.option(
        "--exact-only",
        is_flag=True,
        help="Only byte-identical copies (skip the same-photo tier).",
    ),
    click.option(
        "--keep-rule",
        "keep_rules",
        callback=_keep_rules,
        metavar="RULES",
        help="Comma-separated keeper rules in order (default: [rules] keep in config, else "
        + ",".join(DEFAULT_KEEP_RULES)
        + "; also: newest, smallest, "
        "quality, longest-path, lowest-resolution).",
    ),
    click.option(
        "--reference",
        multiple=True,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Files under DIR are always kept (repeatable).",
    ),
    click.option(
        "--max-pixels",
        type=click.IntRange(1),
        default=250_000_000,
        show_default=True,
        help="Refuse images larger than this (bomb guard).",
    ),
    click.option(
        "--max-decode-mb",
        type=click.IntRange(16),
        default=None,
        metavar="MB",
        help="Memory budget of one decode, per worker (default: scan.max_decode_mb in "
        "config, else 512); larger images are refused with a message.",
    ),
    click.option(
        "--no-thumbnails", is_flag=True, help="Do not write review thumbnails to the cache."
    ),
    click.option(
        "--video-step",
        type=click.FloatRange(0.05, 600, min_open=False),
        default=None,
        metavar="SECONDS",
        help="Seconds between sampled video frames (default 1, or 200 samples at least 0.1 s "
        "apart for a video under 200 s; longer videos use a longer step, at most 600 samples "
        "per file).",
    ),
    click.option(
        "--video-min-segment",
        type=click.FloatRange(0.1, 3600),
        default=2.0,
        show_default=True,
        metavar="SECONDS",
        help="Shortest matched footage between two videos that counts.",
    ),
    click.option(
        "--no-video",
        is_flag=True,
        help="Check videos for byte-identical copies only (no frame sampling).",
    ),
]


def scan_options(f: Any) -> Any:
    """Add the scan's file-selection, keeper, ML and executor options to a click command."""
    for d in reversed(_DECORATORS):
        f = d(f)
    f = executor_options(f)  # --executor, --remote-root (commands/executor.py)
    return ml_scan_options(f)  # ml: --model, --device, --weights, --similar … (commands/ml.py)


# What ``scan`` alone has: where and how results are written, waiting, content rules.
_OUTPUT_DECORATORS = [
    click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="json",
        show_default=True,
        help="Output: json (one document), jsonl (events as they happen), csv (a row per file), text.",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
        default="-",
        help="Write results to FILE (default: stdout).",
    ),
    click.option(
        "--link-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Also write a folder of symlinks per group under DIR.",
    ),
    click.option(
        "--progress",
        type=click.Choice(["auto", "bar", "plain", "none"]),
        default="auto",
        show_default=True,
        help="Progress on stderr: a bar on a terminal, lines otherwise.",
    ),
    click.option(
        "--wait",
        is_flag=True,
        help="If another scan is running on the same catalog, wait for it instead of stopping.",
    ),
    click.option(
        "--rules",
        "content_rules",
        is_flag=True,
        help="Also apply the content rules of config.toml to the scanned images (docs/rules.md); "
        "hits and batches are reported on stderr, --yes acts without asking, --dry-run only reports.",
    ),
]


def output_options(f: Any) -> Any:
    """Add ``--format -o --link-dir --progress --wait --rules`` (``scan`` only)."""
    for d in reversed(_OUTPUT_DECORATORS):
        f = d(f)
    return f
