"""End to end: ``scan --model effnet-lite0 --similar`` on real photos, then ``query``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from lookalike.cli import main

pytest.importorskip("torch")
data = pytest.importorskip("skimage.data")


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _up(img: Image.Image) -> Image.Image:
    """Photo-sized: the bundled images are small."""
    f = 640 / min(img.size)
    return img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.LANCZOS)


def _rotate(img: Image.Image, deg: float) -> Image.Image:
    w, h = img.size
    a = math.radians(abs(deg))
    cw = int((w * math.cos(a) - h * math.sin(a)) / math.cos(2 * a)) - 4
    ch = int((h * math.cos(a) - w * math.sin(a)) / math.cos(2 * a)) - 4
    x, y = (w - cw) // 2, (h - ch) // 2
    return img.rotate(deg, resample=Image.Resampling.BICUBIC).crop((x, y, x + cw, y + ch))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    originals = {n: _up(_photo(n)) for n in ("astronaut", "coffee", "chelsea", "rocket")}
    for n, img in originals.items():
        img.save(d / f"{n}.jpg", quality=92)
    a = originals["astronaut"]
    w, h = a.size
    a.crop((int(w * 0.2), 0, w, int(h * 0.8))).save(d / "astronaut_crop.jpg", quality=85)
    _rotate(originals["coffee"], 6).save(d / "coffee_rot6.jpg", quality=85)
    c = originals["chelsea"]
    c.crop((0, int(c.height * 0.25), int(c.width * 0.75), c.height)).save(d / "chelsea_crop.jpg")
    left, right, _ = data.stereo_motorcycle()
    _up(Image.fromarray(left)).save(d / "moto_left.jpg", quality=92)
    _up(Image.fromarray(right)).save(d / "moto_right.jpg", quality=92)
    return d


@pytest.fixture(scope="module")
def scanned(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("db") / "catalog.sqlite"
    args = ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1"]
    args += ["--model", "effnet-lite0", "--similar", "--format", "json", "--progress", "none"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return db, json.loads(res.stdout)


def _names(group: dict) -> set[str]:
    return {Path(f["path"]).name for f in group["files"]}


def test_crops_and_rotations_are_the_same_photo(scanned) -> None:
    _db, out = scanned
    same = [_names(g) for g in out["groups"] if g["tier"] in ("same", "exact")]
    assert {"astronaut.jpg", "astronaut_crop.jpg"} in same
    assert {"coffee.jpg", "coffee_rot6.jpg"} in same
    assert {"chelsea.jpg", "chelsea_crop.jpg"} in same
    for g in same:  # the two stereo views are one scene, never one photo
        assert not {"moto_left.jpg", "moto_right.jpg"} <= g
    similar = [_names(g) for g in out["groups"] if g["tier"] == "similar"]
    assert {"moto_left.jpg", "moto_right.jpg"} in similar
    assert out["stats"]["groups_by_tier"].get("similar", 0) >= 1


def test_embeddings_are_stored_and_reused(scanned, photos: Path) -> None:
    db, _ = scanned
    from lookalike.engine.catalog import Catalog

    with Catalog(db) as cat:
        names = [r[0] for r in cat.db.execute("SELECT DISTINCT name FROM features")]
    assert any(n.startswith("emb:effnet:tf_efficientnet_lite0") for n in names)
    assert "quality" in names
    assert list(db.parent.glob("catalog.sqlite.*.faiss"))  # index persisted beside the catalog
    args = ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1"]
    args += ["--model", "effnet-lite0", "--format", "jsonl", "--progress", "none"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    events = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    embed = [e for e in events if e.get("event") == "stage_done" and e.get("stage") == "embed"]
    assert embed and embed[0]["count"] == 0  # nothing recomputed on a rescan
    verify = [e for e in events if e.get("event") == "stage_done" and e.get("stage") == "verify"]
    assert verify and verify[0]["count"] == 0  # every geometric check came from the catalog
    done = next(e for e in events if e.get("event") == "finished")
    assert done["stats"]["groups_by_tier"].get("same", 0) >= 3  # same groups as the first scan


def test_query_ranks_true_copies_first(scanned, photos: Path, tmp_path: Path) -> None:
    db, _ = scanned
    res = CliRunner().invoke(
        main, ["query", str(photos / "astronaut_crop.jpg"), "--db", str(db), "--top", "3"]
    )
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    assert Path(results[0]["path"]).name == "astronaut.jpg"
    assert results[0]["same"] is True  # verified geometrically
    assert not any(r["same"] for r in results[1:])
    assert all(r["path"] != str(photos / "astronaut_crop.jpg") for r in results)
    assert results[0]["score"] >= results[-1]["score"]
    # an image that is not in the catalog
    outside = tmp_path / "q.jpg"
    _rotate(Image.open(photos / "rocket.jpg"), -5).save(outside)
    res = CliRunner().invoke(main, ["query", str(outside), "--db", str(db), "--format", "text"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].endswith("same " + str(photos / "rocket.jpg"))
    res = CliRunner().invoke(main, ["query", "--text", "a cat", "--db", str(db)])
    assert res.exit_code != 0 and "no text encoder" in res.output


def test_query_without_catalog_is_clear(tmp_path: Path) -> None:
    img = tmp_path / "x.jpg"
    Image.new("RGB", (64, 64)).save(img)
    res = CliRunner().invoke(main, ["query", str(img), "--db", str(tmp_path / "none.sqlite")])
    assert res.exit_code != 0 and "no catalog" in res.output
    res = CliRunner().invoke(main, ["query", "--db", str(tmp_path / "none.sqlite")])
    assert res.exit_code == 2


def test_colour_and_face_modes(photos: Path, tmp_path: Path) -> None:
    base = ["scan", "--no-ui", str(photos), "--workers", "1", "--format", "json"]
    res = CliRunner().invoke(main, [*base, "--db", str(tmp_path / "c.sqlite"), "--by", "colour"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    similar = [_names(g) for g in out["groups"] if g["tier"] == "similar"]
    assert {"moto_left.jpg", "moto_right.jpg"} in similar  # one scene, one palette
    res = CliRunner().invoke(main, [*base, "--db", str(tmp_path / "f.sqlite"), "--by", "faces"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    # only the astronaut shows a person: without a model its crop is a look-alike with as
    # many faces; nothing else is grouped by faces
    similar = [_names(g) for g in out["groups"] if g["tier"] == "similar"]
    assert similar == [{"astronaut.jpg", "astronaut_crop.jpg"}]


def test_model_added_on_a_rescan(photos: Path, tmp_path: Path) -> None:
    """Files decoded by an earlier hash-only scan get their embeddings on the next --model
    scan (the ML stage's own small pool), and crops are then found."""
    db = tmp_path / "r.sqlite"
    base = ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1", "--format", "json"]
    res = CliRunner().invoke(main, base)
    assert res.exit_code == 0, res.output
    same = [_names(g) for g in json.loads(res.stdout)["groups"] if g["tier"] == "same"]
    assert {"astronaut.jpg", "astronaut_crop.jpg"} not in same  # hashes alone miss the crop
    res = CliRunner().invoke(main, [*base, "--model", "effnet-lite0"])
    assert res.exit_code == 0, res.output
    same = [_names(g) for g in json.loads(res.stdout)["groups"] if g["tier"] == "same"]
    assert {"astronaut.jpg", "astronaut_crop.jpg"} in same


def test_left_and_right_crops_never_join_through_the_middle(tmp_path: Path) -> None:
    """Left half ~ middle ~ right half, but the halves share no pixel: the verified edges
    chain, the groups must not (each member is verified against every other)."""
    from sklearn.datasets import load_sample_image

    img = Image.fromarray(load_sample_image("china.jpg"))
    img = img.resize((1100, round(img.height * 1100 / img.width)), Image.Resampling.LANCZOS)
    w, h = img.size
    img.crop((0, 0, w // 2, h)).save(tmp_path / "left.jpg", quality=92)
    img.crop((int(0.15 * w), 0, int(0.85 * w), h)).save(tmp_path / "middle.jpg", quality=92)
    img.crop((w // 2, 0, w, h)).save(tmp_path / "right.jpg", quality=92)
    args = ["scan", "--no-ui", str(tmp_path), "--db", str(tmp_path / "c.sqlite")]
    args += ["--workers", "1", "--model", "effnet-lite0", "--format", "json"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    groups = [_names(g) for g in json.loads(res.stdout)["groups"] if g["tier"] != "similar"]
    assert groups in ([{"left.jpg", "middle.jpg"}], [{"middle.jpg", "right.jpg"}]), groups


def test_model_none_scans_hash_only_where_a_gpu_would_embed(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real engine path: with a GPU seen, a plain scan embeds (the default) and
    `--model none` does not (no model load, no vectors stored, no embed stage), same files."""
    from lookalike.engine import ml_stage
    from lookalike.engine.catalog import Catalog

    monkeypatch.setattr(ml_stage, "gpu_present", lambda: True)
    monkeypatch.setenv("LOOKALIKE_NO_CACHE_SWEEP", "1")
    runs = {}
    for name, extra in (("default", []), ("none", ["--model", "none"])):
        db = tmp_path / f"{name}.sqlite"
        args = ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1"]
        args += ["--device", "cpu"] if name == "default" else []  # no CUDA here: embed on CPU
        res = CliRunner().invoke(main, [*args, *extra, "--format", "jsonl", "--progress", "none"])
        assert res.exit_code == 0, res.output
        events = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
        stages = {e["stage"] for e in events if e.get("event") == "stage_done"}
        with Catalog(db) as cat:
            names = {r[0] for r in cat.db.execute("SELECT DISTINCT name FROM features")}
        runs[name] = (stages, names)
    assert "embed" in runs["default"][0]
    assert any(n.startswith("emb:") for n in runs["default"][1])
    assert "embed" not in runs["none"][0] and "verify" not in runs["none"][0]
    assert not any(n.startswith("emb:") for n in runs["none"][1])
    bad = CliRunner().invoke(main, ["scan", "--no-ui", str(photos), "--model", "none", "--similar"])
    assert bad.exit_code == 2 and "--model none turns the embedding model off" in bad.output
