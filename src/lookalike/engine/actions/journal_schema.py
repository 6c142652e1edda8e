"""The journal's SQLite schema, how paths are stored (the file system's bytes), and the
migration of version-1 journals (TEXT paths)."""

from __future__ import annotations

import os
import sqlite3

SCHEMA_VERSION = 3  # 2: paths as BLOB; 3: index of rows a quarantine empty was deleting
BATCHES_TABLE = """
CREATE TABLE IF NOT EXISTS batches(
  id TEXT PRIMARY KEY,
  created REAL NOT NULL,
  finished REAL,
  action TEXT NOT NULL,
  state TEXT NOT NULL,
  origin TEXT,
  redo_of TEXT,
  pid INTEGER,
  host TEXT,
  params TEXT,
  meta TEXT
)"""
ITEMS_TABLE = """
CREATE TABLE IF NOT EXISTS items(
  batch TEXT NOT NULL REFERENCES batches(id),
  seq INTEGER NOT NULL,
  group_id INTEGER,
  op TEXT NOT NULL,
  source BLOB NOT NULL,
  dest BLOB,
  keeper BLOB,
  size INTEGER,
  mtime_ns INTEGER,
  hash TEXT,
  state TEXT NOT NULL,
  detail TEXT,
  error TEXT,
  updated REAL,
  PRIMARY KEY(batch, seq)
)"""
ITEMS_INDEX = "CREATE INDEX IF NOT EXISTS items_state ON items(batch, state)"
PURGING_INDEX = (  # tiny: recovery finds an interrupted ``quarantine empty`` without a scan
    "CREATE INDEX IF NOT EXISTS items_purging ON items(batch, seq) WHERE state='purging'"
)
PATH_COLUMNS = ("source", "dest", "keeper")


def to_blob(path: str | bytes | None) -> bytes | None:
    """A path as the journal stores it: the file system's bytes."""
    return None if path is None else os.fsencode(path)


def from_blob(value: bytes | str | None) -> str | None:
    """A stored path back as a ``surrogateescape`` str (old TEXT rows pass through)."""
    return None if value is None else os.fsdecode(value)


def migrate_v1(db: sqlite3.Connection) -> None:
    """TEXT paths → BLOB (the UTF-8 bytes they were written from); inside the caller's
    transaction, so a crash leaves the old table as it was."""
    cols = [r[1] for r in db.execute("PRAGMA table_info(items)")]
    db.execute("ALTER TABLE items RENAME TO items_v1")
    db.execute("DROP INDEX IF EXISTS items_state")
    db.execute(ITEMS_TABLE)
    select = ", ".join(f"CAST({c} AS BLOB)" if c in PATH_COLUMNS else c for c in cols)
    db.execute(f"INSERT INTO items({', '.join(cols)}) SELECT {select} FROM items_v1")
    db.execute("DROP TABLE items_v1")
    db.execute(ITEMS_INDEX)
