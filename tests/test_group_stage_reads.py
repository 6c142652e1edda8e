"""The group stage's catalog reads (engine/stages/group.py): which representatives can group,
read partly in SQL, must say what parsing every meta in Python says — for each way a meta
can hold "uniform" (false, true, absent, null, 0, text) and for a file with no meta row;
and ranking's one-query-a-group meta prefetch must give what a read per file gives."""

from __future__ import annotations

import json

from lookalike.engine.catalog import Catalog
from lookalike.engine.features.extract import PERCEPTUAL_VERSION
from lookalike.engine.stages.extract import META
from lookalike.engine.stages.group import MetaLookup, _not_grouping

METAS = [
    b'{"width": 4, "uniform": false}',
    b'{"width": 4, "uniform": true}',
    b'{"width": 4}',
    b'{"width": 4, "uniform": null}',
    b'{"width": 4, "uniform": 0}',
    b'{"width": 4, "uniform": "yes"}',
    b'{"width": 4, "uniform": false, "thumb": "\\u00e9t\\u00e9"}',
    '{"uniform": false, "camera": "\u00e9t\u00e9"}'.encode(),
]


def _catalog(tmp_path) -> tuple[Catalog, list[int]]:
    cat = Catalog(tmp_path / "catalog.db")
    scan = cat.start_scan([str(tmp_path)])
    ids = [cat.add_file(str(tmp_path / f"f{n}.jpg"), 1, n, 10, 1, scan) for n in range(10)]
    cat.put_features((ids[n], META, PERCEPTUAL_VERSION, m) for n, m in enumerate(METAS))
    cat.put_feature(ids[9], META, PERCEPTUAL_VERSION - 1, b'{"uniform": false}')  # stale
    return cat, ids  # ids[8]: no meta row; ids[9]: only an older version's


def test_which_representatives_group_is_what_parsing_every_meta_says(tmp_path):
    cat, ids = _catalog(tmp_path)
    try:
        uniform, known = _not_grouping(cat, ids)
    finally:
        cat.close()
    expected_known = set(ids[: len(METAS)])
    expected_uniform = {ids[n] for n, m in enumerate(METAS) if json.loads(m).get("uniform", True)}
    assert known == expected_known
    assert uniform == expected_uniform | {ids[8], ids[9]}
    assert uniform == {ids[1], ids[2], ids[5], ids[8], ids[9]}  # the same, spelled out


def test_a_groups_prefetched_metas_are_those_read_one_by_one(tmp_path):
    cat, ids = _catalog(tmp_path)
    try:
        with_meta = set(ids[: len(METAS)])
        one_by_one = {i: MetaLookup(cat, with_meta)[i] for i in ids[: len(METAS)]}
        lookup = MetaLookup(cat, with_meta)
        lookup.prefetch(ids)  # with ids that have no meta: skipped, not read
        assert set(lookup._cache) == with_meta
        assert {i: lookup[i] for i in ids[: len(METAS)]} == one_by_one
        assert ids[8] not in lookup and lookup.get(ids[9]) is None
    finally:
        cat.close()
