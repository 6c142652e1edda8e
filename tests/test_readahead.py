"""Read-ahead (engine/media/readahead.py): the kernel is asked for each file once, ahead of
its read, and a hint that cannot be given changes nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from skimage import data

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import ScanFinished
from lookalike.engine.media import readahead
from lookalike.engine.media.readahead import ReadAhead, advise, open_advised


def test_each_path_is_advised_once_in_order_and_ahead_of_its_read(monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(readahead, "advise", lambda path, length: asked.append(path))
    paths = [f"/p/{i}" for i in range(100)]
    ra = ReadAhead(paths, ahead=8)
    for i in range(len(paths)):
        ra.reached(i)
        assert paths[i] in asked  # asked for before it is read
        assert len(asked) <= i + 1 + 8 + 4  # never more than a step beyond the window
    assert asked == paths


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_advise_asks_the_kernel_for_that_file(tmp_path, monkeypatch):
    photo = tmp_path / "a.jpg"
    Image.fromarray(data.astronaut()).save(photo, quality=90)
    calls: list[tuple] = []

    def record(fd: int, offset: int, length: int, how: int) -> None:
        calls.append((os.fstat(fd).st_ino, offset, length, how))

    monkeypatch.setattr(readahead, "_ADVISE", record)
    advise(str(photo), 4096)
    assert calls == [(photo.stat().st_ino, 0, 4096, os.POSIX_FADV_WILLNEED)]


def test_advise_never_raises_on_what_cannot_be_read(tmp_path):
    advise(str(tmp_path / "gone.jpg"))
    advise(str(tmp_path))  # a folder: opened, the hint refused or ignored
    os.mkfifo(tmp_path / "fifo")  # no writer: a plain open would block
    advise(str(tmp_path / "fifo"))


def test_a_first_scan_asks_for_every_photo_before_sniffing_it(tmp_path, monkeypatch):
    """The real engine path: the catalog stage's sniff advises each new file once."""
    root = _photos_and_mirrors(tmp_path)
    asked: list[str] = []
    real = readahead.open_advised  # the sniff keeps the descriptor it advised (``keep``)
    monkeypatch.setattr(readahead, "open_advised", lambda p, n: (asked.append(p), real(p, n))[1])
    db = tmp_path / "cat.db"
    engine = Engine(db, tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))
    assert isinstance(events[-1], ScanFinished)
    assert sorted(asked) == sorted(str(p) for p in root.iterdir())
    assert {len(g.members) for g in events[-1].groups} == {2}  # each photo with its mirror
    asked.clear()
    list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))
    assert asked == []  # an unchanged rescan sniffs nothing, so reads nothing ahead


def test_the_pool_reads_big_photos_ahead_whole_and_leaves_small_ones_to_the_sniff(
    tmp_path, monkeypatch
):
    """The real engine path with two workers: photos over HEAD_BYTES are asked for whole
    (WHOLE_BYTES) in the extract stage, once each; the small ones only by the sniff."""
    root = tmp_path / "photos"
    root.mkdir()
    big, small = [], []
    for i, name in enumerate(["astronaut", "coffee", "chelsea", "rocket"]):
        img = Image.fromarray(getattr(data, name)())
        p = root / f"{i}.jpg"
        img.resize((img.width * 3, img.height * 3)).save(p, quality=97)
        q = root / f"{i}s.jpg"
        img.resize((img.width // 2, img.height // 2)).save(q, quality=80)
        big.append(str(p))
        small.append(str(q))
    assert all(os.path.getsize(p) > readahead.HEAD_BYTES for p in big)
    assert all(os.path.getsize(p) <= readahead.HEAD_BYTES for p in small)
    asked: list[tuple[str, int]] = []
    real = readahead.open_advised  # advise() opens through it too
    monkeypatch.setattr(
        readahead, "open_advised", lambda p, n: (asked.append((p, n)), real(p, n))[1]
    )
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(root,), workers=2)))
    assert isinstance(events[-1], ScanFinished)
    whole = [p for p, n in asked if n == readahead.WHOLE_BYTES]
    assert sorted(whole) == sorted(big)
    heads = [p for p, n in asked if n == readahead.HEAD_BYTES]
    assert sorted(heads) == sorted(big + small)
    assert {len(g.members) for g in events[-1].groups} == {2}  # each photo with its resize


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_kept_descriptors_are_the_files_own_and_none_is_left_open(tmp_path):
    """``keep``: each advised file's descriptor is handed to its reader (the same file, read
    from its start), one that cannot be opened has none (its reader opens it and reports
    why), and the ones never taken are closed on the way out (a cancelled sniff)."""
    paths = []
    for i in range(20):
        p = tmp_path / f"{i}.bin"
        p.write_bytes(bytes([i]) * (100 + i))
        paths.append(str(p))
    paths[5] = str(tmp_path / "gone.bin")
    before = _open_fds()
    with ReadAhead(paths, ahead=4, keep=True) as ra:
        for i in range(12):
            ra.reached(i)
            fd = ra.take(i)
            if i == 5:
                assert fd is None
                continue
            assert fd is not None and os.fstat(fd).st_ino == os.stat(paths[i]).st_ino
            assert os.read(fd, 200) == bytes([i]) * (100 + i)
            os.close(fd)
        assert ra.fds  # the window beyond file 11, open and not taken
    assert _open_fds() == before
    assert ReadAhead(paths).take(0) is None  # not kept: nothing to take


def test_open_advised_never_raises_and_never_blocks(tmp_path):
    assert open_advised(str(tmp_path / "gone.jpg")) is None
    os.mkfifo(tmp_path / "fifo")  # no writer: a blocking open would hang
    fd = open_advised(str(tmp_path / "fifo"))
    if fd is not None:
        os.close(fd)


def test_a_sniff_cancelled_midway_leaves_no_descriptor_open(tmp_path):
    """The real engine path: a first scan cancelled while sniffing (after its 5th progress
    event) closes every descriptor its read-ahead opened."""
    import threading

    from lookalike.engine.events import StageProgress
    from lookalike.engine.stages import context

    root = tmp_path / "photos"
    root.mkdir()
    img = data.astronaut()
    for i in range(150):
        Image.fromarray(np.ascontiguousarray(np.roll(img, i * 3, axis=1))).save(
            root / f"{i}.jpg", quality=80
        )
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    cancel = threading.Event()
    before = _open_fds()
    ticks = 0
    real_tick = context.Progress.tick
    try:
        context.Progress.tick = lambda self, done, force=False: real_tick(self, done, True)
        for ev in engine.scan_sync(ScanOptions(roots=(root,), workers=1), cancel):
            if isinstance(ev, StageProgress) and ev.stage == "catalog":
                ticks += 1
                if ticks == 5:
                    assert len(_photos_open(before)) > 1  # the window is open, ahead
                    cancel.set()
    finally:
        context.Progress.tick = real_tick
    assert ticks >= 5 and isinstance(ev, ScanFinished) and ev.cancelled
    assert _photos_open(before) == []


def _photos_open(before: set[str]) -> list[str]:
    return [p for f in _open_fds() - before if (p := _link(f)).endswith(".jpg")]


def _link(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@pytest.mark.parametrize("when", ["before the read-ahead", "after the read-ahead opened it"])
def test_a_photo_deleted_while_sniffing_is_reported_once_and_the_rest_grouped(
    tmp_path, monkeypatch, when
):
    """A photo deleted after the walk: before the read-ahead reaches it, the sniff cannot open
    it ("vanished"); after the read-ahead opened it, the sniff reads the open file and the
    decode reports it. Either way one error for that path, the catalog stage's progress
    reaches its total, and the other photos are grouped as ever."""
    from lookalike.engine import pipeline
    from lookalike.engine.events import ItemError, StageProgress

    root = _photos_and_mirrors(tmp_path)
    doomed = str(root / "2m.jpg")
    if when == "before the read-ahead":
        real_diff = pipeline.diff

        def diff_after_delete(ctx, found):  # noqa: ANN001, ANN202
            os.remove(doomed)
            return (yield from real_diff(ctx, found))

        monkeypatch.setattr(pipeline, "diff", diff_after_delete)
    else:
        real_open = readahead.open_advised

        def open_then_delete(path: str, length: int) -> int | None:
            fd = real_open(path, length)
            if path == doomed:
                os.remove(path)
            return fd

        monkeypatch.setattr(readahead, "open_advised", open_then_delete)
    from lookalike.engine.stages import context

    monkeypatch.setattr(context, "PROGRESS_EVERY", 0.0)  # a progress event every file
    engine = Engine(tmp_path / "cat.db", tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))
    errors = [e.error for e in events if isinstance(e, ItemError) and e.error.path == doomed]
    assert len(errors) == 1
    if when == "before the read-ahead":
        assert "vanished" in errors[0].error
    ticks = [e.done for e in events if isinstance(e, StageProgress) and e.stage == "catalog"]
    assert ticks == list(range(1, 7))  # every file sniffed counted, the deleted one too
    fin = events[-1]
    assert isinstance(fin, ScanFinished)
    groups = sorted(sorted(os.path.basename(m.path) for m in g.members) for g in fin.groups)
    assert groups == [["0.jpg", "0m.jpg"], ["1.jpg", "1m.jpg"]]


def _photos_and_mirrors(tmp_path):  # type: ignore[no-untyped-def]
    """Three real photos and their mirror images (three groups) in ``tmp_path/photos``."""
    root = tmp_path / "photos"
    root.mkdir()
    for i, name in enumerate(["astronaut", "coffee", "chelsea"]):
        img = getattr(data, name)()
        Image.fromarray(img).save(root / f"{i}.jpg", quality=90)
        Image.fromarray(np.ascontiguousarray(img[:, ::-1])).save(root / f"{i}m.jpg", quality=90)
    return root
