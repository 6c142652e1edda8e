"""The catalog's tables, and how a group is stored in a row (paths as hex of their bytes)."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from lookalike.engine.records import Group, Member

SCHEMA_VERSION = 3  # 2: group columns and group_files (engine/catalog_groups.py); 3: taken

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    dev INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    kind TEXT,
    headtail BLOB,
    fullhash BLOB,
    error TEXT,
    seen_scan INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_stat ON files (dev, inode, size, mtime_ns);
CREATE INDEX IF NOT EXISTS files_size ON files (size);
CREATE TABLE IF NOT EXISTS features (
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_id, name)
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    roots TEXT NOT NULL,
    stats TEXT
);
CREATE TABLE IF NOT EXISTS groups (
    scan_id INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    tier TEXT,
    bytes_to_free INTEGER,
    members INTEGER,
    keep BLOB,
    data TEXT NOT NULL,
    PRIMARY KEY (scan_id, ord)
);
CREATE TABLE IF NOT EXISTS group_files (  -- one row per member of a stored group
    ord INTEGER NOT NULL,
    file_id INTEGER,
    path BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    format TEXT,
    score REAL,
    flags TEXT,
    taken REAL  -- capture time, epoch seconds (member_columns.capture_seconds), NULL: none
);
CREATE INDEX IF NOT EXISTS groups_ord ON groups (ord);  -- pages read by ord (catalog_groups)
CREATE INDEX IF NOT EXISTS group_files_ord ON group_files (ord);
CREATE INDEX IF NOT EXISTS group_files_path ON group_files (path);
CREATE INDEX IF NOT EXISTS group_files_file ON group_files (file_id);
CREATE TABLE IF NOT EXISTS not_duplicate (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX IF NOT EXISTS not_duplicate_b ON not_duplicate (b);
CREATE TRIGGER IF NOT EXISTS files_forget_not_duplicate AFTER DELETE ON files BEGIN
    DELETE FROM not_duplicate WHERE a = old.id OR b = old.id;
END;
CREATE TABLE IF NOT EXISTS review_decisions (
    gkey TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    members TEXT NOT NULL,
    keep TEXT NOT NULL,
    undecided TEXT NOT NULL DEFAULT '[]',
    batch TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS favourites (path BLOB PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pair_checks (
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    stamp TEXT NOT NULL,
    same INTEGER NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (a, b)
);
"""

# Which files have a feature at which version, read from ≈ 20 bytes a row instead of the
# features table's pages (3 GB at 1 M files: ``Catalog.feature_versions`` was 1 s warm and 5 s
# cold of an unchanged rescan). Not in SCHEMA: an older catalog gains it once, from the scan
# (pipeline.py, with a line when it is large), so no other opener stalls on it; a catalog with
# it opens in older lookalikes as it is (the schema version is unchanged).
FEATURE_INDEX = "CREATE INDEX IF NOT EXISTS features_name ON features (name, version, file_id)"
QUIET_ROWS = 500_000  # fewer feature rows index in well under 2 s: any opener adds it, silently


def feature_index_missing(db: sqlite3.Connection) -> int | None:
    """None when the catalog has its features index; else about how many rows it must index
    (the largest rowid: no count of a table that may be gigabytes)."""
    sql = "SELECT 1 FROM sqlite_master WHERE type='index' AND name='features_name'"
    if db.execute(sql).fetchone() is not None:
        return None
    return int(db.execute("SELECT COALESCE(MAX(rowid), 0) FROM features").fetchone()[0])


def feature_index(db: sqlite3.Connection, large: bool = False) -> None:
    """Create the features index when it is missing and has at most ``QUIET_ROWS`` rows to
    index (``large``: any number). Its own statement: it commits at once. A catalog that
    cannot take it now (a read-only file, another writer past the busy timeout) opens as
    before: every read is right without it, only slower."""
    rows = feature_index_missing(db)
    if rows is not None and (large or rows <= QUIET_ROWS):
        try:
            db.execute(FEATURE_INDEX)
        except sqlite3.OperationalError:
            return


def group_to_row(g: Group) -> dict[str, Any]:
    d = g.to_json()
    for m, f in zip(g.members, d["files"], strict=True):
        f["path"] = os.fsencode(m.path).hex()
        f["content_hash"] = m.content_hash
        f["file_id"] = m.file_id
    d["keep"] = os.fsencode(g.keep).hex()
    return d


def group_from_row(d: dict[str, Any]) -> Group:
    members = tuple(
        Member(
            path=os.fsdecode(bytes.fromhex(f["path"])),
            size=f["size"],
            width=f["width"],
            height=f["height"],
            format=f["format"],
            score=f["score"],
            mtime_ns=f.get("mtime_ns", 0),
            capture_time=f.get("capture_time"),
            camera=f.get("camera"),
            thumb=f.get("thumb"),
            content_hash=f.get("content_hash"),
            file_id=f.get("file_id"),
            flags=tuple(f.get("flags") or ()),
            evidence=f.get("evidence"),
            duration=f.get("duration"),  # videos
            fps=f.get("fps"),
            codec=f.get("codec"),
            segments=tuple(f.get("segments") or ()),
            strip=f.get("strip"),
        )
        for f in d["files"]
    )
    return Group(d["id"], d["tier"], os.fsdecode(bytes.fromhex(d["keep"])), d["reason"], members)
