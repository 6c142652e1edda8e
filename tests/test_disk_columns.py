"""The group stage's DCT column on disk (issue 13): beyond ``LOOKALIKE_DISK_COLUMNS`` items it
is a float16 file beside the catalog, memory-mapped; the groups stay the same bit for bit.
Forced on at a small size here, on real photos (copies, a turned and a letterboxed copy,
burst look-alikes), against the in-memory column."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageEnhance

from lookalike.cli import main
from lookalike.engine import disk_columns
from lookalike.engine.api import Engine
from lookalike.engine.events import Notice
from lookalike.engine.features.extract import extract_file, pack_views
from lookalike.engine.grouping import Item, ViewSignatures, group_items
from lookalike.engine.item_table import TableBuilder
from lookalike.engine.options import ScanOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    cat = Image.fromarray(data.chelsea())
    boxed = Image.new("RGB", (640, 512))
    boxed.paste(cat.resize((400, 300)), (120, 106))
    coffee = Image.fromarray(data.coffee())
    imgs = {
        "cat": cat,
        "cat_half": cat.resize((cat.width // 2, cat.height // 2)),
        "cat_rot90": cat.transpose(Image.Transpose.ROTATE_90),
        "cat_boxed": boxed,
        "coffee": coffee,
        "coffee_bright": ImageEnhance.Brightness(coffee).enhance(1.2),
        "camera": Image.fromarray(data.camera()).convert("RGB"),
        "rocket": Image.fromarray(data.rocket()),
    }
    for n, frame in enumerate(corpus.burst_frames(Image.fromarray(data.astronaut()), seed=5)):
        imgs[f"burst{n}"] = frame  # look-alikes that must stay apart
    for name, img in imgs.items():
        img.save(d / f"{name}.jpg", quality=92)
    return d


@pytest.fixture(scope="module")
def items(photos: Path) -> list[Item]:
    paths = sorted(photos.glob("*.jpg"))
    out = [Item(n, str(p), extract_file(str(p), None, 10**9).views) for n, p in enumerate(paths)]
    assert any(len(it.views) == 2 for it in out), "the letterboxed copy should have two views"
    return out


def _build(items: list[Item], path: Path | None, packed: bool = True):
    build = TableBuilder(1, path)  # grows past the first capacity
    for it in items:
        if packed:
            build.add_packed(it.key, it.path, pack_views(it.views))
        else:
            build.add_views(it.key, it.path, it.views)
    return build.table()


def test_the_file_column_groups_bit_for_bit_like_memory(items, tmp_path) -> None:
    ram = _build(items, None)
    disk = _build(items, tmp_path / "c.dct.f16")
    assert isinstance(disk.dct, np.memmap) and not disk.dct.flags.writeable
    assert (tmp_path / "c.dct.f16").stat().st_size == len(ram.dct) * 24 * 24 * 2
    assert np.array_equal(np.asarray(disk.dct), ram.dct)
    assert np.array_equal(np.asarray(_build(items, tmp_path / "v.f16", False).dct), ram.dct)
    a, b = ViewSignatures(ram), ViewSignatures(disk)
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            assert a.match(i, j) == b.match(i, j)
    ga, gb = group_items(ram, 50).groups, group_items(disk, 50).groups
    assert ga == gb
    names = [{Path(ram[i].path).stem for i in g} for g in gb]
    assert {"cat", "cat_half", "cat_rot90", "cat_boxed"} in names  # the copies group
    assert not any(len({n for n in g if n.startswith("burst")}) > 1 for g in names)
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_a_builder_that_stops_leaves_no_file(items, tmp_path) -> None:
    build = TableBuilder(4, tmp_path / "c.f16")
    build.add_packed(0, items[0].path, pack_views(items[0].views))
    build.discard()
    assert list(tmp_path.iterdir()) == []
    empty = TableBuilder(4, tmp_path / "e.f16").table()
    assert len(empty) == 0 and empty.dct.shape == (0, 24, 24) and list(tmp_path.iterdir()) == []
    block = disk_columns.BlockFile(tmp_path / "b.f16", (24, 24))
    with pytest.raises(ValueError, match="a block is 1152 bytes"):
        block.write(b"\0" * 10)
    block.discard()
    assert list(tmp_path.iterdir()) == []


def _scan(photos: Path, db: Path) -> dict:
    args = ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1"]
    args += ["--format", "json", "--progress", "none"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def _shape(doc: dict) -> list:
    return [(g["tier"], [(Path(f["path"]).name, f["score"]) for f in g["files"]])
            for g in doc["groups"]]  # fmt: skip


def test_a_scan_with_the_column_on_disk_gives_the_same_groups(photos, items, tmp_path, monkeypatch):
    monkeypatch.delenv("LOOKALIKE_DISK_COLUMNS", raising=False)
    ram = _scan(photos, tmp_path / "ram" / "catalog.sqlite")
    assert not list((tmp_path / "ram").glob("*.f16"))
    monkeypatch.setenv("LOOKALIKE_DISK_COLUMNS", "2")
    db = tmp_path / "disk" / "catalog.sqlite"
    disk = _scan(photos, db)
    file = tmp_path / "disk" / "catalog.sqlite.dct.f16"
    views = sum(len(it.views) for it in items)  # every photo groups: all their views
    assert file.stat().st_size == views * 24 * 24 * 2
    assert _shape(disk) == _shape(ram) and len(disk["groups"]) >= 2
    # back below the line (a value that is no count: the default, said once): file removed
    monkeypatch.setenv("LOOKALIKE_DISK_COLUMNS", "lots")
    engine = Engine(db, tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(photos,), workers=1)))
    again = [[Path(m.path).name for m in g.members] for g in events[-1].groups]
    assert again == [[n for n, _ in files] for _, files in _shape(disk)]
    assert not file.exists()
    said = [e.message for e in events if isinstance(e, Notice) and "DISK_COLUMNS" in e.message]
    assert said == [
        "LOOKALIKE_DISK_COLUMNS='lots' is not a number of files; using 500000. "
        "Set it to a count (0 keeps the grouping columns in memory) or unset it"
    ]


def test_the_threshold(monkeypatch) -> None:
    monkeypatch.delenv("LOOKALIKE_DISK_COLUMNS", raising=False)
    assert disk_columns.columns_threshold() == disk_columns.DISK_COLUMNS_DEFAULT
    monkeypatch.setenv("LOOKALIKE_DISK_COLUMNS", "0")
    assert disk_columns.threshold_problem() is None and disk_columns.columns_threshold() > 10**15
    monkeypatch.setenv("LOOKALIKE_DISK_COLUMNS", "5000")
    assert disk_columns.columns_threshold() == 5000
    assert disk_columns.columns_path(":memory:") is None
    assert disk_columns.columns_path("/x/c.db") == Path("/x/c.db.dct.f16")
