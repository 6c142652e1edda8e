"""Pixel re-checks of uncertain edges run in the scan's worker pool (issue 13), sent as the
grouper finds them: the same groups and the same remembered verdicts as re-checking in the
driver, and the driver itself decodes nothing for them."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

data = pytest.importorskip("skimage.data")


def _photos(root: Path) -> None:
    """Two bursts (frames of one scene with a moved subject: the hard negatives that need a
    pixel re-check) plus a resized copy in each, and a different photo."""
    root.mkdir()
    for name, img in (("astro", data.astronaut()), ("coffee", data.coffee())):
        frames = corpus.burst_frames(Image.fromarray(img), seed=5)
        for n, f in enumerate(frames):
            f.save(root / f"{name}{n}.jpg", quality=92)
        half = frames[0].resize((frames[0].width // 2, frames[0].height // 2))
        half.save(root / f"{name}0_half.jpg", quality=80)
    Image.fromarray(data.chelsea()).save(root / "cat.jpg", quality=90)


def _scan(db: Path, root: Path, workers: int) -> tuple[list, list]:
    from lookalike.engine import Engine, ScanOptions
    from lookalike.engine.events import ScanFinished

    events = list(
        Engine(db, db.parent / f"thumbs{workers}").scan_sync(
            ScanOptions(roots=(root,), workers=workers)
        )
    )
    fin = events[-1]
    assert isinstance(fin, ScanFinished)
    groups = sorted(({Path(m.path).name for m in g.members} for g in fin.groups), key=sorted)
    return groups, events


def _verdicts(db: Path) -> set[tuple]:
    """Remembered re-checks by file name (ids differ between catalogs)."""
    with sqlite3.connect(db) as con:
        names = {i: Path(os.fsdecode(p)).name for i, p in con.execute("SELECT id, path FROM files")}
        return {
            (names[a], names[b], same)
            for a, b, same in con.execute("SELECT a, b, same FROM pair_checks")
        }


def _stream_order(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """("sent", pairs) when re-checks go to the pool, ("wait", pairs) when a round waits."""
    from lookalike.engine.recheck_stream import StreamedChecks

    seen: list[tuple[str, int]] = []
    send, wait = StreamedChecks._send, StreamedChecks.wait

    def sent(self, pairs):  # type: ignore[no-untyped-def]
        seen.append(("sent", len(pairs)))
        return send(self, pairs)

    def waited(self, pairs, cancelled):  # type: ignore[no-untyped-def]
        seen.append(("wait", len(pairs)))
        return wait(self, pairs, cancelled)

    monkeypatch.setattr(StreamedChecks, "_send", sent)
    monkeypatch.setattr(StreamedChecks, "wait", waited)
    return seen


def test_rechecks_in_the_pool_give_the_driver_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.engine.events import StageDone
    from lookalike.engine.features import verify
    from lookalike.engine.stages import group as group_stage

    root = tmp_path / "photos"
    _photos(root)
    driver_groups, _ = _scan(tmp_path / "one.db", root, workers=1)
    driver_verdicts = _verdicts(tmp_path / "one.db")
    assert driver_verdicts, "the burst frames should need pixel re-checks"
    assert {"astro0.jpg", "astro0_half.jpg"} in driver_groups

    calls: list[tuple[str, str]] = []
    real = verify.Verifier.verify

    def counted(self, a, b, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((a, b))  # only the driver's calls: spawn workers import their own
        return real(self, a, b, *args, **kwargs)

    monkeypatch.setattr(verify.Verifier, "verify", counted)
    monkeypatch.setattr(group_stage, "POOL_MIN_PAIRS", 1)  # every round goes to the pool
    order = _stream_order(monkeypatch)
    pool_groups, events = _scan(tmp_path / "two.db", root, workers=2)
    assert pool_groups == driver_groups
    assert _verdicts(tmp_path / "two.db") == driver_verdicts
    assert calls == [], "the driver decoded photos for a re-check"
    # sent as the candidates were matched, before the first round waited for any
    assert order and order[0][0] == "sent" and "wait" in {what for what, _ in order}
    assert sum(n for what, n in order if what == "sent") >= len(driver_verdicts)
    done = [e for e in events if isinstance(e, StageDone) and e.stage == "recheck"]
    assert done and done[0].count >= len(driver_verdicts)


def test_cancel_during_rechecks_stops_the_scan_and_a_rerun_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while re-checking: the scan ends as cancelled (no groups built on unchecked
    look-alikes) and a rerun gives the groups of an uninterrupted scan."""
    import threading

    from lookalike.engine import Engine, ScanOptions
    from lookalike.engine.events import ScanFinished, StageProgress
    from lookalike.engine.stages import group as group_stage

    root = tmp_path / "photos"
    _photos(root)
    expected, _ = _scan(tmp_path / "ref.db", root, workers=1)
    monkeypatch.setattr(group_stage, "POOL_MIN_PAIRS", 1)
    db = tmp_path / "cat.db"
    cancel = threading.Event()
    seen = []
    for ev in Engine(db, tmp_path / "thumbs").scan_sync(
        ScanOptions(roots=(root,), workers=2), cancel
    ):
        seen.append(ev)
        if isinstance(ev, StageProgress) and ev.stage == "recheck":
            cancel.set()
    assert any(isinstance(e, StageProgress) and e.stage == "recheck" for e in seen)
    fin = seen[-1]
    assert isinstance(fin, ScanFinished) and fin.cancelled and fin.groups == ()
    again, _ = _scan(db, root, workers=2)
    assert again == expected


def test_a_first_scan_starts_the_pool_before_the_group_stage_reads_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole regroup (no record of a last grouping) of at least ``EARLY_POOL_ITEMS`` starts
    the workers before the driver reads the features (they import meanwhile); a rescan that
    regroups a part does not; the groups are the driver's either way."""
    from lookalike.engine.pool import DecodePool
    from lookalike.engine.stages import group as group_stage

    root = tmp_path / "photos"
    _photos(root)
    expected, _ = _scan(tmp_path / "one.db", root, workers=1)
    seen: list[str] = []
    start, release, items = DecodePool.start, DecodePool.release, group_stage._items

    def started(self):  # type: ignore[no-untyped-def]
        if self._pool is None and self.workers > 1:
            seen.append("start")
        return start(self)

    def released(self):  # type: ignore[no-untyped-def]
        seen.append("release")
        return release(self)

    def read(*args):  # type: ignore[no-untyped-def]
        seen.append("items")
        return items(*args)

    monkeypatch.setattr(DecodePool, "start", started)
    monkeypatch.setattr(DecodePool, "release", released)
    monkeypatch.setattr(group_stage, "_items", read)
    monkeypatch.setattr(group_stage, "EARLY_POOL_ITEMS", 1)
    monkeypatch.setattr(group_stage, "POOL_MIN_PAIRS", 1)
    db = tmp_path / "two.db"
    groups, _ = _scan(db, root, workers=2)
    assert groups == expected
    at = seen.index("items")
    assert "start" in seen[:at] and seen[:at][-1] == "start", seen  # after extract's release
    seen.clear()
    Image.fromarray(data.rocket()).save(root / "rocket.jpg", quality=90)  # a part to regroup
    again, _ = _scan(db, root, workers=2)
    assert again == expected
    at = seen.index("items")
    assert seen[:at][-1:] != ["start"], seen  # started later, when the first check is sent
