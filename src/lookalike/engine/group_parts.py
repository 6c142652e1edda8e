"""A rescan with a few changes regroups only the parts of the collection they touch, at any size.

Grouping is decided per connected component of the verified edges (grouping.py
``_components``), and inside one only from its members' features, their relative path
order, the pairs' verdicts (match, marks, re-checks) and the options; a verified pair is a
pure function of its two files. So after a group the record here keeps, per
representative, a stamp (its exact cluster's rows, whether it is a grouping item, its
feature rows' ids) and its component. A later scan with the same settings finds the
*changed* representatives (new or changed stamp, or in a pair whose "not a duplicate" mark
changed) and the vanished ones, and regroups the part R made of: the changed ones; every one
that has a verified pair with a changed one — found by an exact (flat, brute-force) search
of the changed ones' keys against every stored orientation code and of every key against
their codes, so it depends on no other file —; and every member of a stored component that
held any of those or a vanished one. R's candidate search is exact too (``group_steps``
``exact``). Every other stored group is kept as it was.

The guarantee, at any size: the groups are exactly those of the edge set E' = (the stored
grouping's edges outside R) ∪ (every verified candidate pair inside R). So no pair within
the search radius that involves a changed file is missed, and no stored group away from the
changes moves or is rebuilt. While the stored edges are every verified pair — each grouping
since the last full one searched at most ``index.FLAT_LIMIT`` (20 000) orientation codes,
≈ 11 000 photos, with faiss's flat index — E' is every verified pair and the output is a
full regroup's byte for byte (groups, order, numbering; tests/test_group_parts.py). Above
that a full regroup's search is the inverted-file index (index.py), whose cells are sampled
from the whole collection: it finds ≥ 99.8 % of the pairs, and which ones it misses moves
with any added photo. A regroup by parts keeps what the stored grouping found away from the
changes (missed pairs stay missed until a change touches them) and is exact where they are.
Groups never chain: R is a union of components of E', each clustered as grouping does.

Videos are not items: their matcher sees all of them at once, so rank builds every video
group again on every scan (stages/rank.py ``_video_groups``) and no stored group holding a
video is kept; the photos around them still regroup by parts.

When unsure — no record, other settings, a stored group with a file the catalog has no id
for, more than ``MOST`` of the items changed, or a part of more than ``PART_LIMIT`` codes (its
exact search would cost more than a full regroup's) — it regroups all and says why in the
debug log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lookalike.engine.candidates import SEARCH_RADIUS
from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.catalog_schema import group_from_row
from lookalike.engine.index import FLAT_LIMIT, HashIndex
from lookalike.engine.item_table import Item, ItemTable
from lookalike.engine.match_rules import Thresholds
from lookalike.engine.records import Group
from lookalike.engine.stages.context import ScanContext
from lookalike.engine.stages.exact import Exact

if TYPE_CHECKING:
    from lookalike.engine.grouping import ViewSignatures

log = logging.getLogger(__name__)

KEY = "groups_parts"  # the meta table's row
FORMAT = 2  # 1: labels only when the search was exact (not usable here)
# More changed items than this share: a full regroup costs no more than the parts would
# (their candidate search over all items comes on top), so regroup all.
MOST = 0.5
# The most orientation codes the regrouped part may hold: its exact search then costs no
# more than a full flat one at index.FLAT_LIMIT, and the changed items' brute-force search
# against the whole collection (changed × all codes) stays well under a full regroup.
PART_LIMIT = FLAT_LIMIT


@dataclass
class Part:
    """What the group stage hands rank when it regrouped only part of the collection."""

    kept: list[Group]  # stored groups left as they were (numbered again by rank)
    rebuilt: set[int]  # representatives whose exact-tier group rank builds again


@dataclass
class Plan:
    """The items to regroup (indices into the scan's items) and the stored groups kept."""

    redo: list[int]
    part: Part
    labels: dict[int, int]  # representative → component label, for the clean ones


def _rows_of(ex: Exact) -> dict[int, list[FileRow]]:
    """Every representative that can be in a group → its exact cluster's rows."""
    out: dict[int, list[FileRow]] = {r.id: [r] for r in (*ex.reps, *ex.video_reps)}
    out.update(ex.cluster_of)
    return out


def stamps(cat: Catalog, ex: Exact, item_keys: set[int]) -> dict[str, str]:
    """Representative id (as text) → a hash of all rank and group read of it: its cluster's
    rows, whether it is an item, and its feature rows (a rewritten row gets a new rowid).
    Every scan computes it for every representative: the feature rows come from one pass
    over the table (an indexed look-up per file cost 2.7× as much at 100k files)."""
    rows = _rows_of(ex)
    feats: dict[int, list] = {rid: [] for rid in rows}
    for fid, name, version, rowid in cat.db.execute(
        "SELECT file_id, name, version, rowid FROM features"
    ):
        if (have := feats.get(fid)) is not None:
            have.append((name, version, rowid))
    out = {}
    for rid in sorted(rows):
        h = hashlib.blake2b(digest_size=8)
        for r in rows[rid]:
            h.update(repr((r.id, os.fsencode(r.path), r.size, r.mtime_ns, r.fullhash)).encode())
            h.update(repr(r.kind).encode())
        h.update(repr((rid in item_keys, sorted(feats[rid]))).encode())
        out[str(rid)] = h.hexdigest()
    return out


class Stamps:
    """This scan's :func:`stamps`, computed once, when first asked: a scan that regroups
    all reads them only for the record it writes after grouping, so the group stage computes
    them while the candidate search runs in a thread (candidates.py ``searched_beside``),
    not before."""

    def __init__(self, cat: Catalog, ex: Exact, item_keys: set[int]) -> None:
        self._args: tuple | None = (cat, ex, item_keys)
        self._out: dict[str, str] = {}

    def __call__(self) -> dict[str, str]:
        if self._args is not None:
            self._out, self._args = stamps(*self._args), None
        return self._out


def item_keys(items: Sequence[Item]) -> list[int]:
    """The items' keys, from a table's column (building every Item costs its views)."""
    if isinstance(items, ItemTable):
        return items.keys.tolist()
    return [it.key for it in items]


def signatures(items: Sequence[Item]) -> ViewSignatures:
    """The items' signatures, hashes included: the changed items' search reads every key
    and code, and a full regroup reuses them (``group_steps`` ``prep``)."""
    from lookalike.engine.grouping import ViewSignatures

    return ViewSignatures(items)


def load(cat: Catalog) -> dict | None:
    """The stored record (consumed: a scan that stops half way leaves none behind)."""
    row = cat.db.execute("SELECT value FROM meta WHERE key=?", (KEY,)).fetchone()
    if row is None:
        return None
    with cat.transaction():
        cat.db.execute("DELETE FROM meta WHERE key=?", (KEY,))
    rec = json.loads(row[0])
    return rec if rec.get("format") == FORMAT else None


def recorder(
    settings: str,
    stamp: dict[str, str],
    labels: dict[int, int],
    forbidden: set[tuple[int, int]],
) -> Callable[[Catalog, list], None]:
    """The record's writer, called by group_reuse.Recorder once the scan's groups are stored
    (``digest`` = [hash of the stored rows, their count])."""

    def write(cat: Catalog, digest: list) -> None:
        rec = {
            "format": FORMAT,
            "settings": settings,
            "groups": list(digest),
            "stamps": stamp,
            "parts": {str(k): v for k, v in labels.items()},
            "forbidden": sorted([a, b] for a, b in forbidden),
        }
        with cat.transaction():
            cat.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (KEY, json.dumps(rec)))

    return write


def _touched_by(
    items: Sequence[Item],
    prep: ViewSignatures,
    changed: list[int],
    forbidden: set[tuple[int, int]],
    thr: Thresholds,
) -> set[int]:
    """Items that have a verified edge with a changed item: the candidate pairs of an exact
    full search (candidates.py: a view's key within the radius of another item's
    orientation code) that hold a changed item — its keys against every code, every key
    against its codes, both by faiss's flat index whatever the collection's size —,
    verified as grouping does (items are in path order, so a pair i < j is matched as
    grouping matches it)."""
    if not changed:
        return set()
    keys_of = item_keys(items)
    owner = prep.owner
    keys, codes, code_owner = prep.take_hashes()
    mine = np.zeros(len(items), dtype=bool)
    mine[changed] = True
    held = mine[code_owner]
    flat = len(codes)  # the flat index at any size: these pairs depend on no other file
    q1, r1, _ = HashIndex(codes, flat).search(keys[mine[owner]], SEARCH_RADIUS)  # its keys
    q2, r2, _ = HashIndex(codes[held], flat).search(keys, SEARCH_RADIUS)  # its codes
    pairs = [
        np.stack([owner[mine[owner]][q1], code_owner[r1]], axis=1),
        np.stack([owner[q2], code_owner[held][r2]], axis=1),
    ]
    cand = np.concatenate(pairs)
    cand = np.unique(np.sort(cand[cand[:, 0] != cand[:, 1]], axis=1), axis=0)
    out: set[int] = set()
    for i, j in cand.tolist():
        ka, kb = keys_of[i], keys_of[j]
        if (min(ka, kb), max(ka, kb)) not in forbidden and thr.accepts(prep.match(i, j)):
            out.update((i, j))
    return out


Built = dict[tuple[str, frozenset[int]], int]  # (tier, representatives) → stored group's ord


def plan(
    ctx: ScanContext,
    ex: Exact,
    items: Sequence[Item],
    forbidden: set[tuple[int, int]],
    rec: dict | None,
    settings: str,
    stored_digest: Callable[[], list],
    thr: Thresholds,
    prep: ViewSignatures,
) -> tuple[Plan | None, Stamps, Built]:
    """What to regroup (None: all, and why in the debug log); this scan's stamps (not yet
    computed when nothing stored is usable); and when all is regrouped, the stored groups
    rank may send again as they were (``built``)."""
    keys = item_keys(items)
    lazy = Stamps(ctx.cat, ex, set(keys))
    if why := _unusable(rec, settings, stored_digest):
        log.debug("regrouping and ranking all: %s", why)
        return None, lazy, {}
    assert rec is not None
    cur = lazy()
    prev = rec["stamps"]
    changed = {int(k) for k, s in cur.items() if prev.get(k) != s}
    old_forbidden = {(a, b) for a, b in rec["forbidden"]}
    for a, b in old_forbidden ^ forbidden:
        changed.update(x for x in (a, b) if str(x) in cur)  # (a vanished one is in gone)
    gone = {int(k) for k in prev if k not in cur}
    redo, why = _part(keys, prep, changed, gone, rec, forbidden, thr, items)
    if redo is None:
        log.debug("regrouping all: %s", why)
        return None, lazy, built(ctx.cat, ex, cur, prev)
    redone = {keys[n] for n in redo} | changed
    kept = _kept(ctx.cat, ex, cur, redone)
    if kept is None:
        log.debug("regrouping all: a stored group has a file with no catalog id")
        return None, lazy, built(ctx.cat, ex, cur, prev)
    parts = rec["parts"]
    labels = {k: parts[str(k)] for k in keys if str(k) in parts and k not in redone}
    log.debug("regrouping %d of %d items, %d groups kept", len(redo), len(keys), len(kept))
    return Plan(redo, Part(kept, redone), labels), lazy, {}


def _part(
    keys: list[int],
    prep: ViewSignatures,
    changed: set[int],
    gone: set[int],
    rec: dict,
    forbidden: set[tuple[int, int]],
    thr: Thresholds,
    items: Sequence[Item],
) -> tuple[list[int] | None, str]:
    """The items to regroup, sorted (None: all, and why): the changed ones, those with a
    verified edge to one, and every member of a stored component holding any of those or
    a vanished one. Closed under the edges of E' (the module's docstring): an unchanged
    item's edges to other unchanged ones are the stored ones, inside its component."""
    index = {k: n for n, k in enumerate(keys)}
    changed_items = sorted(index[r] for r in changed if r in index)
    if len(changed_items) > MOST * len(keys):
        return None, f"{len(changed_items)} of {len(keys)} items changed"
    codes_of = np.bincount(prep.code_owner, minlength=len(keys))
    if int(codes_of[changed_items].sum()) > PART_LIMIT:
        return None, f"the changed items hold over {PART_LIMIT} codes"
    touched = _touched_by(items, prep, changed_items, forbidden, thr)
    parts = rec["parts"]
    dirty = {parts[str(r)] for r in changed | gone if str(r) in parts}
    dirty |= {parts[str(keys[n])] for n in touched if str(keys[n]) in parts}
    redo = set(changed_items) | touched
    redo.update(n for n, k in enumerate(keys) if parts.get(str(k), -1) in dirty)
    out = sorted(redo)
    if (codes := int(codes_of[out].sum())) > PART_LIMIT:
        return None, f"the part to regroup holds {codes} codes (over {PART_LIMIT})"
    return out, ""


def _unusable(rec: dict | None, settings: str, digest: Callable) -> str | None:
    """Why nothing stored can be used, or None."""
    if rec is None:
        return "no record of the last grouping"
    if rec["settings"] != settings:
        return "options, versions, roots or environment changed"
    if list(digest()) != rec["groups"]:
        return "the stored review changed"
    return None


def built(cat: Catalog, ex: Exact, cur: dict[str, str], prev: dict[str, str]) -> Built:
    """The stored groups all of whose representatives are unchanged, by tier and
    representatives: rank builds a group from those alone (their clusters, metas, views,
    the pairs' scores, the options), so a regroup that forms the same group again gets the
    stored one without ranking it (the candidate search may be approximate: any group it
    forms is checked against this map, none is assumed)."""
    out: Built = {}
    for ord_, data in cat.db.execute("SELECT ord, data FROM groups ORDER BY ord"):
        g = group_from_row(json.loads(data))
        if any(m.file_id is None for m in g.members):
            continue
        reps = frozenset(ex.rep_of.get(m.file_id, m.file_id) for m in g.members)
        if all(str(r) in cur and cur[str(r)] == prev.get(str(r)) for r in reps):
            out[(g.tier, reps)] = ord_  # the ord, not the group: 1 M files' groups are big
    return out


def stored_group(cat: Catalog, ord_: int) -> Group:
    """One stored group, as ``built`` found it (rank runs before the scan stores its own)."""
    (data,) = cat.db.execute("SELECT data FROM groups WHERE ord=?", (ord_,)).fetchone()
    return group_from_row(json.loads(data))


def _kept(cat: Catalog, ex: Exact, cur: dict[str, str], redone: set[int]) -> list[Group] | None:
    """The stored groups whose every file belongs to a current representative that is not
    regrouped (such a group is exactly what a full regroup would build again). A group with
    a video is never kept: rank builds every video group again (the module's docstring)."""
    videos = {r.id for r in ex.video_reps}
    out = []
    for (data,) in cat.db.execute("SELECT data FROM groups ORDER BY ord"):
        g = group_from_row(json.loads(data))
        reps = set()
        for m in g.members:
            if m.file_id is None:
                return None
            reps.add(ex.rep_of.get(m.file_id, m.file_id))
        if reps.isdisjoint(videos) and all(str(r) in cur and r not in redone for r in reps):
            out.append(g)
    return out
