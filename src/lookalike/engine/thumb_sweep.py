"""The thumbnail cache's automatic sweep: after a scan, ``cache prune``'s rules when one is due.

Why: every changed or moved photo leaves its old thumbnail behind, so a library that is edited
and rescanned grows the cache for ever unless someone runs ``lookalike cache prune``. After a
scan has written its results (``commands/cache.py``'s ``sweep_after_scan``), this module
sweeps when one is due:

- the last sweep is older than ``cache.sweep_days`` (config.toml, default ``DEFAULT_DAYS``),
  or the cache is over ``cache.thumbs_mb`` (default ``DEFAULT_MB``) and has grown by a tenth
  since the last sweep left it (a library whose live thumbnails alone pass the cap is not
  swept after every scan for nothing); 0 turns a rule off, both 0 turn the sweep off;
- the size is estimated cheaply: the ``<xx>/`` folders' names counted (no stat) times the last
  sweep's mean file size, plus the packs' sizes.

It is more careful than a prune by hand, which a person starts and reads: it never waits (the
sweep lock held by a scan or a prune: skipped, next time), never compacts, and removes nothing
while a registered catalog cannot be read (a prune by hand refuses then too) or is missing —
an unplugged disk must not cost a rebuild of its thumbnails — until it has been missing for
``MISSING_DAYS`` (then it is forgotten, as a prune forgets it at once). What it did, and what
blocked it, is kept in ``<cache>/sweep.json`` (written under the lock), which ``lookalike cache
status`` shows; a block is said once on stderr, not after every scan.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookalike.atomicio import write_atomic
from lookalike.engine import settings, thumb_pack, thumb_prune, thumb_registry
from lookalike.engine.catalog_health import CatalogError

STAMP = "sweep.json"
DEFAULT_MB = 2048  # the cap: ≈ 150 000 member thumbnails (≈ 14 KB each at 1 M, benchmarks)
DEFAULT_DAYS = 7.0
MISSING_DAYS = 30.0  # a registered catalog missing this long protects nothing any more
GROWTH = 1.1  # over the cap: swept again once the cache is this much larger than it was left
RETRY_DAYS = 1.0  # a blocked sweep is tried again after this long (a catalog read each try)
MEAN_FILE = 15_000  # bytes a file, for the estimate before a first sweep measured it
_DAY = 86_400.0


@dataclass(frozen=True)
class Policy:
    """When a sweep is due: ``cap`` bytes (0: no cap) and ``days`` between sweeps (0: never by
    age)."""

    cap: int = DEFAULT_MB * 1_000_000
    days: float = DEFAULT_DAYS

    @property
    def off(self) -> bool:
        return self.cap == 0 and self.days == 0

    @classmethod
    def from_settings(cls) -> Policy:
        """config.toml's ``cache.thumbs_mb`` and ``cache.sweep_days``; ValueError (naming the
        key) for one that is not a number ≥ 0."""
        mb = _number("cache.thumbs_mb", DEFAULT_MB)
        return cls(cap=int(mb * 1_000_000), days=_number("cache.sweep_days", DEFAULT_DAYS))


def _number(key: str, default: float) -> float:
    value = settings.read_user_key(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} = {value!r}: not a number ≥ 0 (0 turns that rule off)")
    return float(value)


@dataclass
class Swept:
    """One automatic sweep's outcome: what it removed, or why it did not run."""

    due: str  # why it was due
    outcome: thumb_prune.Outcome | None = None  # None: it did not sweep
    blocked: str | None = None  # why not (a catalog missing or unreadable)
    said_before: bool = False  # the same block was reported by an earlier sweep

    def note(self) -> str | None:
        """The one stderr line, or None when there is nothing to say."""
        if self.blocked is not None:
            return None if self.said_before else f"lookalike: cache not swept: {self.blocked}"
        out = self.outcome
        if out is None or not (out.removed or out.forgotten):
            return None
        n = sum(c for c, _ in out.removed.values())
        mb = out.freed / 1_000_000
        forgot = len(out.forgotten)
        gone = f", forgot {forgot} catalog(s) gone {MISSING_DAYS:.0f} days" if forgot else ""
        return (
            f"lookalike: cache swept: removed {n} thumbnail files ({mb:.1f} MB){gone}; "
            "`lookalike cache prune --dry-run` shows what a sweep would remove"
        )


def read_stamp(thumb_dir: Path) -> dict[str, Any]:
    """``sweep.json`` (empty when there is none or it cannot be read)."""
    try:
        with open(thumb_dir / STAMP, "rb") as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def estimate(thumb_dir: Path, stamp: dict[str, Any]) -> int:
    """The cache's bytes, roughly: its files counted by name times the mean file size the last
    sweep measured, plus its packs' sizes (a few hundred stats)."""
    files = 0
    try:
        with os.scandir(thumb_dir) as it:
            folders = [e.name for e in it if len(e.name) == 2 and e.is_dir(follow_symlinks=False)]
    except OSError:
        return 0
    for name in folders:
        try:
            with os.scandir(thumb_dir / name) as it:
                files += sum(1 for _ in it)
        except OSError:
            continue
    n, size = stamp.get("files"), stamp.get("file_bytes")
    mean = size / n if isinstance(n, int) and n > 0 and isinstance(size, int) else MEAN_FILE
    return int(files * mean) + _pack_bytes(thumb_dir / thumb_pack.PACKS)


def _pack_bytes(folder: Path) -> int:
    total = 0
    try:
        with os.scandir(folder) as it:
            for e in it:
                try:
                    total += e.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except OSError:
        pass
    return total


def due(thumb_dir: Path, policy: Policy, stamp: dict[str, Any], now: float) -> str | None:
    """Why a sweep is due now, or None (never without a stamp: the first scan that finds none
    writes one, so a first scan of a new cache is never followed by a sweep)."""
    last, tried = stamp.get("time"), stamp.get("tried")
    if not isinstance(last, int | float):
        return None
    if stamp.get("blocked") and isinstance(tried, int | float) and now - tried < RETRY_DAYS * _DAY:
        return None  # blocked a moment ago: trying at every scan would read every catalog
    if policy.days and now - last >= policy.days * _DAY:
        return f"the last sweep was {(now - last) / _DAY:.0f} days ago"
    if policy.cap:
        size = estimate(thumb_dir, stamp)
        left = stamp.get("bytes", 0) if isinstance(stamp.get("bytes"), int) else 0
        if size > policy.cap and size > left * GROWTH:
            return f"the cache is ≈ {size / 1e6:.0f} MB, over its cap of {policy.cap / 1e6:.0f} MB"
    return None


def after_scan(
    thumb_dir: Path, default: Path | None, policy: Policy | None = None, now: float | None = None
) -> Swept | None:
    """Sweep ``thumb_dir`` when one is due and nobody holds its sweep lock (never waits); None
    when nothing ran. ``default``: the default catalog, read as a prune reads it."""
    policy = Policy.from_settings() if policy is None else policy
    now = time.time() if now is None else now
    if policy.off or not thumb_dir.is_dir():
        return None
    stamp = read_stamp(thumb_dir)
    if _stamped(stamp) and due(thumb_dir, policy, stamp, now) is None:
        return None  # the common case: one small read and the folders' names
    lock = thumb_registry.CacheLock(thumb_dir)
    try:
        if not lock.try_acquire(exclusive=True):
            return None  # a scan or a prune holds it: next time
    except OSError:
        return None  # the cache cannot be written: nothing to sweep in it either
    try:
        stamp = read_stamp(thumb_dir)  # under the lock: another sweep may just have run
        if not _stamped(stamp):  # the first scan that finds none: the age and growth count
            _write(thumb_dir, {"time": now, "bytes": estimate(thumb_dir, stamp)})  # from here
            return None
        why = due(thumb_dir, policy, stamp, now)
        return None if why is None else _sweep(thumb_dir, default, stamp, why, now)
    finally:
        lock.release()


def after_scan_note(thumb_dir: Path, default: Path | None) -> str | None:
    """:func:`after_scan` for a client that only reports it (the CLI's stderr, the app's
    notice, the server's log): its one line, if any, or why it could not run (a bad
    ``cache.*`` value, an unreadable config.toml, a bug) — never an exception: a sweep's
    failure must not fail the scan it follows."""
    try:
        swept = after_scan(thumb_dir, default)
    except Exception as exc:  # said, never raised
        return f"lookalike: cache not swept: {exc}"
    return swept.note() if swept is not None else None


def _stamped(stamp: dict[str, Any]) -> bool:
    """Whether ``sweep.json`` says when (one of another shape is written again)."""
    return isinstance(stamp.get("time"), int | float)


def _sweep(
    thumb_dir: Path, default: Path | None, stamp: dict[str, Any], why: str, now: float
) -> Swept:
    """Under the lock: the prune's sweep unless a catalog blocks it; the stamp written."""
    blocked, missing = _vet(thumb_dir, stamp.get("missing"), now)
    if blocked is None:
        try:
            out = thumb_prune.prune_locked(thumb_dir, (), default, False, False, thumb_prune.GRACE)
        except (thumb_prune.PruneBusy, thumb_prune.NoCatalog):
            return Swept(why)  # a scan of another catalog runs; or nothing is known: next time
        except thumb_prune.CatalogUnreadable as exc:
            blocked = (
                f"cannot read the catalog {exc.catalog} ({exc.why}); nothing is removed until "
                "it can be read or is deleted"
            )
        except (CatalogError, OSError) as exc:
            blocked = f"the sweep failed: {exc}"
    if blocked is not None:
        said = stamp.get("blocked") == blocked
        _write(thumb_dir, {**stamp, "missing": missing, "blocked": blocked, "tried": now})
        return Swept(why, blocked=blocked, said_before=said)
    record(thumb_dir, out, why, now)
    return Swept(why, out)


def record(thumb_dir: Path, out: thumb_prune.Outcome, why: str, now: float) -> None:
    """``sweep.json`` after a sweep, or a prune by hand (``lookalike cache prune``: the next
    automatic one counts from it): when, what went, and what the cache holds now."""
    files = [v for k, v in out.kept.items() if "pack" not in k and k != "not a cache file"]
    _write(thumb_dir, {
        "time": now, "due": why, "removed": sum(c for c, _ in out.removed.values()),
        "freed": out.freed, "forgotten": out.forgotten,
        "bytes": sum(b for _, b in out.kept.values()),
        "files": sum(c for c, _ in files), "file_bytes": sum(b for _, b in files),
    })  # fmt: skip


def _vet(thumb_dir: Path, missing: object, now: float) -> tuple[str | None, dict[str, float]]:
    """Whether a registered catalog blocks the sweep (missing for less than ``MISSING_DAYS``,
    or there but not readable), and since when each missing one has been missing."""
    known = missing if isinstance(missing, dict) else {}
    seen: dict[str, float] = {}
    blocked = None
    for name, path in thumb_registry.registered(thumb_dir):
        try:
            os.stat(path)
            continue
        except (FileNotFoundError, NotADirectoryError):
            since = known.get(name)
            since = since if isinstance(since, int | float) else now
            seen[name] = since
            if now - since < MISSING_DAYS * _DAY and blocked is None:
                until = time.strftime("%Y-%m-%d", time.localtime(since + MISSING_DAYS * _DAY))
                blocked = (
                    f"the catalog {path} is missing (a disk not plugged in?); its thumbnails "
                    f"are kept until {until} (`lookalike cache prune` forgets it now)"
                )
        except OSError as exc:
            blocked = blocked or (
                f"cannot read the catalog {path} ({exc.strerror or exc}); nothing is removed "
                "until it can be read or is deleted"
            )
    return blocked, seen


def _write(thumb_dir: Path, stamp: dict[str, Any]) -> None:
    try:
        write_atomic(thumb_dir / STAMP, json.dumps(stamp, indent=1) + "\n")
    except OSError:
        pass  # the cache cannot be written: the next scan tries again
