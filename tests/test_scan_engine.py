"""The scan engine end to end on real photos: groups, tiers, incremental rescans, decisions."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import GroupFound, ItemError, ScanFinished, StageProgress

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "motorcycle_right"]
TRANSFORMS = [
    "exact_copy",
    "jpeg_q30",
    "scale_25",
    "to_png",
    "to_heic",
    "to_webp",
    "grayscale",
    "gamma_1.6",
    "blur",
    "noise",
    "watermark_centre",
    "border",
    "letterbox_16x9",
    "rot90",
    "rot180",
    "mirror",
    "exif_orient_6",
]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    from corpus import make_corpus

    out = tmp_path_factory.mktemp("corpus")
    labels = make_corpus(out, photos=PHOTOS, transforms=TRANSFORMS, seed=3)
    return out / "images", labels


def _scan(root: Path, db: Path, **kw) -> ScanFinished:
    events = list(
        Engine(db, db.parent / "thumbs").scan_sync(ScanOptions(roots=(root,), workers=1, **kw))
    )
    fin = events[-1]
    assert isinstance(fin, ScanFinished)
    return fin


def _source_of(labels: dict, root: Path) -> dict[str, str]:
    base = root.parent
    return {os.path.abspath(base / f["path"]): f["source"] for f in labels["files"]}


def test_every_copy_groups_with_its_original_and_nothing_else(corpus, tmp_path):
    root, labels = corpus
    fin = _scan(root, tmp_path / "cat.db")
    src = _source_of(labels, root)
    groups_by_source = defaultdict(list)
    for g in fin.groups:
        sources = {src[m.path] for m in g.members}
        assert len(sources) == 1, f"group {g.id} mixes photos: {sources}"
        groups_by_source[sources.pop()].append(g)
    for source in PHOTOS:
        files = [p for p, s in src.items() if s == source]
        assert len(groups_by_source[source]) == 1, f"{source}: split into several groups"
        grouped = {m.path for m in groups_by_source[source][0].members}
        assert grouped == set(files), f"{source}: missed {set(files) - grouped}"
    # the stereo pair (two shots of one scene) is never "the same photo"
    assert not fin.errors


def test_group_has_keeper_reason_scores_and_a_deterministic_order(corpus, tmp_path):
    root, _ = corpus
    a = _scan(root, tmp_path / "a.db")
    b = _scan(root, tmp_path / "b.db")
    assert [g.to_json() for g in a.groups] == [g.to_json() for g in b.groups]
    for g in a.groups:
        assert g.keep in {m.path for m in g.members}
        assert g.reason
        assert all(0.0 <= m.score <= 1.0 for m in g.members)
        assert next(m for m in g.members if m.path == g.keep).score == 1.0


def test_keeper_is_the_original_then_reference(corpus, tmp_path):
    root, _ = corpus
    fin = _scan(root, tmp_path / "c.db")
    for g in fin.groups:
        # no metadata here: the pixels alone say which file is the original (the bordered and
        # letterboxed copies have the largest canvas, the PNG and noisy copies the most bytes)
        assert os.path.basename(g.keep).split("__")[1] in {"original.jpg", "exact_copy.jpg"}, (
            g.keep,
            g.reason,
        )
        assert "largest file" not in g.reason
        for m in g.members:
            assert (m.flags == ()) == (m.path == g.keep or "exact_copy" in m.path or
                                       "original" in m.path), (m.path, m.flags)  # fmt: skip
    # the old order still works when asked for: the largest canvas wins
    fin = _scan(root, tmp_path / "r.db", keep_rules=("resolution", "bytes"))
    for g in fin.groups:
        best = max(m.width * m.height for m in g.members)
        keeper = next(m for m in g.members if m.path == g.keep)
        assert keeper.width * keeper.height == best
    ref_file = next(m.path for m in fin.groups[0].members if "scale_25" in m.path)
    fin2 = _scan(root, tmp_path / "d.db", reference=(Path(ref_file).parent,))
    assert all(g.reason.startswith("in reference folder") for g in fin2.groups)


def test_exact_tier_and_hardlinks(tmp_path, corpus):
    root, _ = corpus
    d = tmp_path / "d"
    d.mkdir()
    src = next(root.glob("coffee__original*"))
    shutil.copy(src, d / "a.jpg")
    shutil.copy(src, d / "b.jpg")
    os.link(d / "a.jpg", d / "a-hardlink.jpg")
    fin = _scan(d, tmp_path / "e.db")
    assert len(fin.groups) == 1
    g = fin.groups[0]
    assert g.tier == "exact"
    assert sorted(Path(m.path).name for m in g.members) == ["a-hardlink.jpg", "b.jpg"] or sorted(
        Path(m.path).name for m in g.members
    ) == ["a.jpg", "b.jpg"]


def test_the_catalog_records_whether_a_scan_followed_symlinks(tmp_path, corpus):
    """The plan check looks for symlink members on disk only when a scan may have stored
    one: a catalog's first scan without --follow-symlinks records '0', any scan following
    them records '1', and a later scan without them does not undo it."""
    root, _ = corpus
    d = tmp_path / "d"
    d.mkdir()
    shutil.copy(next(root.glob("coffee__original*")), d / "a.jpg")
    db = tmp_path / "s.db"

    def recorded() -> str:
        from lookalike.engine.catalog import Catalog

        with Catalog(db) as cat:
            return cat.db.execute("SELECT value FROM meta WHERE key='symlinks'").fetchone()[0]

    _scan(d, db)
    assert recorded() == "0"
    _scan(d, db, follow_symlinks=True)
    assert recorded() == "1"
    _scan(d, db)
    assert recorded() == "1"


def test_near_uniform_images_never_group(tmp_path):
    from PIL import Image

    for i, colour in enumerate([(0, 0, 0), (2, 2, 2), (255, 255, 255), (250, 250, 250)]):
        Image.new("RGB", (300 + i, 200), colour).save(tmp_path / f"flat{i}.jpg")
    fin = _scan(tmp_path, tmp_path / "f.db")
    assert fin.groups == ()


def test_rescan_reads_only_new_changed_and_moved_files(corpus, tmp_path):
    root, _ = corpus
    d = tmp_path / "lib"
    shutil.copytree(root, d)
    db = tmp_path / "g.db"
    first = _scan(d, db)
    n = first.stats.images_decoded
    assert n > 0
    again = _scan(d, db)
    assert again.stats.images_decoded == 0
    assert again.stats.files_unchanged == first.stats.files_seen
    # move one file, delete one, add one
    files = sorted(d.iterdir())
    os.rename(files[0], d / "renamed.jpg")
    files[1].unlink()
    shutil.copy(files[2], d / "new-copy.bin")
    third = _scan(d, db)
    assert third.stats.files_moved == 1
    assert third.stats.files_removed == 1
    assert third.stats.files_new == 1
    assert third.stats.images_decoded == 0  # the new file is an exact copy: not decoded again
    assert any("renamed.jpg" in m.path for g in third.groups for m in g.members)


def test_not_a_duplicate_decision_survives_rescans(corpus, tmp_path):
    root, _ = corpus
    db = tmp_path / "h.db"
    fin = _scan(root, db)
    g = next(g for g in fin.groups if len(g.members) > 3)
    a, b = g.members[0].path, g.members[1].path
    Engine(db).mark_not_duplicate([a, b])
    fin2 = _scan(root, db)
    for g2 in fin2.groups:
        paths = {m.path for m in g2.members}
        assert not ({a, b} <= paths)


def test_bad_files_are_reported_once_and_the_scan_goes_on(corpus, tmp_path):
    root, _ = corpus
    d = tmp_path / "bad"
    d.mkdir()
    good = next(root.glob("astronaut__original*"))
    shutil.copy(good, d / "good.jpg")
    shutil.copy(good, d / "good-copy.jpg")
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.jpg").write_text("not a photo")
    (d / "cut.jpg").write_bytes(good.read_bytes()[:2000])
    (d / "name\nwith newline.jpg").write_bytes(good.read_bytes())
    bad_name = os.fsencode(str(d)) + b"/caf\xe9.jpg"
    with open(bad_name, "wb") as fh:
        fh.write(good.read_bytes())
    os.symlink(d / "missing-target.jpg", d / "broken-link.jpg")
    os.symlink(d, d / "loop")
    events = list(
        Engine(tmp_path / "i.db").scan_sync(
            ScanOptions(roots=(d,), workers=1, follow_symlinks=True)
        )
    )
    fin = events[-1]
    errors = {Path(e.path).name: e.error for e in fin.errors}
    assert "empty" in errors["empty.jpg"]
    assert "not an image" in errors["text.jpg"]
    assert "truncated" in errors["cut.jpg"] or "corrupt" in errors["cut.jpg"]
    assert "broken symlink" in errors["broken-link.jpg"]
    assert "loop" in errors["loop"]
    assert len([e for e in events if isinstance(e, ItemError)]) == len(fin.errors)
    assert len(fin.groups) == 1
    assert len(fin.groups[0].members) == 4  # good, good-copy, newline name, undecodable name


def test_progress_events_and_groups_stream(corpus, tmp_path):
    root, _ = corpus
    events = list(Engine(tmp_path / "j.db").scan_sync(ScanOptions(roots=(root,), workers=2)))
    stages = {e.stage for e in events if isinstance(e, StageProgress)}
    assert "extract" in stages
    assert len([e for e in events if isinstance(e, GroupFound)]) == len(events[-1].groups)


async def test_async_api_yields_the_same_events(corpus, tmp_path):
    root, _ = corpus
    engine = Engine(tmp_path / "k.db")
    events = [e async for e in engine.scan(ScanOptions(roots=(root,), workers=1))]
    assert isinstance(events[-1], ScanFinished)
    assert engine.last_groups() == list(events[-1].groups)


def test_cancel_keeps_what_was_done_and_a_rerun_resumes(corpus, tmp_path):
    import threading

    root, _ = corpus
    db = tmp_path / "l.db"
    cancel = threading.Event()
    decoded = 0
    for ev in Engine(db).scan_sync(ScanOptions(roots=(root,), workers=1), cancel):
        if isinstance(ev, StageProgress) and ev.stage == "extract" and ev.done >= 5:
            cancel.set()
        if isinstance(ev, ScanFinished):
            assert ev.cancelled
            decoded = ev.stats.images_decoded
    assert decoded >= 5
    fin = _scan(root, db)
    assert not fin.cancelled
    total = _scan(root, tmp_path / "fresh.db").stats.images_decoded
    assert fin.stats.images_decoded == total - decoded


def test_neighbours_of_a_file_outside_the_catalog(corpus, tmp_path):
    root, labels = corpus
    db = tmp_path / "n.db"
    _scan(root, db)
    src = _source_of(labels, root)
    query = next(p for p, s in src.items() if s == "chelsea" and "rot90" in p)
    outside = tmp_path / "query.jpg"
    shutil.copy(query, outside)
    hits = Engine(db).neighbours(outside, k=5)
    assert hits, "no neighbours"
    assert all(src[p] == "chelsea" for p, _ in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
