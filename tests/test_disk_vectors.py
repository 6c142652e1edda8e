"""``--model`` vectors on disk (issue 13): beyond ``LOOKALIKE_DISK_VECTORS`` they are a float16
memmap beside the catalog and the index an 8-bit IVF; the groups stay the same. Forced on at
a small size here, on real photos, against the in-memory path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lookalike.cli import main
from lookalike.engine import disk_vectors
from lookalike.engine.api import Engine
from lookalike.engine.disk_vectors import RowVectors, TakeRows, load_matrix
from lookalike.engine.events import Notice
from lookalike.engine.options import MLOptions, ScanOptions
from lookalike.engine.vector_index import VectorIndex, group_similar, normalise

pytest.importorskip("torch")
data = pytest.importorskip("skimage.data")


def _up(name: str) -> Image.Image:
    img = Image.fromarray(getattr(data, name)()).convert("RGB")
    f = 480 / min(img.size)
    return img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Crops, a small rotation, a stereo pair (a look-alike, never a copy) and strangers."""
    d = tmp_path_factory.mktemp("photos")
    originals = {n: _up(n) for n in ("astronaut", "coffee", "chelsea", "rocket")}
    for n, img in originals.items():
        img.save(d / f"{n}.jpg", quality=92)
    a = originals["astronaut"]
    a.crop((int(a.width * 0.2), 0, a.width, int(a.height * 0.8))).save(d / "astronaut_crop.jpg")
    c = originals["coffee"]
    turned = c.rotate(6, resample=Image.Resampling.BICUBIC)
    m = int(c.height * math.sin(math.radians(6))) + 4
    turned.crop((m, m, c.width - m, c.height - m)).save(d / "coffee_rot6.jpg", quality=85)
    left, right, _ = data.stereo_motorcycle()
    for name, arr in (("moto_left", left), ("moto_right", right)):
        img = Image.fromarray(arr)
        img.resize((img.width * 3 // 4, img.height * 3 // 4)).save(d / f"{name}.jpg", quality=92)
    return d


def _scan(photos: Path, db: Path) -> dict:
    args = ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1"]
    args += ["--model", "effnet-lite0", "--similar", "--format", "json", "--progress", "none"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _shape(doc: dict) -> list[tuple[str, list[str], list[float]]]:
    return [
        (
            g["tier"],
            [Path(f["path"]).name for f in g["files"]],
            [f["score"] for f in g["files"]],
        )
        for g in doc["groups"]
    ]


def test_vectors_on_disk_give_the_same_groups_as_in_memory(photos, tmp_path, monkeypatch):
    monkeypatch.delenv("LOOKALIKE_DISK_VECTORS", raising=False)
    in_ram = _scan(photos, tmp_path / "ram" / "catalog.sqlite")
    assert not list((tmp_path / "ram").glob("*.f16"))
    monkeypatch.setenv("LOOKALIKE_DISK_VECTORS", "2")
    on_disk = _scan(photos, tmp_path / "disk" / "catalog.sqlite")
    files = list((tmp_path / "disk").glob("catalog.sqlite.*.f16"))
    assert len(files) == 1 and files[0].stat().st_size == 8 * 1280 * 2  # 8 photos, float16
    ram, disk = _shape(in_ram), _shape(on_disk)
    assert [(t, n) for t, n, _ in disk] == [(t, n) for t, n, _ in ram]
    for (_, _, a), (_, _, b) in zip(ram, disk, strict=True):
        assert np.allclose(a, b, atol=0.01)
    tiers = {t: n for t, n, _ in disk}
    assert tiers["similar"] == ["moto_left.jpg", "moto_right.jpg"]  # through the disk index
    assert ("same", ["astronaut.jpg", "astronaut_crop.jpg"]) in [(t, n) for t, n, _ in disk]
    # back below the line (a value that is no count: the default, said once): file removed
    monkeypatch.setenv("LOOKALIKE_DISK_VECTORS", "lots")
    engine = Engine(tmp_path / "disk" / "catalog.sqlite", tmp_path / "thumbs")
    ml = MLOptions(model="effnet-lite0", similar=True)
    events = list(engine.scan_sync(ScanOptions(roots=(photos,), workers=1, ml=ml)))
    again = [(g.tier, [Path(m.path).name for m in g.members]) for g in events[-1].groups]
    assert again == [(t, n) for t, n, _ in disk]
    assert not files[0].exists()
    said = [e.message for e in events if isinstance(e, Notice) and "DISK_VECTORS" in e.message]
    assert said == [
        "LOOKALIKE_DISK_VECTORS='lots' is not a number of vectors; using 200000. "
        "Set it to a count (0 keeps the vectors in memory) or unset it"
    ]


def _fake_catalog(vectors: dict[int, np.ndarray]):
    calls: list[int] = []

    def read(part: list[int]) -> dict[int, bytes]:
        calls.append(len(part))
        return {i: vectors[i].astype(np.float16).tobytes() for i in part if i in vectors}

    return read, calls


def test_load_matrix_reads_in_chunks_and_the_memmap_matches_memory(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    vecs = {i: normalise(rng.standard_normal(16))[0] for i in range(0, 60, 2)}
    vecs[8] = np.zeros(3)  # a row of the wrong length (another model) is skipped
    monkeypatch.setattr(disk_vectors, "LOAD_CHUNK", 7)
    read, calls = _fake_catalog(vecs)
    ids, mem = load_matrix(list(range(60)), 16, read, None)
    assert max(calls) == 7 and sum(calls) == 60
    path = tmp_path / "c.sqlite.emb.f16"
    ids2, mapped = load_matrix(list(range(60))[::-1], 16, read, path)
    assert isinstance(mapped, np.memmap) and path.stat().st_size == mapped.nbytes
    assert ids.tolist() == ids2.tolist() == [i for i in range(0, 60, 2) if i != 8]
    assert np.array_equal(mem, np.asarray(mapped))
    assert not list(tmp_path.glob("*.tmp*"))
    rows = RowVectors(ids2, mapped)
    assert 10 in rows and 8 not in rows and 11 not in rows and len(rows) == 29
    assert np.array_equal(rows[10], vecs[10].astype(np.float16))
    with pytest.raises(KeyError):
        rows[11]


def test_take_rows_and_one_index_group_like_the_dense_path():
    """The similar tier on disk: lazy unit rows + the collection's one IVF index (with ids
    outside the part) give the groups of the dense float32 path."""
    rng = np.random.default_rng(5)
    base = normalise(rng.standard_normal((40, 64)))
    noisy = normalise(base + 0.08 * rng.standard_normal(base.shape))
    mat = np.concatenate([base, noisy]).astype(np.float16)
    ids = np.arange(100, 180, dtype=np.int64)
    part = [int(x) for x in ids if x % 3]  # a subset, as after collapsing exact groups
    rows = RowVectors(ids, mat).rows_of(part)
    lazy = TakeRows(mat, rows)
    assert np.allclose(lazy[[0, 5, 2]], normalise(mat[rows[[0, 5, 2]]].astype(np.float32)))
    assert np.allclose(lazy[3], normalise(mat[rows[3]].astype(np.float32))[0])
    index = VectorIndex.build(ids, mat, kind="ivf")
    dense = group_similar(part, mat[rows].astype(np.float32), 0.8)
    assert dense and group_similar(part, lazy, 0.8, index=index) == dense


def test_a_threshold_that_is_no_count_is_named_once_and_the_default_used(monkeypatch):
    monkeypatch.setenv("LOOKALIKE_DISK_VECTORS", "lots")
    assert disk_vectors.disk_threshold() == disk_vectors.DISK_VECTORS_DEFAULT
    msg = disk_vectors.threshold_problem()
    assert msg is not None and "'lots' is not a number of vectors" in msg and "unset it" in msg
    monkeypatch.setenv("LOOKALIKE_DISK_VECTORS", "0")
    assert disk_vectors.threshold_problem() is None and disk_vectors.disk_threshold() > 10**15
    monkeypatch.setenv("LOOKALIKE_DISK_VECTORS", "5000")
    assert disk_vectors.disk_threshold() == 5000
