"""The scan's decode pool (engine/pool.py): every result comes back, workers that retire are
replaced, and the pool's worker-handler thread sleeps while results flow (issue 13: the stock
``multiprocessing.Pool`` woke it for every result waiting in the pipe, and it spun, taking
≈ 0.1 ms of CPU a photo from the decode workers)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os

from lookalike.engine import pool as pool_mod


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _threads(_: int) -> tuple[int, str | None]:
    import cv2

    return cv2.getNumThreads(), os.environ.get("OMP_NUM_THREADS")


def _count_wakeups(monkeypatch) -> list[int]:  # noqa: ANN001 - pytest's fixture
    wakeups: list[int] = []
    stock = multiprocessing.pool.Pool._wait_for_updates

    def counted(sentinels, change_notifier, timeout=None):  # noqa: ANN001, ANN202 - stdlib's
        wakeups.append(1)
        return stock(sentinels, change_notifier, timeout)

    monkeypatch.setattr(multiprocessing.pool.Pool, "_wait_for_updates", staticmethod(counted))
    return wakeups


def _run(cls: type, tasks: int, **kw: int) -> list[tuple[int, int]]:
    p = cls(processes=2, context=multiprocessing.get_context("spawn"), **kw)
    try:
        return list(p.imap_unordered(_square_and_pid, range(tasks), chunksize=2))
    finally:
        p.terminate()
        p.join()


def test_the_worker_handler_sleeps_while_results_flow(monkeypatch):
    wakeups = _count_wakeups(monkeypatch)
    out = _run(pool_mod._Pool, 400)
    assert sorted(r for r, _ in out) == [x * x for x in range(400)]
    # woken when the drained task cache rings the notifier (and on terminate), not once per
    # chunk whose result sits in the pipe (the stock pool here: one per result, ~200)
    assert len(wakeups) <= 5


def test_retired_workers_are_replaced_and_every_result_comes_back():
    out = _run(pool_mod._Pool, 60, maxtasksperchild=3)
    assert sorted(r for r, _ in out) == [x * x for x in range(60)]
    assert len({pid for _, pid in out}) >= 60 // (2 * 3)  # 3 chunks each: 10+ workers served


def test_decode_pool_maps_and_leaves_no_process_behind():
    with pool_mod.DecodePool(2) as p:
        got = sorted(r for r, _ in p.map(_square_and_pid, range(40), lambda: False))
        assert got == [x * x for x in range(40)]
    assert not multiprocessing.active_children()


def test_workers_run_one_opencv_and_one_blas_thread_each():
    """N workers × one OpenCV thread a core would fight over the cores (16 × 16 on a
    16-core box): a decode worker's OpenCV and BLAS use one thread."""
    with pool_mod.DecodePool(2, "lookalike.engine.features.extract") as p:
        got = set(p.map(_threads, range(8), lambda: False, chunksize=1))
    assert got == {(1, "1")}


def test_a_decode_worker_imports_neither_the_catalog_nor_sqlite(tmp_path):
    """What a worker is sent to run (stages/extract_worker.py) pulls in the decode and the
    features, not the driver's catalog, SQLite or scan context (issue 13: 78 modules, ≈ 55 ms
    and ≈ 2.7 MB a worker start, twice a scan). A real photo goes through it whole, and a file
    that is no image comes back as an error, not a crash."""
    import subprocess
    import sys

    from PIL import Image
    from skimage import data

    photo, bad = tmp_path / "coffee.jpg", tmp_path / "bad.jpg"
    Image.fromarray(data.coffee()).save(photo, quality=90)
    bad.write_bytes(b"not a jpeg at all")
    code = (
        "import sys\n"
        "from lookalike.engine.stages.extract_worker import extract_task\n"
        f"ok = extract_task((1, {str(photo)!r}, {str(tmp_path / 'c' / 't.jpg')!r}, 250_000_000, 2**29))\n"
        f"bad = extract_task((2, {str(bad)!r}, None, 250_000_000, 2**29))\n"
        "print(ok[3] is None and ok[1] is not None and len(ok[2]) > 0, bad[3] is not None)\n"
        "print(sorted(m for m in ('sqlite3', 'lookalike.engine.catalog', "
        "'lookalike.engine.stages.context', 'lookalike.engine.events') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    decoded, leaked = out.stdout.splitlines()
    assert decoded == "True True"
    assert leaked == "[]"
    (pack,) = (tmp_path / "packs").iterdir()  # its thumbnail was appended to its pack
    assert pack.stat().st_size > 0 and not (tmp_path / "c" / "t.jpg").exists()


def test_the_console_script_leaves_the_cli_out_of_the_workers():
    """A spawned worker first runs its parent's main script; pip's ``lookalike`` script imports
    its entry point's module, so that module (lookalike/launch.py) must not import the CLI
    (click, rich, the journal) — and calling it still runs the CLI."""
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["lookalike"] == "lookalike.launch:run"
    probe = "import sys, lookalike.launch; print(sorted({'lookalike.cli', 'click', 'rich'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    run = "import sys; sys.argv = ['lookalike', '--help']; from lookalike.launch import run; run()"
    helped = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True)
    assert helped.returncode == 0
    assert "Usage: lookalike" in helped.stdout


def test_the_worker_sends_the_meta_row_as_the_catalog_stores_it(tmp_path):
    """The meta row is JSON bytes made in the worker (the driver only stores them): the same
    bytes the driver made from the dict before, and each photo's own."""
    import json

    from PIL import Image
    from skimage import data

    from lookalike.engine.features.extract import extract_file, meta_of
    from lookalike.engine.stages.extract_worker import extract_task

    rows = {}
    for name, pixels in (("coffee", data.coffee()), ("astronaut", data.astronaut())):
        photo, thumb = tmp_path / f"{name}.jpg", str(tmp_path / "c" / f"{name}.thumb.jpg")
        Image.fromarray(pixels).save(photo, quality=90)
        fid, meta, views, err = extract_task((1, str(photo), thumb, 250_000_000, 2**29))
        assert err is None and isinstance(meta, bytes) and views
        rows[name] = json.loads(meta)
        here = meta_of(extract_file(str(photo), thumb, 250_000_000, pack=True))
        at, at_here = rows[name].pop("thumb_at"), here.pop("thumb_at")
        if at[0] == "photo":  # the photo is its own thumbnail: both name it, nothing appended
            assert at == at_here
        else:  # two appends to this process's pack
            assert at[0] == at_here[0] and at[2] == at_here[2] and at[1] != at_here[1]
        assert json.dumps(rows[name]) == json.dumps(here)
    assert (rows["coffee"]["width"], rows["coffee"]["height"]) == (600, 400)
    assert (rows["astronaut"]["width"], rows["astronaut"]["height"]) == (512, 512)
    assert rows["coffee"]["prov"] != rows["astronaut"]["prov"]
