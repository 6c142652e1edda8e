"""A rescan regroups only the parts of the collection its changes touch, at any size, and
at a cost that follows the size of the change (a month's photos added to a million).

Grouping is decided per connected component of the verified edges (grouping.py
``_components``), and inside one only from its members' features, their relative path
order, the pairs' verdicts (match, marks, re-checks) and the options; a verified pair is a
pure function of its two files. So after a group the record here keeps, per
representative, a stamp (its exact cluster's rows, whether it is a grouping item, its
feature rows' ids) and its component. A later scan with the same settings finds the
*changed* representatives (new or changed stamp, or in a pair whose "not a duplicate" mark
changed) and the vanished ones, and regroups the part R made of: the changed ones; every one
that has a verified pair with a changed one — found by a search of the changed ones' keys
against every stored orientation code and of their codes against every key —; and every
member of a stored component that held any of those or a vanished one. Every other stored
group is kept as it was.

Both searches are exact (faiss's flat index) where the change is small and by the
inverted-file index (index.py) where it is large, each by its cost (``touch_exactly``:
exact while that costs at most ``EXACT_BUDGET`` or no more than the inverted file; R's own
search flat up to ``PART_FLAT`` codes, as a full regroup's is up to ``index.FLAT_LIMIT``).
The inverted file's cells are then sized for the changed items' queries (``index.cells``),
so each probes at least the share of the collection a full regroup's search probes.

The guarantee, at any size: the groups are exactly those of the edge set E' = (the stored
grouping's edges outside R) ∪ (every verified candidate pair inside R). Where the searches
are exact, no pair within the search radius that involves a changed file is missed; where
the change is large they are as good as a full regroup's search (on 146k real items, 2 000 to
40 000 changed: 99.4–99.8 % of the exact search's items, a full regroup's 99.3–99.5 %;
benchmarks/touch_recall.py). No stored group away from the changes moves or is rebuilt.
While the stored edges are every verified pair — each grouping since
the last full one searched at most ``index.FLAT_LIMIT`` (20 000) orientation codes,
≈ 11 000 photos, with the flat index — and the searches here are exact, E' is every
verified pair and the output is a full regroup's byte for byte (groups, order, numbering;
tests/test_group_parts.py). Above that a full regroup's search is the inverted file, whose
cells are sampled from the whole collection: which pairs it misses moves with any added
photo. A regroup by parts keeps what the stored grouping found away from the changes
(missed pairs stay missed until a change touches them). Groups never chain: R is a union of
components of E', each clustered as grouping does.

Videos are not items: their matcher sees all of them at once, so rank builds every video
group again on every scan (stages/rank.py ``_video_groups``) and no stored group holding a
video is kept; the photos around them still regroup by parts.

When unsure — no record, other settings, a stored group with a file the catalog has no id
for, more than ``MOST`` of the items changed — or where the cost model (``Costs``: the
changed items' search, the part's search and items, against a full regroup's search and
items) says a regroup by parts would cost more than a full one, checked before the changed
items' search and on the part it found, it regroups all and says why in the debug log.
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

from lookalike.engine import index
from lookalike.engine.candidates import SEARCH_RADIUS
from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.catalog_schema import group_from_row
from lookalike.engine.index import FLAT_LIMIT, HashIndex, search_cost
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
# The cost model (``Costs``), in Hamming distances by the flat index (≈ 0.6 ns each on the
# 2-core box; ``index.search_cost`` counts the inverted file's ≈ 2× dearer ones twice):
# regroup by parts while that costs at most SHARE of a full regroup's estimate.
SHARE = 1.0
# A grouped item's share of a regroup besides the search (its signatures, candidates'
# matching, clustering): ≈ 30 µs, a full regroup's average at 100k. A part's items are the
# dense ones and cost more: the model puts a part at 0.56 of a full regroup where it measured
# level (benchmarks/scale_many_added.py, docs/benchmarks.md), within MOST.
ITEM_COST = 50_000
# The changed items' search against the whole collection stays exact up to this cost (≈ 0.1 s)
# even where the inverted file would cost less, as a full flat search of FLAT_LIMIT codes does.
EXACT_BUDGET = FLAT_LIMIT**2 // 2
# A part of at most this many codes is searched exactly (flat), as a full regroup's is below
# index.FLAT_LIMIT; a larger one by the inverted file.
PART_FLAT = FLAT_LIMIT


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
    exact: bool = True  # the part's candidate search by the flat index (``PART_FLAT``)


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


def touch_costs(all_codes: int, all_keys: int, codes: int, keys: int) -> tuple[float, float]:
    """The changed items' ``keys`` and ``codes`` searched against the whole collection's
    codes and keys: (by the flat index, by the inverted file), ``index.search_cost``."""
    flat = search_cost(all_codes, keys, True) + search_cost(codes, all_keys, True)
    ivf = search_cost(all_codes, keys, False) + search_cost(all_keys, codes, False)
    return flat, ivf


def touch_exactly(all_codes: int, all_keys: int, codes: int, keys: int) -> bool:
    """Whether the changed items are searched against the whole collection exactly
    (``touch_costs``): while that costs at most ``EXACT_BUDGET`` or no more than the
    inverted file."""
    flat, ivf = touch_costs(all_codes, all_keys, codes, keys)
    return flat <= max(EXACT_BUDGET, ivf)


def _touched_by(
    items: Sequence[Item],
    prep: ViewSignatures,
    changed: list[int],
    forbidden: set[tuple[int, int]],
    thr: Thresholds,
) -> set[int]:
    """Items that have a verified edge with a changed item: the candidate pairs of a full
    search (candidates.py: a view's key within the radius of another item's orientation
    code) that hold a changed item — its keys against every code, every key against its
    codes —, verified as grouping does (items are in path order, so a pair i < j is matched
    as grouping matches it). Exact (flat) while ``touch_exactly``: these pairs then depend
    on no other file. Else by inverted-file indexes over every code and over every key
    (their cells sized for the changed items' queries, ``index.cells``): at least the share
    of the entries a full regroup's search probes."""
    if not changed:
        return set()
    keys_of = item_keys(items)
    owner = prep.owner
    keys, codes, code_owner = prep.take_hashes()
    mine = np.zeros(len(items), dtype=bool)
    mine[changed] = True
    held, asks = mine[code_owner], mine[owner]
    my_keys, my_codes = keys[asks], codes[held]
    exact = touch_exactly(len(codes), len(keys), len(my_codes), len(my_keys))
    log.debug("the changed items' search: %s", "exact" if exact else "inverted-file")
    if exact:
        flat = len(codes) + len(keys)  # the flat index at any size
        q1, r1, _ = HashIndex(codes, flat).search(my_keys, SEARCH_RADIUS)  # its keys
        q2, r2, _ = HashIndex(my_codes, flat).search(keys, SEARCH_RADIUS)  # its codes
    else:
        q1, r1, _ = HashIndex(codes, 0, len(my_keys)).search(my_keys, SEARCH_RADIUS)
        del codes
        r2, q2, _ = HashIndex(keys, 0, len(my_codes)).search(my_codes, SEARCH_RADIUS)
    pairs = [
        np.stack([owner[asks][q1], code_owner[r1]], axis=1),
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
    redo, why, exact = _part(keys, prep, changed, gone, rec, forbidden, thr, items)
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
    log.debug(
        "regrouping %d of %d items (%s search), %d groups kept",
        *(len(redo), len(keys), "exact" if exact else "inverted-file", len(kept)),
    )
    return Plan(redo, Part(kept, redone), labels, exact), lazy, {}


def _part(
    keys: list[int],
    prep: ViewSignatures,
    changed: set[int],
    gone: set[int],
    rec: dict,
    forbidden: set[tuple[int, int]],
    thr: Thresholds,
    items: Sequence[Item],
) -> tuple[list[int] | None, str, bool]:
    """The items to regroup, sorted (None: all, and why), and whether their search is exact: the changed ones, those with a
    verified edge to one, and every member of a stored component holding any of those or
    a vanished one. Closed under the edges of E' (the module's docstring): an unchanged
    item's edges to other unchanged ones are the stored ones, inside its component. None
    where it would cost more than a full regroup (``Costs``), checked before the changed
    items' search and again on the part it found."""
    row_of = {k: n for n, k in enumerate(keys)}
    changed_items = sorted(row_of[r] for r in changed if r in row_of)
    if len(changed_items) > MOST * len(keys):
        return None, f"{len(changed_items)} of {len(keys)} items changed", False
    costs = Costs(prep, len(keys), changed_items)
    if why := costs.over(changed_items):
        return None, why, False
    touched = _touched_by(items, prep, changed_items, forbidden, thr)
    parts = rec["parts"]
    dirty = {parts[str(r)] for r in changed | gone if str(r) in parts}
    dirty |= {parts[str(keys[n])] for n in touched if str(keys[n]) in parts}
    redo = set(changed_items) | touched
    redo.update(n for n, k in enumerate(keys) if parts.get(str(k), -1) in dirty)
    out = sorted(redo)
    if why := costs.over(out):
        return None, why, False
    return out, "", costs.part(out)[1] <= PART_FLAT


class Costs:
    """The cost model that draws the "regroup all" line, in ``index.search_cost``'s units
    (Hamming distances): a regroup by parts costs the changed items' search against the
    whole collection (``touch_exactly``'s choice) and the part's own grouping — its search
    (flat up to ``PART_FLAT`` codes, else the inverted file) and ``ITEM_COST`` an item —;
    a full regroup its search (flat up to ``index.FLAT_LIMIT`` codes) and every item's."""

    def __init__(self, prep: ViewSignatures, items: int, changed: list[int]) -> None:
        self.codes_of = np.bincount(prep.code_owner, minlength=items)
        self.keys_of = np.bincount(prep.owner, minlength=items)
        codes, keys = len(prep.code_owner), len(prep.owner)
        flat = codes <= index.FLAT_LIMIT
        self.full = search_cost(codes, keys, flat) + ITEM_COST * items
        mine_c, mine_k = int(self.codes_of[changed].sum()), int(self.keys_of[changed].sum())
        flat_cost, ivf_cost = touch_costs(codes, keys, mine_c, mine_k)
        self.touch = flat_cost if touch_exactly(codes, keys, mine_c, mine_k) else ivf_cost

    def part(self, rows: list[int]) -> tuple[float, int]:
        """A regroup by parts of these items: its cost, and the part's codes."""
        codes, keys = int(self.codes_of[rows].sum()), int(self.keys_of[rows].sum())
        search = search_cost(codes, keys, codes <= PART_FLAT)
        return self.touch + search + ITEM_COST * len(rows), codes

    def over(self, rows: list[int]) -> str:
        """Why regrouping these items by parts costs more than a full regroup, or "" (the
        estimates go to the debug log either way)."""
        cost, codes = self.part(rows)
        say = (
            f"a part of {len(rows)} items ({codes} codes) would cost {cost:.3g} "
            f"(the changed items' search {self.touch:.3g}), a full regroup {self.full:.3g}"
        )
        log.debug("cost model: %s", say)
        return say if cost > SHARE * self.full else ""


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
