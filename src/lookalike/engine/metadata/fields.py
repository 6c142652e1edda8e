"""The metadata worth keeping when a copy goes — capture date, GPS, camera, keywords, title,
description, rating — read from EXIF, XMP and IPTC into one record, and the merge rule.

The rule (docs/metadata.md): the earliest capture date; the most precise GPS fix (finest step
the stored numbers can express); the union of keywords (the keeper's first, in order); camera,
title and description: the keeper's, else the first copy's that has one; rating: the keeper's,
else the highest. Every disagreement is listed as a conflict, whichever value won.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from lookalike.engine.metadata.exiv import Raw

FIELDS = ("date", "gps", "camera", "keywords", "title", "description", "rating")


@dataclass(frozen=True)
class Gps:
    lat: float
    lon: float
    step: float  # finest step in degrees the stored value can express (smaller = more precise)
    exif: tuple[tuple[str, str], ...] = ()  # the raw Exif.GPSInfo tags it came from

    def differs(self, other: Gps) -> bool:
        tol = max(self.step, other.step)
        return abs(self.lat - other.lat) > tol or abs(self.lon - other.lon) > tol

    def __str__(self) -> str:
        return f"{self.lat:.6f},{self.lon:.6f} (±{self.step * 111_000:.1f} m)"


@dataclass
class Known:
    """What one file (with its sidecar) says about the photo."""

    date: str | None = None  # ISO 8601 without zone, "2019-06-01T10:00:00"
    gps: Gps | None = None
    camera: tuple[str, str] | None = None  # (make, model)
    keywords: list[str] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    rating: int | None = None


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        v = d.get(k)
        if v not in (None, "", [], {}):
            return v
    return None


def _lang(value: Any) -> str | None:
    """A lang-alt XMP value ({'lang="x-default"': text}) or a plain string → text."""
    if isinstance(value, dict):
        value = value.get('lang="x-default"') or next(iter(value.values()), None)
    if isinstance(value, list):
        value = value[0] if value else None
    text = str(value).strip() if value is not None else ""
    return text or None


def _date(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    m = re.match(r"(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?", value)
    if not m or m.group(1) == "0000":
        return None
    y, mo, d, hh, mm, ss = m.groups()
    return f"{y}-{mo}-{d}T{hh or '00'}:{mm or '00'}:{ss or '00'}"


def _exif_coord(value: Any, ref: Any) -> tuple[float, float] | None:
    """'48/1 51/1 2400/100' → (degrees, step)."""
    try:
        parts = [Fraction(p) for p in str(value).split()]
    except (ValueError, ZeroDivisionError):
        return None
    if len(parts) != 3:
        return None
    units = (Fraction(1), Fraction(1, 60), Fraction(1, 3600))
    deg = sum(p * u for p, u in zip(parts, units, strict=True))
    dens = [int(p.split("/")[1]) if "/" in p else 1 for p in str(value).split()]
    if 0 in dens:
        return None
    last = max((i for i, p in enumerate(parts) if p), default=0)
    step = float(units[last] / dens[last])
    sign = -1 if str(ref).strip().upper() in ("S", "W") else 1
    return sign * float(deg), step


def _xmp_coord(value: Any) -> tuple[float, float] | None:
    """'48,51.4N' or '48,51,24N' → (degrees, step)."""
    m = re.fullmatch(r"\s*(\d+),(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?([NSEW])\s*", str(value))
    if not m:
        return None
    d, mi, s, ref = m.groups()
    deg = int(d) + float(mi) / 60 + (float(s) / 3600 if s else 0.0)
    last, unit = (s, 1 / 3600) if s else (mi, 1 / 60)
    decimals = len(last.split(".")[1]) if "." in last else 0
    return (-deg if ref in "SW" else deg), unit * 10.0**-decimals


def _gps(exif: dict[str, Any], xmp: dict[str, Any]) -> Gps | None:
    lat = _exif_coord(exif.get("Exif.GPSInfo.GPSLatitude"), exif.get("Exif.GPSInfo.GPSLatitudeRef"))
    lon = _exif_coord(
        exif.get("Exif.GPSInfo.GPSLongitude"), exif.get("Exif.GPSInfo.GPSLongitudeRef")
    )
    if lat and lon:
        raw = tuple(sorted((k, str(v)) for k, v in exif.items() if k.startswith("Exif.GPSInfo.")))
        return Gps(lat[0], lon[0], max(lat[1], lon[1]), raw)
    lat, lon = (
        _xmp_coord(xmp.get("Xmp.exif.GPSLatitude")),
        _xmp_coord(xmp.get("Xmp.exif.GPSLongitude")),
    )
    if lat and lon:
        return Gps(lat[0], lon[0], max(lat[1], lon[1]))
    return None


def _keywords(xmp: dict[str, Any], iptc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for v in (xmp.get("Xmp.dc.subject"), iptc.get("Iptc.Application2.Keywords")):
        items = v if isinstance(v, list) else ([v] if isinstance(v, str) else [])
        for k in items:
            for word in str(k).split(",") if isinstance(v, str) else [str(k)]:
                if word.strip() and word.strip() not in out:
                    out.append(word.strip())
    return out


def known(*raws: Raw) -> Known:
    """One record from a file's metadata and its sidecar's (earlier raws win on a tie)."""
    exif: dict[str, Any] = {}
    xmp: dict[str, Any] = {}
    iptc: dict[str, Any] = {}
    for r in reversed(raws):
        exif.update(r.exif)
        xmp.update(r.xmp)
        iptc.update(r.iptc)
    make = _first(exif, "Exif.Image.Make") or _first(xmp, "Xmp.tiff.Make")
    model = _first(exif, "Exif.Image.Model") or _first(xmp, "Xmp.tiff.Model")
    rating = _first(xmp, "Xmp.xmp.Rating") or _first(exif, "Exif.Image.Rating")
    try:
        rating_n = int(float(rating)) if rating is not None else None
    except ValueError:
        rating_n = None
    return Known(
        date=_date(_first(exif, "Exif.Photo.DateTimeOriginal"))
        or _date(_first(xmp, "Xmp.exif.DateTimeOriginal", "Xmp.photoshop.DateCreated"))
        or _date(_first(iptc, "Iptc.Application2.DateCreated")),
        gps=_gps(exif, xmp),
        camera=(str(make or "").strip(), str(model or "").strip()) if make or model else None,
        keywords=_keywords(xmp, iptc),
        title=_lang(_first(xmp, "Xmp.dc.title")) or _lang(iptc.get("Iptc.Application2.ObjectName")),
        description=_lang(_first(xmp, "Xmp.dc.description"))
        or _lang(_first(exif, "Exif.Image.ImageDescription"))
        or _lang(iptc.get("Iptc.Application2.Caption")),
        rating=rating_n if rating_n and rating_n > 0 else None,
    )


@dataclass
class Merge:
    """What the keeper gains (only fields that change), where each came from, the conflicts."""

    updates: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.updates)


def merge(keeper: Known, copies: list[tuple[str, Known]]) -> Merge:
    """Apply the rule (module doc) to the keeper and its copies, in group order."""
    out = Merge()
    dates = [(k.date, p) for p, k in copies if k.date]
    if dates:
        best, src = min(dates)
        if keeper.date and any(d != keeper.date for d, _ in dates):
            out.conflicts.append(
                f"capture date: keeper {keeper.date}, "
                + ", ".join(f"{p}: {d}" for d, p in dates if d != keeper.date)
                + " → earliest kept"
            )
        if keeper.date is None or best < keeper.date:
            out.updates["date"], out.sources["date"] = best, src
    fixes = [(k.gps, p) for p, k in copies if k.gps]
    if fixes:
        gps, src = min(fixes, key=lambda f: f[0].step)
        finer = keeper.gps is not None and gps.step < keeper.gps.step
        if keeper.gps and (finer or any(g.differs(keeper.gps) for g, _ in fixes)):
            out.conflicts.append(
                f"GPS: keeper {keeper.gps}, "
                + ", ".join(f"{p}: {g}" for g, p in fixes if g != keeper.gps)
                + " → most precise kept"
            )
        if keeper.gps is None or finer:
            out.updates["gps"], out.sources["gps"] = gps, src
    new = [w for _, k in copies for w in k.keywords if w not in keeper.keywords]
    if new:
        out.updates["keywords"] = keeper.keywords + list(dict.fromkeys(new))
        out.sources["keywords"] = ", ".join(dict.fromkeys(p for p, k in copies if k.keywords))
    for name in ("camera", "title", "description"):
        _first_wins(out, name, getattr(keeper, name), [(p, getattr(k, name)) for p, k in copies])
    ratings = [(k.rating, p) for p, k in copies if k.rating]
    if ratings:
        if keeper.rating and any(r != keeper.rating for r, _ in ratings):
            out.conflicts.append(
                f"rating: keeper {keeper.rating}, copies {ratings} → keeper's kept"
            )
        if keeper.rating is None:
            best_r, src = max(ratings)
            out.updates["rating"], out.sources["rating"] = best_r, src
    return out


def _first_wins(out: Merge, name: str, mine: Any, theirs: list[tuple[str, Any]]) -> None:
    given = [(p, v) for p, v in theirs if v]
    if not given:
        return
    differ = [(p, v) for p, v in given if v != (mine or given[0][1])]
    if differ:
        kept = "keeper's" if mine else "first copy's"
        shown = ", ".join(f"{p}: {v}" for p, v in differ)
        out.conflicts.append(f"{name}: {mine or given[0][1]} vs {shown} → {kept} kept")
    if not mine:
        out.updates[name], out.sources[name] = given[0][1], given[0][0]
