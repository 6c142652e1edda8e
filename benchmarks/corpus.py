"""Labelled corpus of real photos and their edited copies, for the accuracy benchmark and tests.

Why: lookalike's promise is "same photo" detection across resizes, re-encodes, rotations,
mirrors, crops, watermarks and format changes. Synthetic noise images do not exercise the
features the way real photos do, so every source here is a real photo that ships inside an
installed package (scikit-image, scikit-learn, matplotlib, textual-image, and optionally mahotas
and imgaug) — nothing is downloaded.

Layout written under ``OUT_DIR``::

    images/<source>__<transform>.<ext>   originals, copies and distractors (scan this folder)
    labels.json                          one record per file (see ``make_corpus``)

Usage as a CLI::

    python benchmarks/corpus.py OUT_DIR [--photos N] [--seed S] [--heldout | --hard] [--jobs J]

Usage from tests (``sys.path.insert(0, "benchmarks")``)::

    from corpus import make_corpus
    labels = make_corpus(tmp_path, photos=["astronaut", "coffee"], transforms=["jpeg_q50"])
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps, features

try:  # HEIC: optional at import time so the module still loads where pillow-heif is missing
    import pillow_heif

    pillow_heif.register_heif_opener()
    HAVE_HEIF = True
except ImportError:  # pragma: no cover - pillow-heif is a lookalike dependency
    HAVE_HEIF = False

HAVE_AVIF = bool(features.check("avif"))
LABELS_VERSION = 1
MIN_SHORT_SIDE = 512  # originals smaller than this are upscaled (realistic photo size)
UPSCALE_SHORT_SIDE = 640
ORIGINAL_QUALITY = 92  # originals are stored as camera-like JPEGs
COPY_QUALITY = 90  # edited copies are re-saved as JPEG, as an editor would


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _pkg_dir(name: str) -> Path | None:
    """Folder of an installed package without importing it (imgaug fails to import on numpy 2)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _skimage(name: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        base = _pkg_dir("skimage")
        return base / "data" / name if base else None

    return find


def _in_pkg(pkg: str, rel: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        base = _pkg_dir(pkg)
        return base / rel if base else None

    return find


@dataclass(frozen=True)
class Source:
    """One real photo shipped inside an installed package."""

    id: str
    origin: str  # package that ships it
    locate: Callable[[], Path | None]
    description: str
    near_pair_with: tuple[str, ...] = ()  # other sources that show (almost) the same scene
    # extra files that are real, independent copies of this same photo (found in the wild)
    natural_copies: tuple[tuple[str, Callable[[], Path | None]], ...] = ()

    def path(self) -> Path | None:
        p = self.locate()
        return p if p is not None and p.is_file() else None


SOURCES: dict[str, Source] = {
    s.id: s
    for s in [
        Source("astronaut", "scikit-image", _skimage("astronaut.png"), "NASA portrait"),
        Source("coffee", "scikit-image", _skimage("coffee.png"), "coffee cup"),
        Source("chelsea", "scikit-image", _skimage("chelsea.png"), "cat"),
        Source("camera", "scikit-image", _skimage("camera.png"), "cameraman, grey"),
        Source("rocket", "scikit-image", _skimage("rocket.jpg"), "rocket on launch pad"),
        Source(
            "motorcycle_left",
            "scikit-image",
            _skimage("motorcycle_left.png"),
            "stereo pair, left view",
            near_pair_with=("motorcycle_right",),
        ),
        Source(
            "motorcycle_right",
            "scikit-image",
            _skimage("motorcycle_right.png"),
            "stereo pair, right view",
            near_pair_with=("motorcycle_left",),
        ),
        Source("coins", "scikit-image", _skimage("coins.png"), "coins, grey"),
        Source("moon", "scikit-image", _skimage("moon.png"), "moon surface, grey"),
        Source("page", "scikit-image", _skimage("page.png"), "scanned book page"),
        Source("text", "scikit-image", _skimage("text.png"), "hand-written formulae"),
        Source("gravel", "scikit-image", _skimage("gravel.png"), "gravel texture"),
        Source("brick", "scikit-image", _skimage("brick.png"), "brick wall texture"),
        Source("grass", "scikit-image", _skimage("grass.png"), "grass texture"),
        Source("ihc", "scikit-image", _skimage("ihc.png"), "stained tissue micrograph"),
        Source("cell", "scikit-image", _skimage("cell.png"), "cell micrograph"),
        Source(
            "clock_motion", "scikit-image", _skimage("clock_motion.png"), "motion-blurred clock"
        ),
        Source("color", "scikit-image", _skimage("color.png"), "colour wheel (graphic)"),
        Source("china", "scikit-learn", _in_pkg("sklearn", "datasets/images/china.jpg"), "temple"),
        Source(
            "flower", "scikit-learn", _in_pkg("sklearn", "datasets/images/flower.jpg"), "flower"
        ),
        Source(
            "grace_hopper",
            "matplotlib",
            _in_pkg("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
            "portrait",
            # textual-image ships the same portrait, re-scanned/resized: a real found copy
            natural_copies=(("textual_image_copy", _in_pkg("textual_image", "gracehopper.jpg")),),
        ),
        # held-out sources
        Source("hubble", "scikit-image", _skimage("hubble_deep_field.jpg"), "Hubble deep field"),
        Source("retina", "scikit-image", _skimage("retina.jpg"), "retina fundus photo"),
        Source("horse", "scikit-image", _skimage("horse.png"), "horse silhouette (graphic)"),
        Source("microaneurysms", "scikit-image", _skimage("microaneurysms.png"), "retina detail"),
        Source(
            "department_store",
            "mahotas",
            _in_pkg("mahotas", "demos/data/DepartmentStore.jpg"),
            "shop interior",
        ),
        Source("luispedro", "mahotas", _in_pkg("mahotas", "demos/data/luispedro.jpg"), "portrait"),
        Source("nuclear", "mahotas", _in_pkg("mahotas", "demos/data/nuclear.png"), "nuclei"),
        Source("quokka", "imgaug", _in_pkg("imgaug", "quokka.jpg"), "quokka"),
    ]
}

MAIN_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "camera",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "coins",
    "moon",
    "page",
    "text",
    "gravel",
    "brick",
    "grass",
    "ihc",
    "cell",
    "clock_motion",
    "color",
    "china",
    "flower",
    "grace_hopper",
)
HELDOUT_PHOTOS: tuple[str, ...] = (
    "hubble",
    "retina",
    "horse",
    "microaneurysms",
    "department_store",
    "luispedro",
    "nuclear",
    "quokka",
)
# Large real photos cut into non-overlapping regions: each region is a distinct "photo" of
# similar content (same telescope field, same eye …), a precision test. Their parents are never
# sources in the same corpus, so a region is never a crop of a labelled photo.
MAIN_DISTRACTOR_PARENTS: tuple[tuple[str, int, int], ...] = (  # (source id, cols, rows)
    ("hubble", 2, 2),
    ("retina", 2, 2),
)
HELDOUT_DISTRACTOR_PARENTS: tuple[tuple[str, int, int], ...] = (
    ("astronaut", 2, 1),
    ("china", 2, 1),
    ("motorcycle_left", 2, 1),
)


# --------------------------------------------------------------------------------------------
# Transforms: each one a small pure function (original image, original bytes, rng) -> file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    """The bytes of one transformed file and its extension (without dot)."""

    data: bytes
    ext: str


TransformFn = Callable[[Image.Image, bytes, random.Random], Made]


@dataclass(frozen=True)
class Transform:
    name: str
    kind: str  # family used for per-kind scores
    fn: TransformFn
    expect_format: str  # Pillow format name the file must decode as
    available: bool = True


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    """Encode with Pillow into memory (deterministic for a given input and options)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _jpeg(img: Image.Image, quality: int = COPY_QUALITY) -> Made:
    return Made(encode(img.convert("RGB"), "JPEG", quality=quality), "jpg")


def t_exact_copy(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
    """Byte-identical copy."""
    return Made(raw, "jpg")


def t_jpeg(q: int) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        return _jpeg(img, q)

    return fn


def t_scale(factor: float) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        w, h = img.size
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return _jpeg(img.resize(size, Image.Resampling.LANCZOS))

    return fn


def t_format(fmt: str, ext: str, **kw: object) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        im = img
        if fmt == "GIF":
            im = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        return Made(encode(im, fmt, **kw), ext)

    return fn


def t_grayscale(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
    return Made(encode(img.convert("L"), "JPEG", quality=COPY_QUALITY), "jpg")


def t_enhance(kind: type[ImageEnhance._Enhance], factor: float) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        return _jpeg(kind(img).enhance(factor))  # type: ignore[call-arg]

    return fn


def t_gamma(g: float) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        lut = [round(255 * (i / 255) ** g) for i in range(256)]
        return _jpeg(img.point(lut * len(img.getbands())))

    return fn


def t_blur(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
    radius = max(1.5, min(img.size) / 300)
    return _jpeg(img.filter(ImageFilter.GaussianBlur(radius)))


def t_noise(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
    gen = np.random.default_rng(rng.getrandbits(32))
    a = np.asarray(img, dtype=np.float32)
    a = a + gen.normal(0.0, 12.0, a.shape).astype(np.float32)
    return _jpeg(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # pragma: no cover - Pillow built without FreeType
        return ImageFont.load_default()


def t_watermark(where: str) -> TransformFn:
    """Semi-opaque white text with a dark outline, as photo sites stamp their copies."""

    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        base = img.convert("RGBA")
        layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        w, h = base.size
        text = "© lookalike 2026" if where == "corner" else "SAMPLE © lookalike"
        size = max(12, int(h * (0.06 if where == "corner" else 0.09)))
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=2)
        tw, th = right - left, bottom - top
        if where == "corner":
            xy = (w - tw - int(0.03 * w), h - th - int(0.03 * h))
        else:
            xy = ((w - tw) // 2, (h - th) // 2)
        draw.text(xy, text, font=font, fill=(255, 255, 255, 150), stroke_width=2,
                  stroke_fill=(0, 0, 0, 110))  # fmt: skip
        return _jpeg(Image.alpha_composite(base, layer).convert("RGB"))

    return fn


def t_border(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
    pad = max(4, round(0.06 * min(img.size)))
    return _jpeg(ImageOps.expand(img, border=pad, fill=(255, 255, 255)))


def t_letterbox(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
    """Black bars to 16:9 (top/bottom for wide images, sides for tall ones)."""
    w, h = img.size
    size = (w, round(w * 9 / 16)) if w / h >= 16 / 9 else (round(h * 16 / 9), h)
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(img.convert("RGB"), ((size[0] - w) // 2, (size[1] - h) // 2))
    return _jpeg(canvas)


def t_transpose(op: Image.Transpose) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        return _jpeg(img.transpose(op))

    return fn


# Pixels stored so that ImageOps.exif_transpose (what a viewer does) gives back the original.
_STORE_FOR_ORIENTATION = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def t_exif_orientation(tag: int) -> TransformFn:
    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        exif = Image.Exif()
        exif[0x0112] = tag
        stored = img.convert("RGB").transpose(_STORE_FOR_ORIENTATION[tag])
        return Made(encode(stored, "JPEG", quality=ORIGINAL_QUALITY, exif=exif.tobytes()), "jpg")

    return fn


def t_crop(frac: float) -> TransformFn:
    """Remove ``frac`` of each side length, off-centre (the kept window hugs one corner)."""

    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        w, h = img.size
        cw, ch = round(w * (1 - frac)), round(h * (1 - frac))
        fx = rng.choice((0.1, 0.85)) + rng.uniform(0, 0.05)
        fy = rng.choice((0.1, 0.85)) + rng.uniform(0, 0.05)
        x, y = round((w - cw) * fx), round((h - ch) * fy)
        return _jpeg(img.crop((x, y, x + cw, y + ch)))

    return fn


def rotated_rect_max_area(w: int, h: int, angle_deg: float) -> tuple[float, float]:
    """Largest axis-aligned rectangle inside a ``w``×``h`` rectangle rotated by ``angle_deg``."""
    angle = math.radians(angle_deg)
    if w <= 0 or h <= 0:
        return 0.0, 0.0
    width_is_longer = w >= h
    side_long, side_short = (w, h) if width_is_longer else (h, w)
    sin_a, cos_a = abs(math.sin(angle)), abs(math.cos(angle))
    if side_short <= 2.0 * sin_a * cos_a * side_long or abs(sin_a - cos_a) < 1e-10:
        x = 0.5 * side_short
        wr, hr = (x / sin_a, x / cos_a) if width_is_longer else (x / cos_a, x / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        wr, hr = (w * cos_a - h * sin_a) / cos_2a, (h * cos_a - w * sin_a) / cos_2a
    return wr, hr


def t_small_rotation(deg: float) -> TransformFn:
    """Rotate by ±deg (sign from the rng) and crop away the empty corners."""

    def fn(img: Image.Image, raw: bytes, rng: random.Random) -> Made:
        angle = deg if rng.random() < 0.5 else -deg
        w, h = img.size
        rot = img.convert("RGB").rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        wr, hr = rotated_rect_max_area(w, h, angle)
        wr, hr = math.floor(wr) - 2, math.floor(hr) - 2
        x, y = (w - wr) // 2, (h - hr) // 2
        return _jpeg(rot.crop((x, y, x + wr, y + hr)))

    return fn


def _all_transforms() -> list[Transform]:
    T = Image.Transpose
    E = ImageEnhance
    return [
        Transform("exact_copy", "exact", t_exact_copy, "JPEG"),
        Transform("jpeg_q30", "reencode", t_jpeg(30), "JPEG"),
        Transform("jpeg_q50", "reencode", t_jpeg(50), "JPEG"),
        Transform("jpeg_q75", "reencode", t_jpeg(75), "JPEG"),
        Transform("jpeg_q95", "reencode", t_jpeg(95), "JPEG"),
        Transform("scale_25", "resize", t_scale(0.25), "JPEG"),
        Transform("scale_50", "resize", t_scale(0.50), "JPEG"),
        Transform("scale_75", "resize", t_scale(0.75), "JPEG"),
        Transform("to_png", "format", t_format("PNG", "png", optimize=False), "PNG"),
        Transform("to_webp", "format", t_format("WEBP", "webp", quality=85, method=4), "WEBP"),
        Transform(
            "to_heic", "format", t_format("HEIF", "heic", quality=80), "HEIF", available=HAVE_HEIF
        ),
        Transform(
            "to_avif", "format", t_format("AVIF", "avif", quality=70), "AVIF", available=HAVE_AVIF
        ),
        Transform("to_bmp", "format", t_format("BMP", "bmp"), "BMP"),
        Transform("to_tiff", "format", t_format("TIFF", "tif", compression="tiff_lzw"), "TIFF"),
        Transform("to_gif", "format", t_format("GIF", "gif"), "GIF"),
        Transform("grayscale", "colour", t_grayscale, "JPEG"),
        Transform("brightness_up", "colour", t_enhance(E.Brightness, 1.35), "JPEG"),
        Transform("brightness_down", "colour", t_enhance(E.Brightness, 0.65), "JPEG"),
        Transform("contrast_up", "colour", t_enhance(E.Contrast, 1.5), "JPEG"),
        Transform("contrast_down", "colour", t_enhance(E.Contrast, 0.6), "JPEG"),
        Transform("gamma_0.6", "colour", t_gamma(0.6), "JPEG"),
        Transform("gamma_1.6", "colour", t_gamma(1.6), "JPEG"),
        Transform("saturation_up", "colour", t_enhance(E.Color, 1.7), "JPEG"),
        Transform("saturation_down", "colour", t_enhance(E.Color, 0.4), "JPEG"),
        Transform("blur", "filter", t_blur, "JPEG"),
        Transform("noise", "filter", t_noise, "JPEG"),
        Transform("watermark_corner", "overlay", t_watermark("corner"), "JPEG"),
        Transform("watermark_centre", "overlay", t_watermark("centre"), "JPEG"),
        Transform("border", "border", t_border, "JPEG"),
        Transform("letterbox_16x9", "border", t_letterbox, "JPEG"),
        Transform("rot90", "rotate", t_transpose(T.ROTATE_90), "JPEG"),
        Transform("rot180", "rotate", t_transpose(T.ROTATE_180), "JPEG"),
        Transform("rot270", "rotate", t_transpose(T.ROTATE_270), "JPEG"),
        Transform("mirror", "mirror", t_transpose(T.FLIP_LEFT_RIGHT), "JPEG"),
        Transform("flip", "mirror", t_transpose(T.FLIP_TOP_BOTTOM), "JPEG"),
        Transform("exif_orient_6", "exif", t_exif_orientation(6), "JPEG"),
        Transform("exif_orient_3", "exif", t_exif_orientation(3), "JPEG"),
        Transform("exif_orient_8", "exif", t_exif_orientation(8), "JPEG"),
        Transform("crop_10", "crop", t_crop(0.10), "JPEG"),
        Transform("crop_20", "crop", t_crop(0.20), "JPEG"),
        Transform("crop_25", "crop", t_crop(0.25), "JPEG"),
        Transform("small_rot_3", "small_rotation", t_small_rotation(3), "JPEG"),
        Transform("small_rot_6", "small_rotation", t_small_rotation(6), "JPEG"),
        Transform("small_rot_10", "small_rotation", t_small_rotation(10), "JPEG"),
    ]


TRANSFORMS: dict[str, Transform] = {t.name: t for t in _all_transforms()}
# Kinds that are not an edit of a pixel grid: the original file itself, found copies, distractors.
ORIGINAL = "original"
NATURAL = "natural"  # a real independent copy shipped by another package
DISTRACTOR = "distractor"


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def load_original(path: Path) -> Image.Image:
    """RGB pixels of a source, upscaled when tiny so it looks like a real photo's size."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        img = im.convert("RGB")
    return upscale_if_small(img)


def upscale_if_small(img: Image.Image) -> Image.Image:
    w, h = img.size
    if min(w, h) >= MIN_SHORT_SIDE:
        return img
    f = UPSCALE_SHORT_SIDE / min(w, h)
    return img.resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS)


def _seed_for(seed: int, *parts: str) -> int:
    """Stable per-file seed (Python's hash() is salted per process)."""
    h = hashlib.blake2b(("|".join((str(seed), *parts))).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


@dataclass
class _Job:
    source: str
    path: str
    transforms: list[str]
    seed: int
    out: str
    near_pair: bool
    natural: list[tuple[str, str]] = field(default_factory=list)


def _build_source(job: _Job) -> list[dict]:
    """Write a source's original and all its copies; runs in a worker process."""
    out = Path(job.out)
    raw = encode(load_original(Path(job.path)), "JPEG", quality=ORIGINAL_QUALITY)
    with Image.open(io.BytesIO(raw)) as im:  # copies start from the original *file*, as in life
        img = im.convert("RGB")
    records: list[dict] = []

    def write(name: str, transform: str, kind: str, data: bytes, ext: str) -> None:
        rel = f"images/{job.source}__{name}.{ext}"
        (out / rel).write_bytes(data)
        records.append(
            {
                "path": rel,
                "source": job.source,
                "transform": transform,
                "kind": kind,
                "group": job.source,
                "distractor": False,
                "near_pair": job.near_pair,
                "bytes": len(data),
            }
        )

    write("original", ORIGINAL, ORIGINAL, raw, "jpg")
    for name in job.transforms:
        t = TRANSFORMS[name]
        made = t.fn(img, raw, random.Random(_seed_for(job.seed, job.source, name)))
        write(name, name, t.kind, made.data, made.ext)
    for name, path in job.natural:
        data = Path(path).read_bytes()
        write(name, name, NATURAL, data, Path(path).suffix.lstrip(".").lower())
    return records


def _build_regions(parent: str, path: str, cols: int, rows: int, out: str) -> list[dict]:
    """Non-overlapping regions of a large photo, each a distinct singleton distractor."""
    with Image.open(path) as im:
        img = im.convert("RGB")
    w, h = img.size
    records = []
    for r in range(rows):
        for c in range(cols):
            box = (c * w // cols, r * h // rows, (c + 1) * w // cols, (r + 1) * h // rows)
            region = upscale_if_small(img.crop(box))
            sid = f"{parent}.r{r}{c}"
            rel = f"images/{sid}__distractor.jpg"
            data = encode(region, "JPEG", quality=ORIGINAL_QUALITY)
            (Path(out) / rel).write_bytes(data)
            records.append(
                {
                    "path": rel,
                    "source": sid,
                    "transform": DISTRACTOR,
                    "kind": DISTRACTOR,
                    "group": sid,  # unique: a region is no copy of anything in the corpus
                    "distractor": True,
                    "near_pair": False,
                    "derived_from": parent,
                    "region": list(box),
                    "bytes": len(data),
                }
            )
    return records


# --------------------------------------------------------------------------------------------
# Hard negatives: look-alikes that are NOT one photo (each file is its own group)
# --------------------------------------------------------------------------------------------

HARD = "hard_negative"
# Sources of the hard corpus: none of them is a hard-negative parent, so no hard negative is a
# crop of a labelled photo.
HARD_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "camera",
    "rocket",
    "coins",
    "moon",
    "ihc",
    "cell",
    "clock_motion",
    "color",
    "grace_hopper",
)


def _source_image(sid: str) -> Image.Image:
    path = SOURCES[sid].path()
    if path is None:
        raise FileNotFoundError(sid)
    with Image.open(path) as im:
        return im.convert("RGB")


def _grid(img: Image.Image, cols: int, rows: int) -> list[Image.Image]:
    w, h = img.size
    return [
        upscale_if_small(
            img.crop((c * w // cols, r * h // rows, (c + 1) * w // cols, (r + 1) * h // rows))
        )
        for r in range(rows)
        for c in range(cols)
    ]


def _sky(seed: int, n: int = 700, size: tuple[int, int] = (1600, 2400)) -> np.ndarray:
    """Stars of one sky: (y, x, peak, width, colour tint) rows, brightness heavy-tailed."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(0, size[0], n),
            rng.uniform(0, size[1], n),
            rng.pareto(1.4, n) * 35 + 25,
            rng.uniform(0.7, 2.2, n),
            rng.uniform(-0.15, 0.15, n),
        ]
    )


def render_exposure(
    stars: np.ndarray,
    top_left: tuple[float, float],
    seed: int,
    rot: float = 0.0,
    size: tuple[int, int] = (768, 1024),
) -> Image.Image:
    """One exposure of a sky: its own shot noise (Poisson) and read noise, a sky-glow
    gradient, field rotation ``rot`` degrees about the sky's centre."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.repeat((10 + 14 * yy / h)[..., None], 3, axis=2)  # glow towards the horizon
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    cy, cx = 800.0, 1200.0
    for y, x, peak, width, tint in stars:
        py = c * (y - cy) - s * (x - cx) + cy - top_left[0]
        px = s * (y - cy) + c * (x - cx) + cx - top_left[1]
        if not (-6 <= py < h + 6 and -6 <= px < w + 6):
            continue
        ys = slice(max(0, int(py) - 9), min(h, int(py) + 10))
        xs = slice(max(0, int(px) - 9), min(w, int(px) + 10))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        g = peak * np.exp(-((yy[ys, xs] - py) ** 2 + (xx[ys, xs] - px) ** 2) / (2 * width**2))
        img[ys, xs] += g[..., None] * np.array([1 + tint, 1.0, 1 - tint], np.float32)
    img = rng.poisson(np.clip(img, 0, None)).astype(np.float32) + rng.normal(0, 2.5, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _night_sky(rng: random.Random) -> list[tuple[str, Image.Image]]:
    """Frames of a night: other skies, a mosaic neighbour (40 % overlap), a frame an hour
    later (the sky turned 8°); plus 3×3 regions of the Hubble deep field (a real astro photo)."""
    sky = _sky(rng.getrandbits(32))
    frames = [
        ("sky_a", render_exposure(sky, (300, 300), rng.getrandbits(32))),
        ("sky_a_next", render_exposure(sky, (300, 914), rng.getrandbits(32))),
        ("sky_a_later", render_exposure(sky, (300, 300), rng.getrandbits(32), rot=8.0)),
        ("sky_b", render_exposure(_sky(rng.getrandbits(32)), (300, 300), rng.getrandbits(32))),
        ("sky_c", render_exposure(_sky(rng.getrandbits(32)), (500, 800), rng.getrandbits(32))),
    ]
    regions = _grid(_source_image("hubble"), 3, 3)
    return frames + [(f"hubble_r{i}", im) for i, im in enumerate(regions)]


def _textures(rng: random.Random) -> list[tuple[str, Image.Image]]:
    """Non-overlapping regions of one wall, one lawn, one gravel path: repeated patterns."""
    out = []
    for sid in ("brick", "grass", "gravel"):
        out += [(f"{sid}_r{i}", im) for i, im in enumerate(_grid(_source_image(sid), 2, 2))]
    return out


_WORDS = [
    "the",
    "of",
    "and",
    "photo",
    "copy",
    "file",
    "group",
    "keeper",
    "scan",
    "folder",
    "image",
    "library",
    "camera",
    "original",
    "edit",
    "review",
    "trash",
    "undo",
    "plan",
    "report",
    "figure",
    "table",
    "result",
    "measure",
    "signal",
    "noise",
    "frame",
    "sky",
    "night",
    "wall",
    "brick",
    "page",
    "text",
    "screen",
    "window",
    "menu",
    "button",
    "list",
    "item",
    "value",
    "date",
    "size",
    "name",
    "path",
]


def screenshot(rng: random.Random, size: tuple[int, int] = (1280, 800)) -> Image.Image:
    """A document window: title bar, a heading and paragraphs of text, same layout each time."""
    w, h = size
    img = Image.new("RGB", size, (250, 250, 248))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w, 36), fill=(48, 52, 60))
    draw.text((16, 8), "Document.txt - Editor", font=_font(18), fill=(230, 230, 230))
    font = _font(17)
    y = 60
    draw.text((40, y), " ".join(rng.choice(_WORDS) for _ in range(5)).title(), font=_font(28),
              fill=(20, 20, 20))  # fmt: skip
    y += 56
    while y < h - 40:
        for _ in range(rng.randint(3, 6)):
            line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(9, 14)))
            draw.text((40, y), line, font=font, fill=(30, 30, 30))
            y += 26
            if y >= h - 40:
                break
        y += 18
    return img


def _documents(rng: random.Random) -> list[tuple[str, Image.Image]]:
    """Three screenshots of one editor with other text; the halves of two scanned pages."""
    shots = [(f"screenshot_{i}", screenshot(rng)) for i in range(3)]
    text = _grid(_source_image("text"), 2, 1)
    page = _grid(_source_image("page"), 1, 2)
    return (
        shots
        + [(f"text_half{i}", im) for i, im in enumerate(text)]
        + [(f"page_half{i}", im) for i, im in enumerate(page)]
    )


def burst_frames(img: Image.Image, seed: int, n: int = 3) -> list[Image.Image]:
    """Frames of a burst: the camera drifts, a subject (a patch of the scene) moves a little
    further each frame, the exposure and the sensor noise change."""
    rng = np.random.default_rng(seed)
    w, h = img.size
    cw, ch = int(w * 0.86), int(h * 0.86)
    pw, ph = int(w * 0.22), int(h * 0.28)
    px, py = int(w * rng.uniform(0.3, 0.45)), int(h * rng.uniform(0.3, 0.4))
    subject = img.crop((px, py, px + pw, py + ph))
    frames = []
    for k in range(n):
        scene = img.copy()
        scene.paste(subject, (px + int(w * 0.045 * k), py + int(h * 0.012 * k)))
        x0 = int(w * (0.05 + 0.02 * k))
        y0 = int(h * (0.06 + 0.01 * rng.uniform(-1, 1)))
        frame = np.asarray(scene.crop((x0, y0, x0 + cw, y0 + ch)), dtype=np.float32)
        frame = frame * rng.uniform(0.95, 1.05) + rng.normal(0, 3, frame.shape)
        frames.append(upscale_if_small(Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))))
    return frames


def _bursts(rng: random.Random) -> list[tuple[str, Image.Image]]:
    out = []
    for sid in ("china", "flower"):
        frames = burst_frames(_source_image(sid), rng.getrandbits(32))
        out += [(f"{sid}_burst{i}", im) for i, im in enumerate(frames)]
    return out


def _stereo(rng: random.Random) -> list[tuple[str, Image.Image]]:
    """The two views of a stereo camera: one scene, two viewpoints, two photos."""
    return [
        (sid, upscale_if_small(_source_image(sid)))
        for sid in ("motorcycle_left", "motorcycle_right")
    ]


def _regions_of_one_photo(rng: random.Random) -> list[tuple[str, Image.Image]]:
    """Two (and four) non-overlapping crops of one large photo."""
    return [(f"retina_r{i}", im) for i, im in enumerate(_grid(_source_image("retina"), 2, 2))]


@dataclass(frozen=True)
class HardFamily:
    name: str
    parents: tuple[str, ...]  # source photos it cuts up (never sources of the same corpus)
    make: Callable[[random.Random], list[tuple[str, Image.Image]]]
    description: str


HARD_FAMILIES: dict[str, HardFamily] = {
    f.name: f
    for f in [
        HardFamily(
            "night_sky", ("hubble",), _night_sky, "star fields, mosaic, later frame, Hubble regions"
        ),
        HardFamily("texture", ("brick", "grass", "gravel"), _textures, "regions of one texture"),
        HardFamily("document", ("text", "page"), _documents, "screenshots, page halves"),
        HardFamily("burst", ("china", "flower"), _bursts, "burst frames, subject moved"),
        HardFamily("stereo", ("motorcycle_left", "motorcycle_right"), _stereo, "stereo views"),
        HardFamily("regions", ("retina",), _regions_of_one_photo, "non-overlapping crops"),
    ]
}


def _build_hard(family: str, seed: int, out: str) -> list[dict]:
    """Write one hard-negative family: every file a singleton group."""
    fam = HARD_FAMILIES[family]
    records = []
    for hid, img in fam.make(random.Random(_seed_for(seed, "hard", family))):
        sid = f"hard.{family}.{hid}"
        rel = f"images/{sid}__{HARD}.jpg"
        data = encode(img.convert("RGB"), "JPEG", quality=ORIGINAL_QUALITY)
        (Path(out) / rel).write_bytes(data)
        records.append(
            {
                "path": rel,
                "source": sid,
                "transform": HARD,
                "kind": HARD,
                "group": sid,  # unique: a look-alike, never a copy of anything in the corpus
                "distractor": True,
                "near_pair": False,
                "hard": family,
                "derived_from": list(fam.parents),
                "bytes": len(data),
            }
        )
    return records


def available_transforms() -> list[str]:
    return [t.name for t in TRANSFORMS.values() if t.available]


def make_corpus(
    out_dir: str | os.PathLike[str],
    photos: Sequence[str] | None = None,
    transforms: Sequence[str] | None = None,
    seed: int = 0,
    distractors: Iterable[tuple[str, int, int]] | None = None,
    jobs: int = 1,
    heldout: bool = False,
    hard: Sequence[str] | None = None,
) -> dict:
    """Build the corpus under ``out_dir`` and return the labels (also written to labels.json).

    ``photos`` defaults to the main (or held-out) source list, ``transforms`` to every available
    transform; ``distractors`` is a list of (parent source, cols, rows) region grids, none by
    default for an explicit ``photos`` list; ``hard`` names hard-negative families
    (:data:`HARD_FAMILIES`), whose parents must not be among ``photos``. Sources whose package is not installed are skipped
    and listed under ``"missing_sources"``.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if photos is None:
        photos = HELDOUT_PHOTOS if heldout else MAIN_PHOTOS
        if distractors is None:
            distractors = HELDOUT_DISTRACTOR_PARENTS if heldout else MAIN_DISTRACTOR_PARENTS
    distractors = list(distractors or ())
    names = list(transforms) if transforms is not None else available_transforms()
    unknown = [n for n in names if n not in TRANSFORMS] + [p for p in photos if p not in SOURCES]
    if unknown:
        raise ValueError(f"unknown photo or transform name(s): {', '.join(unknown)}")
    skipped = [n for n in names if not TRANSFORMS[n].available]
    names = [n for n in names if TRANSFORMS[n].available]
    hard = list(hard or ())
    unknown_hard = [h for h in hard if h not in HARD_FAMILIES]
    if unknown_hard:
        raise ValueError(f"unknown hard-negative family: {', '.join(unknown_hard)}")
    parents = {p for p, _, _ in distractors} | {p for h in hard for p in HARD_FAMILIES[h].parents}
    clash = parents & set(photos)
    if clash:
        raise ValueError(f"distractor parents must not be sources too: {sorted(clash)}")

    (out / "images").mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    work: list[_Job] = []
    for sid in photos:
        src = SOURCES[sid]
        path = src.path()
        if path is None:
            missing.append(sid)
            continue
        natural = [(n, str(p)) for n, loc in src.natural_copies if (p := loc()) and p.is_file()]
        near = any(o in photos for o in src.near_pair_with)
        work.append(_Job(sid, str(path), names, seed, str(out), near, natural))

    records: list[dict] = []
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as ex:
            for recs in ex.map(_build_source, work):
                records.extend(recs)
    else:
        for job in work:
            records.extend(_build_source(job))
    for parent, cols, rows in distractors:
        p = SOURCES[parent].path()
        if p is None:
            missing.append(parent)
            continue
        records.extend(_build_regions(parent, str(p), cols, rows, str(out)))
    for family in hard:
        if any(SOURCES[p].path() is None for p in HARD_FAMILIES[family].parents):
            missing.append(f"hard:{family}")
            continue
        records.extend(_build_hard(family, seed, str(out)))

    used = [s for s in photos if s not in missing]
    labels = {
        "version": LABELS_VERSION,
        "seed": seed,
        "heldout": heldout,
        "images_dir": "images",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - t0, 2),
        "transforms": {n: TRANSFORMS[n].kind for n in names},
        "skipped_transforms": skipped,
        "missing_sources": missing,
        "sources": [
            {
                "id": s,
                "origin": SOURCES[s].origin,
                "description": SOURCES[s].description,
                "near_pair_with": [o for o in SOURCES[s].near_pair_with if o in used],
            }
            for s in used
        ],
        "distractor_parents": [p for p, _, _ in distractors if p not in missing],
        "hard_families": [h for h in hard if f"hard:{h}" not in missing],
        "files": sorted(records, key=lambda r: r["path"]),
    }
    (out / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels


def load_labels(corpus_dir: str | os.PathLike[str]) -> dict:
    return json.loads((Path(corpus_dir) / "labels.json").read_text())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--photos", type=int, default=None, help="use only the first N sources")
    ap.add_argument("--seed", type=int, default=None, help="default 0 (held-out: 1)")
    ap.add_argument("--heldout", action="store_true", help="disjoint sources, different seed")
    ap.add_argument(
        "--hard",
        action="store_true",
        help="hard-negative corpus: 12 sources with copies + every hard-negative family",
    )
    ap.add_argument("--transforms", default=None, help="comma-separated subset")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--force", action="store_true", help="wipe OUT_DIR/images first")
    args = ap.parse_args(argv)
    photos = list(HARD_PHOTOS if args.hard else HELDOUT_PHOTOS if args.heldout else MAIN_PHOTOS)
    if args.photos is not None:
        photos = photos[: args.photos]
    seed = args.seed if args.seed is not None else (1 if args.heldout else 0)
    if args.force and (args.out_dir / "images").exists():
        shutil.rmtree(args.out_dir / "images")
    elif (args.out_dir / "images").exists() and any((args.out_dir / "images").iterdir()):
        print(f"{args.out_dir}/images is not empty; use --force", file=sys.stderr)
        return 2
    parents = HELDOUT_DISTRACTOR_PARENTS if args.heldout else MAIN_DISTRACTOR_PARENTS
    if args.hard:
        parents = ()
    labels = make_corpus(
        args.out_dir,
        photos=photos,
        transforms=args.transforms.split(",") if args.transforms else None,
        seed=seed,
        distractors=parents,
        jobs=args.jobs,
        heldout=args.heldout,
        hard=list(HARD_FAMILIES) if args.hard else None,
    )
    files = labels["files"]
    print(
        f"{len(files)} files from {len(labels['sources'])} sources "
        f"({sum(f['distractor'] for f in files)} distractors, "
        f"{len(labels['transforms'])} transforms) in {labels['build_seconds']} s → {args.out_dir}"
    )
    if labels["missing_sources"]:
        print(f"missing (package not installed): {', '.join(labels['missing_sources'])}")
    if labels["skipped_transforms"]:
        print(f"skipped (codec missing): {', '.join(labels['skipped_transforms'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
