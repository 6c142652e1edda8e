"""SQLite (WAL) catalog: files, their features, the last groups, decisions and UI state.

A file row is keyed by its path (stored as raw bytes, so names that are not UTF-8 survive)
and remembers (dev, inode, size, mtime_ns): a rescan reuses the features of any file whose
stat is unchanged, and a file that moved keeps its row. Features carry a version per name so
a changed algorithm recomputes only its own rows. Rows are committed in small batches while a
scan runs, so Ctrl-C or kill -9 loses at most the last batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lookalike.engine import catalog_groups, catalog_health, review_rows, scan_groups
from lookalike.engine.catalog_health import CatalogError, catalog_error
from lookalike.engine.catalog_schema import SCHEMA, SCHEMA_VERSION, feature_index, group_from_row
from lookalike.engine.records import Group

# the same objects, for code that knows them as catalog.*: a damaged file's error, the
# set of files found sound by this process (tests reset it), a group's stored row
CatalogDamaged = catalog_health.CatalogDamaged
group_to_row = catalog_groups.group_to_row
_CHECKED = catalog_health._CHECKED


def fs_path(path: str | bytes | os.PathLike[str]) -> bytes:
    return os.fsencode(path)


def str_path(raw: bytes) -> str:
    return os.fsdecode(raw)


@dataclass(slots=True)  # one per file: no per-instance dict (issue 13)
class FileRow:
    id: int
    path: str
    dev: int
    inode: int
    size: int
    mtime_ns: int
    kind: str | None
    headtail: bytes | None
    fullhash: bytes | None
    error: str | None


def _stat_sniffed(r: FileRow) -> tuple:
    return r.dev, r.inode, r.size, r.mtime_ns, r.kind, r.headtail


def features_of(
    db: sqlite3.Connection, name: str, version: int, ids: list[int]
) -> dict[int, bytes]:
    """{file id: data} of feature ``name`` at ``version`` for ``ids``, 900 ids a query (SQLite's
    variable limit). A plain connection: the rank stage's workers read the catalog read-only."""
    out: dict[int, bytes] = {}
    sql = "SELECT file_id, data FROM features WHERE name=? AND version=? AND file_id IN ({})"
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        out.update(db.execute(sql.format(",".join("?" * len(chunk))), (name, version, *chunk)))
    return out


class Catalog:
    """One connection; use as a context manager. Not shared across threads.

    Opening checks the file (``PRAGMA quick_check``, once per process) before anything is
    written; a malformed catalog raises :class:`CatalogDamaged` and stays untouched.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # Threads of one process (the app's first loads beside its scan) open a new catalog
        # together: one at a time, or one takes the other's fresh -shm/-wal for orphans.
        with catalog_health.opening(self.path):
            self._open()

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(
                f"cannot open the catalog {self.path}: {exc.strerror or exc}; "
                "pass --db to use another file"
            ) from exc
        self.db = catalog_health.connect(self.path, SCHEMA)
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer lookalike (schema {row[0]}); "
                "upgrade lookalike or pass --db to use another file"
            )
        elif int(row[0]) < SCHEMA_VERSION:
            self._upgrade()
        feature_index(self.db)  # a small catalog's; a large one's in its scan (pipeline.py)

    def _upgrade(self) -> None:
        """An older catalog, upgraded in one transaction (catalog_groups.upgrade_schema)."""
        try:
            with self.transaction():
                catalog_groups.upgrade_schema(self.db, SCHEMA_VERSION)
        except sqlite3.Error as exc:
            raise catalog_error(self.path, exc) from exc

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- transactions ---------------------------------------------------------------------------
    def begin(self) -> None:
        """Open a write transaction (no-op if one is open). Keep it short: never across file
        I/O, a decode or a ``yield`` (other writers wait ``BUSY_TIMEOUT`` at most)."""
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``with cat.transaction(): …`` commits on success, rolls back on any error."""
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # -- files --------------------------------------------------------------------------------
    def _row(self, r: tuple) -> FileRow:
        return FileRow(r[0], str_path(r[1]), *r[2:])

    _COLS = "id, path, dev, inode, size, mtime_ns, kind, headtail, fullhash, error"

    def has_files(self) -> bool:
        """Whether any file is known: a scan of a catalog without one is a first scan."""
        return self.db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def file_by_path(self, path: str) -> FileRow | None:
        r = self.db.execute(
            f"SELECT {self._COLS} FROM files WHERE path=?", (fs_path(path),)
        ).fetchone()
        return self._row(r) if r else None

    def files_by_stat(self, dev: int, inode: int, size: int, mtime_ns: int) -> list[FileRow]:
        rows = self.db.execute(
            f"SELECT {self._COLS} FROM files WHERE dev=? AND inode=? AND size=? AND mtime_ns=?",
            (dev, inode, size, mtime_ns),
        ).fetchall()
        return [self._row(r) for r in rows]

    def all_files(self) -> Iterator[FileRow]:
        for r in self.db.execute(f"SELECT {self._COLS} FROM files"):
            yield self._row(r)

    def files_by_ids(self, ids: Iterable[int]) -> dict[int, FileRow]:
        out: dict[int, FileRow] = {}
        ids = list(ids)
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            q = ",".join("?" * len(chunk))
            for r in self.db.execute(f"SELECT {self._COLS} FROM files WHERE id IN ({q})", chunk):
                out[r[0]] = self._row(r)
        return out

    def add_file(self, path: str, dev: int, inode: int, size: int, mtime_ns: int, scan: int) -> int:
        cur = self.db.execute(
            "INSERT INTO files (path, dev, inode, size, mtime_ns, seen_scan) VALUES (?,?,?,?,?,?)",
            (fs_path(path), dev, inode, size, mtime_ns, scan),
        )
        return int(cur.lastrowid)

    def add_files(self, rows: Sequence[FileRow], scan: int) -> None:
        """New files with the ids they carry (a first scan numbers them as SQLite would) and
        the kind and head+tail hash already sniffed: one statement for many, where
        ``add_file`` is one a file."""
        self.db.executemany(
            "INSERT INTO files (id, path, dev, inode, size, mtime_ns, kind, headtail, seen_scan) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            ((r.id, fs_path(r.path), *_stat_sniffed(r), scan) for r in rows),
        )

    def reset_file(
        self, file_id: int, dev: int, inode: int, size: int, mtime_ns: int, scan: int
    ) -> None:
        """The file changed: new stat, and every derived value forgotten."""
        self.db.execute(
            "UPDATE files SET dev=?, inode=?, size=?, mtime_ns=?, kind=NULL, headtail=NULL, "
            "fullhash=NULL, error=NULL, seen_scan=? WHERE id=?",
            (dev, inode, size, mtime_ns, scan, file_id),
        )
        self.db.execute("DELETE FROM features WHERE file_id=?", (file_id,))

    def move_file(self, file_id: int, new_path: str, scan: int) -> None:
        self.db.execute("DELETE FROM files WHERE path=? AND id<>?", (fs_path(new_path), file_id))
        self.db.execute(
            "UPDATE files SET path=?, seen_scan=? WHERE id=?", (fs_path(new_path), scan, file_id)
        )

    def unseen_under(self, roots: Iterable[str], scan: int) -> list[tuple[int, str, int]]:
        """(id, path, size) of files under ``roots`` that this scan did not see.

        Not seen is not the same as gone: a filtered or partial scan skips files on purpose.
        The caller decides which of them are really gone (see ``remove_files``).
        """
        out: list[tuple[int, str, int]] = []
        for root in roots:
            prefix = fs_path(root.rstrip(os.sep) + os.sep)
            upper = prefix[:-1] + bytes([prefix[-1] + 1])
            out.extend(
                (r[0], str_path(r[1]), r[2])
                for r in self.db.execute(
                    "SELECT id, path, size FROM files WHERE path >= ? AND path < ? "
                    "AND seen_scan <> ?",
                    (prefix, upper, scan),
                )
            )
        return out

    def remove_files(self, ids: Iterable[int]) -> int:
        """Forget these files (and, by trigger, their "not a duplicate" pairs)."""
        n = 0
        for i in ids:
            n += self.db.execute("DELETE FROM files WHERE id=?", (i,)).rowcount
        return n

    def set_kind(self, file_id: int, kind: str | None, error: str | None) -> None:
        self.set_kinds([(file_id, kind, error)])

    def set_kinds(self, rows: Iterable[tuple[int, str | None, str | None]]) -> None:
        """``set_kind`` for many (file id, kind, error) rows: one statement, not one a file."""
        rows = ((kind, error, fid) for fid, kind, error in rows)
        self.db.executemany("UPDATE files SET kind=?, error=? WHERE id=?", rows)

    def set_sniffed(self, rows: Iterable[tuple[int, str, bytes]]) -> None:
        """(file id, kind, head+tail hash) rows: the catalog stage's sniff of a file whose size
        collides, one update a file where ``set_kinds`` then ``set_headtails`` made two."""
        self.db.executemany("UPDATE files SET kind=?2, error=NULL, headtail=?3 WHERE id=?1", rows)

    def set_headtails(self, rows: Iterable[tuple[int, bytes]]) -> None:
        """(file id, head+tail hash) rows in one statement (the exact stage's ≈ 10⁵ at 100k)."""
        self.db.executemany("UPDATE files SET headtail=?2 WHERE id=?1", rows)

    def set_fullhashes(self, rows: Iterable[tuple[int, bytes]]) -> None:
        """(file id, full-content hash) rows in one statement."""
        self.db.executemany("UPDATE files SET fullhash=?2 WHERE id=?1", rows)

    # -- features -----------------------------------------------------------------------------
    def put_feature(self, file_id: int, name: str, version: int, data: bytes) -> None:
        self.put_features([(file_id, name, version, data)])

    def put_features(self, rows: Iterable[tuple[int, str, int, bytes]]) -> None:
        """``put_feature`` for many (file id, name, version, data) rows in one statement."""
        self.db.executemany(
            "INSERT OR REPLACE INTO features (file_id, name, version, data) VALUES (?,?,?,?)", rows
        )

    def feature_names(self, prefix: str) -> list[str]:
        """Stored feature names starting with ``prefix``, the most common first."""
        rows = self.db.execute(
            "SELECT name, COUNT(*) FROM features WHERE substr(name, 1, ?)=? GROUP BY name "
            "ORDER BY COUNT(*) DESC, name",
            (len(prefix), prefix),
        ).fetchall()
        return [r[0] for r in rows]

    def ids_with_fullhash(self, fullhash: bytes) -> list[int]:
        """Every file with this content hash (byte-identical copies)."""
        return [r[0] for r in self.db.execute("SELECT id FROM files WHERE fullhash=?", (fullhash,))]

    def feature_versions(self, name: str) -> dict[int, int]:
        """File id → version of its feature ``name``: from the features index where the
        catalog has it (catalog_schema.FEATURE_INDEX), never the blobs' pages."""
        return dict(self.db.execute("SELECT file_id, version FROM features WHERE name=?", (name,)))

    def load_features(
        self, name: str, version: int, ids: Iterable[int] | None = None
    ) -> dict[int, bytes]:
        if ids is None:  # a whole name (half the rows): the table in order beat the index by 10 %
            sql = "SELECT file_id, data FROM features NOT INDEXED WHERE name=? AND version=?"
            return dict(self.db.execute(sql, (name, version)))
        return features_of(self.db, name, version, list(ids))

    # -- scans and groups -----------------------------------------------------------------------
    def start_scan(
        self, roots: list[str], follow_symlinks: bool = False, started: float | None = None
    ) -> int:
        """A new scan's id (``started``: when it began, default now). The meta row ``symlinks`` says whether any scan stored a path
        reached through a symlink: '1' once one followed them, '0' when the catalog's first
        scan did not; a catalog older than the row has none (unknown)."""
        first = self.db.execute("SELECT 1 FROM scans LIMIT 1").fetchone() is None
        if follow_symlinks:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('symlinks', '1')")
        elif first:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('symlinks', '0')")
        cur = self.db.execute(
            "INSERT INTO scans (started, roots) VALUES (?, ?)",
            (started or time.time(), json.dumps(roots)),
        )
        return int(cur.lastrowid)

    def finish_scan(
        self,
        scan_id: int,
        stats: dict[str, Any],
        groups: Sequence[Group],
        seen: Iterable[int] | None = None,
    ) -> None:
        """Store this scan's groups, merged with the stored groups it did not look at.

        ``seen``: ids of the files this scan looked at (None: replace every stored group). A
        stored group is kept when none of its files is in a new group, not every one of its
        files was seen, and each seen one is unchanged, so scanning a subfolder (or with
        --include/--exclude) leaves the review of the rest of the library as it was.
        A ``ScanGroups`` is read once, a chunk at a time (scan_groups.merged).
        """
        kept = [] if seen is None else self._groups_outside(scan_groups.file_ids(groups), set(seen))
        self.begin()
        scan_groups.store(self.db, scan_id, kept, groups)  # JSON rows + review columns
        self.db.execute(
            "UPDATE scans SET finished=?, stats=? WHERE id=?",
            (time.time(), json.dumps(stats), scan_id),
        )
        self.commit()

    def _groups_outside(self, in_new: set[int | None], seen: set[int]) -> list[Group]:
        """Stored groups this scan leaves as they were (renamed members follow the file); only
        those are decoded (``group_files`` rules out the rest: a rescan decodes no old review).
        ``in_new``: the file ids of the scan's own groups."""
        old = catalog_groups.page(
            self.db, catalog_groups.ords_kept(self.db, in_new, seen), show_hidden=True
        )
        rows = self.files_by_ids(
            {m.file_id for g in old for m in g.members if m.file_id is not None}
        )
        out: list[Group] = []
        for g in old:
            ids = [m.file_id for m in g.members]
            if any(i is None or i in in_new for i in ids) or all(i in seen for i in ids):
                continue
            members = []
            for m in g.members:
                r = rows.get(m.file_id)  # type: ignore[arg-type]
                if r is None or (r.size, r.mtime_ns) != (m.size, m.mtime_ns):
                    break  # deleted or changed since: the group is no longer known to hold
                members.append(m if r.path == m.path else replace(m, path=r.path))
            else:
                keep = next(
                    (n.path for n, o in zip(members, g.members, strict=True) if o.path == g.keep),
                    g.keep,
                )
                out.append(replace(g, keep=keep, members=tuple(members)))
        return out

    def load_groups(self) -> list[Group]:
        rows = self.db.execute("SELECT data FROM groups ORDER BY scan_id, ord").fetchall()
        return [group_from_row(json.loads(r[0])) for r in rows]

    def last_scans(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT id, started, finished, roots, stats FROM scans ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            {
                "id": r[0],
                "started": r[1],
                "finished": r[2],
                "roots": json.loads(r[3]),
                "stats": json.loads(r[4]) if r[4] else None,
            }
            for r in rows
        ]

    # -- decisions and UI state --------------------------------------------------------------
    def add_not_duplicate(self, paths: list[str]) -> None:
        ids = []
        for p in paths:
            row = self.file_by_path(p)
            if row is not None:
                ids.append(row.id)
        now = time.time()
        self.db.executemany(
            "INSERT OR IGNORE INTO not_duplicate (a, b, created) VALUES (?,?,?)",
            ((min(a, b), max(a, b), now) for i, a in enumerate(ids) for b in ids[i + 1 :]),
        )

    def not_duplicate_pairs(self) -> set[tuple[int, int]]:
        return {(a, b) for a, b in self.db.execute("SELECT a, b FROM not_duplicate")}

    def remove_not_duplicate(self, paths: list[str]) -> int:
        """Forget the "not a duplicate" pairs among these files (the user undecided a group)."""
        ids = [r.id for p in paths if (r := self.file_by_path(p)) is not None]
        n = 0
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                n += self.db.execute(
                    "DELETE FROM not_duplicate WHERE a=? AND b=?", (min(a, b), max(a, b))
                ).rowcount
        return n

    def review_decisions(self, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every stored review decision (or those of these keys): review_rows.read."""
        return review_rows.read(self.db, keys)

    def save_review_decisions(
        self, upserts: Iterable[dict[str, Any]], deletes: Iterable[str]
    ) -> None:
        """Write changed decisions and drop replaced ones, in one transaction."""
        self.begin()
        try:
            review_rows.write(self.db, upserts, deletes)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.commit()

    # -- cached pair verifications (geometric checks are the slow part of a model scan) --------
    def pair_checks(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple]:
        """(stamp, same, score) per already-checked pair; the caller compares the stamp."""
        out: dict[tuple[int, int], tuple] = {}
        for a, b in pairs:
            row = self.db.execute(
                "SELECT stamp, same, score FROM pair_checks WHERE a=? AND b=?", (a, b)
            ).fetchone()
            if row:
                out[(a, b)] = (row[0], bool(row[1]), float(row[2]))
        return out

    def put_pair_checks(self, rows: Iterable[tuple[int, int, str, bool, float]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO pair_checks (a, b, stamp, same, score) VALUES (?,?,?,?,?)",
            ((a, b, stamp, int(same), score) for a, b, stamp, same, score in rows),
        )

    # -- identity and favourites (the plan builder and apply read them) ---------------------
    def catalog_id(self) -> str:
        """A random id made once per catalog: a plan names the catalog it came from, and
        ``apply`` refuses a plan whose catalog is not the one it opens."""
        got = self.get_state("catalog_id")
        if isinstance(got, str) and got:
            return got
        new = uuid.uuid4().hex
        self.db.execute(
            "INSERT OR IGNORE INTO state (key, value) VALUES ('catalog_id', ?)", (json.dumps(new),)
        )
        return str(self.get_state("catalog_id"))

    def add_favourites(self, paths: Iterable[str]) -> None:
        from lookalike.engine import marks

        marks.set_favourite(self, paths, True)

    def remove_favourites(self, paths: Iterable[str]) -> None:
        from lookalike.engine import marks

        marks.set_favourite(self, paths, False)

    def favourites(self) -> set[str]:
        """Favourite files: never acted on (the plan builder and apply refuse them). Kept by
        file identity in :mod:`lookalike.engine.marks`, so a moved favourite stays one."""
        from lookalike.engine import marks

        return set(marks.favourites(self, include_missing=True))

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_state(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )
