"""Evidence of originality measured on one file, in the same single decode as its signatures.

Why: the keeper of a group must be the camera original, not the biggest copy. What a copy
gives away, and what this module measures for each file (the group-relative judgement lives
in ``engine/rules/evidence.py``):

* **metadata** (from the header the decoder already parsed): camera Make/Model,
  DateTimeOriginal, the ``Software`` tag (an editor's name marks an edit, a camera's firmware
  string does not), a ModifyDate later than DateTimeOriginal, the EXIF orientation tag;
* **encoding**: the JPEG quality estimated from the quantisation tables in the header, and for
  files that are not JPEG, *JPEG traces* in the pixels: decoded JPEG content keeps its 8×8
  block DCT coefficients on the quantiser's lattice (multiples of one step per frequency);
  a PNG/TIFF/BMP re-save keeps that lattice exactly, a never-compressed picture has none.
  Measured on a small native-resolution crop taken before the decode is reduced;
* **content bounds**: the canvas minus uniform borders / letterbox bars (the framing code of
  ``perceptual.trim_box``), so padding never counts as resolution;
* **signal**: colourfulness, grey mean and contrast, fine and mid-band detail and a noise
  estimate on the content scaled to a fixed size, so files of one group compare.

Everything runs on arrays already in memory; a few ms per file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

PROVENANCE_VERSION = 2
NATIVE_SIDE = 512  # native-resolution luma crop for the JPEG-trace test
SIGNAL_SIDE = 256  # content is scaled to this square for the signal measures
MIN_TRIM = 0.02  # same threshold as extract.framings: smaller trims are not borders

EXIF_SOFTWARE = 305
EXIF_DATETIME = 306  # ModifyDate
EXIF_MAKE = 271
EXIF_MODEL = 272
EXIF_ORIENTATION = 274
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 36867
EXIF_SUBSEC_ORIGINAL = 37521  # SubSecTimeOriginal: a burst's frames differ there

# Editors and apps whose name in ``Software`` means the pixels were edited or exported.
EDITOR_PATTERN = re.compile(
    r"photoshop|lightroom|gimp|snapseed|affinity|pixelmator|capture one|darktable|rawtherapee|"
    r"luminar|paint\.net|picasa|photos? ?(editor|app)|facetune|vsco|canva|instagram|"
    r"picsart|skylum|acdsee|irfanview|xnview|imagemagick|graphicsmagick|pillow|digikam|"
    r"shotwell|photoscape|fotor|polarr|lookalike",
    re.IGNORECASE,
)
# Camera / phone firmware strings: version numbers, build ids, the maker's own name.
FIRMWARE_PATTERN = re.compile(
    r"^(v(er(sion)?)?\s*)?[\d._ -]+[a-z]?$|firmware|^ios\b|^\d+(\.\d+)+\s*\(|^[A-Z]\d{3,}|"
    r"^HDR\+|^MediaTek|^Android|^OnePlus|^Pixel|^SM-|^Galaxy",
    re.IGNORECASE,
)

# libjpeg's standard luminance table (ITU T.81 K.1), natural order.
_STD_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
     14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
     18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def editor_name(software: str | None, make: str | None) -> str | None:
    """The editor named by a ``Software`` tag, or None for empty / camera firmware strings."""
    if not software:
        return None
    s = software.strip("\x00 ").strip()
    if not s:
        return None
    if make and s.lower().startswith(make.strip().lower()[:4]):
        return None  # "Canon EOS …", "NIKON …": the camera names itself
    if EDITOR_PATTERN.search(s):
        return s[:40]
    if FIRMWARE_PATTERN.search(s):
        return None
    return None  # unknown strings are not evidence either way


def _exif_date(v: Any) -> str | None:
    if isinstance(v, bytes):
        v = v.decode("ascii", "replace")
    if isinstance(v, str) and len(v) >= 19 and v[:4].isdigit():
        return f"{v[0:4]}-{v[5:7]}-{v[8:10]}T{v[11:19]}"
    return None


def _subsec(v: Any) -> str | None:
    """A SubSecTime value as its fraction's digits without trailing zeros ("5" for "50" and
    "500": one instant), "" for zero; None where absent or not digits."""
    if isinstance(v, bytes):
        v = v.decode("ascii", "replace")
    s = v.strip("\x00 ").strip() if isinstance(v, str) else ""
    return s.rstrip("0") if s.isdigit() else None


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if v is None:
        return None
    s = str(v).strip("\x00 ").strip()
    return s[:64] or None


def jpeg_quality(quantization: dict | None) -> int | None:
    """libjpeg quality (1..100) whose scaled standard luminance table is nearest to table 0."""
    if not quantization:
        return None
    table = quantization.get(0)
    if table is None or len(table) != 64:
        return None
    t = np.sort(np.asarray(list(table), dtype=np.float64))  # order-free: zigzag or natural
    err = np.abs(_scaled_tables() - t).sum(axis=1)
    return int(err.argmin()) + 1


@lru_cache(maxsize=1)
def _scaled_tables() -> np.ndarray:
    """(100, 64): the sorted standard luminance table at every libjpeg quality 1..100."""
    out = []
    for q in range(1, 101):
        scale = 5000 / q if q < 50 else 200 - 2 * q
        out.append(np.sort(np.clip(np.floor((_STD_LUMA * scale + 50) / 100), 1, 255)))
    return np.stack(out)


def header_info(img: Any, path: str | None = None, data: bytes | None = None) -> dict[str, Any]:
    """Metadata read from an opened (not yet decoded) Pillow image; with ``path``, a JPEG's
    re-save test decodes a strip of its top rows (see ``jpeg_resave``; ``data``: the whole
    file when the caller read it already, so it is not opened again)."""
    out: dict[str, Any] = {}
    try:
        exif = img.getexif()
    except Exception:
        exif = None
    if exif:
        try:
            sub = exif.get_ifd(EXIF_IFD)
        except Exception:
            sub = {}
        out["make"] = _text(exif.get(EXIF_MAKE))
        out["model"] = _text(exif.get(EXIF_MODEL))
        out["software"] = _text(exif.get(EXIF_SOFTWARE))
        out["date_original"] = _exif_date(sub.get(EXIF_DATETIME_ORIGINAL))
        out["modify_date"] = _exif_date(exif.get(EXIF_DATETIME))
        out["subsec_original"] = _subsec(sub.get(EXIF_SUBSEC_ORIGINAL))
        orient = exif.get(EXIF_ORIENTATION)
        out["orientation_tag"] = orient if isinstance(orient, int) else None
    if getattr(img, "format", None) == "JPEG":
        try:
            out["jpeg_quality"] = jpeg_quality(getattr(img, "quantization", None))
        except Exception:
            out["jpeg_quality"] = None
        if path is not None:
            try:
                resave = jpeg_resave(path, img, data)
            except Exception:  # an odd file only loses this one measure
                resave = None
            if resave is not None:
                out["jpeg_resave"] = round(resave, 3)
    return {k: v for k, v in out.items() if v is not None}


def native_luma_crop(rgb: Any, side: int = NATIVE_SIDE) -> np.ndarray:
    """A centred ``side``² luma crop at native resolution, aligned to the 8×8 grid of the
    file (JPEG blocks start at the top-left corner), as uint8."""
    w, h = rgb.size
    cw, ch = min(side, w - w % 8), min(side, h - h % 8)
    x0 = max(0, ((w - cw) // 2) // 8 * 8)
    y0 = max(0, ((h - ch) // 2) // 8 * 8)
    crop = rgb.crop((x0, y0, x0 + cw, y0 + ch)).convert("RGB")
    a = np.asarray(crop, dtype=np.float32)
    return np.clip(a @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5, 0, 255).astype(np.uint8)


def _dct8() -> np.ndarray:
    k = np.arange(8)[:, None]
    i = np.arange(8)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m


_D8 = _dct8().astype(np.float32)
# Low frequencies (u + v ≤ 3, no DC): where a JPEG quantiser's steps are 2..12 at the
# qualities people save at, and where most blocks have coefficients above one step.
_FREQS = [(u, v) for u in range(4) for v in range(4) if 0 < u + v <= 3]
_STEPS = np.arange(2, 13, dtype=np.float32)
MIN_SAMPLES = 120  # coefficients per (frequency, step) below which the test abstains
# Lattice score from which a file shows it was once a JPEG. Measured on 512² crops of the
# corpus sources: decoded JPEG q92 content 0.57–0.77 (flat silhouettes abstain); never-compressed
# photos 0.03–0.20, the synthetic colour wheel and motion-blurred clock 0.43–0.46.
JPEG_TRACE = 0.5


def jpeg_traces(luma: np.ndarray) -> float | None:
    """How strongly 8×8 block DCT coefficients sit on a quantiser lattice (0..1).

    For each frequency, the coefficients larger than half a step are tested for periodicity
    with every candidate step (the length of the mean of exp(2πi·c/step)); the score is the
    mean over frequencies of the best step (see ``JPEG_TRACE`` for measured values). None when
    the picture is too flat to tell.
    """
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    if h < 64 or w < 64:
        return None
    b = luma[:h, :w].astype(np.float32).reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    c = _D8 @ (b.reshape(-1, 8, 8) - 128.0) @ _D8.T
    us, vs = zip(*_FREQS, strict=True)
    x = c[:, list(us), list(vs)]  # (blocks, freqs)
    sel = np.abs(x)[:, :, None] > _STEPS * 0.5  # (blocks, freqs, steps)
    n = sel.sum(axis=0)
    ang = (2 * np.pi) * x[:, :, None] / _STEPS
    re = (np.cos(ang) * sel).sum(axis=0)
    im = (np.sin(ang) * sel).sum(axis=0)
    r = np.sqrt(re * re + im * im) / np.maximum(n, 1)
    r[n < MIN_SAMPLES] = -1.0
    best = r.max(axis=1)
    valid = best[best >= 0]
    if len(valid) * 2 < len(best):
        return None  # flat picture (a silhouette, a page): too few coefficients to tell
    return float(valid.mean())


STRIP_BYTES = 24_000  # entropy-coded bytes decoded for the re-save test (a strip at the top)
HEAD_BYTES = 262_144  # headers (EXIF with its thumbnail) are read up to this far
_RESAVE_FREQS = [(u, v) for u in range(5) for v in range(5) if 0 < u + v <= 4]
_RESAVE_MULT = np.arange(1.25, 3.01, 0.25, dtype=np.float32)
# Mean best lattice agreement above the file's own quantiser steps. Measured on the corpus
# (q92 originals and their copies): single-compressed originals 0.07–0.10, edited and
# downscaled q90 copies ≤ 0.15, q30–q75 re-encodes 0.17–0.24, a q95 re-save of the q92
# original 0.30–0.41 (the case nothing else catches: it is the better-encoded file).
JPEG_RESAVE = 0.27


def jpeg_resave(path: str, img: Any, data: bytes | None = None) -> float | None:
    """How strongly a JPEG's own 8×8 coefficients sit on a *coarser* lattice than its own
    quantiser: the trace of an earlier JPEG compression, so a re-save (at any quality) of
    another JPEG. Decodes only a strip at the top of the file at native resolution (the main
    decode is reduced by DCT scaling, where the lattice is gone): a few ms. None when it
    cannot tell (progressive files, flat strips, odd tables)."""
    import io

    from PIL import Image, ImageFile

    if img.info.get("progressive") or img.info.get("progression"):
        return None
    table = (getattr(img, "quantization", None) or {}).get(0)
    if table is None or len(table) != 64:
        return None
    if data is not None:
        head = data[:HEAD_BYTES]
    else:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    cut = _top_strip(head, img.size[0])
    if cut is None:
        return None
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(cut)) as strip:
            strip.draft("L", strip.size)  # luma only, native size
            strip.load()
            y = np.asarray(strip.convert("L"), dtype=np.float32)
    except Exception:
        return None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8
    if h < 16 or w < 64:
        return None
    b = y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    per_block = b.reshape(h // 8, w // 8, 64)
    # block rows the decoder reached: a block not flat (whole grey levels: std > 0 exactly
    # when a pixel differs from the first; the comparison costs half the std)
    decoded = (per_block != per_block[:, :, :1]).any(axis=2).any(axis=1)
    rows = int(np.argmin(decoded)) if not decoded.all() else len(decoded)
    if rows < 3:
        return None
    blocks = b[: rows - 1].reshape(-1, 8, 8)[:1024] - 128.0  # the last row may be partial
    c = _D8 @ blocks @ _D8.T
    q = np.asarray(list(table), dtype=np.float32).reshape(8, 8)
    us, vs = zip(*_RESAVE_FREQS, strict=True)
    x = c[:, list(us), list(vs)]  # (blocks, freqs)
    steps = q[list(us), list(vs)][:, None] * _RESAVE_MULT[None, :]  # (freqs, mult)
    steps = np.maximum(steps, 1.5)
    n, sums = _lattice_agreement(x, steps)
    agree = sums / np.maximum(n, 1)
    agree[n < 60] = -1.0
    best = agree.max(axis=1)
    valid = best[best > -1.0]
    if len(valid) * 3 < len(best):
        return None
    return float(valid.mean())


def _lattice_agreement(x: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (freq, mult): how many blocks' coefficients ``x`` (blocks, freqs) exceed half the
    step, and the sum over those blocks, block after block, of cos(2π·x/step) (float32).

    Why this layout: as (blocks, freqs, mult) with the steps broadcast, every elementwise
    step ran in loops of 8 (the multiples), and this sum was ≈ 1.9 of the re-save test's
    ≈ 3–4 ms on a small photo. Here each block's terms are one row of freqs × mult, so the
    loops run along rows of 112 (≈ 0.7 ms; the whole test 3.00 → 2.55 ms a photo, issue 13);
    every term is the same float32 operation on the same values, and the sums are the same
    to the bit (float32 sums along the first axis of a C-ordered array add row after row;
    tests/test_resave_lattice.py), so the stored ``jpeg_resave`` does not move."""
    mult = steps.shape[1]
    flat = steps.reshape(-1)
    sel = np.repeat(np.abs(x), mult, axis=1) > flat / 2  # (blocks, freqs × mult)
    terms = np.cos(np.repeat(2 * np.pi * x, mult, axis=1) / flat) * sel
    return sel.sum(axis=0).reshape(steps.shape), terms.sum(axis=0).reshape(steps.shape)


def _top_strip(head: bytes, width: int) -> bytes | None:
    """The JPEG cut down to its top rows: the frame header's height is rewritten, so the
    decoder stops after them (baseline files decode top to bottom)."""
    rows = int(min(256, max(32, 1024 * 8 // max(width, 8) * 8)))
    rows = (rows + 15) // 16 * 16
    pos = 2
    while pos + 9 < len(head) and head[pos] == 0xFF:
        marker = head[pos + 1]
        length = int.from_bytes(head[pos + 2 : pos + 4], "big")
        if marker in (0xC0, 0xC1):  # baseline / extended sequential frame header
            height = int.from_bytes(head[pos + 5 : pos + 7], "big")
            if height <= rows:
                return head[: pos + 2 + length] + head[pos + 2 + length :][: STRIP_BYTES * 8]
            patched = head[: pos + 5] + rows.to_bytes(2, "big") + head[pos + 7 :]
            sos = patched.find(b"\xff\xda", pos)
            return patched[: sos + STRIP_BYTES * 8] if sos > 0 else None
        if marker in (0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            return None  # progressive, lossless, arithmetic: not this test
        if marker == 0xDA:
            return None
        pos += 2 + length
    return None


def content_box(
    box: tuple[int, int, int, int], h: int, w: int
) -> tuple[float, float, float, float]:
    """(top, bottom, left, right) as fractions of the canvas; the whole canvas when the trim is
    below ``MIN_TRIM`` (JPEG ringing and dark corners are not borders)."""
    top, bottom, left, right = box
    cut = max(top / h, (h - bottom) / h, left / w, (w - right) / w)
    if cut < MIN_TRIM or bottom - top < 16 or right - left < 16:
        return 0.0, 1.0, 0.0, 1.0
    return top / h, bottom / h, left / w, right / w


def border_kind(frac: tuple[float, float, float, float]) -> str | None:
    """ "letterboxed" (bars on two opposite sides), "bordered" (all round) or None."""
    top, bottom, left, right = frac
    bars = [
        top > MIN_TRIM / 2,
        1 - bottom > MIN_TRIM / 2,
        left > MIN_TRIM / 2,
        1 - right > MIN_TRIM / 2,
    ]
    if not any(bars):
        return None
    if all(bars):
        return "bordered"
    if bars[0] and bars[1] and not (bars[2] or bars[3]):
        return "letterboxed"
    if bars[2] and bars[3] and not (bars[0] or bars[1]):
        return "letterboxed"  # pillarbox bars: the same edit, turned
    return "bordered"


_LAPLACE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)


def _abs_laplacian_mean(g: np.ndarray) -> float:
    import cv2

    return float(np.abs(cv2.filter2D(g, cv2.CV_32F, _LAPLACE)[1:-1, 1:-1]).mean())


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def robust_noise(grey: np.ndarray) -> float:
    """Noise sigma from the median of Immerkær's residual (edges and text barely move a
    median, added noise does), in grey levels, at the resolution given. The median is taken
    over every other row and column: a quarter of the work, the same estimate."""
    import cv2

    if min(grey.shape) < 8:
        return 0.0
    r = cv2.filter2D(grey, cv2.CV_32F, _IMMERKAER)[1:-1:2, 1:-1:2]
    return float(1.4826 * np.median(np.abs(r)) / 6.0)


def signal_stats(rgb: np.ndarray) -> dict[str, float]:
    """Colour, tone and detail of the content on a fixed 256² scale (uint8 RGB array, any
    size); noise at the decoded resolution, where added noise is not yet averaged away."""
    import cv2

    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    native = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    a = cv2.resize(rgb, (SIGNAL_SIDE, SIGNAL_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb, cr = b - y, r - y
    half = cv2.resize(y, (SIGNAL_SIDE // 2, SIGNAL_SIDE // 2), interpolation=cv2.INTER_AREA)
    return {
        "chroma": round(float(np.sqrt(cb * cb + cr * cr).mean()), 3),
        "luma": round(float(y.mean()), 3),
        "contrast": round(float(y.std()), 3),
        "fine": round(_abs_laplacian_mean(y), 4),
        "mid": round(_abs_laplacian_mean(half), 4),
        "noise": round(robust_noise(native), 4),
    }


def measure(
    rgb_reduced: Any,
    box: tuple[int, int, int, int],
    header: dict[str, Any],
    fmt: str,
    native: np.ndarray | None,
) -> dict[str, Any]:
    """The stored provenance record of one file (JSON-ready)."""
    arr = np.asarray(rgb_reduced)
    h, w = arr.shape[:2]
    frac = content_box(box, h, w)
    t, b = round(frac[0] * h), round(frac[1] * h)
    lf, rt = round(frac[2] * w), round(frac[3] * w)
    out: dict[str, Any] = {"v": PROVENANCE_VERSION, **header}
    out["content"] = [round(x, 4) for x in frac]
    out.update(signal_stats(arr[t:b, lf:rt]))
    if native is not None and fmt not in ("JPEG", "MPO"):
        traces = jpeg_traces(native)
        if traces is not None:
            out["jpeg_traces"] = round(traces, 3)
    return out
