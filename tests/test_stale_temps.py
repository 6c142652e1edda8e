"""A killed scan's temporary column/vector files are removed at the next scan's start — never
another live scan's, never while another scan holds the lock (engine/stale_temps.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from lookalike.engine import stale_temps
from lookalike.engine.api import Engine
from lookalike.engine.events import Notice, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.scanlock import ScanBusy, ScanLock

data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    coffee = Image.fromarray(data.coffee())
    coffee.save(d / "coffee.jpg", quality=92)
    ImageEnhance.Brightness(coffee).enhance(1.2).save(d / "coffee_bright.jpg", quality=92)
    Image.fromarray(data.chelsea()).save(d / "cat.jpg", quality=92)
    return d


@pytest.fixture(scope="module")
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not stale_temps.pid_alive(proc.pid)
    return proc.pid


def _plant(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"\0" * 1152)


def test_a_scan_removes_what_a_killed_scan_left(photos, dead_pid, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LOOKALIKE_DISK_COLUMNS", "2")  # this scan writes the column file too
    lib = tmp_path / "lib"
    db = lib / "catalog.sqlite"
    live = os.getppid()  # a running process that is no scan of this catalog (a reused pid)
    stale = [
        f"catalog.sqlite.dct.f16.tmp{dead_pid}",  # the group stage's column
        f"catalog.sqlite.clip-vit-b-32_openai.f16.tmp{dead_pid}",  # model vectors
        f"catalog.sqlite.dct.f16.tmp{live}",  # only this catalog writes that name
        f"catalog.sqlite.dct.f16.tmp{os.getpid()}",  # an earlier scan in this process
        f"catalog.sqlite.old.clip.f16.tmp{dead_pid}",  # c.old's, but its writer is gone
    ]
    kept = [
        f"catalog.sqlite.old.clip.f16.tmp{live}",  # catalog.sqlite.old's live scan may own it
        "catalog.sqlite.old.lock",
        f"other.sqlite.dct.f16.tmp{dead_pid}",  # another catalog's name
        "catalog.sqlite.dct.f16.tmpx",  # no pid: not a name a scan writes
    ]
    _plant(lib, stale + kept)
    events = list(
        Engine(db, tmp_path / "thumbs").scan_sync(ScanOptions(roots=(photos,), workers=1))
    )
    assert isinstance(events[-1], ScanFinished) and not events[-1].cancelled
    names = {p.name for p in lib.iterdir()}
    assert not names & set(stale)
    assert set(kept) <= names
    assert "catalog.sqlite.dct.f16" in names  # this scan's own column file, renamed into place
    assert not [n for n in names if n.startswith("catalog.sqlite.dct.f16.tmp") and n[-1].isdigit()]
    grouped = [sorted(Path(m.path).name for m in g.members) for g in events[-1].groups]
    assert ["coffee.jpg", "coffee_bright.jpg"] in grouped


def test_no_sweep_while_another_scan_holds_the_lock(photos, dead_pid, tmp_path) -> None:
    db = tmp_path / "catalog.sqlite"
    left = f"catalog.sqlite.dct.f16.tmp{dead_pid}"
    _plant(tmp_path, [left])
    with ScanLock(db) as other:
        assert other.try_acquire()
        with pytest.raises(ScanBusy):
            list(Engine(db, tmp_path / "thumbs").scan_sync(ScanOptions(roots=(photos,))))
        assert (tmp_path / left).exists()


def test_a_file_that_cannot_go_is_said_once_and_the_scan_goes_on(photos, dead_pid, tmp_path):
    db = tmp_path / "catalog.sqlite"
    stuck = tmp_path / f"catalog.sqlite.dct.f16.tmp{dead_pid}"
    stuck.mkdir()  # unlink() fails on a directory, even for root
    (stuck / "x").write_bytes(b"1")
    events = list(
        Engine(db, tmp_path / "thumbs").scan_sync(ScanOptions(roots=(photos,), workers=1))
    )
    said = [e for e in events if isinstance(e, Notice) and "interrupted scan" in e.message]
    assert len(said) == 1 and said[0].level == "warning"
    assert said[0].message.startswith(f"cannot remove {stuck}, a temporary file")
    assert said[0].message.endswith("delete it by hand (the catalog does not need it)")
    assert isinstance(events[-1], ScanFinished) and not events[-1].cancelled


def test_pid_alive() -> None:
    assert stale_temps.pid_alive(os.getpid()) and stale_temps.pid_alive(os.getppid())
    assert not stale_temps.pid_alive(0) and not stale_temps.pid_alive(-5)
    assert not stale_temps.pid_alive(10**30)
    assert stale_temps.sweep(Path(":memory:")) == []
    assert stale_temps.sweep(Path("/nonexistent-folder/c.db")) == []
