"""Is the suggested keeper the original? ``lookalike scan`` on groups of one original + copies.

Why: a scan that groups copies correctly but keeps the letterboxed, re-saved or watermarked
copy sends the camera original to the trash. Every group here is one real photo (the sources
of ``corpus.py``) stored as a camera-like JPEG q92, plus a few edited copies made with the
corpus's own edit functions (a seeded random choice of 3–8 per photo), in two variants:

* ``meta``: originals carry camera EXIF (Make, Model, DateTimeOriginal, ModifyDate equal to it,
  the camera's firmware in ``Software``); half of the edited JPEG copies keep that EXIF plus an
  editor's ``Software`` tag and a later ModifyDate; messenger (downscaled), PNG, WebP, HEIC …
  copies carry none;
* ``plain``: the same pixels with no metadata at all (EXIF-orientation copies keep only their
  orientation tag, which is the edit).

File names are random (``IMG_NNNNNN``) and every file gets the same mtime, so neither path nor
date gives the original away. The keeper is right when it is the original or a byte-identical
copy of it. The script runs the real CLI (``lookalike scan --no-ui --format json``) and scores
the JSON.

    python benchmarks/keeper.py [OUT_DIR] [--seed S] [--photos N] [--heldout] [--copies 3-8]
                                [-o results.json] [--extra-args="--model effnet-lite0"]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import _git_head  # noqa: E402
from corpus import (  # noqa: E402
    HELDOUT_PHOTOS,
    MAIN_PHOTOS,
    ORIGINAL_QUALITY,
    SOURCES,
    TRANSFORMS,
    _seed_for,
    encode,
    load_original,
)

# Hash-mode scans group these; crops and small rotations need an embedding model (see
# --with-crops).
DEFAULT_TRANSFORMS = tuple(
    n for n, t in TRANSFORMS.items() if t.available and not n.startswith(("crop_", "small_rot_"))
)
MESSENGER = {"scale_25", "scale_50"}  # downscaled and re-compressed: metadata stripped
CAMERAS = (
    ("Google", "Pixel 7", "HDR+ 1.0.540104"),
    ("Canon", "Canon EOS 80D", "Firmware Version 1.0.2"),
    ("Apple", "iPhone 12", "16.5"),
    ("NIKON CORPORATION", "NIKON D750", "Ver.1.10"),
    ("samsung", "SM-G991B", "G991BXXU5CVF1"),
)
EDITORS = ("Adobe Photoshop 25.0 (Windows)", "GIMP 2.10.36", "Snapseed 2.0", "Lightroom 7.1")
FIXED_MTIME = 1_600_000_000  # every file: the date gives nothing away

TAG_MAKE, TAG_MODEL, TAG_SOFTWARE, TAG_DATETIME = 271, 272, 305, 306
TAG_EXIF_IFD, TAG_DATETIME_ORIGINAL, TAG_ORIENTATION = 0x8769, 36867, 274


# --------------------------------------------------------------------------------------------
# EXIF without re-encoding: swap the APP1 segment of a JPEG
# --------------------------------------------------------------------------------------------
def _without_exif(jpeg: bytes) -> tuple[bytes, Image.Exif | None]:
    """(the JPEG without its APP1 Exif segment, the Exif it had)."""
    assert jpeg[:2] == b"\xff\xd8", "not a JPEG"
    pos, old = 2, None
    out = bytearray(b"\xff\xd8")
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            break
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        seg = jpeg[pos : pos + 2 + length]
        if marker == 0xE1 and seg[4:10] == b"Exif\x00\x00":
            with Image.open(io.BytesIO(jpeg)) as im:
                old = im.getexif()
        else:
            out += seg
        pos += 2 + length
    return bytes(out) + jpeg[pos:], old


def with_exif(jpeg: bytes, exif: Image.Exif | None) -> bytes:
    """The same JPEG (same pixels, byte for byte the same scan data) with ``exif`` as APP1."""
    body, _ = _without_exif(jpeg)
    if exif is None or not len(exif):
        return body
    data = exif.tobytes()  # b"Exif\0\0" + TIFF
    app1 = b"\xff\xe1" + (len(data) + 2).to_bytes(2, "big") + data
    return body[:2] + app1 + body[2:]


def camera_exif(source: str, seed: int, orientation: int | None = None) -> tuple[Image.Exif, str]:
    rng = random.Random(_seed_for(seed, source, "camera"))
    make, model, firmware = CAMERAS[rng.randrange(len(CAMERAS))]
    day = f"20{rng.randrange(12, 24):02d}:{rng.randrange(1, 13):02d}:{rng.randrange(1, 28):02d}"
    taken = f"{day} {rng.randrange(7, 20):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    exif = Image.Exif()
    exif[TAG_MAKE], exif[TAG_MODEL], exif[TAG_SOFTWARE] = make, model, firmware
    exif[TAG_DATETIME] = taken
    if orientation:
        exif[TAG_ORIENTATION] = orientation
    exif.get_ifd(TAG_EXIF_IFD)[TAG_DATETIME_ORIGINAL] = taken
    return exif, taken


def edited_exif(camera: Image.Exif, taken: str, editor: str, orientation: int | None) -> Image.Exif:
    exif = Image.Exif()
    exif[TAG_MAKE], exif[TAG_MODEL] = camera[TAG_MAKE], camera[TAG_MODEL]
    exif[TAG_SOFTWARE] = editor
    year = int(taken[:4]) + 1
    exif[TAG_DATETIME] = f"{year}{taken[4:]}"  # edited a year later
    if orientation:
        exif[TAG_ORIENTATION] = orientation
    exif.get_ifd(TAG_EXIF_IFD)[TAG_DATETIME_ORIGINAL] = taken
    return exif


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------
def build(
    out: Path,
    photos: Sequence[str],
    transforms: Sequence[str],
    seed: int,
    copies: tuple[int, int],
) -> dict:
    """Write ``out/meta`` and ``out/plain`` and return the labels (also ``out/labels.json``)."""
    for variant in ("meta", "plain"):
        d = out / variant
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    names = random.Random(seed)
    used: set[str] = set()
    files: list[dict] = []
    missing = []
    for source in photos:
        path = SOURCES[source].path()
        if path is None:
            missing.append(source)
            continue
        rng = random.Random(_seed_for(seed, source, "pick"))
        picked = rng.sample(list(transforms), k=min(len(transforms), rng.randint(*copies)))
        raw = encode(load_original(path), "JPEG", quality=ORIGINAL_QUALITY)
        with Image.open(io.BytesIO(raw)) as im:
            img = im.convert("RGB")
        cam, taken = camera_exif(source, seed)
        original = {"meta": with_exif(raw, cam), "plain": raw}
        made = [("original", original, "jpg")]
        for name in picked:
            t = TRANSFORMS[name]
            m = t.fn(img, raw, random.Random(_seed_for(seed, source, name)))
            if name == "exact_copy":
                made.append((name, dict(original), "jpg"))
                continue
            if m.ext != "jpg":  # PNG, WebP, HEIC … conversions carry no metadata
                made.append((name, {"meta": m.data, "plain": m.data}, m.ext))
                continue
            _, had = _without_exif(m.data)
            orient = had.get(TAG_ORIENTATION) if had else None
            keep = name not in MESSENGER and rng.random() < 0.5
            if keep:
                editor = EDITORS[rng.randrange(len(EDITORS))]
                meta = with_exif(m.data, edited_exif(cam, taken, editor, orient))
            else:
                meta = m.data  # stripped (an orientation copy keeps only its tag)
            made.append((name, {"meta": meta, "plain": m.data}, "jpg"))
        for name, data, ext in made:
            while (stem := f"IMG_{names.randrange(10**6):06d}") in used:
                pass
            used.add(stem)
            rel = f"{stem}.{ext}"
            for variant in ("meta", "plain"):
                p = out / variant / rel
                p.write_bytes(data[variant])
                os.utime(p, (FIXED_MTIME, FIXED_MTIME))
            files.append(
                {
                    "file": rel,
                    "source": source,
                    "transform": name,
                    "original": name in ("original", "exact_copy"),
                    "camera_exif_kept": data["meta"] is not data["plain"] and name != "original",
                }
            )
    labels = {"seed": seed, "copies": list(copies), "missing_sources": missing, "files": files}
    (out / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels


# --------------------------------------------------------------------------------------------
# Running and scoring
# --------------------------------------------------------------------------------------------
def run_scan(images: Path, out_json: Path, db: Path, extra: Sequence[str]) -> tuple[list, float]:
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(images)]
    cmd += ["--format", "json", "-o", str(out_json), "--db", str(db), *extra]
    env = dict(os.environ, XDG_CACHE_HOME=str(db.parent / "cache"))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return cmd, time.perf_counter() - t0


def score(labels: dict, result: dict) -> dict:
    """Per source photo: the group holding its original, and whether its keeper is right."""
    by_file = {f["file"]: f for f in labels["files"]}
    sources = sorted({f["source"] for f in labels["files"]})
    rows = []
    for source in sources:
        orig = next(
            f["file"]
            for f in labels["files"]
            if f["source"] == source and f["transform"] == "original"
        )
        group = next(
            (g for g in result["groups"] if any(Path(m["path"]).name == orig for m in g["files"])),
            None,
        )
        if group is None:
            rows.append({"source": source, "grouped": False, "correct": False})
            continue
        keep = by_file.get(Path(group["keep"]).name, {})
        rows.append(
            {
                "source": source,
                "grouped": True,
                "correct": bool(keep.get("original")),
                "keeper": keep.get("transform", "?"),
                "files": len(group["files"]),
                "copies": sorted(by_file[Path(m["path"]).name]["transform"] for m in group["files"]
                                 if by_file[Path(m["path"]).name]["transform"] != "original"),
                "reason": group["reason"],
            }
        )  # fmt: skip
    judged = [r for r in rows if r["grouped"]]
    right = sum(r["correct"] for r in judged)
    return {
        "groups": len(judged),
        "correct": right,
        "accuracy": round(right / len(judged), 4) if judged else 0.0,
        "not_grouped": [r["source"] for r in rows if not r["grouped"]],
        "wrong": [r for r in judged if not r["correct"]],
        "keepers": dict(Counter(r["keeper"] for r in judged)),
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", nargs="?", type=Path, default=Path("benchmarks/data/keeper"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--photos", type=int, default=None, help="only the first N sources")
    ap.add_argument("--heldout", action="store_true", help="also the held-out sources")
    ap.add_argument("--copies", default="3-8", help="copies per group, MIN-MAX")
    ap.add_argument("--transforms", default=None, help="comma-separated subset to draw from")
    ap.add_argument("--with-crops", action="store_true", help="also crops / small rotations")
    ap.add_argument("--extra-args", default="", help="more scan options, one string")
    ap.add_argument("-o", "--output", type=Path, default=None, help="results JSON")
    args = ap.parse_args(argv)
    photos = list(MAIN_PHOTOS) + (list(HELDOUT_PHOTOS) if args.heldout else [])
    if args.photos:
        photos = photos[: args.photos]
    if args.transforms:
        transforms = args.transforms.split(",")
    elif args.with_crops:
        transforms = [n for n, t in TRANSFORMS.items() if t.available]
    else:
        transforms = list(DEFAULT_TRANSFORMS)
    lo, _, hi = args.copies.partition("-")
    copies = (int(lo), int(hi or lo))
    t0 = time.perf_counter()
    labels = build(args.out_dir, photos, transforms, args.seed, copies)
    print(f"built {len(labels['files'])} files per variant in {time.perf_counter() - t0:.1f} s")
    extra = shlex.split(args.extra_args)
    report: dict = {
        "machine": f"{platform.node()} · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "commit": _git_head(),
        "seed": args.seed,
        "copies": list(copies),
        "extra_args": extra,
        "variants": {},
    }
    for variant, target in (("meta", 0.95), ("plain", 0.75)):
        db = args.out_dir / f"{variant}.db"
        for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            p.unlink(missing_ok=True)
        out_json = args.out_dir / f"{variant}.json"
        cmd, secs = run_scan(args.out_dir / variant, out_json, db, extra)
        s = score(labels, json.loads(out_json.read_text()))
        s["command"] = shlex.join(cmd[2:])
        s["seconds"] = round(secs, 1)
        s["target"] = target
        report["variants"][variant] = s
        ok = "PASS" if s["accuracy"] >= target else "FAIL"
        print(
            f"{variant:5s}: keeper is the original in {s['correct']}/{s['groups']} groups "
            f"({100 * s['accuracy']:.1f} %, target {100 * target:.0f} %) {ok}; "
            f"{secs:.1f} s; not grouped: {', '.join(s['not_grouped']) or '-'}"
        )
        for r in s["wrong"]:
            print(f"    {r['source']}: kept {r['keeper']} — {r['reason']}")
    if args.output:
        args.output.write_text(json.dumps(report, indent=1))
    passed = all(v["accuracy"] >= v["target"] for v in report["variants"].values())
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
