"""Frames of a shooting session (camera originals with their own capture times, or without
EXIF three or more frames of one size and one JPEG encoding) are never a "same photo"
group, so no scan action touches them (rules/sessions.py); an original and its edit
re-saved at the same settings stay one photo."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lookalike.engine.features.provenance import header_info
from lookalike.engine.records import Member
from lookalike.engine.rules.evidence import analyse
from lookalike.engine.rules.sessions import (
    REASON,
    different_shots,
    one_encoding_frames,
    one_encoding_reason,
)

data = pytest.importorskip("skimage.data")

DRIFT = [(200, 150), (201, 150), (201, 151), (202, 151)]  # a tracking mount: < 1.5 px a frame


def _exif(when: str | None, subsec: str | None = None, software: str | None = None) -> Image.Exif:
    ex = Image.Exif()
    if when is None:
        return ex
    ex[0x010F], ex[0x0110] = "Canon", "Canon EOS R6"  # Make, Model
    if software:
        ex[0x0131] = software
    sub = ex.get_ifd(0x8769)
    sub[0x9003] = when  # DateTimeOriginal
    if subsec is not None:
        sub[0x9291] = subsec  # SubSecTimeOriginal
    return ex


def _sky(x: int, y: int, rng: np.random.Generator) -> Image.Image:
    """A 480×360 crop of the Hubble deep field at (x, y) with its own sensor noise."""
    sky = np.asarray(data.hubble_deep_field(), dtype=np.float32)
    a = sky[y : y + 360, x : x + 480] + rng.normal(0, 2.5, (360, 480, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _session(root: Path, dated: bool, drift: list = DRIFT, resave: int = 80) -> list[Path]:
    """Exposures of the Hubble deep field drifting a pixel, each with its own sensor
    noise, as a camera writes them (``dated``: with their capture times), plus a re-save of
    the first one at quality ``resave`` (its EXIF kept, as an export does)."""
    root.mkdir()
    rng = np.random.default_rng(3)
    frames = []
    for k, (x, y) in enumerate(drift):
        im = _sky(x, y, rng)
        ex = _exif(f"2026:08:12 23:10:{k * 30:02d}" if dated else None)
        frames.append(root / f"f{k}.jpg")
        im.save(frames[-1], quality=92, exif=ex)
        if k == 0:
            im.save(root / "f0_resave.jpg", quality=resave, exif=ex)
    return frames


def _scan(inbox: Path, db: Path, *extra: str) -> dict:
    from lookalike.cli import main

    args = ["scan", "--no-ui", str(inbox), "--db", str(db), "--format", "json", *extra]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _names(g: dict) -> set[str]:
    return {Path(f["path"]).name for f in g["files"]}


def test_a_sessions_frames_are_look_alike_shots_that_no_action_touches(tmp_path: Path) -> None:
    frames = {f"f{k}.jpg" for k in range(len(DRIFT))}
    _session(tmp_path / "dated", dated=True)
    doc = _scan(tmp_path / "dated", tmp_path / "dated.db")
    assert not [g for g in doc["groups"] if g["tier"] == "same" and len(_names(g) & frames) > 1]
    (group,) = [g for g in doc["groups"] if "f0_resave.jpg" in _names(g)]
    assert "f0.jpg" in _names(group)  # the re-save still beside its frame
    assert group["tier"] == "similar" and group["reason"].endswith(REASON)
    assert all(not f["flags"] for f in group["files"])  # look-alike shots: no copy's flags

    plan = _scan(tmp_path / "dated", tmp_path / "dated.db", "--action", "trash", "--dry-run")
    assert not plan["items"]
    assert {Path(r["path"]).name for r in plan["refused"]} >= frames - {Path(group["keep"]).name}


def test_frames_without_exif_of_one_size_and_encoding_are_a_session(tmp_path: Path) -> None:
    """Three stripped frames (JPEG q92, one size) and a q70 re-save of one: the signatures
    make them one "same photo"; one size and one encoding say a session."""
    bare = _session(tmp_path / "bare", dated=False, drift=DRIFT[:3], resave=70)
    frames = {p.name for p in bare}
    doc = _scan(tmp_path / "bare", tmp_path / "bare.db")
    assert not [g for g in doc["groups"] if g["tier"] == "same" and len(_names(g) & frames) > 1]
    (group,) = [g for g in doc["groups"] if "f0_resave.jpg" in _names(g)]
    assert _names(group) == frames | {"f0_resave.jpg"}  # the re-save beside its frame
    assert group["tier"] == "similar" and group["reason"].endswith(one_encoding_reason(3))
    plan = _scan(tmp_path / "bare", tmp_path / "bare.db", "--action", "trash", "--dry-run")
    assert not plan["items"]
    assert {Path(r["path"]).name for r in plan["refused"]} >= frames - {Path(group["keep"]).name}


def test_an_original_and_its_same_settings_edit_stay_one_photo(tmp_path: Path) -> None:
    """The hard negative: a stripped frame, its edit re-saved at the same quality and size
    (two files of one encoding) and a q70 re-save stay a "same photo" group."""
    root = tmp_path / "copies"
    root.mkdir()
    im = _sky(200, 150, np.random.default_rng(3))
    im.save(root / "orig.jpg", quality=92)
    a = np.asarray(im, dtype=np.float32) * 1.04 + 3  # a touch of exposure, same settings
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(root / "edit.jpg", quality=92)
    im.save(root / "resave.jpg", quality=70)
    doc = _scan(root, tmp_path / "c.db")
    (group,) = doc["groups"]
    assert _names(group) == {"orig.jpg", "edit.jpg", "resave.jpg"}
    assert group["tier"] == "same"
    plan = _scan(root, tmp_path / "c.db", "--action", "trash", "--dry-run")
    assert len(plan["items"]) == 2


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """The same JPEG with a comment segment after its SOI marker: other bytes, the same
    pixels (as an app that writes a rating or a tag into the file leaves it)."""
    return jpeg[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + jpeg[2:]


def test_metadata_only_copies_are_one_photo_not_a_session(tmp_path: Path) -> None:
    """Three files of one size and one encoding whose pixels are the same (metadata rewritten
    by different apps) are copies: a "same photo" group that actions may act on."""
    root = tmp_path / "tagged"
    root.mkdir()
    im = Image.fromarray(data.astronaut())
    im.save(root / "orig.jpg", quality=92)
    jpeg = (root / "orig.jpg").read_bytes()
    (root / "rated.jpg").write_bytes(_with_comment(jpeg, b"rating=5"))
    (root / "tagged.jpg").write_bytes(_with_comment(jpeg, b"tags=moon,nasa"))
    doc = _scan(root, tmp_path / "t.db")
    (group,) = doc["groups"]
    assert _names(group) == {"orig.jpg", "rated.jpg", "tagged.jpg"}
    assert group["tier"] == "same", group["reason"]


def test_identical_files_count_once_and_formats_and_qualities_apart() -> None:
    def m(n: int, fmt: str = "JPEG", w: int = 480) -> Member:
        return Member(path=f"f{n}", size=1, width=w, height=360, format=fmt, score=1.0)

    q92, q70 = {"jpeg_quality": 92}, {"jpeg_quality": 70}
    assert one_encoding_frames([m(0), m(1), m(2)], [1, 2, 3], [q92] * 3) == 3
    assert one_encoding_frames([m(0), m(1), m(2)], [1, 1, 2], [q92] * 3) == 0  # byte copies
    assert one_encoding_frames([m(0), m(1), m(2)], [1, 2, 3], [q92, q92, q70]) == 0
    assert one_encoding_frames([m(0), m(1), m(2, w=240)], [1, 2, 3], [q92] * 3) == 0
    assert one_encoding_frames([m(n, "PNG") for n in range(3)], [1, 2, 3], [{}] * 3) == 0
    edited = replace(m(2), flags=("overlay (centre)",))  # an edit at the original's settings
    assert one_encoding_frames([m(0), m(1), edited], [1, 2, 3], [q92] * 3) == 0


def _facts(tmp_path: Path, exifs: list[Image.Exif]) -> tuple[list[dict], list[dict]]:
    """Evidence and provenance of one photo (chelsea) saved with each EXIF, as measured."""
    provs = []
    for n, ex in enumerate(exifs):
        p = tmp_path / f"c{n}.jpg"
        Image.fromarray(data.chelsea()).save(p, quality=90, exif=ex)
        with Image.open(p) as im:
            provs.append(header_info(im))
    evs = analyse(["JPEG"] * len(provs), [(451, 300)] * len(provs), provs, [None] * len(provs))
    return evs, provs


def test_a_burst_in_one_second_differs_in_its_sub_seconds(tmp_path: Path) -> None:
    when = "2026:08:12 23:10:05"
    evs, provs = _facts(tmp_path, [_exif(when, "12"), _exif(when, "120"), _exif(when, "45")])
    assert [p["subsec_original"] for p in provs] == ["12", "12", "45"]
    assert not different_shots(evs[:2], provs[:2])  # .12 and .120: one instant
    assert different_shots(evs[1:], provs[1:])
    evs, provs = _facts(tmp_path, [_exif(when, "12"), _exif(when)])  # a copy lost the tag
    assert not different_shots(evs, provs)


def test_copies_that_are_no_camera_originals_keep_the_group_one_photo(tmp_path: Path) -> None:
    shot = _exif("2026:08:12 23:10:05")
    edited = _exif("2026:08:12 23:15:00", software="Adobe Photoshop 25.0")
    evs, provs = _facts(tmp_path, [shot, edited, _exif(None)])
    assert [e["camera_original"] for e in evs] == [True, False, False]
    assert not different_shots(evs, provs)
    evs, provs = _facts(tmp_path, [shot, _exif("2026:08:12 23:10:06")])  # the next second
    assert different_shots(evs, provs)
