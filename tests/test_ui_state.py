"""ReviewState: navigation, decisions, filters and persistence, without Textual."""

from __future__ import annotations

from lookalike.engine.records import Group, Member
from lookalike.ui.fake import make_groups
from lookalike.ui.state import ReviewState, file_key


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
    upserts, deleted = s.take_changes()
    assert len(upserts) == 1 and deleted == [] and not s.unsaved
    stale = {"key": "x", "status": "accepted", "members": ["a", "b"], "keep": ["a"]}
    t = ReviewState(make_groups(10))
    t.load_records([*upserts, stale, {"garbage": 1}, "nope"])
    t.load_json(data)
    assert t.current.id == 5 and t.member == 1
    assert t.decisions[5].keep == s.decisions[5].keep
    assert set(t.decisions) == {5}  # the stale record matches no group and stays stored
    assert set(t.records) == {upserts[0]["key"], "x"}
    assert t.marks == s.marks and t.favourites == s.favourites
    t.load_json("garbage")  # ignored, never raises


# -- decisions by stable identity (file id + size + mtime; groups by member set) -------------


def member(fid: int, name: str, size: int = 1000) -> Member:
    return Member(f"/lib/{name}", size, 100, 100, "JPEG", 1.0, mtime_ns=7, file_id=fid)


def group(gid: int, *files: Member, keep: int = 0) -> Group:
    return Group(gid, "same", files[keep].path, "test", tuple(files))


A, B, C, D, E, F, X = (member(i, n) for i, n in enumerate("abcdefx", start=1))


def saved(s: ReviewState) -> list[dict]:
    """What the catalog holds after a save."""
    return [r.to_json() for r in s.records.values()]


def rescan(s: ReviewState, *groups: Group) -> ReviewState:
    """A new session after a rescan: records from the catalog, then the new groups."""
    t = ReviewState(list(groups))
    t.load_records(saved(s))
    return t


def test_renumbered_groups_keep_their_decisions() -> None:
    s = ReviewState([group(1, A, B), group(2, C, D), group(3, E, F)])
    s.accept()  # group 1
    s.move(1)
    s.not_duplicate()  # group 2
    # the rescan finds a new group first: every number shifts
    t = rescan(s, group(1, X, member(9, "y")), group(2, A, B), group(3, C, D), group(4, E, F))
    assert t.status(t.by_id[2]) == "accepted" and t.status(t.by_id[3]) == "not-dup"
    assert t.status(t.by_id[1]) == "pending" and t.status(t.by_id[4]) == "pending"
    assert t.removals() == {2: [B.path]}


def test_a_new_copy_is_undecided_not_removed() -> None:
    s = ReviewState([group(1, A, B, C)])
    s.accept()
    assert s.removals() == {1: [B.path, C.path]}
    t = rescan(s, group(1, A, B, C, D))
    g = t.by_id[1]
    assert t.status(g) == "changed: 1 new file"
    assert t.removals() == {1: [B.path, C.path]}  # D is kept until the reviewer looks
    assert D.path in t.keep_set(g)
    t.accept()  # settles the new file by the suggestion (A is the keeper)
    assert t.status(g) == "accepted" and t.removals() == {1: [B.path, C.path, D.path]}
    # the re-decided group is stored under its new member set, the old record is gone
    upserts, deleted = t.take_changes()
    assert [u["members"] for u in upserts] == [sorted(file_key(m) for m in (A, B, C, D))]
    assert len(deleted) == 1


def test_new_file_flag_survives_a_restart_and_a_toggle() -> None:
    s = ReviewState([group(1, A, B, C)])
    s.move_member(1)
    s.set_keeper()  # keep B
    t = rescan(s, group(1, A, B, C, D, E))
    assert t.status(t.by_id[1]) == "changed: 2 new files"
    t.move_member(3)
    assert t.current_member == D
    t.toggle_keep()  # D: looked at, now removed; E still undecided
    assert t.status(t.by_id[1]) == "changed: 1 new file"
    assert t.removals() == {1: [A.path, C.path, D.path]}
    u = rescan(t, group(5, A, B, C, D, E))
    assert u.status(u.by_id[5]) == "changed: 1 new file"
    assert u.removals() == {5: [A.path, C.path, D.path]}


def test_renamed_file_keeps_its_decision() -> None:
    s = ReviewState([group(1, A, B)])
    s.move_member(1)
    s.set_keeper()  # keep B
    renamed = Member("/lib/sub/b-renamed.jpg", B.size, 100, 100, "JPEG", 1.0, 7, file_id=B.file_id)
    t = rescan(s, group(1, A, renamed))
    assert t.status(t.by_id[1]) == "changed"
    assert t.keep_set(t.by_id[1]) == {renamed.path}
    assert t.removals() == {1: [A.path]}


def test_changed_content_is_a_new_file() -> None:
    s = ReviewState([group(1, A, B, C)])
    s.accept()
    edited = member(C.file_id, "c", size=999)  # same catalog row, new content
    t = rescan(s, group(1, A, B, edited))
    assert t.status(t.by_id[1]) == "changed: 1 new file"
    assert t.removals() == {1: [B.path]}


def test_a_decision_never_moves_to_another_group() -> None:
    s = ReviewState([group(1, A, B, C, D), group(2, E, F)])
    s.accept()
    s.move(1)
    s.accept()
    # split: A,B and C,D land in two groups
    t = rescan(s, group(1, A, B), group(2, C, D))
    assert t.decisions == {}
    # two decided groups merged into one: neither decision applies
    u = rescan(s, group(1, A, B, C, D, E, F))
    assert u.decisions == {}
    # a not-dup group's file joins another photo's group: not carried over
    v = ReviewState([group(1, A, B, C)])
    v.not_duplicate()
    w = rescan(v, group(1, A, X))
    assert w.decisions == {}


def test_files_gone_after_apply_and_keeper_gone() -> None:
    s = ReviewState([group(1, A, B, C)])
    s.move_member(1)
    s.toggle_keep()  # keep A and B, remove C
    s.mark_applied([1], "b1")
    t = rescan(s, group(1, A, B))  # C went to the trash
    assert t.status(t.by_id[1]) == "applied" and t.removals() == {}
    u = rescan(s, group(1, B, C, D))  # both kept files... A gone, B still kept
    assert u.status(u.by_id[1]) == "changed: 1 new file"
    s2 = ReviewState([group(1, A, B, C)])
    s2.accept()  # keep A only
    v = rescan(s2, group(1, B, C))  # A (the only kept file) is gone: look again
    assert v.decisions == {}


def test_undecide_and_undo_reach_the_stored_records() -> None:
    s = ReviewState([group(1, A, B), group(2, C, D)])
    s.accept()
    s.move(1)
    assert s.not_duplicate() == [C.path, D.path]
    s.take_changes()
    s.reset()
    assert s.take_released() == [[C.path, D.path]] and s.take_released() == []
    s.move(-1)
    s.reset()
    assert s.take_released() == []  # it was accepted, not "not a duplicate"
    upserts, deleted = s.take_changes()
    assert upserts == [] and len(deleted) == 2 and s.records == {}
    s.not_duplicate()
    s.set_keeper()  # re-decided: no longer "not a duplicate" either
    assert s.take_released() == [[A.path, B.path]]


def test_old_state_format_is_migrated_when_it_fits() -> None:
    groups = [group(1, A, B, C), group(2, D, E), group(3, F, X)]
    legacy = {
        "decisions": {
            "1": {"status": "accepted", "keep": [A.path], "batch": None},
            "2": {"status": "not-dup", "keep": [D.path]},  # not all files: dropped
            "3": {"status": "accepted", "keep": [A.path]},  # another group's file: dropped
            "x": {"status": "accepted"},
        }
    }
    s = ReviewState(groups)
    s.load_records([])
    s.load_json(legacy)
    assert set(s.decisions) == {1} and s.status(s.by_id[1]) == "accepted"
    assert s.unsaved


def test_groups_found_during_a_rescan_never_show_a_file_twice() -> None:
    s = ReviewState([group(1, A, B)])
    s.add_group(group(2, A, B, C))  # the rescan's version of group 1
    s.add_group(group(1, E, F))  # a new group whose number is taken
    s.add_group(group(3, E, F))
    assert [g.id for g in s.groups] == [1, 3] and s.view == [1, 3]


def test_next_undecided_stops_at_groups_with_new_files() -> None:
    s = ReviewState([group(1, A, B), group(2, C, D), group(3, E, F)])
    s.accept_all_remaining()
    t = rescan(s, group(1, A, B), group(2, C, D), group(3, E, F, X))
    assert t.next_undecided() and t.current.id == 3


def test_position_follows_the_files_after_a_rescan() -> None:
    s = ReviewState([group(1, A, B), group(2, C, D)])
    s.move(1)
    data = s.to_json()
    t = ReviewState([group(1, X, F), group(2, A, B), group(3, C, D)])
    t.load_json(data)
    assert t.current.id == 3


def test_a_first_scan_shows_its_first_groups_and_counts_the_rest(monkeypatch) -> None:
    import lookalike.ui.state as state_mod

    monkeypatch.setattr(state_mod, "LIVE_HELD", 2)
    s = ReviewState()
    for g in (group(1, A, B), group(2, C, D), group(3, E, F), group(4, A, X)):
        s.add_group(g)
    assert [g.id for g in s.groups] == [1, 2] and s.live_more == 1  # 4 shares A: never shown
    s.set_groups([group(1, A, B), group(2, C, D), group(3, E, F)])  # the stored review
    assert len(s.groups) == 3 and s.live_more == 0
