"""The keeper is the original: each evidence measure on real photos, then the scan end to end.

Real photos from scikit-image (via ``benchmarks/corpus.py``); edited copies are made with the
corpus's own edit functions, camera EXIF with ``benchmarks/keeper.py``'s helpers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from corpus import ORIGINAL_QUALITY, SOURCES, TRANSFORMS, encode, load_original
from keeper import camera_exif, edited_exif, with_exif
from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import ScanFinished
from lookalike.engine.features import provenance as pv
from lookalike.engine.features.extract import extract_file
from lookalike.engine.rules import evidence as ev
from lookalike.ui.widgets.thumbs import badges
from scan_wait import wait_scan_finished

PHOTOS = ["astronaut", "coffee", "camera"]


@pytest.fixture(scope="module")
def originals() -> dict[str, Image.Image]:
    return {sid: load_original(SOURCES[sid].path()) for sid in PHOTOS}


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _traces(img: Image.Image) -> float | None:
    return pv.jpeg_traces(pv.native_luma_crop(img.convert("RGB")))


def test_jpeg_traces_tell_a_png_resave_of_a_jpeg_from_a_never_compressed_png(originals):
    for sid, img in originals.items():
        never = _open(encode(img, "PNG"))
        decoded_jpeg = _open(encode(img, "JPEG", quality=ORIGINAL_QUALITY)).convert("RGB")
        resaved = _open(encode(decoded_jpeg, "PNG"))
        t_never, t_resaved = _traces(never), _traces(resaved)
        assert t_never is not None and t_resaved is not None
        assert t_never < pv.JPEG_TRACE <= t_resaved, (sid, t_never, t_resaved)
        # a TIFF re-save keeps the same lattice; a JPEG at quality 75 too
        assert _traces(_open(encode(decoded_jpeg, "TIFF"))) >= pv.JPEG_TRACE
        q75 = _open(encode(img, "JPEG", quality=75)).convert("RGB")
        assert _traces(_open(encode(q75, "PNG"))) >= pv.JPEG_TRACE


def test_a_png_resave_ranks_below_its_jpeg_and_a_clean_png_above(tmp_path, originals):
    img = originals["coffee"]
    raw = encode(img, "JPEG", quality=ORIGINAL_QUALITY)
    (tmp_path / "a.jpg").write_bytes(raw)
    (tmp_path / "b.png").write_bytes(encode(_open(raw).convert("RGB"), "PNG"))
    (tmp_path / "c.png").write_bytes(encode(img, "PNG"))
    feats = [extract_file(str(tmp_path / n), None, 10**9) for n in ("a.jpg", "b.png", "c.png")]
    out = ev.analyse(
        [f.format for f in feats],
        [(f.width, f.height) for f in feats],
        [f.prov for f in feats],
        [f.views for f in feats],
    )
    assert out[0]["encoding"] == f"JPEG q{ORIGINAL_QUALITY}"
    assert out[1]["encoding"] == "a PNG re-save of a JPEG"
    assert "a PNG re-save of a JPEG" in out[1]["edits"]
    assert out[2]["encoding"].startswith("PNG (lossless, no JPEG traces)")
    assert out[2]["encoding_rank"] < out[0]["encoding_rank"] < out[1]["encoding_rank"]


def test_a_jpeg_resaved_at_higher_quality_shows_the_earlier_compression(tmp_path, originals):
    """The one copy that looks better encoded than its original: q95 from a q92 camera file."""
    for sid, img in originals.items():
        raw = encode(img, "JPEG", quality=ORIGINAL_QUALITY)
        resaved = encode(_open(raw).convert("RGB"), "JPEG", quality=95)
        scores = []
        for name, data in (("orig.jpg", raw), ("q95.jpg", resaved)):
            (tmp_path / name).write_bytes(data)
            scores.append(pv.jpeg_resave(str(tmp_path / name), _open(data)))
        assert scores[0] is not None and scores[1] is not None
        assert scores[0] < pv.JPEG_RESAVE <= scores[1], (sid, scores)
        prov = [pv.header_info(_open(d), str(tmp_path / n)) for n, d in
                (("orig.jpg", raw), ("q95.jpg", resaved))]  # fmt: skip
        out = ev.analyse(["JPEG"] * 2, [img.size] * 2, prov, [None] * 2)
        assert out[1]["edits"] == ["a re-save of another JPEG"] and out[0]["edits"] == []


@pytest.mark.parametrize("quality", [30, 50, 75, 92, 95])
def test_jpeg_quality_from_the_quantisation_tables(originals, quality):
    im = _open(encode(originals["astronaut"], "JPEG", quality=quality))
    assert abs(pv.header_info(im)["jpeg_quality"] - quality) <= 1


def test_letterbox_counts_content_not_padding(tmp_path, originals):
    img = originals["astronaut"]
    raw = encode(img, "JPEG", quality=ORIGINAL_QUALITY)
    rng = random.Random(0)
    (tmp_path / "orig.jpg").write_bytes(raw)
    (tmp_path / "lb.jpg").write_bytes(TRANSFORMS["letterbox_16x9"].fn(img, raw, rng).data)
    (tmp_path / "border.jpg").write_bytes(TRANSFORMS["border"].fn(img, raw, rng).data)
    names = ("orig.jpg", "lb.jpg", "border.jpg")
    feats = [extract_file(str(tmp_path / n), None, 10**9) for n in names]
    out = ev.analyse(
        [f.format for f in feats],
        [(f.width, f.height) for f in feats],
        [f.prov for f in feats],
        [f.views for f in feats],
    )
    w, h = img.size
    assert feats[1].width * feats[1].height > 1.5 * w * h  # the padded canvas is far larger
    assert out[0]["content"] == [w, h] and "border" not in out[0]
    assert out[1]["border"] == "letterboxed" and out[2]["border"] == "bordered"
    for e in out[1:]:
        cw, ch = e["content"]
        assert 0.9 * w * h <= cw * ch <= 1.0 * w * h, e["content"]


@pytest.mark.parametrize(
    ("software", "make", "editor"),
    [
        ("Adobe Photoshop 25.0 (Windows)", "Canon", "Adobe Photoshop 25.0 (Windows)"),
        ("GIMP 2.10.36", None, "GIMP 2.10.36"),
        ("Snapseed 2.0", "Google", "Snapseed 2.0"),
        ("Canon EOS 80D Firmware Version 1.0.2", "Canon", None),
        ("HDR+ 1.0.540104", "Google", None),
        ("16.5", "Apple", None),
        ("Ver.1.10", "NIKON CORPORATION", None),
        ("", "Canon", None),
    ],
)
def test_editor_software_tag_versus_camera_firmware(software, make, editor):
    assert pv.editor_name(software, make) == editor


def test_exif_software_and_later_modify_date_mark_an_edit(originals):
    raw = encode(originals["astronaut"], "JPEG", quality=ORIGINAL_QUALITY)
    cam, taken = camera_exif("astronaut", 0)
    files = {
        "camera": with_exif(raw, cam),
        "edited": with_exif(raw, edited_exif(cam, taken, "Lightroom 7.1", None)),
        "stripped": raw,
    }
    provs = [pv.header_info(_open(d)) for d in files.values()]
    assert provs[0]["date_original"] == provs[1]["date_original"]
    assert provs[1]["modify_date"] > provs[1]["date_original"]
    out = ev.analyse(["JPEG"] * 3, [(640, 640)] * 3, provs, [None] * 3)
    assert [e["camera_original"] for e in out] == [True, False, False]
    assert out[1]["edits"] == ["edited by Lightroom 7.1"]
    assert out[0]["camera"] == f"{cam[271]} {cam[272]}" or out[0]["camera"] == cam[272]
    flags = ev.flags_for(out[0], out[2], "JPEG", "JPEG")
    assert "metadata stripped" in flags


# ---------------------------------------------------------------------------------------------
# the scan, end to end
# ---------------------------------------------------------------------------------------------
COPIES = ("letterbox_16x9", "to_png", "watermark_centre", "noise", "brightness_up")
EXPECTED = {
    "letterbox_16x9": "letterboxed",
    "to_png": "re-encoded JPEG→PNG",
    "watermark_centre": "overlay (centre)",
    "noise": "noisier",
    "brightness_up": "recoloured (brighter",
}


def _library(root: Path, originals: dict[str, Image.Image], metadata: bool) -> None:
    """Per photo: a camera original (the LONGEST name, so the path never decides) and copies;
    the brightened copy keeps the camera EXIF plus an editor's Software tag."""
    root.mkdir()
    for sid in ("astronaut", "coffee"):
        img = originals[sid]
        raw = encode(img, "JPEG", quality=ORIGINAL_QUALITY)
        cam, taken = camera_exif(sid, 0)
        (root / f"{sid}_original_from_the_camera.jpg").write_bytes(
            with_exif(raw, cam) if metadata else raw
        )
        for name in COPIES:
            made = TRANSFORMS[name].fn(_open(raw).convert("RGB"), raw, random.Random(1))
            data = made.data
            if metadata and name == "brightness_up":
                data = with_exif(data, edited_exif(cam, taken, "Adobe Photoshop 25.0", None))
            (root / f"{sid}_{name}.{made.ext}").write_bytes(data)


def _scan(root: Path, db: Path) -> ScanFinished:
    events = list(Engine(db, db.parent / "thumbs").scan_sync(ScanOptions(roots=(root,), workers=1)))
    assert isinstance(events[-1], ScanFinished)
    return events[-1]


@pytest.mark.parametrize("metadata", [True, False], ids=["camera-exif", "no-metadata"])
def test_scan_keeps_the_original_over_letterboxed_resaved_watermarked_noisy(
    tmp_path, originals, metadata
):
    root = tmp_path / "lib"
    _library(root, originals, metadata)
    fin = _scan(root, tmp_path / "c.db")
    assert len(fin.groups) == 2
    for g in fin.groups:
        assert g.keep.endswith("_original_from_the_camera.jpg"), (g.keep, g.reason)
        assert len(g.members) == 1 + len(COPIES)
        if metadata:
            assert g.reason.startswith("original: camera EXIF ("), g.reason
        else:
            assert g.reason.startswith("original: no sign of editing"), g.reason
        assert "; the others are " in g.reason
        for m in g.members:
            if m.path == g.keep:
                assert m.flags == ()
                continue
            name = next(n for n in COPIES if f"_{n}." in m.path)
            assert any(f.startswith(EXPECTED[name]) for f in m.flags), (name, m.flags)
            if metadata and name != "brightness_up":
                assert "metadata stripped" in m.flags
            if metadata and name == "brightness_up":
                assert "edited by Adobe Photoshop 25.0" in m.flags


def test_cli_outputs_carry_flags(tmp_path, originals):
    root = tmp_path / "lib"
    _library(root, originals, metadata=True)
    db = str(tmp_path / "c.db")

    def scan(fmt: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(root), "--db", db]
            + ["--format", fmt],
            capture_output=True,
        )
        assert r.returncode == 0, r.stderr.decode()
        return r.stdout.decode()

    doc = json.loads(scan("json"))
    files = {os.path.basename(f["path"]): f for g in doc["groups"] for f in g["files"]}
    assert "letterboxed" in files["coffee_letterbox_16x9.jpg"]["flags"]
    assert files["coffee_original_from_the_camera.jpg"]["flags"] == []
    assert files["coffee_original_from_the_camera.jpg"]["evidence"]["camera_original"] is True
    rows = list(csv.DictReader(io.StringIO(scan("csv"))))
    png = next(r for r in rows if r["path"].endswith("astronaut_to_png.png"))
    assert "re-encoded JPEG→PNG" in png["flags"].split("; ")
    text = scan("text")
    assert "letterboxed" in text and "reason: original: camera EXIF" in text


def test_card_badges_are_short():
    assert badges(("letterboxed", "re-encoded JPEG→PNG", "metadata stripped")) == (
        "letterbox·re-saved+"
    )
    assert badges(()) == ""


# ---------------------------------------------------------------------------------------------
# the terminal app on the real engine (Pilot)
# ---------------------------------------------------------------------------------------------
async def _wait_for(pilot, cond, timeout: float = 120.0) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def _text_of(widget) -> str:
    from rich.console import Console

    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(widget.content)
    return console.export_text()


async def test_app_shows_the_real_engines_flags_and_badges(tmp_path, originals):
    from lookalike.ui.app import make_app
    from lookalike.ui.widgets.details import Details

    root = tmp_path / "lib"
    _library(root, originals, metadata=True)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", roots=[root])
    async with app.run_test(size=(130, 40)) as pilot:
        await pilot.press("1")
        await pilot.press("s")
        await wait_scan_finished(pilot, app, timeout=120.0)
        await _wait_for(pilot, lambda: len(app.review.groups) == 2 and app.current_mode == "review")
        r = app.review
        target = str(root / "coffee_letterbox_16x9.jpg")
        index, pos = next(
            (i, j)
            for i, gid in enumerate(r.view)
            for j, m in enumerate(r.by_id[gid].members)
            if m.path == target
        )
        await pilot.press("g", *["j"] * index, *["l"] * pos)
        await _wait_for(pilot, lambda: r.current_member.path == target, 5)
        details = _text_of(app.screen.query_one(Details))
        assert "letterboxed" in details and "metadata stripped" in details
        assert "original: camera EXIF" in details  # the keeper's reason
        card = next(c for c in app.screen.query_one("#thumbgrid").tiles if c.path == target)
        assert "letterbox" in card.flags
        await pilot.press("q")
