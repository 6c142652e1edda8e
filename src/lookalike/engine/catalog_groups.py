"""The stored review as columns and pages (issue 13, docs/scale.md "The review pages groups").

Why: decoding every stored group costs ≈ 2.7 KB per file and 40 s per 100,000 groups before
the first one shows. What a whole-review view needs (tier, bytes to free, member count, the
member paths) is small and columnar, so ``finish_scan`` writes it beside each group's JSON
row — columns on ``groups`` and one ``group_files`` row per member — and the review reads
the view as an int array of group ords and decodes only the page on screen.

A group's ord is its place in the stored review (0-based; its ``Group.id`` is ord + 1).
Files a content rule hid (engine/hidden.py) are left out here exactly as
``hidden.without_hidden`` leaves them out of ``Engine.last_groups()``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lookalike.engine import hidden
from lookalike.engine.catalog_schema import SCHEMA, group_from_row, group_to_row
from lookalike.engine.member_columns import capture_seconds
from lookalike.engine.records import Group, Member

SORTS = ("order", "bytes", "size", "tier")  # the review's sorts (ui/state_store.py)
TIER_ORDER = {"exact": 0, "same": 1, "similar": 2}  # the "tier" sort; others after them
INSERT_FILE = "INSERT INTO group_files VALUES (?,?,?,?,?,?,?,?,?,?,?)"  # one member's row
_GROUPS_TABLE = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS groups") :].split(";")[0]


@dataclass(frozen=True)
class GroupFilter:
    """The review's filters: one tier (None: all) and a folder-name substring (None: all)."""

    tier: str | None = None
    folder: str | None = None


# -- writing (inside the caller's transaction) ---------------------------------------------
def _columns(d: dict[str, Any]) -> tuple[str, int, int, bytes]:
    """tier, bytes to free, member count, keeper path of one stored row (paths in hex)."""
    to_free = sum(f["size"] for f in d["files"] if f["path"] != d["keep"])
    return d["tier"], to_free, len(d["files"]), bytes.fromhex(d["keep"])


def _file_rows(ord_: int, d: dict[str, Any]) -> Iterable[tuple]:
    for f in d["files"]:
        flags = f.get("flags")
        yield (
            ord_,
            f.get("file_id"),
            bytes.fromhex(f["path"]),
            f["size"],
            f.get("mtime_ns", 0),
            f["width"],
            f["height"],
            f["format"],
            f["score"],
            json.dumps(list(flags)) if flags else None,
            capture_seconds(f.get("capture_time")),
        )


def store(db: sqlite3.Connection, scan_id: int, groups: Iterable[Group]) -> None:
    """Replace the stored review by ``groups`` (ord = index): JSON rows, columns, files —
    the columns taken from the very row that is stored, so the two never disagree."""
    db.execute("DELETE FROM groups")
    db.execute("DELETE FROM group_files")
    for i, g in enumerate(groups):
        insert(db, scan_id, i, g)


def insert(db: sqlite3.Connection, scan_id: int, ord_: int, g: Group) -> None:
    """Store one group at ``ord_`` (its id becomes ord + 1): the JSON row, its columns and
    its ``group_files`` rows. Why one at a time: a job's result (engine/result_store.py) is
    written as the scan yields each group, never held as a list."""
    d = group_to_row(replace(g, id=ord_ + 1))
    db.execute(
        "INSERT INTO groups (scan_id, ord, data, tier, bytes_to_free, members, keep) "
        "VALUES (?,?,?,?,?,?,?)",
        (scan_id, ord_, json.dumps(d), *_columns(d)),
    )
    db.executemany(INSERT_FILE, _file_rows(ord_, d))


def upgrade_schema(db: sqlite3.Connection, version: int) -> None:
    """Bring an older catalog to ``version`` inside the caller's transaction (the stored
    version is re-read in it, so two processes opening the file at once upgrade it once)."""
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if int(row[0]) < 2:
        upgrade_to_2(db)
    if int(row[0]) < 3:
        upgrade_to_3(db)
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(version),))


def upgrade_to_2(db: sqlite3.Connection) -> None:
    """Schema 1 → 2: the groups table rebuilt with the columns (before the JSON, so reading
    them never walks a row's overflow pages) filled from the JSON rows, and ``group_files``
    filled, so an older review pages at once."""
    db.execute("DELETE FROM group_files")
    db.execute("ALTER TABLE groups RENAME TO groups_v1")
    db.execute(_GROUPS_TABLE)
    db.execute("CREATE INDEX IF NOT EXISTS groups_ord ON groups (ord)")
    last = -1
    while True:  # a chunk at a time: the JSON of a large review is never all in memory
        rows = db.execute(
            "SELECT rowid, scan_id, ord, data FROM groups_v1 WHERE rowid > ? "
            "ORDER BY rowid LIMIT 2000",
            (last,),
        ).fetchall()
        if not rows:
            break
        for _, scan_id, ord_, data in rows:
            d = json.loads(data)
            db.execute(
                "INSERT INTO groups (scan_id, ord, tier, bytes_to_free, members, keep, data) "
                "VALUES (?,?,?,?,?,?,?)",
                (scan_id, ord_, *_columns(d), data),
            )
            db.executemany(INSERT_FILE, _file_rows(ord_, d))
        last = rows[-1][0]
    db.execute("DROP TABLE groups_v1")


def upgrade_to_3(db: sqlite3.Connection) -> None:
    """Schema 2 → 3: ``group_files.taken`` (capture time, epoch seconds), so select by
    oldest/newest reads a column instead of decoding every group; filled from the JSON rows
    a chunk at a time (a schema-1 catalog got it from ``upgrade_to_2`` already)."""
    if "taken" in {r[1] for r in db.execute("PRAGMA table_info(group_files)")}:
        return
    db.execute("ALTER TABLE group_files ADD COLUMN taken REAL")
    last = -1
    while True:
        rows = db.execute(
            "SELECT rowid, ord, data FROM groups WHERE rowid > ? ORDER BY rowid LIMIT 2000",
            (last,),
        ).fetchall()
        if not rows:
            break
        db.executemany(
            "UPDATE group_files SET taken = ? WHERE ord = ? AND path = ?",
            ((t, o, bytes.fromhex(f["path"]))
             for _, o, data in rows for f in json.loads(data)["files"]
             if (t := capture_seconds(f.get("capture_time"))) is not None),
        )  # fmt: skip
        last = rows[-1][0]


# -- reading ----------------------------------------------------------------------------------
def _hidden_rows(db: sqlite3.Connection) -> list[tuple[int, bytes, int, bool]]:
    """(ord, path, size, is keeper) of the stored members a content rule hid: the stored size
    and mtime must match a hidden identity (SQL), then the file on disk must (a stat each)."""
    gone = hidden.identities(db)
    if not gone:
        return []
    stamps = {(size, mtime) for _, _, size, mtime in gone}
    rows = (
        db.execute(
            "SELECT f.ord, f.path, f.size, f.mtime_ns, f.path = g.keep FROM group_files f "
            "JOIN groups g ON g.ord = f.ord"
        )
        if len(stamps) > 400
        else db.execute(
            "SELECT f.ord, f.path, f.size, f.mtime_ns, f.path = g.keep FROM group_files f "
            "JOIN groups g ON g.ord = f.ord WHERE "
            + " OR ".join(["(f.size=? AND f.mtime_ns=?)"] * len(stamps)),
            [v for s in stamps for v in s],
        )
    )
    return [
        (o, p, size, bool(k))
        for o, p, size, mtime, k in rows
        if (size, mtime) in stamps and hidden.is_hidden(os.fsdecode(p), gone)
    ]


def hidden_ords(db: sqlite3.Connection) -> set[int]:
    """Ords of the stored groups with a member a content rule hid (their shown members differ
    from their ``group_files`` rows; engine/stored_match.py leaves them to the caller)."""
    return {o for o, *_ in _hidden_rows(db)}


def _folder_ords(db: sqlite3.Connection, needle: str, skip: set[tuple[int, bytes]]) -> set[int]:
    """Ords of groups with a shown member whose folder name holds ``needle`` (as the review's
    folder filter: a substring of the member's directory)."""
    raw = os.fsencode(needle)
    out: set[int] = set()
    for o, p in db.execute("SELECT ord, path FROM group_files WHERE instr(path, ?) > 0", (raw,)):
        if o not in out and (o, p) not in skip and needle in os.path.dirname(os.fsdecode(p)):
            out.add(o)
    return out


def columns(
    db: sqlite3.Connection,
    flt: GroupFilter = GroupFilter(),
    sort: str = "order",
    show_hidden: bool = False,
) -> np.ndarray:
    """Ords of the stored groups in view order (filtered, then a stable sort as the review's
    ``rebuild_view``), an int32 array."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: one of {', '.join(SORTS)}")
    where, args = ("WHERE tier=?", (flt.tier,)) if flt.tier else ("", ())
    rows = db.execute(
        f"SELECT ord, tier, bytes_to_free, members FROM groups {where} ORDER BY scan_id, ord",
        args,
    ).fetchall()
    ords = np.fromiter((r[0] for r in rows), dtype=np.int32, count=len(rows))
    to_free = np.fromiter((r[2] or 0 for r in rows), dtype=np.int64, count=len(rows))
    counts = np.fromiter((r[3] or 0 for r in rows), dtype=np.int32, count=len(rows))
    keep = np.ones(len(rows), dtype=bool)
    gone = [] if show_hidden else _hidden_rows(db)
    if gone:
        pos = {int(o): i for i, o in enumerate(ords)}
        for o, _path, size, is_keep in gone:
            i = pos.get(o)
            if i is None:
                continue
            counts[i] -= 1
            to_free[i] -= 0 if is_keep else size
            if is_keep:
                keep[i] = False  # a group whose keeper is hidden is dropped (hidden.py)
        keep &= counts > 1
    if flt.folder:
        found = _folder_ords(db, flt.folder, {(o, p) for o, p, _, _ in gone})
        keep &= np.fromiter((int(o) in found for o in ords), dtype=bool, count=len(ords))
    ords, to_free, counts = ords[keep], to_free[keep], counts[keep]
    tiers = [r[1] for r, k in zip(rows, keep, strict=True) if k]
    if sort == "bytes":
        ords = ords[np.argsort(-to_free, kind="stable")]
    elif sort == "size":
        ords = ords[np.argsort(-counts, kind="stable")]
    elif sort == "tier":
        rank = np.fromiter((TIER_ORDER.get(t, 3) for t in tiers), dtype=np.int8, count=len(tiers))
        ords = ords[np.argsort(rank, kind="stable")]
    return ords


def ords_with_path(db: sqlite3.Connection, test: Callable[[str], bool]) -> np.ndarray:
    """Ords of the stored groups with a member (hidden or not) whose path passes ``test``,
    read from ``group_files`` a row at a time (no group decoded); sorted int32."""
    out: set[int] = set()
    for o, p in db.execute("SELECT ord, path FROM group_files"):
        if o not in out and test(os.fsdecode(p)):
            out.add(o)
    return np.array(sorted(out), dtype=np.int32)


def ords_kept(db: sqlite3.Connection, in_new: set[int | None], seen: set[int]) -> list[int]:
    """Ords of the stored groups a scan may leave as they were (``Catalog.finish_scan``):
    every member has a file id in no new group, not every member was seen, and each member's
    file row still has its size and time. One pass over ``group_files`` joined with
    ``files``, a row at a time: no group is decoded to rule it out."""
    out: list[int] = []
    cur, ok, unseen = -1, False, False
    rows = db.execute(
        "SELECT g.ord, g.file_id, g.size, g.mtime_ns, f.size, f.mtime_ns FROM group_files g "
        "LEFT JOIN files f ON f.id = g.file_id ORDER BY g.ord"
    )
    for o, fid, size, mtime, fsize, fmtime in rows:
        if o != cur:
            if ok and unseen:
                out.append(cur)
            cur, ok, unseen = o, True, False
        if fid is None or fid in in_new or (size, mtime) != (fsize, fmtime):
            ok = False
        elif fid not in seen:
            unseen = True
    if ok and unseen:
        out.append(cur)
    return out


def count(db: sqlite3.Connection, show_hidden: bool = False) -> int:
    """How many groups the unfiltered review shows."""
    if show_hidden or not hidden.identities(db):
        return int(db.execute("SELECT COUNT(*) FROM groups").fetchone()[0])
    return len(columns(db))


def ords_of_files(
    db: sqlite3.Connection, file_ids: Iterable[int], paths: Iterable[str]
) -> list[int]:
    """Ords of the stored groups that hold any of these files (by catalog file id, or by path
    for a member the catalog gave no id), ascending: the groups a review's stored decisions can
    go back to, found without decoding the others (ui/state_store.py)."""
    out: set[int] = set()
    for col, values in (("file_id", list(file_ids)), ("path", [os.fsencode(p) for p in paths])):
        for i in range(0, len(values), 900):
            chunk = values[i : i + 900]
            q = ",".join("?" * len(chunk))
            sql = f"SELECT DISTINCT ord FROM group_files WHERE {col} IN ({q})"
            out.update(o for (o,) in db.execute(sql, chunk))
    return sorted(out)


def _flags(seen: dict[str, tuple[str, ...]], text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    got = seen.get(text)
    if got is None:
        got = seen[text] = tuple(json.loads(text))
    return got


def facts(db: sqlite3.Connection, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
    """The stored groups with these ords built from the columns alone, no JSON decoded: tier,
    keeper, and each member's path, size, mtime, dimensions, format, score, flags and file id
    — what select by criteria, "accept all" and the folder counts read over every group
    (ui/select.py). No capture time, camera, thumbnail, reason or evidence; hidden files are
    left out as in :func:`page`, and an ord not stored is skipped."""
    want = [int(o) for o in ords]
    seen: dict[str, tuple[str, ...]] = {}  # flag lists repeat: each text is parsed once
    head: dict[int, tuple[str, bytes]] = {}
    files: dict[int, list[Member]] = {}
    for i in range(0, len(want), 900):
        chunk = want[i : i + 900]
        q = ",".join("?" * len(chunk))
        for o, tier, keep in db.execute(
            f"SELECT ord, tier, keep FROM groups WHERE ord IN ({q})", chunk
        ):
            head[o] = (tier, keep)
        sql = (
            "SELECT ord, file_id, path, size, mtime_ns, width, height, format, score, flags "
            f"FROM group_files WHERE ord IN ({q}) ORDER BY ord, rowid"
        )
        for o, fid, path, size, mtime, w, h, fmt, score, flags in db.execute(sql, chunk):
            files.setdefault(o, []).append(
                Member(
                    os.fsdecode(path),
                    size,
                    w,
                    h,
                    fmt,
                    score,
                    mtime,
                    file_id=fid,
                    flags=_flags(seen, flags),
                )  # fmt: skip
            )
    groups = [
        Group(o + 1, head[o][0], os.fsdecode(head[o][1]), "", tuple(files.get(o, ())))
        for o in want
        if o in head
    ]
    gone = set() if show_hidden else hidden.identities(db)
    return hidden.without_hidden(groups, gone)


def page(db: sqlite3.Connection, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
    """The stored groups with these ords, decoded, in the order asked (hidden members left
    out as in ``last_groups``; an ord that is not stored, or whose group is hidden, is
    skipped)."""
    want = [int(o) for o in ords]
    got: dict[int, Group] = {}
    for i in range(0, len(want), 900):
        chunk = want[i : i + 900]
        q = ",".join("?" * len(chunk))
        for o, data in db.execute(f"SELECT ord, data FROM groups WHERE ord IN ({q})", chunk):
            got[o] = group_from_row(json.loads(data))
    gone = set() if show_hidden else hidden.identities(db)
    shown = {g.id: g for g in hidden.without_hidden(list(got.values()), gone)}
    return [shown[o + 1] for o in want if o + 1 in shown]
