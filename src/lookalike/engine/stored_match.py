"""Which stored groups hold exactly the files of each stored review decision, found in SQL
(issue 13, docs/scale.md "Decisions matched in SQL").

Why: the review keeps a decision by its group's member files (ui/state_store.py) and, when it
opens, gives each decision back to the stored group that now holds those files. Reading
every decided group's members into Python and comparing them group by group took ≈ 32 s at
100,000 decided groups. Nearly every decision's files are still exactly one group's files,
and that is a join: the decisions' file keys go into a temporary table, are joined with
``group_files`` through its file id and path indexes, and counted per (decision, group).
A pair is *exact* when the decision's files are all of that group's rows and neither touches
anything else; its answer needs no rule beyond "same files". Every other group that holds a
decision's file is returned for the caller's Python rules (a group that grew, split or
merged, a key written twice, a group with a hidden file).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from lookalike.engine.catalog_groups import hidden_ords

PATH_KEY = "path:"  # the key of a member the catalog gave no file id starts so
INT64 = 2**63

# Keys by file id come in as JSON ([[not wanted keys], [wanted keys]] per decision) and are
# matched against the very string the review writes, so only a key file_key could have
# written finds a row. CROSS JOIN keeps the keys outside: one index lookup in group_files each.
_HITS = (
    "CREATE TEMP TABLE match_hits AS "
    "SELECT d.key AS s, m.value AS k, f.ord AS ord, CASE WHEN p.key THEN f.path END AS path "
    "FROM json_each(?) d, json_each(d.value) p, json_each(p.value) m CROSS JOIN group_files f "
    "ON f.file_id = CAST(substr(m.value, 1, instr(m.value, ':') - 1) AS INTEGER) "
    "WHERE f.file_id || ':' || f.size || ':' || f.mtime_ns = m.value "
    "UNION ALL "
    "SELECT w.s, w.k, f.ord, CASE WHEN w.want THEN f.path END "
    "FROM temp.match_paths w CROSS JOIN group_files f ON f.path = w.path "
    "WHERE f.file_id IS NULL AND f.size = w.size AND f.mtime_ns = w.mtime"
)
_PATHS = (  # k: the key's index in the path keys (a name need not be UTF-8)
    "CREATE TEMP TABLE match_paths "
    "(k INTEGER PRIMARY KEY, s INTEGER, path BLOB, size INTEGER, mtime INTEGER, want INTEGER)"
)
_PAIRS = (  # counted first, so each (decision, group) pair looks its group up once
    "SELECT p.s, p.ord, p.n, p.distinct_keys, g.members FROM (SELECT s, ord, COUNT(*) AS n, "
    "COUNT(DISTINCT k) AS distinct_keys FROM temp.match_hits GROUP BY s, ord) p "
    "JOIN groups g ON g.ord = p.ord"
)


def member_key(file_id: int | None, path: str, size: int, mtime_ns: int) -> str:
    """A stored member's file key, the identity a review decision keeps its files by (so it
    outlives the scan that showed them): file id, size and time; the path when no id."""
    if file_id is not None:
        return f"{file_id}:{size}:{mtime_ns}"
    return f"{PATH_KEY}{path}:{size}:{mtime_ns}"


def parse_path_key(key: str) -> tuple[str, bytes, int, int] | None:
    """A path key's (path, its bytes, size, mtime), or None when ``member_key`` could not
    have written it ("012", "+1": int() takes them, member_key never writes them)."""
    if not key.startswith(PATH_KEY):
        return None
    path, *nums = key[len(PATH_KEY) :].rsplit(":", 2)
    try:
        size, mtime = (int(n) for n in nums)
        raw = os.fsencode(path)
    except (ValueError, UnicodeError):
        return None
    if len(nums) != 2 or member_key(None, path, size, mtime) != key:
        return None
    return path, raw, size, mtime


def _path_row(s: int, key: str, want: bool) -> tuple | None:
    """A path key as a row of ``match_paths``, or None when no member could have it."""
    parsed = parse_path_key(key)
    if parsed is None:
        return None
    path, raw, size, mtime = parsed
    if not (-INT64 <= size < INT64 and -INT64 <= mtime < INT64):
        return None
    return (s, raw, size, mtime, int(want))


@dataclass
class SetMatches:
    """What :func:`match_sets` found.

    ``exact``: (decision index, ord) pairs in which the decision's files are exactly the
    group's member rows, the decision has no file in another group, no other decision has a
    file in this group, and no member of the group is hidden; by ord. ``other``: the ords,
    ascending, of every other stored group holding one of the keys. ``paths``: the stored
    path of each wanted key of the exact pairs: decision index → key → path.
    """

    exact: list[tuple[int, int]] = field(default_factory=list)
    other: list[int] = field(default_factory=list)
    paths: dict[int, dict[str, bytes]] = field(default_factory=dict)


def match_sets(
    db: sqlite3.Connection,
    sets: Sequence[tuple[Collection[str], Collection[str]]],
    show_hidden: bool = False,
) -> SetMatches:
    """Match decisions — ``sets[s]``: its member keys (:func:`member_key`) and the ones whose
    stored path it wants back — against the stored groups, in one read transaction whose
    temporary tables are rolled back with it."""
    by_id: list[list[list[str]]] = []
    by_path: list[tuple] = []
    path_keys: list[str] = []
    for s, (members, wanted) in enumerate(sets):
        text = "\n".join(members)
        if text.isascii() and PATH_KEY not in text:  # every key by file id (the usual case)
            by_id.append([list(frozenset(members) - frozenset(wanted)), list(wanted)])
            continue
        parts: list[list[str]] = [[], []]
        for k in members:
            want = k in wanted
            if k.startswith(PATH_KEY):
                if (row := _path_row(s, k, want)) is not None:
                    by_path.append((len(path_keys), *row))
                    path_keys.append(k)
            elif k.isascii():  # any other key names no file id (it matches nothing)
                parts[want].append(k)
        by_id.append(parts)
    db.execute("SAVEPOINT match_sets")  # a read transaction unless the caller has one
    try:
        db.execute(_PATHS)
        db.executemany("INSERT INTO temp.match_paths VALUES (?,?,?,?,?,?)", by_path)
        db.execute(_HITS, (json.dumps(by_id),))
        pairs = db.execute(_PAIRS).fetchall()
        per_set = Counter(s for s, *_ in pairs)
        per_ord = Counter(o for _, o, *_ in pairs)
        skip = set() if show_hidden else hidden_ords(db)
        exact = [
            (s, o)
            for s, o, n, distinct, members in pairs
            if per_set[s] == 1 and per_ord[o] == 1 and o not in skip
            and n == distinct == members == len(sets[s][0])
        ]  # fmt: skip
        done_sets, done_ords = {s for s, _ in exact}, {o for _, o in exact}
        paths: dict[int, dict[str, bytes]] = {}
        for s, k, p in db.execute("SELECT s, k, path FROM temp.match_hits WHERE path NOT NULL"):
            if s in done_sets:
                paths.setdefault(s, {})[k if isinstance(k, str) else path_keys[k]] = p
        other = sorted(per_ord.keys() - done_ords)
    finally:
        db.execute("ROLLBACK TO match_sets")  # the temporary tables go with it
        db.execute("RELEASE match_sets")
    return SetMatches(sorted(exact, key=lambda p: p[1]), other, paths)


# Stored decision rows the review can pair without reading them into Python: every JSON
# column valid, status one the review keeps, members an array of ≥ 2 distinct strings, each
# a key by file id (no "path:" key), keep and undecided arrays. One row otherwise: None.
_UNCLEAN = (
    "SELECT 1 FROM review_decisions d WHERE NOT (json_valid(d.members) AND json_valid(d.keep) "
    "AND json_valid(d.undecided) AND d.status IN ('accepted', 'changed', 'not-dup') "
    "AND json_type(d.members) = 'array' AND json_type(d.keep) = 'array' "
    "AND json_type(d.undecided) = 'array' AND json_array_length(d.members) >= 2 "
    "AND json_array_length(d.members) = (SELECT COUNT(DISTINCT m.value) FROM json_each(d.members) m "
    "WHERE m.type = 'text' AND m.value NOT LIKE 'path:%')) LIMIT 1"
)
_ROW_HITS = (
    "CREATE TEMP TABLE row_hits AS "
    "SELECT d.rowid AS s, m.value AS k, f.ord AS ord, f.path AS path "
    "FROM review_decisions d, json_each(d.members) m CROSS JOIN group_files f "
    "ON f.file_id = CAST(substr(m.value, 1, instr(m.value, ':') - 1) AS INTEGER) "
    "WHERE f.file_id || ':' || f.size || ':' || f.mtime_ns = m.value"
)
_ROW_PAIRS = (
    "SELECT p.s, p.ord, p.n, p.distinct_keys, g.members, json_array_length(d.members) "
    "FROM (SELECT s, ord, COUNT(*) AS n, COUNT(DISTINCT k) AS distinct_keys "
    "FROM temp.row_hits GROUP BY s, ord) p "
    "JOIN groups g ON g.ord = p.ord JOIN review_decisions d ON d.rowid = p.s"
)
# Per row: its key, status and batch; then the text values of its keep and undecided arrays
# as bytes (a decoded JSON escape need not be UTF-8; a key that can match is ASCII), so each
# paired row's hits are sorted in Python — no subquery a pair or a hit.
_ROWS = (
    "SELECT rowid, gkey, status, CASE WHEN typeof(batch) = 'text' THEN batch END "
    "FROM review_decisions"
)
_FLAGS = (
    "SELECT d.rowid, CAST(v.value AS BLOB) FROM review_decisions d, json_each(d.{}) v "
    "WHERE v.type = 'text'"
)


@dataclass
class RowPair:
    """A stored decision row whose files are exactly one stored group's (``ord``): what the
    review needs to show its decision, its kept and undecided files as stored paths."""

    key: str
    ord: int
    status: str
    batch: str | None
    kept: list[bytes] = field(default_factory=list)
    undecided: list[bytes] = field(default_factory=list)


def pair_stored_rows(
    db: sqlite3.Connection, show_hidden: bool = False
) -> tuple[list[RowPair], list[str]] | None:
    """The stored decision rows paired with a group in SQL, straight from ``review_decisions``
    (no row decoded in Python; a paired row's kept and undecided files sorted from the rows
    read, with no per-pair subquery), and the keys of every other row; None when a row is one the
    rule must read itself (see ``_UNCLEAN``). A pair is exact as in :func:`match_sets`: the
    row's files are all of the group's rows, no other row touches the group, no member is
    hidden — so the rest, matched by the rule among themselves, gives the rule's answer."""
    db.execute("SAVEPOINT pair_rows")
    try:
        if db.execute(_UNCLEAN).fetchone() is not None:
            return None
        db.execute(_ROW_HITS)
        pairs = db.execute(_ROW_PAIRS).fetchall()
        per_set = Counter(s for s, *_ in pairs)
        per_ord = Counter(o for _, o, *_ in pairs)
        skip = set() if show_hidden else hidden_ords(db)
        exact = {
            s: o
            for s, o, n, distinct, members, length in pairs
            if per_set[s] == 1 and per_ord[o] == 1 and o not in skip
            and n == distinct == members == length
        }  # fmt: skip
        got: dict[int, RowPair] = {}
        rest: list[str] = []
        for s, key, status, batch in db.execute(_ROWS):
            if (o := exact.get(s)) is None:
                rest.append(key)
            else:
                got[s] = RowPair(key, o, status, batch)
        kept, undecided = ({(s, v) for s, v in db.execute(_FLAGS.format(c)) if s in got}
                           for c in ("keep", "undecided"))  # fmt: skip
        for s, k, path in db.execute("SELECT s, k, path FROM temp.row_hits"):
            if (pair := got.get(s)) is not None:
                flag = (s, k.encode())
                if flag in kept:
                    pair.kept.append(path)
                if flag in undecided:
                    pair.undecided.append(path)
    finally:
        db.execute("ROLLBACK TO pair_rows")
        db.execute("RELEASE pair_rows")
    return sorted(got.values(), key=lambda p: p.ord), rest
