"""Export the kept set to a folder or a ZIP without touching the originals (Unipic's
"save progress"): reviewed groups give the user's picks, unreviewed groups all their files,
and files in no group are all kept."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lookalike.engine.actions import fsutil
from lookalike.engine.actions.errors import OperationFailed, UsageError
from lookalike.engine.records import Group


@dataclass(frozen=True)
class ExportResult:
    dest: str
    files: int
    bytes: int
    as_zip: bool
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "dest": self.dest,
            "files": self.files,
            "bytes": self.bytes,
            "zip": self.as_zip,
            "errors": list(self.errors),
        }


def kept_set(
    groups: Iterable[Group],
    picks: dict[int, list[str]] | None = None,
    all_files: Iterable[str] = (),
) -> list[str]:
    """The files to export, in a stable order. ``picks`` maps a reviewed group's id to the
    files the user kept; a group without picks is unreviewed and keeps every file."""
    picks = picks or {}
    out: list[str] = []
    grouped: set[str] = set()
    for g in groups:
        members = [os.path.abspath(m.path) for m in g.members]
        grouped.update(members)
        out.extend(os.path.abspath(p) for p in picks[g.id]) if g.id in picks else out.extend(
            members
        )
    out.extend(os.path.abspath(p) for p in all_files if os.path.abspath(p) not in grouped)
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def export_kept(
    paths: list[str],
    dest: Path,
    *,
    as_zip: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> ExportResult:
    """Copy ``paths`` under ``dest`` (a new or empty-enough folder, or a new ``.zip``), keeping
    paths relative to their common folder; names never overwrite (``~N`` suffix)."""
    if not paths:
        raise UsageError("nothing to export")
    base = os.path.commonpath([os.path.dirname(p) for p in paths])
    dest = Path(dest).expanduser().absolute()
    errors: list[str] = []
    n = total_bytes = 0
    if as_zip:
        if dest.exists():
            raise UsageError(f"{dest} exists; export never overwrites", "pick a new file name")
        dest.parent.mkdir(parents=True, exist_ok=True)
        names: set[str] = set()
        with zipfile.ZipFile(dest, "x", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for i, p in enumerate(paths, 1):
                # ZIP names are text: bytes that are not UTF-8 are written as \xNN (a folder
                # export keeps the exact bytes)
                arc = fsutil.safe_text(os.path.relpath(p, base))
                stem, ext = os.path.splitext(arc)
                k = 1
                while arc in names:
                    arc = f"{stem}~{k}{ext}"
                    k += 1
                names.add(arc)
                try:
                    zf.write(p, arc)
                    n += 1
                    total_bytes += os.path.getsize(p)
                except OSError as exc:
                    errors.append(fsutil.describe_oserror(exc, "export", p))
                if progress:
                    progress(i, len(paths), p)
        return ExportResult(str(dest), n, total_bytes, True, tuple(errors))
    for i, p in enumerate(paths, 1):
        target = fsutil.unique_path(os.path.join(dest, os.path.relpath(p, base)))
        try:
            fsutil.copy_verified(p, target, None, "export")
            n += 1
            total_bytes += os.path.getsize(target)
        except OSError as exc:
            errors.append(fsutil.describe_oserror(exc, "export", p))
        if progress:
            progress(i, len(paths), p)
    if n == 0 and errors:
        raise OperationFailed(f"nothing could be exported: {errors[0]}")
    return ExportResult(str(dest), n, total_bytes, False, tuple(errors))
