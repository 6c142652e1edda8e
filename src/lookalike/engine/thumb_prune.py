"""``lookalike cache prune``: the thumbnail cache's files and packs that no catalog uses, removed.

Why: the cache grows forever otherwise. Packs are only appended to; a member's file is keyed
by its photo's stat, so a changed or moved photo leaves its old file behind; older versions
wrote ``.webp`` files and a file per photo. The cache is shared by every catalog, so a prune
reads every catalog that uses it (``thumb_registry.py``: each scan records its catalog; the
default catalog and any named one too) and keeps whatever one of them names
(``thumb_refs.py``). What is removed, never anything else:

- a thumbnail or strip file (``<xx>/<16 hex>.jpg|.webp|.strip.webp``) no catalog names;
- a pack no entry of any catalog lies in; with ``compact``, also a pack less than
  ``COMPACT_BELOW`` of whose bytes are named: the files of stored groups' members whose
  entries lie in it are made from it first (no decode), and every other photo whose entry was
  there loses it (if it joins a group later, its file is made by a decode of the photo,
  ``thumb_remake.py``; a small JPEG's entry names the photo and is never in a pack);
- with ``compact``, the file of a photo in no stored group whose rows all have one entry that
  stays (a pack kept, or its photo): made for a group it has left (its copies deleted), it is
  made again from the entry, without a decode, if the photo joins a group again;
- a temporary file whose writer (the pid in its name) is gone.

Never removed: a file or pack changed in the last ``grace`` seconds (a scan of another
machine or of an older lookalike may still be writing it), a pack whose writer (the pid in
its name) still runs, and any file whose name is not one of the above. The prune holds the
cache's sweep lock exclusively (a scan holds it shared, so none runs, and one that starts
waits), and refuses to start while a scan holds any of those catalogs' scan locks.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.engine import thumb_pack, thumb_registry
from lookalike.engine.catalog_health import CatalogError
from lookalike.engine.scanlock import ScanLock, lock_path
from lookalike.engine.stale_temps import pid_alive
from lookalike.engine.thumb_refs import CatalogUnreadable, Refs, read_refs

COMPACT_BELOW = 0.5  # with compact: a pack less than half of whose bytes are named goes
GRACE = 600.0  # seconds: a file or pack changed more recently is kept
REDUNDANT = "file of a photo in no group, its entry kept (--compact)"  # a reason removed
_FOLDER = re.compile(r"^[0-9a-f]{2}$")
_THUMB = re.compile(r"^[0-9a-f]{16}(\.jpg|\.webp|\.strip\.webp)$")
_TEMP = re.compile(r"^[0-9a-f]{16}(\.jpg|\.webp|\.strip\.webp)\.(?P<pid>[0-9]+)(-[0-9]+)?\.tmp$")
_PACK = re.compile(r"^(?P<pid>[0-9]+)-[0-9a-f]+\.pack$")


class PruneBusy(CatalogError):
    """A scan is using the cache or one of its catalogs."""


class NoCatalog(CatalogError):
    """No catalog is known to use the cache: a prune would remove everything."""


@dataclass
class Outcome:
    """What a prune removed (or, dry, would remove) and kept, and why."""

    cache: str
    dry_run: bool
    catalogs: list[str] = field(default_factory=list)  # read
    forgotten: list[str] = field(default_factory=list)  # registered, gone: protect nothing
    removed: dict[str, list[int]] = field(default_factory=dict)  # why → [count, bytes]
    kept: dict[str, list[int]] = field(default_factory=dict)  # why → [count, bytes]
    packs: list[dict] = field(default_factory=list)  # each pack: name, bytes, live, fate
    made: int = 0  # compact: members' files made from a pack before it went
    orphaned: int = 0  # compact: entries lost with their packs (a decode if ever shown)
    failed: list[str] = field(default_factory=list)  # could not be removed, and why

    @property
    def freed(self) -> int:
        return sum(b for _, b in self.removed.values())

    def to_json(self) -> dict:
        return {**self.__dict__, "freed": self.freed}


def _count(table: dict[str, list[int]], why: str, size: int) -> None:
    row = table.setdefault(why, [0, 0])
    row[0] += 1
    row[1] += size


def known_catalogs(
    thumb_dir: Path, named: Sequence[Path], default: Path | None
) -> tuple[list[Path], list[tuple[str, Path]]]:
    """The catalogs that use the cache (registered, ``default`` if it exists, ``named``), and
    the registered ones that are gone (entry name, path)."""
    found: list[Path] = []
    gone: list[tuple[str, Path]] = []
    for name, path in thumb_registry.registered(thumb_dir):
        (found.append(path) if path.exists() else gone.append((name, path)))
    if default is not None and default.exists():
        found.append(default)
    found.extend(named)
    out: list[Path] = []
    for p in found:
        if not any(_same(p, q) for q in out):
            out.append(p)
    return out, gone


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _check_idle(catalogs: Sequence[Path]) -> None:
    """Raise :class:`PruneBusy` when a scan holds one of ``catalogs``' scan locks (a scan of
    a lookalike older than the sweep lock holds only that one). A shared try on the lock
    file, opened read-only: nothing is written beside a catalog."""
    for c in catalogs:
        try:
            fd = os.open(lock_path(c), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # no lock file: no scan of this catalog ever ran (or could lock it)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise PruneBusy(
                f"a scan is running on {c} (pid {ScanLock(c).holder() or 'unknown'}); "
                "nothing was removed: prune when it has finished"
            ) from None
        finally:
            os.close(fd)  # the shared lock goes with it


def prune(
    thumb_dir: Path,
    named: Sequence[Path] = (),
    default: Path | None = None,
    dry_run: bool = False,
    compact: bool = False,
    grace: float = GRACE,
) -> Outcome:
    """Remove (``dry_run``: only count) what no catalog that uses ``thumb_dir`` names."""
    if not thumb_dir.is_dir():
        return Outcome(str(thumb_dir), dry_run)
    lock = thumb_registry.CacheLock(thumb_dir)
    try:
        held = lock.try_acquire(exclusive=True)
    except OSError as exc:
        raise CatalogError(f"cannot lock the thumbnail cache {thumb_dir}: {exc}") from exc
    if not held:
        raise PruneBusy(
            f"a scan is using the thumbnail cache {thumb_dir}; nothing was removed: "
            "prune when it has finished"
        )
    try:
        return prune_locked(thumb_dir, named, default, dry_run, compact, grace)
    finally:
        lock.release()


def prune_locked(
    thumb_dir: Path,
    named: Sequence[Path],
    default: Path | None,
    dry_run: bool,
    compact: bool,
    grace: float,
) -> Outcome:
    """:func:`prune` for a caller that holds the cache's sweep lock exclusively (the
    automatic sweep, ``thumb_sweep.py``, which never waits for it)."""
    out = Outcome(str(thumb_dir), dry_run)
    catalogs, gone = known_catalogs(thumb_dir, named, default)
    if not catalogs:
        raise NoCatalog(
            f"no catalog is known to use the thumbnail cache {thumb_dir}, so every file "
            "in it would go; nothing was removed: name your catalogs with --catalog DB "
            "(or delete the folder, which is safe while no scan runs)"
        )
    _check_idle(catalogs)
    try:
        refs = read_refs(catalogs, compact)
    except CatalogUnreadable as exc:  # say where it is recorded, if it is
        record = thumb_registry.record_path(thumb_dir, exc.catalog)
        raise CatalogUnreadable(exc.catalog, exc.why, record) from exc
    out.catalogs = [str(c) for c in catalogs]
    out.forgotten = [str(p) for _, p in gone]
    _sweep(thumb_dir, refs, out, compact, time.time() - grace)
    if not dry_run:
        for name, _ in gone:
            thumb_registry.forget(thumb_dir, name)
        for c in named:
            thumb_registry.register(thumb_dir, c)
    return out


def _sweep(cache: Path, refs: Refs, out: Outcome, compact: bool, young: float) -> None:
    """The packs' fates first (with ``compact`` a file whose entry stays may go), then the
    files, then the packs."""
    with os.scandir(cache) as it:
        folders = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    packs = []
    if thumb_pack.PACKS in folders:
        packs = _plan_packs(cache / thumb_pack.PACKS, refs, out, compact, young)
    staying = {p.name: st.st_size for p, st, fate, _ in packs if fate not in _GONE}
    for name in folders:
        if _FOLDER.match(name):
            _sweep_folder(cache / name, name, refs, out, young, staying)
    for p, st, fate, live in packs:
        if fate in _GONE:
            if live:
                _rescue_members(cache, p.name, refs, out)
            _remove(p.path, fate, st.st_size, out)
        else:
            _count(out.kept, fate, st.st_size)


def _stat(entry: os.DirEntry) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except OSError:
        return None


def _sweep_folder(
    folder: Path, name: str, refs: Refs, out: Outcome, young: float, packs: dict[str, int]
) -> None:
    """The files of one ``<xx>`` folder: thumbnails and strips, and temporary files."""
    with os.scandir(folder) as it:
        entries = list(it)
    for e in entries:
        st = _stat(e)
        if st is None or not e.is_file(follow_symlinks=False):
            continue
        temp = _TEMP.match(e.name)
        rel = f"{name}/{e.name}"
        if not _THUMB.match(e.name) and not temp:
            _count(out.kept, "not a cache file", st.st_size)
        elif not temp and rel in refs.files and not refs.redundant(rel, packs):
            _count(out.kept, "file a catalog uses", st.st_size)
        elif st.st_mtime > young:
            _count(out.kept, "changed in the last minutes", st.st_size)
        elif temp and pid_alive(int(temp["pid"])):
            _count(out.kept, "temporary file of a running process", st.st_size)
        elif temp:
            _remove(e.path, "temporary file left by a stopped process", st.st_size, out)
        elif rel in refs.files:
            _remove(e.path, REDUNDANT, st.st_size, out)
        else:
            _remove(e.path, "file no catalog uses", st.st_size, out)


def _plan_packs(
    folder: Path, refs: Refs, out: Outcome, compact: bool, young: float
) -> list[tuple[os.DirEntry, os.stat_result, str, int]]:
    """Each pack with its stat, fate and live bytes (``out.packs`` says them too)."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    plan = []
    for e in entries:
        st = _stat(e)
        m = _PACK.match(e.name)
        if st is None or not e.is_file(follow_symlinks=False):
            continue
        if m is None:
            _count(out.kept, "not a cache file", st.st_size)
            continue
        live = refs.live_bytes(e.name, st.st_size)
        fate = _pack_fate(live, st, int(m["pid"]), compact, young)
        out.packs.append({"name": e.name, "bytes": st.st_size, "live": live, "fate": fate})
        plan.append((e, st, fate, live))
    return plan


_GONE = ("pack no catalog uses", "sparse pack (--compact)")


def _pack_fate(live: int, st: os.stat_result, pid: int, compact: bool, young: float) -> str:
    """Why a pack goes (one of ``_GONE``) or stays."""
    share = live / st.st_size if st.st_size else 0.0
    if live and (share >= COMPACT_BELOW or not compact):
        return "pack in use" if share >= COMPACT_BELOW else "sparse pack (see --compact)"
    if st.st_mtime > young:
        return "pack changed in the last minutes"
    if pid != os.getpid() and pid_alive(pid):
        return "pack whose writer (pid) still runs"
    return _GONE[1] if live else _GONE[0]


def _rescue_members(cache: Path, pack: str, refs: Refs, out: Outcome) -> None:
    """Before a sparse pack goes: the file of each stored group's member whose entry is in
    it, made from the pack (dry: counted); every other entry in it is counted as lost."""
    entries = refs.entries.get(pack, {})
    members = refs.member_at.get(pack, {})
    for name, off in members.items():
        path = str(cache / name)
        if os.path.exists(path):
            continue
        if out.dry_run or thumb_pack.materialize(path, [pack, off, entries[off]]):
            out.made += 1
    out.orphaned += len(set(entries) - set(members.values()))


def _remove(path: str, why: str, size: int, out: Outcome) -> None:
    if not out.dry_run:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            out.failed.append(f"{path}: {exc.strerror or exc}")
            return
    _count(out.removed, why, size)
