"""A plan's JSON is written an item at a time (issue 13, engine/actions/plan_write.py), byte
for byte the document ``json.dumps`` made of the whole plan, with the same signature — for
plans with items and refusals, none of either, paths that are not UTF-8 or not ASCII, a
shrink action, and a loaded plan whose meta holds anything."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace

import pytest

from lookalike.engine.actions import plan_write, signing
from lookalike.engine.actions.plan import (
    Plan,
    PlanItem,
    Refusal,
    ShrinkOptions,
    load_plan,
    parse_action,
    plan_document,
    save_plan,
)

ODD = os.fsdecode(b"/photos/caf\xc3\xa9 \xff\xfe/\xe2\x80\x94 copy.jpg")  # é, bad bytes, a dash


def _plan(items: int, refused: int, **kw) -> Plan:
    rows = tuple(
        PlanItem(
            seq=n,
            group_id=n // 2 + 1,
            op="quarantine",
            source=f"{ODD}.{n}",
            dest=f"/q/{n}" if n % 3 else None,
            keeper=f"/photos/keep-{n}.jpg",
            size=1000 + n,
            mtime_ns=1_700_000_000_123_456_789 + n,
            hash=f"{n:032x}",
            keeper_hash=None if n % 4 == 0 else "ab" * 16,
            keeper_dev=2049,
            keeper_ino=n,
        )  # fmt: skip
        for n in range(items)
    )
    out = tuple(Refusal(n + 1, f"/photos/\u00e9-{n}.png", "missing \u2014 gone", kept=bool(n % 2))
                for n in range(refused))  # fmt: skip
    base = Plan(
        "20261126-120000-abcd", parse_action("quarantine"), rows, out, created=1764158400.25,
        meta={"groups": items, "reviewed": 1, "agreed": 0}, roots=("/photos", ODD),
        references=("/ref",), catalog="/c.db", catalog_id="f" * 32, scan_id=7,
    )  # fmt: skip
    return replace(base, **kw)


PLANS = {
    "items and refusals": _plan(7, 3),
    "none of either": _plan(0, 0),
    "items only": _plan(1, 0),
    "refusals only": _plan(0, 2),
    "shrink": _plan(2, 1, op=parse_action("shrink"), shrink=ShrinkOptions(max_size=(64, 48))),
    "meta naming the lists": _plan(2, 2, meta={"x": "\x00items\x00", "items": []}),
}


@pytest.mark.parametrize("name", list(PLANS))
@pytest.mark.parametrize("sign", [True, False])
def test_written_an_item_at_a_time_is_the_whole_document(name, sign):
    plan = PLANS[name]
    whole = json.dumps(plan_document(plan) if sign else plan.to_json(), indent=1)
    out = io.StringIO()
    plan_write.write_plan(plan, out, sign=sign)
    assert out.getvalue() == whole


def test_a_saved_plan_is_signed_and_loads_back(tmp_path, monkeypatch):
    plan = PLANS["items and refusals"]
    whole = json.dumps(plan_document(plan), indent=1)
    entries: list[str] = []
    real = plan_write._canonical

    def canonical(v):
        if isinstance(v, dict) and "seq" in v:
            entries.append(v["source"])
        return real(v)

    monkeypatch.setattr(plan_write, "_canonical", canonical)
    save_plan(plan, tmp_path / "p.json")
    assert (tmp_path / "p.json").read_text(encoding="utf-8") == whole
    assert entries == [i.source for i in plan.items]  # each item encoded on its own
    back = load_plan(tmp_path / "p.json")
    assert back.signed and back.items == plan.items and back.refused == plan.refused
    doc = json.loads(whole)
    assert doc[signing.SIGNATURE_FIELD] == signing.sign(doc)
