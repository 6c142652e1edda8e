"""ReviewState: navigation, decisions, filters and persistence, without Textual."""

from __future__ import annotations

from lookalike.ui.fake import make_groups
from lookalike.ui.state import ReviewState


def test_navigation_and_bounds() -> None:
    s = ReviewState(make_groups(5))
    assert s.current.id == 1
    assert not s.move(-1)
    assert s.move(2) and s.current.id == 3
    s.goto_index(99)
    assert s.current.id == 5
    assert s.move_member(1) and s.member == 1


def test_keep_toggle_never_empties_a_group() -> None:
    s = ReviewState(make_groups(3))
    g = s.current
    assert s.keep_set(g) == {g.keep}
    assert s.toggle_keep() == "every group keeps at least one file"
    s.move_member(1)
    assert s.toggle_keep() is None  # keep a second copy too
    assert s.keep_set(g) == {g.members[0].path, g.members[1].path}
    assert s.status(g) == "changed"
    s.set_keeper()
    assert s.keep_set(g) == {g.members[1].path}
    assert s.removals()[g.id] == [m.path for m in g.members if m.path != g.members[1].path]


def test_accept_not_dup_and_removals() -> None:
    s = ReviewState(make_groups(4))
    s.accept()
    assert s.status(s.by_id[1]) == "accepted"
    s.next_undecided()
    paths = s.not_duplicate()
    assert len(paths) == len(s.by_id[2].members)
    assert 2 not in s.removals()  # not-dup groups are never acted on
    assert s.accept_all_remaining() == 2
    assert set(s.removals()) == {1, 3, 4}
    s.mark_applied([1], "b1")
    assert 1 not in s.removals()
    assert s.mark_undone("b1") == 1
    assert 1 in s.removals()


def test_filters_sort_and_find() -> None:
    s = ReviewState(make_groups(30))
    assert s.cycle_tier() == "exact"
    assert all(s.by_id[g].tier == "exact" for g in s.view)
    s.cycle_tier(), s.cycle_tier(), s.cycle_tier()
    assert s.tier_filter is None
    assert s.cycle_sort() == "bytes"
    assert s.find("#3") and s.cursor == 2
    assert s.find("IMG_00017_copy")
    assert s.current.id == 17 and s.current_member.path.endswith("IMG_00017_copy.jpg")
    s.set_folder_filter("trip3")
    assert all(any("trip3" in m.path for m in s.by_id[g].members) for g in s.view)


def test_persistence_round_trip_drops_stale_entries() -> None:
    s = ReviewState(make_groups(10))
    s.move(4)
    s.move_member(1)
    s.set_keeper()
    s.toggle_mark()
    s.toggle_favourite()
    data = s.to_json()
    data["decisions"]["999"] = {"status": "accepted", "keep": ["/nope"]}
    t = ReviewState(make_groups(10))
    t.load_json(data)
    assert t.current.id == 5 and t.member == 1
    assert t.decisions[5].keep == s.decisions[5].keep
    assert 999 not in t.decisions
    assert t.marks == s.marks and t.favourites == s.favourites
    t.load_json("garbage")  # ignored, never raises
