"""Stored review decisions held without decoding the ones paired in SQL (issue 13).

Why: with every group decided, reading and decoding each stored decision row into a
:class:`Record` (its member, kept and undecided file keys) was about half the time of
matching them at 100,000 groups, and the records a third of what the review held. The rows
the catalog pairs with a group in SQL (``Engine.pair_stored_decisions``,
engine/stored_match.py) give the review their decision directly; their records stay in the
catalog, unchanged, and are read by key only when one is needed — the group is decided
again, undone or applied, or a scan's new groups are matched (``all_records``). A record the
review writes or drops is in memory as before, so saving, undo and a quit see what they did.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

from lookalike.ui.state_store import EMPTY, Decision, Record, parse_records

Loader = Callable[[list[str]], list[dict[str, Any]]]


class StoredRecords(MutableMapping[str, Record]):
    """Record key → :class:`Record`: the decoded ones, and the keys of rows left in the
    catalog (each with its batch, what undo asks of every record), decoded on first use."""

    def __init__(self, decoded: dict[str, Record], left: dict[str, str | None], load: Loader):
        self.decoded, self.left, self._load = decoded, left, load

    def fetch(self, keys: Iterable[str]) -> None:
        """Decode these keys' rows now, in one read (those still left in the catalog)."""
        want = [k for k in keys if k in self.left]
        if not want:
            return
        got = parse_records(self._load(want))
        for k in want:
            self.left.pop(k, None)
            if k in got:  # a row gone from the catalog meanwhile is gone here too
                self.decoded[k] = got[k]

    def __getitem__(self, key: str) -> Record:
        if key in self.left:
            self.fetch([key])
        return self.decoded[key]

    def __setitem__(self, key: str, rec: Record) -> None:
        self.left.pop(key, None)
        self.decoded[key] = rec

    def __delitem__(self, key: str) -> None:
        if self.left.pop(key, 0) == 0:  # a batch may be None: 0 says "not left"
            del self.decoded[key]

    def __contains__(self, key: object) -> bool:
        return key in self.decoded or key in self.left

    def __iter__(self) -> Iterator[str]:
        yield from list(self.decoded)
        yield from list(self.left)

    def __len__(self) -> int:
        return len(self.decoded) + len(self.left)

    def values(self) -> Any:  # every one decoded in one read, not one read each
        self.fetch(list(self.left))
        return self.decoded.values()

    def items(self) -> Any:
        self.fetch(list(self.left))
        return self.decoded.items()

    def as_dict(self, known: Any = None) -> dict[str, Record]:
        """Every record decoded, as a plain dict (a scan's new groups are matched over all of
        them); a left row found in ``known`` (what a worker decoded for the same match, by
        key) is taken from there instead of read again."""
        known = known if isinstance(known, dict) else {}
        out = dict(self.decoded)
        missing = [k for k in self.left if k not in known]
        out.update({k: known[k] for k in self.left if k in known})
        if missing:
            got = parse_records(self._load(missing))
            out.update({k: got[k] for k in missing if k in got})
        return out

    def with_batch(self, batch: str) -> list[Record]:
        """The records acted on by this journal batch (undo), decoding only those."""
        self.fetch([k for k, b in self.left.items() if b == batch])
        return [r for r in self.decoded.values() if r.batch == batch]


def all_records(records: MutableMapping[str, Record], load: Loader | None) -> dict[str, Record]:
    """Every record as a plain dict, without changing ``records`` (a thread worker reads the
    review's with it: the reload after a scan); the rows left in the catalog decoded anew."""
    if not isinstance(records, StoredRecords):
        return dict(records)
    decoded, left = dict(records.decoded), list(records.left)
    if left and load is not None:
        return {**parse_records(load(left)), **decoded}
    return decoded


def paired_decisions(stored: Any, pairs: list[Any]) -> tuple[dict[int, Decision], list[str]]:
    """The decisions of the rows the catalog paired (``RowPair``: a group's files exactly),
    as ``match_records`` gives them; and the keys of pairs it would not give a decision to —
    a group not shown, or every kept file gone — for the rule to look at again."""
    out: dict[int, Decision] = {}
    again: list[str] = []
    for p in pairs:
        gid = p.ord + 1
        if gid not in stored:
            again.append(p.key)
            continue
        new = frozenset(os.fsdecode(b) for b in p.undecided) if p.undecided else EMPTY
        kept = frozenset(os.fsdecode(b) for b in p.kept)
        if p.status != "not-dup" and not kept - new:
            again.append(p.key)
            continue
        out[gid] = Decision(p.status, kept | new if new else kept, p.batch, new, p.key)
    return out, again
