"""Select by criteria over the member columns (ui/select_columns.py, issue 13): on random
groups stored in a real catalog, the paged review's selection (numpy over
``Engine.group_member_columns``) is the in-memory review's (``_keepers`` group by group) for
every criterion, with ties, marks, favourites, decided and "not a duplicate" groups."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.catalog import Catalog
from lookalike.engine.member_columns import MemberColumns, capture_seconds
from lookalike.engine.records import Group, Member
from lookalike.ui import select
from lookalike.ui.engine_port import EngineAdapter
from lookalike.ui.group_pages import open_stored
from lookalike.ui.select_columns import COLUMN_CRITERIA
from lookalike.ui.state import ReviewState

FOLDERS = ("/p/Downloads", "/p/DCIM/Camera", "/p/trip é", "/p/Trip/raw")
FLAGS = ("letterboxed", "re-encoded JPEG→PNG", "metadata stripped")
ARGS = {"in-folder": ("trip", "dcim", "", "nowhere"), "not-folder": ("downloads", "TRIP"),
        "format": ("webp", "PNG", ""), "flag": ("re-encoded", "STRIPPED", "x")}  # fmt: skip
_n = itertools.count()

TEN = "2021-07-14T10:00:00"
_TEN_NS = int(capture_seconds(TEN)) * 10**9  # an mtime in the same second as a capture time
TAKEN = (
    None,
    None,
    TEN,
    "2021:07:14 10:00:00",
    "2021-07-14T09:59:59",
    "2020-01-01T00:00:00",
    "0000:00:00 00:00:00",
    "2021-07-14T10",
)  # ties, EXIF spelling, no time, not a time
MTIMES = (0, _TEN_NS, _TEN_NS + 5 * 10**8, _TEN_NS - 10**9, 10**18)  # ns: 0 is unknown

member = st.tuples(
    st.sampled_from(FOLDERS),
    st.integers(1, 4),  # size: ties on purpose
    st.sampled_from(((10, 10), (20, 5), (20, 20), (5, 5))),  # equal areas on purpose
    st.sampled_from(("JPEG", "PNG", "WEBP")),
    st.lists(st.sampled_from(FLAGS), max_size=2, unique=True),
    st.sampled_from(TAKEN),
    st.sampled_from(MTIMES),
)
group = st.tuples(st.lists(member, min_size=2, max_size=5), st.integers(0, 4))


def build(raw: list) -> list[Group]:
    out = []
    for i, (members, k) in enumerate(raw):
        ms = tuple(
            Member(f"{folder}/{i}-{j}.jpg", size * 1000, w, h, fmt, 0.9, mtime,
                   capture_time=taken, file_id=i * 8 + j + 1, flags=tuple(flags))
            for j, (folder, size, (w, h), fmt, flags, taken, mtime) in enumerate(members)
        )  # fmt: skip
        out.append(Group(i + 1, "same", ms[k % len(ms)].path, "test", ms))
    return out


def states(groups: list[Group], where: Path) -> tuple[ReviewState, ReviewState, Engine]:
    engine = Engine(where / f"c{next(_n)}.db", where / "thumbs")
    with Catalog(engine.catalog_path) as cat:
        cat.finish_scan(cat.start_scan(["/p"]), {}, groups, seen=None)
    paged = ReviewState()
    stored = open_stored(EngineAdapter(engine), set())
    assert stored is not None
    paged.set_stored(stored)
    return paged, ReviewState(engine.last_groups()), engine


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(group, min_size=1, max_size=12),
    marked=st.sets(st.tuples(st.integers(0, 11), st.integers(0, 4)), max_size=6),
    faved=st.sets(st.tuples(st.integers(0, 11), st.integers(0, 4)), max_size=6),
    acted=st.sets(st.integers(1, 12), max_size=3),
    tier_sort=st.sampled_from(((None, "order"), (None, "bytes"), ("same", "size"))),
)
def test_paged_selection_is_the_in_memory_selection(raw, marked, faved, acted, tier_sort):
    groups = build(raw)
    with tempfile.TemporaryDirectory() as tmp:
        paged, ref, _ = states(groups, Path(tmp))
        marks = {f"{g.members[j].path}" for i, j in marked if i < len(groups)
                 for g in [groups[i]] if j < len(g.members)}  # fmt: skip
        favs = {f"{g.members[j].path}" for i, j in faved if i < len(groups)
                for g in [groups[i]] if j < len(g.members)}  # fmt: skip
        for s in (paged, ref):
            s.marks, s.favourites = set(marks), set(favs)
            s.tier_filter, s.sort = tier_sort
            s.rebuild_view()
            for gid in sorted(acted):
                if gid <= len(groups):
                    s.goto_index(list(s.view).index(gid)) if gid in s.view else None
                    if s.current is not None and s.current.id == gid:
                        s.not_duplicate()
        assert list(paged.view) == list(ref.view)
        for criterion in COLUMN_CRITERIA:
            for arg in ARGS.get(criterion, ("",)):
                got, want = select.select(paged, criterion, arg), select.select(ref, criterion, arg)
                assert got == want, (criterion, arg)
                assert list(got.keep) == list(want.keep)  # view order too


def test_the_columns_are_the_facts_and_hidden_files_stay_out(tmp_path: Path) -> None:
    """The real engine's columns = the facts' members (an ord not stored skipped); a hidden
    file is left out as ``hidden.without_hidden`` leaves it, and a group whose keeper is
    hidden is dropped."""
    from lookalike.engine import hidden

    lib = tmp_path / "lib"
    lib.mkdir()
    raw = [[(str(lib), 2, (10, 10), "JPEG", [], TEN, 10**18)] * 3,
           [(str(lib), 3, (20, 20), "PNG", [], None, 10**18)] * 2]  # fmt: skip
    groups = build([(m, 0) for m in raw])
    for m in (m for g in groups for m in g.members):
        Path(m.path).write_bytes(b"x" * m.size)
        os.utime(m.path, ns=(m.mtime_ns, m.mtime_ns))
    _, _, engine = states(groups, tmp_path)
    ords = [0, 1, 7]
    got = engine.group_member_columns(ords)
    assert _same(got, MemberColumns.of_groups(engine.group_page(ords))) and len(got) == 5
    assert got.keeper.tolist() == [True, False, False, True, False]
    with Catalog(engine.catalog_path) as cat:
        hidden.hide(cat.db, [(groups[0].members[1].path, "t", 1.0), (groups[1].keep, "t", 1.0)])
    got = engine.group_member_columns(ords)
    assert _same(got, MemberColumns.of_groups(engine.group_page(ords)))
    assert got.ords.tolist() == [0, 0] and engine.group_member_columns(ords, True).ords.size == 5


def _same(a: MemberColumns, b: MemberColumns) -> bool:
    return np.array_equal(a.taken, b.taken, equal_nan=True) and all(
        list(getattr(a, f)) == list(getattr(b, f))
        for f in MemberColumns.__dataclass_fields__
        if f != "taken"
    )


def test_oldest_and_newest_read_the_capture_column_not_pages(tmp_path: Path) -> None:
    """Real photos with EXIF dates (and one without, dated by its mtime) scanned by the real
    engine: "oldest"/"newest" over the paged review read the member columns — no page
    decoded — and choose what the in-memory review chooses."""
    from PIL import Image
    from skimage import data

    lib = tmp_path / "lib"
    lib.mkdir()
    for name, dates in (("astronaut", ("2019:05:01 12:00:00", "2018:01:01 08:00:00")),
                        ("coffee", ("2020:02:02 10:00:00", None))):  # fmt: skip
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        for suffix, date in zip(("", "-copy"), dates, strict=True):
            exif = Image.Exif()
            if date:
                exif[0x0132] = date  # DateTime
            img.save(lib / f"{name}{suffix}.jpg", quality=92 if suffix else 95, exif=exif)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg")
        os.utime(lib / f"{name}-small.jpg", (1.5e9, 1.5e9))  # 2017: older than every date
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    for _ in engine.scan_sync(ScanOptions(roots=(lib,), workers=1)):
        pass
    ref = ReviewState(engine.last_groups())
    assert len(ref.groups) == 2
    assert {m.capture_time for g in ref.groups for m in g.members} >= {"2019-05-01T12:00:00"}
    port = EngineAdapter(engine)
    pages: list[list[int]] = []
    read = port.group_page
    port.group_page = lambda ords: pages.append(list(ords)) or read(ords)  # type: ignore[method-assign]
    paged = ReviewState()
    stored = open_stored(port, set())
    assert stored is not None
    paged.set_stored(stored)
    pages.clear()
    for criterion in ("oldest", "newest"):
        got, want = select.select(paged, criterion), select.select(ref, criterion)
        assert got == want and got.groups == 2, criterion
    assert pages == []  # no group decoded: the capture time came from group_files.taken
    oldest = select.select(paged, "oldest").keep
    assert {os.path.basename(p) for keep in oldest.values() for p in keep} == {
        "astronaut-small.jpg", "coffee-small.jpg"}  # fmt: skip
    newest = select.select(paged, "newest").keep  # coffee-copy has no date: its mtime, today
    assert {os.path.basename(p) for keep in newest.values() for p in keep} == {
        "astronaut.jpg", "coffee-copy.jpg"}  # fmt: skip
