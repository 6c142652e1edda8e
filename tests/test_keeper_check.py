"""Every member of a "same" group is a verified copy of the group's keeper (rank stage,
engine/keeper_check.py): two frames of one burst never share a "same" group through a third
file's near-copy edges, and real copies still group with their original.

The hard negative: four bursts of one scene (benchmarks/corpus.burst_frames, coffee, seeds
0-3: frames at q92 and a q70 re-save of each middle frame) in one folder. Their middle frames
are near-copies across seeds, so the grouper's clusters merged and the cross pairs were held
to the signature bound only: on 7c15721 one "same" group held frames 1 and 2 of seed 3, so an
action kept another file and trashed both."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from lookalike.engine.features.extract import extract_file
from lookalike.engine.features.verify import Verifier
from lookalike.engine.grouping import ViewSignatures
from lookalike.engine.item_table import Item
from lookalike.engine.match_rules import RECHECK_BAND, RECHECK_LOW

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

pytest.importorskip("skimage.data")


def _scan(root: Path, db: Path, *extra: str) -> dict:
    from lookalike.cli import main

    args = ["scan", "--no-ui", str(root), "--db", str(db), "--format", "json", "--workers", "2"]
    r = CliRunner().invoke(main, [*args, *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _bursts(root: Path, sid: str = "coffee", seeds: int = 4) -> None:
    root.mkdir()
    img = corpus._source_image(sid)
    for seed in range(seeds):
        for k, im in enumerate(corpus.burst_frames(img, seed=seed)):
            im.save(root / f"s{seed}f{k}.jpg", quality=92)
            if k == 1:
                im.save(root / f"s{seed}f1_q70.jpg", quality=70)


def _names(g: dict) -> list[str]:
    return [Path(f["path"]).name for f in g["files"]]


def _each_a_copy_of_its_keeper(groups: list[dict]) -> None:
    """Each non-keeper of each "same" group: near-exact signatures against the keeper, or
    pixels that refute it neither way."""
    v = Verifier()
    for g in groups:
        if g["tier"] != "same":
            continue
        keep = g["keep"]
        for f in g["files"]:
            if f["path"] == keep:
                continue
            a, b = (
                Item(n, p, extract_file(p, None, 10**9).views)
                for n, p in enumerate((f["path"], keep))
            )
            m = ViewSignatures([a, b]).match(0, 1)
            if m.low >= RECHECK_LOW and m.band >= RECHECK_BAND:
                continue
            assert not v.refutes(f["path"], keep), (f["path"], keep)
            assert not v.refutes(keep, f["path"]), (keep, f["path"])


def test_frames_of_one_burst_never_share_a_same_group_through_near_copies(
    tmp_path: Path,
) -> None:
    _bursts(tmp_path / "bursts")
    shutil.copyfile(tmp_path / "bursts" / "s3f2.jpg", tmp_path / "bursts" / "s3f2_dup.jpg")
    doc = _scan(tmp_path / "bursts", tmp_path / "c.db")
    same = [g for g in doc["groups"] if g["tier"] in ("same", "exact")]
    for g in same:
        for seed in range(4):
            frames = {n[:4] for n in _names(g) if n.startswith(f"s{seed}")}
            assert len(frames) <= 1, _names(g)  # one frame of a burst (and its re-save)
    _each_a_copy_of_its_keeper(doc["groups"])
    assert any({"s1f1.jpg", "s1f1_q70.jpg"} <= set(_names(g)) for g in same)  # a re-save stays
    # the frame that left its group alone is "exact" with its byte-identical copy
    assert ("exact", ["s3f2.jpg", "s3f2_dup.jpg"]) in [(g["tier"], _names(g)) for g in same]
    seen = [(g["tier"], _names(g), g["keep"]) for g in doc["groups"]]
    again = _scan(tmp_path / "bursts", tmp_path / "c.db")  # nothing changed: as stored
    assert [(g["tier"], _names(g), g["keep"]) for g in again["groups"]] == seen
    os.utime(tmp_path / "bursts" / "s3f1.jpg")  # its component regrouped and ranked again
    again = _scan(tmp_path / "bursts", tmp_path / "c.db")
    assert [(g["tier"], _names(g), g["keep"]) for g in again["groups"]] == seen
    plan = _scan(tmp_path / "bursts", tmp_path / "c.db", "--action", "trash", "--dry-run")
    assert plan["items"]  # the re-saves
    for i in plan["items"]:  # never a frame trashed for another frame of its burst
        gone, kept = Path(i["source"]).name, Path(i["keeper"]).name
        assert gone[:2] != kept[:2] or gone[:4] == kept[:4], (gone, kept)


def test_real_copies_stay_with_their_original_beside_a_burst(tmp_path: Path) -> None:
    """An original with its re-save, resize, watermark and crop, beside the bursts: one
    "same" group, every copy checked against the keeper and none turned out."""
    _bursts(tmp_path / "lib", seeds=2)
    img = corpus.upscale_if_small(corpus._source_image("astronaut"))
    img.save(tmp_path / "lib" / "orig.jpg", quality=95)
    img.save(tmp_path / "lib" / "resave.jpg", quality=70)
    img.resize((img.width // 2, img.height // 2)).save(tmp_path / "lib" / "small.jpg", quality=90)
    made = corpus.t_watermark("corner")(img, b"", random.Random(0))
    Image.open(io.BytesIO(made.data)).convert("RGB").save(tmp_path / "lib" / "mark.jpg")
    w, h = img.size
    img.crop((w // 50, h // 50, w - w // 50, h - h // 50)).save(tmp_path / "lib" / "crop.jpg")
    doc = _scan(tmp_path / "lib", tmp_path / "c.db")
    (group,) = [g for g in doc["groups"] if "orig.jpg" in _names(g)]
    assert group["tier"] == "same"
    assert set(_names(group)) == {"orig.jpg", "resave.jpg", "small.jpg", "mark.jpg", "crop.jpg"}
    _each_a_copy_of_its_keeper(doc["groups"])


def test_a_member_refuted_only_against_path_order_leaves(tmp_path: Path) -> None:
    """verify.py's verdict is not symmetric: astronaut seed 0's frame 2 against seed 3's frame
    1 (two photos) holds in path order — the one way the grouper asks an edge — and is refuted
    the other way; the keeper check asks both, so the member is a stray either way round."""
    from lookalike.engine.keeper_check import KeeperCheck
    from lookalike.engine.recheck import PixelRecheck

    img = corpus._source_image("astronaut")
    paths = []
    for seed, k in ((0, 2), (3, 1)):
        paths.append(str(tmp_path / f"s{seed}f{k}.jpg"))
        corpus.burst_frames(img, seed=seed)[k].save(paths[-1], quality=92)
    items = [Item(10 + n, p, extract_file(p, None, 10**9).views) for n, p in enumerate(paths)]
    sig = ViewSignatures(items)
    m = sig.match(0, 1)
    assert m.low < RECHECK_LOW or m.band < RECHECK_BAND  # not near-exact: pixels decide
    assert not PixelRecheck(items)(0, 1)  # the grouper's way holds
    fresh: dict = {}
    for keeper in (10, 11):
        check = KeeperCheck(sig.match, PixelRecheck(items, None, fresh), {10: 0, 11: 1}, paths)
        assert check.strays([10, 11], keeper) == {21 - keeper}
    assert fresh == {(10, 11): False, (11, 10): True}  # each way remembered under its own key
