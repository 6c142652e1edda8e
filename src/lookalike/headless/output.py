"""Result writers: JSON, JSON lines (events as they happen), CSV, text, symlink folders."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any, TextIO

from lookalike.engine.events import Event, ScanFinished
from lookalike.engine.records import FileError, Group, Member, ScanStats

JSON_VERSION = 1


def result_json(groups: list[Group], errors: list[FileError], stats: ScanStats) -> dict:
    return {
        "version": JSON_VERSION,
        "groups": [g.to_json() for g in groups],
        "errors": [e.to_json() for e in errors],
        "stats": stats.to_json(),
    }


def dumps(obj: object) -> str:
    # ensure_ascii keeps the output valid UTF-8 even for file names that are not
    return json.dumps(obj, ensure_ascii=True)


def write_json(out: TextIO, groups: list[Group], errors: list[FileError], stats: ScanStats) -> None:
    json.dump(result_json(groups, errors, stats), out, ensure_ascii=True, indent=1)
    out.write("\n")


def write_event_line(out: TextIO, ev: Event) -> None:
    out.write(dumps(ev.to_json()) + "\n")
    if isinstance(ev, ScanFinished):
        out.flush()


CSV_FIELDS = [
    "group",
    "tier",
    "keep",
    "path",
    "size",
    "width",
    "height",
    "format",
    "score",
    "reason",
    "flags",
    "duration",  # videos: seconds, frames per second, codec, matched segments (JSON)
    "fps",
    "codec",
    "segments",
]


def write_csv(out: TextIO, groups: list[Group]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for g in groups:
        write_csv_group(w, g)


def write_csv_group(w: Any, g: Group) -> None:
    """One group's rows (``w``: a csv.writer)."""
    for m in g.members:
        w.writerow(
            [
                g.id,
                g.tier,
                int(m.path == g.keep),
                _safe(m.path),
                m.size,
                m.width,
                m.height,
                m.format,
                f"{m.score:.4f}",
                g.reason if m.path == g.keep else "",
                "; ".join(m.flags),
                "" if m.duration is None else m.duration,
                "" if m.fps is None else m.fps,
                m.codec or "",
                json.dumps(list(m.segments)) if m.segments else "",
            ]
        )


def _safe(path: str) -> str:
    """A printable path: undecodable bytes shown as \\xNN, newlines as \\n."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def write_text(out: TextIO, groups: list[Group], errors: list[FileError], stats: ScanStats) -> None:
    for g in groups:
        write_text_group(out, g)
    write_text_summary(out, stats)


def write_text_group(out: TextIO, g: Group) -> None:
    out.write(
        f"Group {g.id} · {g.tier} · {len(g.members)} files · {_human(g.bytes_to_free)} to free\n"
    )
    for m in g.members:
        mark = "keep" if m.path == g.keep else "    "
        out.write(
            f"  {mark} {m.score:5.3f} {m.width}×{m.height} {m.format:5s} "
            f"{_human(m.size):>9s}  {_safe(m.path)}\n"
        )
        if m.flags:
            out.write(f"{'':8s}{'; '.join(m.flags)}\n")
        if m.duration is not None:
            out.write(f"{'':8s}{_video_line(m)}\n")
    out.write(f"  reason: {g.reason}\n\n")


def write_text_summary(out: TextIO, stats: ScanStats) -> None:
    out.write(
        f"{stats.groups} group(s), {stats.duplicate_files} duplicate file(s), "
        f"{_human(stats.bytes_to_free)} to free; {stats.files_seen} files seen, "
        f"{stats.errors} error(s), {stats.seconds:.1f}s\n"
    )


def _video_line(m: Member) -> str:
    """Duration, rate and codec, then each matched segment as this file's and the keeper's times."""
    fps = f" {m.fps:g} fps" if m.fps else ""
    head = f"{m.duration:.1f} s{fps} {m.codec or '?'}"
    segs = ", ".join(
        f"{s['a_start']:.1f}–{s['a_end']:.1f} s = keeper {s['b_start']:.1f}–{s['b_end']:.1f} s"
        for s in m.segments
    )
    return f"{head}; {segs}" if segs else head


def _slug(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name)[:80] or "file"


def write_link_dir(root: Path, groups: list[Group]) -> int:
    """A folder per group holding symlinks to its files (keeper first); returns links made."""
    root.mkdir(parents=True, exist_ok=True)
    return sum(write_group_links(root, g) for g in groups)


def write_group_links(root: Path, g: Group) -> int:
    """One group's folder of symlinks under ``root`` (which exists); returns links made."""
    made = 0
    d = root / f"group-{g.id:05d}-{g.tier}"
    d.mkdir(exist_ok=True)
    for n, m in enumerate(sorted(g.members, key=lambda m: m.path != g.keep), start=1):
        tag = "keep" if m.path == g.keep else f"{n:02d}"
        link = d / f"{tag}--{_slug(os.path.basename(m.path))}"
        if link.is_symlink() or link.exists():
            if os.readlink(link) == m.path:
                continue
            link.unlink()
        os.symlink(m.path, link)
        made += 1
    return made
