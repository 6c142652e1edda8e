"""``lookalike cache prune``: remove the thumbnail cache's files and packs no catalog uses, and
trim the ``--server`` app's copies (remote-thumbs/) to their cap.

stdout: what was removed and kept, and why (text, or one JSON object with ``--format json``);
stderr: errors. Exit 0 done, 1 some files could not be removed, 2 a bad ``ui.remote_thumbs_mb``,
3 refused (no catalog is known to use the cache), 4 a catalog could not be read (nothing
removed), 5 a scan is running.
"""

from __future__ import annotations

import json
import os
import sys
import time
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
@click.option(
    "--remote",
    is_flag=True,
    help="only trim the --server app's copies of a server's thumbnails (remote-thumbs/), "
    "least recently used first, to ui.remote_thumbs_mb (a machine that only uses --server)",
)
@click.option(
    "--remote-mb",
    type=click.FloatRange(min=0),
    default=None,
    help="trim remote-thumbs/ to this many MB this time  [default: ui.remote_thumbs_mb, 1024]",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def prune_cmd(
    named: tuple[Path, ...],
    dry_run: bool,
    compact: bool,
    min_age: float,
    remote: bool,
    remote_mb: float | None,
    fmt: str,
) -> None:
    """Remove the thumbnails and packs that no catalog using the cache names any more:
    those of photos changed, moved or deleted since, of catalogs deleted, of older versions.
    Never while a scan runs (one that starts waits for the prune). Then trim remote-thumbs/,
    the --server app's copies, to its cap (least recently used first)."""
    cap = _remote_cap(remote_mb)
    if remote:
        trimmed = _trim_remote(cap, dry_run, min_age)
        sys.stdout.write(_remote_out(trimmed, fmt, {}))
        sys.exit(EXIT_PARTIAL if trimmed.failed else 0)
    out = _prune(named, dry_run, compact, min_age)
    trimmed = _trim_remote(cap, dry_run, min_age)
    if fmt == "json":
        sys.stdout.write(_remote_out(trimmed, fmt, out.to_json()))
    else:
        sys.stdout.writelines(line + "\n" for line in report_lines(out))
        sys.stdout.write(_remote_out(trimmed, fmt, {}))
    for problem in out.failed:
        sys.stderr.write(f"lookalike cache prune: could not remove {problem}\n")
    sys.exit(EXIT_PARTIAL if out.failed or trimmed.failed else 0)


def _prune(named: tuple[Path, ...], dry_run: bool, compact: bool, min_age: float):  # noqa: ANN202
    """The cache's prune (a thumb_prune.Outcome), or exit 5 (busy) or 3 (no catalog known);
    a real one is recorded in sweep.json: the automatic sweep counts its days from it."""
    from lookalike.engine import settings, thumb_prune, thumb_sweep

    s = settings.current()
    try:
        out = thumb_prune.prune(
            s.thumbnail_dir, named, s.catalog_path, dry_run, compact, grace=min_age
        )
    except thumb_prune.PruneBusy as exc:
        sys.stderr.write(f"lookalike cache prune: {exc}\n")
        sys.exit(EXIT_BUSY)
    except thumb_prune.NoCatalog as exc:
        sys.stderr.write(f"lookalike cache prune: {exc} (a machine that only uses --server: "
                         "lookalike cache prune --remote)\n")  # fmt: skip
        sys.exit(EXIT_REFUSED)
    if not dry_run:
        thumb_sweep.record(s.thumbnail_dir, out, "cache prune", time.time())
    return out


def _remote_cap(remote_mb: float | None) -> int:
    """The cap in bytes: ``--remote-mb``, else config.toml's (exit 2 when that is unusable)."""
    from lookalike import config, remote_thumbs

    if remote_mb is not None:
        return int(remote_mb * 1_000_000)
    try:
        return remote_thumbs.cap_bytes(config.load_config())
    except (config.ConfigError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None


def _trim_remote(cap: int, dry_run: bool, grace: float):  # noqa: ANN202 - a Trimmed
    from lookalike import config, remote_thumbs

    trimmed = remote_thumbs.trim(config.remote_thumbnail_dir(), cap, dry_run, grace)
    for problem in trimmed.failed:
        sys.stderr.write(f"lookalike cache prune: could not remove {problem}\n")
    return trimmed


def _remote_out(t, fmt: str, doc: dict) -> str:  # noqa: ANN001 - a remote_thumbs.Trimmed
    """The remote trim's report: ``doc`` with its ``remote`` key (JSON), or its text lines."""
    if fmt == "json":
        return json.dumps({**doc, "remote": t.to_json()}) + "\n"
    verb = "would remove" if t.dry_run else "removed"
    lines = [f"remote thumbnails {t.folder} (cap {decimal(t.cap)})"]
    lines.append(f"{verb} {t.removed[0]} × least recently used ({decimal(t.removed[1])})")
    if t.temps[0]:
        lines.append(f"{verb} {t.temps[0]} × temporary file of a fetch that died "
                     f"({decimal(t.temps[1])})")  # fmt: skip
    lines.append(f"kept {t.kept[0]} × under the cap ({decimal(t.kept[1])})")
    if t.recent[0]:
        lines.append(f"kept {t.recent[0]} × over the cap, used in the last --min-age seconds "
                     f"({decimal(t.recent[1])})")  # fmt: skip
    lines.append(f"{'would free' if t.dry_run else 'freed'} {decimal(t.freed)}")
    return "".join(line + "\n" for line in lines)


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


@cache_group.command("status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def status_cmd(fmt: str) -> None:
    """Where the cache is, its estimated size, and the automatic sweep: its cap and age
    (cache.thumbs_mb, cache.sweep_days in config.toml), the last sweep and what blocks it."""
    from lookalike.engine import settings, thumb_sweep

    thumbs = settings.current().thumbnail_dir
    try:
        policy = thumb_sweep.Policy.from_settings()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    stamp = thumb_sweep.read_stamp(thumbs)
    size = thumb_sweep.estimate(thumbs, stamp)
    due = None if policy.off else thumb_sweep.due(thumbs, policy, stamp, time.time())
    if fmt == "json":
        doc = {"cache": str(thumbs), "bytes": size, "cap": policy.cap, "days": policy.days}
        sys.stdout.write(json.dumps({**doc, "due": due, "last_sweep": stamp}) + "\n")
        return
    lines = _status_lines(thumbs, size, policy, stamp)
    lines += [f"due: {due} (the next scan sweeps)"] if due else []
    sys.stdout.writelines(line + "\n" for line in lines)


def _status_lines(thumbs: Path, size: int, policy, stamp: dict) -> list[str]:  # noqa: ANN001
    cap = f"cap {decimal(policy.cap)}" if policy.cap else "no cap"
    age = f"every {policy.days:g} days" if policy.days else "never by age"
    lines = [f"cache {thumbs} (≈ {decimal(size)})"]
    if policy.off:
        lines.append("automatic sweep: off (cache.thumbs_mb = 0 and cache.sweep_days = 0)")
    else:
        lines.append(f"automatic sweep after a scan: {cap}, {age}")
    when = stamp.get("time")
    if "removed" in stamp and isinstance(when, int | float):
        lines.append(
            f"last sweep {time.strftime('%Y-%m-%d %H:%M', time.localtime(when))}: removed "
            f"{stamp['removed']} files ({decimal(stamp.get('freed', 0))})"
        )
    else:
        lines.append("last sweep: none yet")
    if stamp.get("blocked"):
        lines.append(f"not swept since: {stamp['blocked']}")
    return lines


def sweep_after_scan(thumb_dir: Path, default: Path) -> None:
    """The automatic sweep after a scan has written its results (engine/thumb_sweep.py): its
    one line, if it has one, on stderr; a failure of its own never fails the scan."""
    from lookalike.engine import thumb_sweep

    _release_stdout()
    note = thumb_sweep.after_scan_note(thumb_dir, default)
    if note:
        sys.stderr.write(note + "\n")


def _release_stdout() -> None:
    """The results are written: a piped or redirected stdout is pointed at /dev/null, which
    closes this process's end of it, so that its reader (``lookalike scan --no-ui … | jq``)
    sees the end now, not after a sweep (``sys.stdout.close()`` would leave the descriptor)."""
    out = sys.stdout
    if out is None or out is not sys.__stdout__ or out.closed or out.isatty():
        return
    try:
        out.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, out.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass


def register(main: click.Group) -> None:
    main.add_command(cache_group)
