"""What the catalogs that use a thumbnail cache still refer to in it (``thumb_prune.py``).

Why: a cache file or pack entry may go only when no catalog names it. A catalog names a
thumbnail in three places: a photo's meta row (``thumb``, and ``thumb_at`` when its bytes lie
in a pack), a video's vmeta row (``thumb``, ``strip.path``), and each member of a stored group
(``thumb``, ``strip.path``; the same files as the rows, unless a group outlived its rows). A
name is compared by its last two parts (``<xx>/<key>.jpg``): the key is the photo's stat, so
a catalog that used the cache under another path (a symlink, a moved cache) still protects
its files. Catalogs are opened read-only (no upgrade, no check that writes); one that cannot
be read whole, or that a newer lookalike wrote, stops the prune: what it names is unknown.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.engine.catalog_health import CatalogError, read_only_uri
from lookalike.engine.catalog_schema import SCHEMA_VERSION
from lookalike.engine.thumb_pack import SOURCE

# each meta/vmeta row's thumbnail, its entry (when ``thumb_at`` has three parts) and strip,
# taken out by SQLite: a whole row parsed in Python cost twice as much (docs/benchmarks.md);
# the table read in order (NOT INDEXED): through the features index it took 15 % longer at 1 M
_ROWS = (
    "SELECT json_extract(d, '$.thumb'), json_array_length(d, '$.thumb_at'), "
    "json_extract(d, '$.thumb_at[0]'), json_extract(d, '$.thumb_at[1]'), "
    "json_extract(d, '$.thumb_at[2]'), json_extract(d, '$.strip.path') "
    "FROM (SELECT CAST(data AS TEXT) AS d FROM features NOT INDEXED "
    "WHERE name IN ('meta', 'vmeta'))"
)
_MEMBERS = (
    "SELECT json_extract(f.value, '$.thumb'), json_extract(f.value, '$.strip.path') "
    "FROM groups g, json_each(g.data, '$.files') f"
)


class CatalogUnreadable(CatalogError):
    """A catalog that uses the cache could not be read: nothing may be removed."""

    def __init__(self, catalog: Path, why: str, record: str | None = None) -> None:
        self.catalog, self.why = catalog, why
        forget = f", or delete {record} if it is not a catalog" if record else ""
        super().__init__(
            f"cannot read the catalog {catalog} ({why}); nothing was removed: repair or "
            f"delete that catalog (a catalog that is gone no longer protects anything){forget}"
        )


def tail(path: str) -> str:
    """``<xx>/<name>``: a cache file's name inside the cache, whatever folder it was under (the
    last two parts of the path; string search, not ``os.path``: a million of them a prune)."""
    last = path.rfind("/")
    if last <= 0 or "//" in path:
        return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    return path[path.rfind("/", 0, last) + 1 :]


@dataclass
class Refs:
    """Everything the catalogs name in the cache."""

    files: set[str] = field(default_factory=set)  # tails of the files named
    entries: dict[str, dict[int, int]] = field(default_factory=dict)  # pack → {offset: length}
    members: set[str] = field(default_factory=set)  # tails of stored groups' members' files
    member_at: dict[str, dict[str, int]] = field(default_factory=dict)  # pack → {tail: offset}
    # compact only: a file's entry (tail → (pack, offset, length); pack "" for a photo
    # entry), and the files some catalog names without one (older rows, videos, strips)
    spare: dict[str, tuple[str, int, int]] | None = None
    sole: set[str] = field(default_factory=set)

    def redundant(self, name: str, packs: dict[str, int]) -> bool:
        """Whether file ``name`` is of a photo in no stored group whose rows all have one
        entry, whole in one of ``packs`` (name → size) or in its photo: the file can go, it is
        made again from the entry if the photo joins a group (``thumb_remake.member_thumb``,
        no decode)."""
        if self.spare is None or name in self.sole or name in self.members:
            return False
        pack, off, n = self.spare.get(name, (None, 0, 0))
        return pack == "" or (pack is not None and off + n <= packs.get(pack, -1))

    def live_bytes(self, pack: str, size: int) -> int:
        """The bytes of ``pack`` (``size`` long) that some catalog's entry names."""
        return sum(n for off, n in self.entries.get(pack, {}).items() if off + n <= size)

    def add_row(self, thumb: object, at: list | None, strip: object) -> None:
        """One meta or vmeta row: its ``thumb``, ``thumb_at`` (None unless three parts) and
        ``strip.path``, each as the row holds it (anything not a string names nothing)."""
        if isinstance(thumb, str) and thumb:
            name = tail(thumb)
            self.files.add(name)
            self._add_entry(name, at)
        if isinstance(strip, str):
            self.files.add(tail(strip))
            self.sole.add(tail(strip))

    def _add_entry(self, name: str, at: object) -> None:
        where = None  # (pack, offset, length); pack "" for its photo; None: no entry
        if isinstance(at, list) and len(at) == 3 and at[0] == SOURCE:
            where = ("", 0, 0)
        elif isinstance(at, list) and len(at) == 3:
            pack, off, n = at
            if isinstance(pack, str) and isinstance(off, int) and isinstance(n, int):
                self.entries.setdefault(pack, {})[off] = n
                if name in self.members:
                    self.member_at.setdefault(pack, {})[name] = off
                where = (pack, off, n)
        if self.spare is None:
            return
        if where is None or self.spare.setdefault(name, where) != where:
            self.sole.add(name)


def open_read_only(catalog: Path) -> sqlite3.Connection:
    """A connection that never writes the catalog (nor upgrades it)."""
    db = sqlite3.connect(read_only_uri(catalog), uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.Error:
        db.close()
        raise
    if row is not None and int(row[0]) > SCHEMA_VERSION:
        db.close()
        raise CatalogUnreadable(catalog, f"written by a newer lookalike, schema {row[0]}")
    return db


def read_refs(catalogs: Iterable[Path], compact: bool = False) -> Refs:
    """What ``catalogs`` name in the cache: the stored groups' members first (every
    catalog's), then each meta and vmeta row, read one at a time (``compact``: with each
    file's entry, ``Refs.redundant``). Raises :class:`CatalogUnreadable` for a catalog that
    cannot be read whole."""
    refs = Refs(spare={} if compact else None)
    dbs: list[tuple[Path, sqlite3.Connection]] = []
    try:
        for c in catalogs:
            try:
                dbs.append((c, open_read_only(c)))
            except (sqlite3.Error, ValueError) as exc:
                raise CatalogUnreadable(c, str(exc)) from exc
        for c, db in dbs:
            _read(c, db, _members, refs)
        for c, db in dbs:
            _read(c, db, _rows, refs)
    finally:
        for _, db in dbs:
            db.close()
    return refs


def _read(catalog: Path, db: sqlite3.Connection, part, refs: Refs) -> None:  # noqa: ANN001
    try:
        part(db, refs)
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise CatalogUnreadable(catalog, str(exc)) from exc


def _members(db: sqlite3.Connection, refs: Refs) -> None:
    for thumb, strip in db.execute(_MEMBERS):
        if isinstance(thumb, str) and thumb:
            refs.files.add(tail(thumb))
            refs.members.add(tail(thumb))
        if isinstance(strip, str) and strip:
            refs.files.add(tail(strip))


def _rows(db: sqlite3.Connection, refs: Refs) -> None:
    # a row that is not JSON: sqlite3.Error ("malformed JSON"), the catalog unreadable
    for thumb, parts, pack, off, n, strip in db.execute(_ROWS):
        refs.add_row(thumb, [pack, off, n] if parts == 3 else None, strip)
