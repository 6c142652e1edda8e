"""A plan file is read a window at a time (plan_read.py, issue 13): the same plan, the same
signature check and the same refusals as reading it whole, without holding the file or a dict
per item; a damaged or truncated plan is refused before anything is acted on; the check
resolves each folder once, not each file (guard.RealPaths)."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from lookalike.engine import actions as A
from lookalike.engine.actions import plan_read
from lookalike.engine.actions.errors import UsageError
from lookalike.engine.actions.guard import RealPaths, real
from lookalike.engine.actions.plan import Plan, PlanItem, Refusal, load_plan, save_plan
from lookalike.engine.actions.plancheck import check_plan
from lookalike.engine.records import Group, Member
from plan_helpers import checksums, copy, save_photo


def photo_groups(lib: Path, n: int = 3) -> list[Group]:
    """``n`` groups of a real photo and a byte copy of it (``cp -p``) in one folder."""
    groups = []
    for g, which in enumerate(("chelsea", "coffee", "astronaut")[:n]):
        keep = save_photo(lib / f"{which}.jpg", which, 0.25)
        dup = copy(keep, lib / f"{which}-copy.jpg")
        members = tuple(
            Member(str(p), p.stat().st_size, 1, 1, "JPEG", 1.0, mtime_ns=p.stat().st_mtime_ns)
            for p in (keep, dup)
        )
        groups.append(Group(g + 1, "exact", str(keep), "test", members))
    return groups


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Plan, Path, Path]:
    lib = tmp_path / "lib"
    plan = A.build_plan(photo_groups(lib), "trash", roots=[lib])
    path = tmp_path / "plan.json"
    save_plan(plan, path)
    return plan, path, lib


def test_a_plan_read_in_tiny_windows_is_the_plan_saved_and_stays_signed(
    saved: tuple[Plan, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, path, _ = saved
    monkeypatch.setattr(plan_read, "WINDOW", 7)  # every value and number cut across windows
    got = load_plan(path)
    assert got.signed and got.from_file
    assert list(got.items) == list(plan.items) and len(got.items) == 3
    assert list(got.refused) == list(plan.refused)
    assert (got.id, got.op, got.roots, got.created) == (plan.id, plan.op, plan.roots, plan.created)
    doc = json.loads(path.read_text())
    doc["items"][2]["size"] += 1  # one number edited: the signature no longer holds
    path.write_text(json.dumps(doc, indent=1))
    assert not load_plan(path).signed
    doc["items"][2]["size"] -= 1
    del doc["items"][2]["keeper_ino"]  # a field left out (its default is taken): not signed
    path.write_text(json.dumps(doc, indent=1))
    assert not load_plan(path).signed


def test_a_damaged_item_is_named_by_its_number(saved: tuple[Plan, Path, Path]) -> None:
    _, path, _ = saved
    doc = json.loads(path.read_text())
    doc["items"][1]["size"] = "12"
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match=r"damaged \(item 2: item field size has the wrong type"):
        load_plan(path)
    doc["items"][1] = {**doc["items"][0], "owner": "x"}
    doc["refused"] = [{"path": "/x"}]
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match=r"item 2: unknown item field\(s\) owner"):
        load_plan(path)
    doc["lookalike_plan"] = 99  # not a plan at all comes first, whatever its items hold
    path.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="not a lookalike plan"):
        load_plan(path)


def test_a_truncated_plan_touches_nothing_and_the_whole_plan_then_applies(
    saved: tuple[Plan, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.cli import main

    _, path, lib = saved
    monkeypatch.setattr(plan_read, "WINDOW", 64)
    text = path.read_text()
    before = checksums(lib)
    cut = tmp_path / "cut.json"
    last_item = text.rindex('"keeper_ino"')  # inside the last item: two items read whole
    for end in (last_item, len(text) - 2, len(text) // 2, 1):
        cut.write_text(text[:end])
        r = CliRunner().invoke(main, ["apply", str(cut), "--yes"])
        assert r.exit_code == 2 and "not valid JSON" in r.stderr, (end, r.output)
        assert "make a new plan" in r.stderr or "make one" in r.stderr
        assert checksums(lib) == before and A.history() == []
    cut.write_text(text + "{}")  # more after the plan is damage too
    assert CliRunner().invoke(main, ["apply", str(cut), "--yes"]).exit_code == 2
    r = CliRunner().invoke(main, ["apply", str(path), "--yes"])
    assert r.exit_code == 0, r.output
    assert len(A.history()) == 1 and not (lib / "coffee-copy.jpg").exists()


def big_plan(path: Path, n: int = 20_000) -> Path:
    """A signed plan file of ``n`` items (``n`` = 20k: ≈ 9 MB of JSON), written a row at a time."""

    def item(n: int) -> PlanItem:
        src, keep = f"/lib/{n // 1000:03d}/photo-{n:06d}-copy.jpg", f"/lib/photo-{n % 100:03d}.jpg"
        size, mtime = 40_000 + n, 10**18 + n
        return PlanItem(n, n, "trash", src, None, keep, size, mtime, "a" * 32, size, mtime,
                        "b" * 32, 2049, 10**6 + n)  # fmt: skip

    items = tuple(item(k) for k in range(n))
    save_plan(
        Plan("p", A.parse_action("trash"), items, (Refusal(1, "/x.jpg", "kept", True),)), path
    )
    return path


def test_loading_holds_neither_the_file_nor_a_dict_per_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read whole, the text and the item dicts of these 20k items were ≈ 39 MB."""
    path = big_plan(tmp_path / "plan.json")
    assert path.stat().st_size > 8_000_000
    monkeypatch.setattr(plan_read, "WINDOW", 1 << 16)
    tracemalloc.start()
    try:
        got = load_plan(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got.items) == 20_000 and got.items[12_345].source.endswith("photo-012345-copy.jpg")
    assert got.signed
    assert peak < 4_000_000, peak


def test_the_journal_takes_a_spooled_plan_a_row_at_a_time(tmp_path: Path) -> None:
    """Every item is journalled as planned before a file is touched — from the spool, without
    a dict per item (≈ 20 MB here before)."""
    from lookalike.engine.actions.apply import _begin_batch
    from lookalike.engine.actions.journal import Journal

    plan = load_plan(big_plan(tmp_path / "plan.json"))
    with Journal(tmp_path / "journal.sqlite") as j:
        tracemalloc.start()
        try:
            batch = _begin_batch(j, plan, "test", None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        rows = j.db.execute("SELECT count(*), max(seq) FROM items WHERE batch=?", (batch,))
        assert tuple(rows.fetchone()) == (20_000, 19_999)
    assert peak < 4_000_000, peak


def test_the_check_resolves_each_folder_once_and_still_sees_a_symlinked_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    plan = A.build_plan(photo_groups(lib), "trash", roots=[lib])
    calls: list[str] = []
    realpath = os.path.realpath

    def counted(p: str, *a: object, **k: object) -> str:
        calls.append(p)
        return realpath(p, *a, **k)

    monkeypatch.setattr(os.path, "realpath", counted)
    check_plan(plan, fresh=False)
    assert len(plan.items) == 3 and calls.count(str(lib)) == 1  # the folder, once
    assert not any(c.endswith(".jpg") for c in calls)  # no file resolved one by one
    # a file that is a symlink is resolved whole, exactly as real() does
    (lib / "sub").mkdir()
    link = lib / "sub" / "link.jpg"
    link.symlink_to(lib / "coffee.jpg")
    folder_link = tmp_path / "via"
    folder_link.symlink_to(lib / "sub")
    rp = RealPaths()
    for p in (link, folder_link / "link.jpg", lib / "coffee.jpg", folder_link / "gone.jpg"):
        assert rp(str(p)) == real(str(p))
    assert rp(str(link)) == str(lib / "coffee.jpg")
    assert rp(str(folder_link / "gone.jpg")) == str(lib / "sub" / "gone.jpg")


def test_items_that_clash_are_each_named_as_before(tmp_path: Path) -> None:
    """The clashes between items, found in SQL now (plancheck_seen.py): a file listed twice
    (once through a symlinked folder), a sequence number used twice, a group naming two
    keepers, a source that is another item's keeper — each refused with its reason."""
    from dataclasses import replace

    from lookalike.engine.actions.plancheck import PlanRejected

    lib = tmp_path / "lib"
    plan = A.build_plan(photo_groups(lib), "trash", roots=[lib])
    check_plan(plan, fresh=True)  # the plan as built passes
    (tmp_path / "via").symlink_to(lib)
    a, b, c = plan.items  # chelsea, coffee, astronaut copies
    twice = replace(a, seq=7, source=str(tmp_path / "via" / Path(a.source).name))
    same_seq = replace(b, seq=a.seq)
    other_keeper = replace(c, keeper=b.keeper)  # group 3 now also names coffee.jpg
    keeper_as_source = replace(c, seq=9, source=a.keeper)
    cases = {
        (a, twice, b, c): [(a.source, "listed more than once"), (twice.source, "listed more")],
        (a, same_seq, c): [(a.source, f"sequence number {a.seq} is used twice")],
        (a, b, c, other_keeper): [(other_keeper.source, "group 3 names two keepers")],
        (a, b, keeper_as_source): [(a.keeper, f"it is the keeper {a.keeper} of another file")],
    }
    for items, want in cases.items():
        edited = replace(plan, items=items, roots=(str(lib), str(tmp_path / "via")))
        with pytest.raises(PlanRejected) as got:
            check_plan(edited, fresh=False)
        for path, reason in want:
            assert any(p == path and reason in r for p, r in got.value.problems), got.value


def test_the_check_holds_no_entry_per_item(tmp_path: Path) -> None:
    """40k items: the per-item dicts and counters of the old check peaked at ≈ 14 MB (≈ 7 MB
    at 20k: it grew with the plan); the clashes are found in a temp SQLite file now."""
    from dataclasses import replace

    plan = load_plan(big_plan(tmp_path / "plan.json", 40_000))
    plan = replace(plan, roots=(real("/lib"),))  # big_plan's paths: all under /lib
    tracemalloc.start()
    try:
        check_plan(plan, fresh=False)  # passes: the files are not looked at (not fresh)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak
