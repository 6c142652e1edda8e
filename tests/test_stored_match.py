"""Stored decisions matched in SQL (ui/stored_match.py, engine/stored_match.py) give exactly
what ``state_store.match_records`` — the rule — gives over every stored group, on real catalog
rows: groups stored by ``Catalog.finish_scan``, decisions as the review stores them, and every
way a decision's group can have changed since (grown, shrunk, split, merged, a file changed,
two decisions on the same files, keys no file can have, members without a file id, odd
names, hidden files)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.engine import Engine, hidden
from lookalike.engine.catalog import Catalog
from lookalike.engine.records import Group, Member
from lookalike.ui.engine_port import EngineAdapter
from lookalike.ui.group_pages import keyed, open_stored
from lookalike.ui.state import ReviewState
from lookalike.ui.state_store import Record, file_key, group_key, match_records, parse_records
from lookalike.ui.stored_match import match_stored
from lookalike.ui.stored_records import StoredRecords

NAMES = ["a", "b:c", "d\udcff", "é f", "g"]  # a colon, an undecodable byte, a space


def member(i: int, with_id: bool, folder: str = "/p") -> Member:
    name = NAMES[i % len(NAMES)]
    return Member(
        f"{folder}/{i}-{name}", 1000 + i, 10, 10, "JPEG", 1.0, 5000 + i,
        file_id=i + 1 if with_id else None,
    )  # fmt: skip


def store(catalog: Path, groups: list[list[Member]]) -> None:
    gs = [Group(n + 1, "similar", ms[0].path, "", tuple(ms)) for n, ms in enumerate(groups) if ms]
    with Catalog(catalog) as cat:
        cat.finish_scan(cat.start_scan(["/p"]), {}, gs, seen=None)


def reference(stored, records: dict[str, Record]):
    """The rule itself over every group the review shows."""
    every = keyed(stored.facts(stored.all_ids()))
    return match_records(records, sorted(every))


def stale(m: Member) -> Member:
    """The same file as it was before it changed (another mtime: another file key)."""
    return Member(m.path, m.size, 10, 10, "JPEG", 1.0, m.mtime_ns - 1, file_id=m.file_id)


@st.composite
def stores(draw):
    n = draw(st.integers(4, 24))
    with_id = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    files = [member(i, with_id[i] or draw(st.integers(0, 3)) > 0) for i in range(n)]
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=n // 2)))
    groups = [[files[i] for i in order[a:b]] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    groups = [g for g in groups if len(g) >= 2]
    if groups and draw(st.booleans()):  # a file in two groups (a stored review never has it)
        groups[-1].append(draw(st.sampled_from(groups[0])))
    if groups and draw(st.booleans()):  # a member row twice in one group
        groups[0].append(groups[0][0])
    return files, groups


@st.composite
def record_sets(draw, files: list[Member], groups: list[list[Member]]):
    out: list[tuple[str, frozenset[str], frozenset[str], frozenset[str]]] = []
    for _ in range(draw(st.integers(0, 10))):
        how = draw(st.sampled_from(["group", "group", "group", "subset", "any", "stale", "odd"]))
        if how in ("group", "subset", "stale") and groups:
            ms = list(dict.fromkeys(draw(st.sampled_from(groups))))
            if how == "subset" and len(ms) > 2:
                ms = draw(st.lists(st.sampled_from(ms), min_size=2, unique=True))
            if how == "stale":
                i = draw(st.integers(0, len(ms) - 1))
                ms[i] = stale(ms[i])
            keys = [file_key(m) for m in ms]
        else:
            keys = [file_key(m) for m in draw(st.lists(st.sampled_from(files), min_size=2))]
            if how == "odd":  # keys no stored member can have
                keys += draw(
                    st.lists(
                        st.sampled_from(
                            [
                                "01:1000:5000",
                                "+1:1000:5000",
                                "1:1000",
                                "x",
                                "path:/p/1",
                                "path:/p/0-a:01:5000",
                                "1:1000:5000:0",
                                "9" * 30 + ":1:1",
                            ]
                        ),  # fmt: skip
                        min_size=1,
                    )
                )
        members = frozenset(keys)
        if len(members) < 2:
            continue
        keep = frozenset(draw(st.lists(st.sampled_from(sorted(members)), max_size=3)))
        undecided = frozenset(draw(st.lists(st.sampled_from(sorted(members)), max_size=2)))
        status = draw(st.sampled_from(["accepted", "changed", "not-dup"]))
        name = group_key(members) if draw(st.integers(0, 4)) else f"twin-{len(out)}"
        out.append((name, members, keep, undecided, status))
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sql_matching_equals_the_rule_on_random_stores(data) -> None:
    files, groups = data.draw(stores())
    recs = data.draw(record_sets(files, groups))
    rows = [
        Record(name, status, members, keep & members, und & members, "b1").to_json()
        for name, members, keep, und, status in recs
    ]
    records = parse_records(rows)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "c.sqlite"
        store(catalog, groups)
        stored = open_stored(EngineAdapter(Engine(catalog)))
        if stored is None:
            return
        assert match_stored(stored, records) == reference(stored, records)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rows_paired_in_the_catalog_give_the_rule_and_keep_every_record(data) -> None:
    """The app's open (ui/app_decisions.py ``match_left``): rows paired in SQL straight from
    the catalog's ``review_decisions`` and left there, the rest decoded and matched by the
    rule — the same decisions as the rule over every record, and every record still there
    (read by key when asked for) exactly as stored."""
    from lookalike.ui.app_decisions import match_left

    files, groups = data.draw(stores())
    recs = data.draw(record_sets(files, groups))
    rows = [
        Record(name, status, members, keep & members, und & members, data.draw(BATCHES)).to_json()
        for name, members, keep, und, status in recs
    ]
    if data.draw(st.booleans()):  # no key by path: the catalog pairs what it can
        rows = [r for r in rows if not any(k.startswith("path:") for k in r["members"])]
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "c.sqlite"
        store(catalog, groups)
        engine = Engine(catalog)
        engine.save_decisions(rows, [])
        port = EngineAdapter(engine)
        stored = open_stored(port)
        if stored is None:
            return
        every = parse_records(port.load_decisions())
        got = port.pair_stored_decisions()
        if got is None:  # a row the rule must read itself (a key by path): the old way
            assert any(k.startswith("path:") for r in rows for k in r["members"])
            return
        records, decisions = match_left(port, stored, got[0], port.load_decisions(got[1]))
        assert decisions == reference(stored, every)
        assert set(records) == set(every) and len(records) == len(every)
        assert sorted(records.with_batch("b1"), key=lambda r: r.key) == sorted(
            (r for r in every.values() if r.batch == "b1"), key=lambda r: r.key
        )
        assert records.as_dict() == every


BATCHES = st.sampled_from([None, "b1", "b2"])


def test_a_paired_row_stays_in_the_catalog_until_it_is_used(tmp_path: Path) -> None:
    """Unchanged groups are paired in SQL and their rows are not decoded; deciding one again
    reads only that row, and what the review then saves drops exactly it."""
    from lookalike.ui.app_decisions import match_left

    files = [member(i, True) for i in range(9)]
    groups = [files[0:3], files[3:6], files[6:9]]
    store(tmp_path / "c.sqlite", groups)
    engine = Engine(tmp_path / "c.sqlite")
    rows = []
    for g in groups:
        keys = frozenset(file_key(m) for m in g)
        rows.append(
            Record(group_key(keys), "accepted", keys, frozenset({file_key(g[0])})).to_json()
        )
    engine.save_decisions(rows, [])
    port = EngineAdapter(engine)
    stored = open_stored(port)
    pairs, rest = port.pair_stored_decisions()
    assert len(pairs) == 3 and rest == []
    records, decisions = match_left(port, stored, pairs, port.load_decisions(rest))
    assert isinstance(records, StoredRecords) and records.decoded == {} and len(records) == 3
    assert decisions == reference(stored, parse_records(rows))
    state = ReviewState()
    state.set_stored(stored)
    state.set_matched(records, decisions)
    first, second, third = decisions
    state.cursor = state.view.index(first)
    state.not_duplicate()  # decided again: its old record read (by key) and replaced
    assert set(records.decoded) == {decisions[first].record} and len(records.left) == 2
    state.mark_applied([second], "b9")  # the journal acted on it: its record says so
    assert len(records.left) == 1 and state.mark_undone("b9") == 1
    upserts, dropped = state.take_changes()
    assert dropped == [] and len(upserts) == 2
    by_key = {u["key"]: u for u in upserts}
    assert by_key[decisions[first].record]["status"] == "not-dup"
    row = {r["key"]: r for r in rows}[decisions[second].record]
    assert by_key[decisions[second].record] == row  # batch set and cleared: as stored
    assert decisions[third].record in records.left  # never read


def test_most_decisions_are_paired_in_sql_and_the_rest_by_the_rule(tmp_path: Path) -> None:
    """A grown group, a split one, a merged one and unchanged ones: the unchanged are paired in
    SQL (no group decoded), the changed ones dropped or kept as the rule says."""
    files = [member(i, True) for i in range(14)]
    before = [files[0:2], files[2:4], files[4:7], files[7:9], files[9:11], files[11:14]]
    after = [files[0:2], files[2:5], files[5:7], files[7:11], files[11:14]]
    store(tmp_path / "c.sqlite", after)
    recs = {}
    for g in before:
        keys = frozenset(file_key(m) for m in g)
        recs[group_key(keys)] = Record(group_key(keys), "accepted", keys, {file_key(g[0])})
    port = EngineAdapter(Engine(tmp_path / "c.sqlite"))
    stored = open_stored(port)
    read = port.group_match_sets
    seen = {}

    def spy(sets):
        seen["got"] = read(sets)
        return seen["got"]

    port.group_match_sets = spy
    got = match_stored(stored, recs)
    assert got == reference(stored, recs)
    paths = {g.id - 1: {m.path for m in g.members} for g in stored.facts(stored.all_ids())}
    of = {frozenset(paths[o]): o for o in paths}
    ords = [of[frozenset(m.path for m in g)] for g in after]
    assert sorted(o for _, o in seen["got"].exact) == sorted([ords[0], ords[4]])  # unchanged
    assert seen["got"].other == sorted(ords[1:4])  # grown (2:5), split (5:7), merged (7:11)
    assert set(got) == {ords[0] + 1, ords[1] + 1, ords[4] + 1}
    grown = got[ords[1] + 1]  # kept, its new file undecided (kept until decided)
    assert grown.new == frozenset({files[4].path})
    assert grown.keep == frozenset({files[2].path, files[4].path})


def test_a_group_with_a_hidden_file_is_matched_by_the_rule(tmp_path: Path) -> None:
    """A content rule hid one member: the review shows the group without it, so the decision
    made on all three files goes back to the two it shows (by the rule: SQL would pair it with
    all three rows), and a group whose keeper is hidden is not shown and gets no decision."""
    disk = []
    for i in range(5):
        p = tmp_path / f"f{i}.jpg"
        p.write_bytes(b"x" * (100 + i))
        st_ = p.stat()
        disk.append(
            Member(str(p), st_.st_size, 10, 10, "JPEG", 1.0, st_.st_mtime_ns, file_id=i + 1)
        )
    catalog = tmp_path / "c.sqlite"
    store(catalog, [disk[0:3], disk[3:5]])
    with Catalog(catalog) as cat:
        hidden.hide(cat.db, [(disk[2].path, "screenshots", 0.9), (disk[3].path, "memes", 0.9)])
    recs = {}
    for ms in (disk[0:3], disk[3:5]):  # decided before the rules ran
        keys = frozenset(file_key(m) for m in ms)
        recs[group_key(keys)] = Record(group_key(keys), "not-dup", keys, keys)
    stored = open_stored(EngineAdapter(Engine(catalog)))
    got = match_stored(stored, recs)
    assert got == reference(stored, recs)
    assert list(got) == [1] and got[1].keep == frozenset({disk[0].path, disk[1].path})


def test_the_review_state_matches_through_sql_and_saves_nothing_new(tmp_path: Path) -> None:
    """``ReviewState`` over a stored review (what a rescan reopens) uses the same matching."""
    files = [member(i, i % 3 > 0, folder=os.fsdecode(b"/p/\xff")) for i in range(9)]
    store(tmp_path / "c.sqlite", [files[0:3], files[3:6], files[6:9]])
    rows = []
    for g in (files[0:3], files[6:9]):
        keys = frozenset(file_key(m) for m in g)
        rows.append(Record(group_key(keys), "accepted", keys, {file_key(g[1])}).to_json())
    state = ReviewState()
    state.set_stored(open_stored(EngineAdapter(Engine(tmp_path / "c.sqlite"))))
    state.load_records(rows)
    assert {gid: d.keep for gid, d in state.decisions.items()} == {
        1: frozenset({files[1].path}),
        3: frozenset({files[7].path}),
    }
    assert not state.unsaved


def test_a_match_made_in_a_worker_is_used_only_for_the_same_records(tmp_path: Path) -> None:
    """The reload after a scan matches in its worker (``prematch``); the review's own call on
    the event loop then reads nothing — unless a record changed meanwhile."""
    files = [member(i, True) for i in range(6)]
    store(tmp_path / "c.sqlite", [files[0:3], files[3:6]])
    rows = []
    for g in (files[0:3], files[3:6]):
        keys = frozenset(file_key(m) for m in g)
        rows.append(Record(group_key(keys), "accepted", keys, {file_key(g[0])}).to_json())
    port = EngineAdapter(Engine(tmp_path / "c.sqlite"))
    stored = open_stored(port)
    records = parse_records(rows)
    stored.prematch(dict(records))
    calls = []
    read = port.group_match_sets
    port.group_match_sets = lambda sets: (calls.append(1), read(sets))[1]
    want = reference(stored, records)
    assert stored.matched(records) == want and calls == []  # the worker's answer
    stored.prematch(dict(records))
    rec = next(iter(records.values()))
    rec.batch = "undone-meanwhile"
    calls.clear()
    got = stored.matched(records)
    assert calls == [1] and got == reference(stored, records) != want  # matched again


def test_matched_records_and_decisions_hold_no_copies(tmp_path: Path) -> None:
    """With every group decided the review holds a record and a decision per group: no
    ``__dict__`` apiece, one shared empty set for "no undecided / new file", and the kept keys
    are the members' own strings — a record parsed from 20,000 stored rows costs well under
    the ≈ 800 bytes it did (docs/scale.md)."""
    import tracemalloc

    files = [member(i, True) for i in range(6)]
    store(tmp_path / "c.sqlite", [files[0:3], files[3:6]])
    recs = {}
    for g in (files[0:3], files[3:6]):
        keys = frozenset(file_key(m) for m in g)
        recs[group_key(keys)] = Record(group_key(keys), "accepted", keys, {file_key(g[0])})
    records = parse_records([r.to_json() for r in recs.values()])
    got = match_stored(open_stored(EngineAdapter(Engine(tmp_path / "c.sqlite"))), records)
    assert len(got) == 2
    for rec, d in zip(records.values(), got.values(), strict=True):
        assert not hasattr(rec, "__dict__") and not hasattr(d, "__dict__")
        assert rec.undecided is d.new is records[next(iter(records))].undecided
        assert all(any(k is m for m in rec.members) for k in rec.keep)
    rows = [
        {
            "key": f"{i:032x}",
            "status": "accepted",
            "members": [f"{i * 4 + j}:1000{j}:17000000000000000{j}" for j in range(4)],
            "keep": [f"{i * 4}:10000:170000000000000000"],
            "batch": None,
            "updated": 1.0,
        }
        for i in range(20_000)
    ]
    tracemalloc.start()
    try:
        held = parse_records(rows)
        per_record = tracemalloc.get_traced_memory()[0] / len(held)
    finally:
        tracemalloc.stop()
    assert len(held) == 20_000 and per_record < 650, per_record


def test_stored_rows_decode_as_each_column_alone(tmp_path: Path) -> None:
    """``Catalog.review_decisions`` decodes a row's three JSON columns in one call: every row
    reads exactly as the columns decoded one by one — odd names, nested values, a number,
    and a column only Python's decoder takes (NaN) — and one that is not JSON still raises."""
    import json
    import sqlite3

    import pytest

    cat_path = tmp_path / "c.sqlite"
    with Catalog(cat_path) as cat:
        cat.save_review_decisions(
            [
                Record("k1", "accepted", frozenset({"1:2:3", "4:5:6"}), frozenset({"1:2:3"})).to_json(),
                {"key": "k2", "status": "x", "members": ["path:/a\udcff:1:2", 'q"],['], "keep": []},
            ],
            [],
        )  # fmt: skip
    con = sqlite3.connect(cat_path)
    con.executemany(
        "INSERT INTO review_decisions VALUES (?, 'accepted', ?, ?, ?, NULL, 1.0)",
        [("k3", "5", '{"a": [1]}', " [] "), ("k4", '["1:2:3", NaN]', "[]", "[]")],
    )
    con.commit()
    want = {
        k: [json.loads(c) for c in cols]
        for k, *cols in con.execute("SELECT gkey, members, keep, undecided FROM review_decisions")
    }
    with Catalog(cat_path) as cat:
        got = {d["key"]: d for d in cat.review_decisions()}
    assert set(got) == set(want) == {"k1", "k2", "k3", "k4"}
    for k, (members, keep, undecided) in want.items():
        assert json.dumps([got[k]["members"], got[k]["keep"], got[k]["undecided"]]) == json.dumps(
            [members, keep, undecided]
        )
    con.execute("UPDATE review_decisions SET keep = '[' WHERE gkey = 'k1'")
    con.commit()
    con.close()
    with Catalog(cat_path) as cat, pytest.raises(ValueError):
        cat.review_decisions()
