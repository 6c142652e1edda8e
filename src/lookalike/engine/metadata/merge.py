"""Plan the metadata merge for a file-operation plan: for each keeper whose copies are about to
go (trash, quarantine, move, delete), what those copies know and the keeper lacks, as the tags
to write — into the keeper's XMP sidecar ``NAME.EXT.xmp`` (default) or into the keeper itself.

Only reads here; the journalled write is :mod:`lookalike.engine.actions.metawrite`.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lookalike.engine.media.sniff import IMAGE, sniff
from lookalike.engine.metadata import fields
from lookalike.engine.metadata.exiv import MetadataError, Raw, read

MERGED_OPS = frozenset({"trash", "quarantine", "move", "delete"})  # links keep the same bytes
IN_FILE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})  # exiv2 rewrites these in place


@dataclass
class MergeJob:
    """One keeper: where to write (``target``), which tags, and what the merge found."""

    keeper: str
    target: str
    into_file: bool
    exif: dict[str, Any]
    xmp: dict[str, Any]
    sources: dict[str, str]
    conflicts: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "keeper": self.keeper,
            "target": self.target,
            "into_file": self.into_file,
            "fields": sorted(self.sources),
            "sources": self.sources,
            "conflicts": self.conflicts,
        }


@dataclass
class MergePlan:
    jobs: list[MergeJob] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # files whose metadata could not be read


def sidecar_path(path: str) -> str:
    """darktable / digiKam / Lightroom convention: the full name plus ``.xmp``."""
    return path + ".xmp"


def _format(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            kind, fmt = sniff(fh.read(32))
    except OSError:
        return None
    return fmt if kind == IMAGE else None


def _raws(path: str, notes: list[str]) -> list[Raw] | None:
    """The file's own metadata then its sidecar's; None when it has none we can read."""
    got: list[Raw] = []
    for p in (path, sidecar_path(path)):
        if p != path and not os.path.isfile(p):
            continue
        try:
            with open(p, "rb") as fh:
                got.append(read(fh.read()))
        except (OSError, MetadataError) as exc:
            notes.append(f"{p}: metadata not read ({exc})")
    return got or None


def plan_merges(items: list[tuple[str, str, str]], *, into_file: bool) -> MergePlan:
    """``items``: (op, source, keeper) of a plan. One job per keeper that gains something."""
    out = MergePlan()
    by_keeper: dict[str, list[str]] = defaultdict(list)
    for op, source, keeper in items:
        if op in MERGED_OPS and keeper and source not in by_keeper[keeper]:
            by_keeper[keeper].append(source)
    for keeper, copies in by_keeper.items():
        fmt = _format(keeper)
        if fmt is None:
            continue  # videos and unknown files: nothing exiv2 can write
        mine = _raws(keeper, out.notes)
        if mine is None:
            continue
        theirs = []
        for c in copies:
            if _format(c) is None:
                continue
            raws = _raws(c, out.notes)
            if raws:
                theirs.append((c, fields.known(*raws)))
        m = fields.merge(fields.known(*mine), theirs)
        if not m:
            if m.conflicts:
                out.notes.extend(f"{keeper}: {c}" for c in m.conflicts)
            continue
        if into_file and fmt not in IN_FILE_FORMATS:
            out.notes.append(
                f"{keeper}: exiv2 cannot write into {fmt} files; merged into its sidecar instead"
            )
        in_file = into_file and fmt in IN_FILE_FORMATS
        exif, xmp = tags(m.updates, in_file=in_file)
        target = keeper if in_file else sidecar_path(keeper)
        out.jobs.append(MergeJob(keeper, target, in_file, exif, xmp, m.sources, m.conflicts))
    return out


def _xmp_coord(value: float, pos: str, neg: str) -> str:
    deg = abs(value)
    d = int(deg)
    return f"{d},{(deg - d) * 60:.6f}{pos if value >= 0 else neg}"


def _exif_coord(value: float) -> str:
    deg = abs(value)
    d = int(deg)
    m = int((deg - d) * 60)
    s = round(((deg - d) * 60 - m) * 60 * 10000)
    return f"{d}/1 {m}/1 {s}/10000"


def tags(updates: dict[str, Any], *, in_file: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(EXIF, XMP) tags for the fields that change. A sidecar gets XMP only; an in-file merge
    also sets the EXIF tags cameras write (date, GPS as recorded by the copy, make/model)."""
    xmp: dict[str, Any] = {}
    exif: dict[str, Any] = {}
    if "date" in updates:
        xmp["Xmp.exif.DateTimeOriginal"] = updates["date"]
        xmp["Xmp.photoshop.DateCreated"] = updates["date"]
        exif["Exif.Photo.DateTimeOriginal"] = updates["date"].replace("-", ":").replace("T", " ")
    if "gps" in updates:
        g: fields.Gps = updates["gps"]
        xmp["Xmp.exif.GPSLatitude"] = _xmp_coord(g.lat, "N", "S")
        xmp["Xmp.exif.GPSLongitude"] = _xmp_coord(g.lon, "E", "W")
        raw = dict(g.exif)
        if not raw:
            raw = {
                "Exif.GPSInfo.GPSLatitudeRef": "N" if g.lat >= 0 else "S",
                "Exif.GPSInfo.GPSLatitude": _exif_coord(g.lat),
                "Exif.GPSInfo.GPSLongitudeRef": "E" if g.lon >= 0 else "W",
                "Exif.GPSInfo.GPSLongitude": _exif_coord(g.lon),
            }
        exif.update(raw)
    if "camera" in updates:
        make, model = updates["camera"]
        xmp.update({"Xmp.tiff.Make": make, "Xmp.tiff.Model": model})
        exif.update({"Exif.Image.Make": make, "Exif.Image.Model": model})
    if "keywords" in updates:
        xmp["Xmp.dc.subject"] = list(updates["keywords"])
    for name in ("title", "description"):
        if name in updates:
            xmp[f"Xmp.dc.{name}"] = {'lang="x-default"': updates[name]}
    if "rating" in updates:
        xmp["Xmp.xmp.Rating"] = str(updates["rating"])
    return (exif if in_file else {}), xmp
