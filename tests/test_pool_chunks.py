"""How many photos a chunk of the extract's tasks holds (engine/pool.py ``chunk_limit``,
stages/extract.py ``task_chunk``): small photos go out in chunks of up to 64 (a chunk is one
message each way, and its cost on the driver is taken from the decoding workers), big ones in
chunks of 16 as before, Ray's and ``--model``'s tasks by their own rule; and whatever the
chunk, every photo's result comes back exactly once."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from lookalike.engine.catalog import FileRow
from lookalike.engine.pool import MAX_CHUNK, SMALL_CHUNK, DecodePool, chunk_limit
from lookalike.engine.stages import early, extract

data = pytest.importorskip("skimage.data")


def _rows(sizes: list[int]) -> list[FileRow]:
    return [FileRow(i + 1, f"/p/{i}.jpg", 1, i, s, 0, "image", None, None, None)
            for i, s in enumerate(sizes)]  # fmt: skip


def _ctx(executor: str = "local", workers: int = 2) -> SimpleNamespace:
    return SimpleNamespace(options=SimpleNamespace(executor=executor, workers=workers))


def test_small_photos_share_a_chunk_and_big_ones_keep_chunks_of_16():
    assert chunk_limit([16_000] * 10) == SMALL_CHUNK == 64
    assert chunk_limit([40_000] * 10) == 2**20 // 40_000  # 26: about a MB of photo a chunk
    assert chunk_limit([2_000_000] * 10) == MAX_CHUNK == 16  # camera JPEGs: as before
    # a few big photos among many small ones weigh in by their bytes: no 64 of them at once
    assert chunk_limit([16_000] * 90 + [20_000_000] * 10) == MAX_CHUNK
    assert chunk_limit([]) == MAX_CHUNK
    assert chunk_limit([0] * 5) == SMALL_CHUNK  # empty files: never a division by zero


def test_the_extract_chunks_by_size_only_in_the_local_pool_without_a_model():
    small, big = _rows([16_000] * 5000), _rows([3_000_000] * 5000)
    assert extract.task_chunk(_ctx(), small) == 64
    assert extract.task_chunk(_ctx(), big) == 16
    assert extract.task_chunk(_ctx(), small[:320]) == 20  # still grows with the work
    assert extract.task_chunk(_ctx("ray://head:10001"), small) is None  # Ray's own batches
    assert extract.task_chunk(_ctx(), small, feeder=object()) is None  # --model: as before


def test_early_batches_go_to_the_pool_in_chunks_by_size(monkeypatch):
    got: list[tuple[int, int | None]] = []

    class Pool:
        def submit(self, fn, tasks, cancelled, chunksize=None):  # noqa: ANN001, ANN202
            got.append((len(tasks), chunksize))
            return iter(())

    ctx = SimpleNamespace(
        options=SimpleNamespace(executor="local", workers=2, max_decode_mb=512,
                                max_pixels=10**8, thumbnails=False),
        cancel=threading.Event(), pool=Pool(), thumb_path=lambda r: None,
    )  # fmt: skip
    monkeypatch.setattr(extract, "read_ahead", lambda ctx, rows: None)
    e = early.Early({}, set())
    e.send(ctx, _rows([16_000] * 1024))
    e.send(ctx, _rows([3_000_000] * 1024))
    assert got == [(1024, 64), (1024, 16)]


def test_every_result_comes_back_once_in_chunks_of_64(tmp_path: Path):
    """The workers' real task over real photos (and a file that is no photo) in chunks of 64:
    each id answered once, the broken one with its error."""
    from lookalike.engine.stages.extract_worker import extract_task

    img = Image.fromarray(data.astronaut()).resize((64, 64))
    paths = []
    for i in range(150):
        p = tmp_path / f"{i}.jpg"
        img.rotate(i * 2.4).save(p, quality=80)
        paths.append(str(p))
    (tmp_path / "150.jpg").write_bytes(b"not a photo")
    paths.append(str(tmp_path / "150.jpg"))
    tasks = [(i, p, None, 10**8, 512 * 2**20) for i, p in enumerate(paths)]
    with DecodePool(2) as pool:
        out = list(pool.map(extract_task, tasks, lambda: False, chunksize=64))
    assert sorted(r[0] for r in out) == list(range(151))
    failed = [r[0] for r in out if r[3] is not None]
    assert failed == [150]
    assert all(r[1] and r[2] for r in out if r[0] != 150)
