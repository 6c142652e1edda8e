"""Stored review decisions matched to a stored review, the common case in SQL (issue 13).

Why: :func:`state_store.match_records` is the rule, but running it over every decided
group's members in Python took ≈ 32 s at 100,000 decided groups while every key waited.
Most decisions' files are still exactly one stored group's files and nobody else's; the
catalog finds those pairs with a join (``Engine.group_match_sets``, engine/stored_match.py)
and such a pair's answer is what ``match_records`` gives a group whose files equal its
record's: the record's status, its kept and undecided files, nothing new. Every other group
holding a record's file, with the records not paired, goes through ``match_records``
itself. That split is exact: a paired record has files in its group only and its group
holds no other record's file, so neither appears in what the rest is matched over.
"""

from __future__ import annotations

import os
from typing import Any

from lookalike.ui.state_store import EMPTY, Decision, Record, match_records


def match_stored(stored: Any, records: dict[str, Record]) -> dict[int, Decision]:
    """Each record back to at most one group of ``stored`` (a ``group_pages.StoredReview``),
    exactly as ``match_records`` over every stored group would; by group id, review order."""
    if not records:
        return {}
    read = getattr(stored.port, "group_match_sets", None)
    if read is None:  # a port without it (an older server): every touched group in Python
        keys = {k for rec in records.values() for k in rec.members}
        return match_records(records, stored.keyed_groups(keys))
    names = list(records)
    recs = [records[n] for n in names]
    got = read([(r.members, r.keep | r.undecided if r.undecided else r.keep) for r in recs])
    out: dict[int, Decision] = {}
    paired: set[int] = set()
    for s, o in got.exact:
        if o + 1 not in stored:
            continue  # not shown (no group to decide): its record stays with the rest
        paired.add(s)
        rec = recs[s]
        paths = got.paths.get(s, {})
        new = frozenset(os.fsdecode(paths[k]) for k in rec.undecided) if rec.undecided else EMPTY
        kept = frozenset(os.fsdecode(paths[k]) for k in rec.keep)
        if rec.status != "not-dup" and not kept - new:
            continue  # every file the reviewer kept is gone: look again (match_records)
        out[o + 1] = Decision(rec.status, kept | new if new else kept, rec.batch, new, rec.key)
    rest = {n: records[n] for s, n in enumerate(names) if s not in paired}
    if rest and got.other:
        want = {k for rec in rest.values() for k in rec.members}
        groups = [
            (gid, keys)
            for gid, keys in stored.keyed_ids([o + 1 for o in got.other])
            if not want.isdisjoint(keys)
        ]
        out.update(match_records(rest, groups))
    return dict(sorted(out.items()))
