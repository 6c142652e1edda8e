"""Groups judged on the decode pool's workers (engine/rank_pool.py) are the groups the driver
judges: the same members, evidence, flags, keepers, reasons, scores and order; a window a
worker fails on is judged on the driver. Real photos with edited copies (mirrored, greyscale,
letterboxed, re-encoded, downscaled), so the evidence has something to find."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image, ImageOps
from skimage import data

from lookalike.engine import rank_pool
from lookalike.engine.api import Engine
from lookalike.engine.events import ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.pool import DecodePool

PHOTOS = {"cat": data.chelsea, "cup": data.coffee, "man": data.astronaut, "rocket": data.rocket}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib = tmp_path_factory.mktemp("rankpool") / "lib"
    lib.mkdir()
    for name, load in PHOTOS.items():
        img = Image.fromarray(load()).convert("RGB")
        img.save(lib / f"{name}.jpg", quality=92)
        shutil.copy(lib / f"{name}.jpg", lib / f"{name}-copy.jpg")
        ImageOps.mirror(img).save(lib / f"{name}-mirror.jpg", quality=90)
        ImageOps.grayscale(img).save(lib / f"{name}-grey.jpg", quality=90)
        ImageOps.expand(img, border=(0, img.height // 6), fill="black").save(
            lib / f"{name}-letterbox.jpg", quality=90
        )
        img.save(lib / f"{name}-resave.png")
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=85)
    Image.fromarray(data.camera()).save(lib / "alone.jpg", quality=90)
    return lib


def _groups(tmp: Path, lib: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The groups of a scan with two workers, its catalog named relative to ``tmp``."""
    monkeypatch.chdir(tmp)
    engine = Engine(Path("cat.db"), Path("thumbs"))
    events = list(engine.scan_sync(ScanOptions(roots=(lib,), workers=2, thumbnails=False)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return [g.to_json() for g in fin.groups]


def _judged_on_workers(monkeypatch: pytest.MonkeyPatch) -> tuple[list[bool], list[bool]]:
    """Every group goes to the farm, and the driver waits for the workers' answers (a
    driver that finds no answer judges the window itself): (for each group, whether it came
    judged; for each window a worker answered, whether it judged it)."""
    monkeypatch.setattr(rank_pool, "MIN_GROUPS", 0)
    took, arrive, got, windows = rank_pool.Farm.take, rank_pool.Farm._arrive, [], []
    wait = rank_pool.Farm._wait

    def patient(self, w):  # type: ignore[no-untyped-def]
        with self.ready:
            assert self.ready.wait_for(lambda: w in self.arrived, timeout=120)
        return wait(self, w)

    def counted(self, n):  # type: ignore[no-untyped-def]
        j = took(self, n)
        got.append(j is not None)
        return j

    def answered(self, w):  # type: ignore[no-untyped-def]
        done = arrive(self, w)

        def seen(result):  # type: ignore[no-untyped-def]
            windows.append(not isinstance(result, BaseException))
            done(result)

        return seen

    monkeypatch.setattr(rank_pool.Farm, "take", counted)
    monkeypatch.setattr(rank_pool.Farm, "_wait", patient)
    monkeypatch.setattr(rank_pool.Farm, "_arrive", answered)
    return got, windows


def test_groups_judged_on_the_workers_are_those_judged_on_the_driver(
    library, tmp_path, monkeypatch
):
    (tmp_path / "driver").mkdir()
    here = _groups(tmp_path / "driver", library, monkeypatch)
    got, windows = _judged_on_workers(monkeypatch)
    odd = tmp_path / "pool #1 ?x=%20&"  # the workers open the catalog by a file: URI
    odd.mkdir()
    there = _groups(odd, library, monkeypatch)
    assert got and all(got) and windows == [True]  # one window, judged on a worker
    assert there == here
    # the evidence found something to judge on: otherwise the comparison proves little
    flags = {f for g in here for m in g["files"] for f in m["flags"]}
    assert {"mirrored", "greyscale", "letterboxed"} <= {f.split(" (")[0] for f in flags}
    assert len(here) == len(PHOTOS)
    for g in here:
        assert Path(g["keep"]).name.endswith("-resave.png")  # lossless, never a JPEG
        assert len(g["files"]) == 7


def test_a_window_a_worker_fails_on_is_judged_on_the_driver(library, tmp_path, monkeypatch):
    (tmp_path / "driver").mkdir()
    here = _groups(tmp_path / "driver", library, monkeypatch)
    got, windows = _judged_on_workers(monkeypatch)
    apply = DecodePool.apply

    def failing(self, fn, task, done):  # type: ignore[no-untyped-def]
        if fn is rank_pool.judge_window:
            return done(OSError("the worker's catalog went away"))
        return apply(self, fn, task, done)  # the group stage's re-checks

    monkeypatch.setattr(DecodePool, "apply", failing)
    (tmp_path / "pool").mkdir()
    there = _groups(tmp_path / "pool", library, monkeypatch)
    assert got and all(got) and windows == [False]  # sent, failed, judged here
    assert there == here


class _HeldPool:
    """A pool whose tasks wait until ``answer`` (a worker still starting), then are answered
    as they come."""

    def __init__(self) -> None:
        self.held: list = []
        self.started = False

    def apply(self, fn, task, done):  # type: ignore[no-untyped-def]
        self.held.append((task, done))
        if self.started:
            self.answer()

    def answer(self) -> None:
        self.started = True
        for (_, _, _, groups), done in self.held:
            done([("worker", tier, tuple(rid for rid, _ in reps)) for tier, reps in groups])
        self.held.clear()


def test_the_driver_judges_windows_not_sent_while_it_waits_and_none_twice(monkeypatch):
    monkeypatch.setattr(rank_pool, "WINDOW", 2)
    monkeypatch.setattr(rank_pool, "IN_FLIGHT", 1)
    monkeypatch.setattr(rank_pool, "STEAL_AHEAD", 4)
    pool, judged_here = _HeldPool(), []

    def here(todos):  # type: ignore[no-untyped-def]
        judged_here.extend(ids[0] for _, ids in todos)
        if len(judged_here) >= 4:
            pool.answer()  # the workers catch up after two windows judged here
        return [("here", tier, tuple(ids)) for tier, ids in todos]

    opts = SimpleNamespace(keep_rules=(), reference=(), keep_overrides=(), same=True)
    ctx = SimpleNamespace(options=opts, pool=pool, catalog_path=Path("cat.db"))
    todo = [(n, "same", [100 + n]) for n in range(12)]
    farm = rank_pool.Farm(ctx, todo, lambda rid: [], here)  # type: ignore[arg-type]
    out = [farm.take(n) for n in range(12)]
    assert [o[2] for o in out] == [(100 + n,) for n in range(12)]  # in order, each once
    who = [o[0] for o in out]
    # windows 0 and 1 sent; while the driver waits for 0 it judges 2 and 3; 4 and 5 sent
    assert who == ["worker"] * 4 + ["here"] * 4 + ["worker"] * 4
    assert judged_here == [104, 105, 106, 107] and not pool.held


def test_a_window_no_worker_answers_is_judged_on_the_driver(monkeypatch):
    monkeypatch.setattr(rank_pool, "WINDOW", 2)
    pool = _HeldPool()  # never answers: a worker still starting
    opts = SimpleNamespace(keep_rules=(), reference=(), keep_overrides=(), same=True)
    ctx = SimpleNamespace(options=opts, pool=pool, catalog_path=Path("cat.db"))
    todo = [(n, "same", [100 + n]) for n in range(7)]
    here = lambda todos: [("here", t, tuple(ids)) for t, ids in todos]  # noqa: E731
    farm = rank_pool.Farm(ctx, todo, lambda rid: [], here)  # type: ignore[arg-type]
    assert [farm.take(n) for n in range(7)] == [("here", "same", (100 + n,)) for n in range(7)]
    pool.answer()  # late answers are dropped
    assert not farm.arrived and not farm.got


def test_groups_judged_on_the_workers_make_their_members_thumbnail_files(
    library, tmp_path, monkeypatch
):
    """The farm's workers build the members (rank_pool.member_of), so they make the members'
    thumbnail files from the packs (thumb_pack.py); a photo alone gets none."""
    got, windows = _judged_on_workers(monkeypatch)
    monkeypatch.chdir(tmp_path)
    engine = Engine(Path("cat.db"), Path("thumbs"))
    fin = list(engine.scan_sync(ScanOptions(roots=(library,), workers=2)))[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    assert got and all(got) and windows == [True]  # judged on a worker, not on the driver
    thumbs = {m.thumb for g in fin.groups for m in g.members}
    assert len(fin.groups) == len(PHOTOS) and None not in thumbs
    files = {str(p) for p in Path("thumbs").glob("??/*.jpg")}
    assert files == thumbs  # every member's (the exact copies share one); alone.jpg: none
    assert all(Path(t).read_bytes()[:3] == b"\xff\xd8\xff" for t in thumbs)
    assert len(thumbs) == len(PHOTOS) * 6  # 7 files a group, two of them one exact pair
