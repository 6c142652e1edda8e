"""The extract's head start (engine/stages/early.py): photos whose size no other file has go to
the decode pool as the catalog stage sniffs them, before the exact stage runs, and nothing about what is decoded or found
changes — one decode per exact cluster, byte copies grouped, a cancelled scan resumes.
Real photos (skimage.data) with a hard negative: two different photos of the same byte size (a BMP each)."""

from __future__ import annotations

import multiprocessing
import shutil
import threading
from pathlib import Path

import pytest
from PIL import Image

from lookalike.engine import Engine, ScanOptions, pipeline
from lookalike.engine.catalog import Catalog
from lookalike.engine.events import ScanFinished, StageDone, StageProgress
from lookalike.engine.stages import diff, early

data = pytest.importorskip("skimage.data")

ALONE = ("astronaut.jpg", "chelsea.jpg", "rocket.jpg")  # sizes all their own
REPS = 6  # the three above, one of the two coffee copies, both same-size BMPs


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("early")
    for name in ("astronaut", "chelsea", "rocket", "coffee"):
        Image.fromarray(getattr(data, name)()).save(root / f"{name}.jpg", quality=90)
    shutil.copy(root / "coffee.jpg", root / "coffee-copy.jpg")  # same bytes: one decode
    Image.fromarray(data.camera()).save(root / "camera.bmp")  # 512 × 512 grey, both
    Image.fromarray(data.moon()).save(root / "moon.bmp")
    sizes = [p.stat().st_size for p in root.iterdir()]
    assert len(set(sizes)) == len(sizes) - 2  # the coffee pair and the BMP pair collide
    return root


def _scan(root: Path, db: Path, workers: int, cancel: threading.Event | None = None) -> list:
    opts = ScanOptions(roots=(root,), workers=workers)
    return list(Engine(db, db.parent / "thumbs").scan_sync(opts, cancel))


def _decoded_names(db: Path) -> set[str]:
    cat = Catalog(db)
    try:
        ids = set(cat.feature_versions("percept"))
        return {Path(r.path).name for r in cat.files_by_ids(ids).values()}
    finally:
        cat.close()


@pytest.mark.parametrize("send_every", [1024, 1])
def test_photos_of_their_own_size_go_out_before_the_exact_stage(
    library, tmp_path, monkeypatch, send_every
):
    order: list[str] = []
    sent: list[tuple[set[str], int]] = []
    real_start, real_exact = pipeline.start_early, pipeline.exact

    def spy_start(ctx, media, early):  # noqa: ANN001, ANN202 - the pipeline's own arguments
        got = real_start(ctx, media, early)
        order.append("early")
        sent.append(({Path(r.path).name for r in got.rows}, len(got.batches)))
        return got

    def spy_exact(ctx, media):  # noqa: ANN001, ANN202
        order.append("exact")
        return (yield from real_exact(ctx, media))

    monkeypatch.setattr(pipeline, "start_early", spy_start)
    monkeypatch.setattr(pipeline, "exact", spy_exact)
    monkeypatch.setattr(diff, "SEND_EVERY", send_every)  # 1: a batch per photo, as sniffed
    fin = _scan(library, tmp_path / "a.db", workers=2)[-1]
    assert order == ["early", "exact"]
    assert sent == [(set(ALONE), 1 if send_every > len(ALONE) else len(ALONE))]
    assert fin.stats.images_decoded == REPS  # early + after the exact stage, each once
    names = _decoded_names(tmp_path / "a.db")
    assert len(names) == REPS and len(names & {"coffee.jpg", "coffee-copy.jpg"}) == 1
    assert not multiprocessing.active_children()


def test_the_same_groups_and_decodes_as_one_worker(library, tmp_path):
    two = _scan(library, tmp_path / "two.db", workers=2)[-1]
    one = _scan(library, tmp_path / "one.db", workers=1)[-1]

    def found(fin: ScanFinished) -> list:
        return sorted((g.tier, sorted(Path(m.path).name for m in g.members)) for g in fin.groups)

    assert found(two) == found(one)
    assert ("exact", ["coffee-copy.jpg", "coffee.jpg"]) in found(two)
    assert not any("camera.bmp" in m and "moon.bmp" in m for _, m in found(two))
    assert _decoded_names(tmp_path / "two.db") == _decoded_names(tmp_path / "one.db")


@pytest.mark.parametrize("at", ["exact", "extract"])
def test_a_cancelled_scan_keeps_what_it_stored_and_a_rerun_resumes(library, tmp_path, at):
    db = tmp_path / "c.db"
    cancel = threading.Event()
    events = []
    for ev in Engine(db, tmp_path / "thumbs").scan_sync(
        ScanOptions(roots=(library,), workers=2), cancel
    ):
        events.append(ev)
        if at == "exact" and isinstance(ev, StageDone) and ev.stage == "exact":
            cancel.set()  # the early photos are in the pool: none is waited for
        if at == "extract" and isinstance(ev, StageProgress) and ev.stage == "extract":
            cancel.set()  # after the first result stored
    first = events[-1]
    assert isinstance(first, ScanFinished) and first.cancelled
    stored = 0 if at == "exact" else 1
    assert first.stats.images_decoded == stored
    assert not multiprocessing.active_children()
    again = _scan(library, db, workers=2)[-1]
    assert not again.cancelled
    assert again.stats.images_decoded == REPS - stored  # only what the cancelled run lacked
    assert len(_decoded_names(db)) == REPS


def test_alone_leaves_out_sizes_shared_with_a_video_or_another_photo():
    from lookalike.engine.catalog import FileRow

    def row(i: int, size: int, kind: str) -> FileRow:
        return FileRow(i, f"/p/{i}", 1, i, size, 0, kind, None, None, None)

    media = [row(1, 10, "image"), row(2, 10, "video"), row(3, 11, "image"), row(4, 0, "image")]
    assert [r.id for r in early.alone(media)] == [3]


def test_a_photo_a_content_rule_hid_is_not_sent_early(library, tmp_path):
    from lookalike.engine import hidden

    db = tmp_path / "h.db"
    cat = Catalog(db)
    try:
        assert hidden.hide(cat.db, [(str(library / "astronaut.jpg"), "people", 0.9)]) == 1
    finally:
        cat.close()
    fin = _scan(library, db, workers=2)[-1]
    assert fin.stats.images_decoded == REPS - 1
    assert "astronaut.jpg" not in _decoded_names(db)


def test_a_first_scan_starts_its_workers_with_the_walk_and_sends_small_batches_first(
    library, tmp_path, monkeypatch
):
    """The workers of a first scan start before the catalog stage (they import while the walk
    runs on the other core), a rescan's only when it found something new; the first batches
    sent early are small (here 1, then 2) so the workers have work from the first photos."""
    from lookalike.engine.pool import DecodePool

    order: list[str] = []
    real_start, real_diff = DecodePool.start, pipeline.diff

    def spy_pool_start(self):  # noqa: ANN001, ANN202
        order.append("pool")
        return real_start(self)

    def spy_diff(ctx, found):  # noqa: ANN001, ANN202
        order.append("diff")
        return (yield from real_diff(ctx, found))

    monkeypatch.setattr(DecodePool, "start", spy_pool_start)
    monkeypatch.setattr(pipeline, "diff", spy_diff)
    monkeypatch.setattr(diff, "FIRST_SEND", 1)
    sent: list[int] = []
    real_send = early.Early.send

    def spy_send(self, ctx, rows):  # noqa: ANN001, ANN202
        rows = list(rows)
        if rows:
            sent.append(len(rows))
        return real_send(self, ctx, rows)

    monkeypatch.setattr(early.Early, "send", spy_send)
    fin = _scan(library, tmp_path / "r.db", workers=2)[-1]
    assert fin.stats.images_decoded == REPS
    assert order[:2] == ["pool", "diff"]
    assert sent[:2] == [1, 2]  # the three photos of a size of their own, as sniffed
    order.clear()
    again = _scan(library, tmp_path / "r.db", workers=2)[-1]
    assert again.stats.images_decoded == 0 and "pool" not in order


def test_a_first_scan_cancelled_while_sniffing_has_a_row_for_every_photo_sent(
    library, tmp_path, monkeypatch
):
    """A first scan inserts its rows after the sniff (diff._first_rows); cancelled right after
    the first photo went to the workers, every file still has its row, no stored feature
    lacks one, and a rerun decodes the rest (each photo once in all)."""
    import sqlite3

    cancel = threading.Event()
    real_send = early.Early.send

    def send_then_cancel(self, ctx, rows):  # noqa: ANN001, ANN202
        got = real_send(self, ctx, rows)
        if self.ids:
            cancel.set()
        return got

    monkeypatch.setattr(diff, "FIRST_SEND", 1)
    monkeypatch.setattr(early.Early, "send", send_then_cancel)
    db = tmp_path / "c.db"
    first = _scan(library, db, workers=2, cancel=cancel)[-1]
    assert isinstance(first, ScanFinished) and first.cancelled
    with sqlite3.connect(db) as con:
        paths = {Path(p.decode()).name for (p,) in con.execute("SELECT path FROM files")}
        orphans = con.execute(
            "SELECT COUNT(*) FROM features WHERE file_id NOT IN (SELECT id FROM files)"
        ).fetchone()[0]
        stored = con.execute("SELECT COUNT(DISTINCT file_id) FROM features").fetchone()[0]
    assert paths == {p.name for p in library.iterdir()} and orphans == 0
    monkeypatch.undo()
    again = _scan(library, db, workers=2)[-1]
    assert not again.cancelled
    assert again.stats.images_decoded == REPS - stored
    assert _decoded_names(db) >= set(ALONE)
