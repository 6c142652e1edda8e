"""One reduced-size decode per file: open, sniff, refuse bombs, orient, normalise to RGB.

JPEG files decode at 1/2, 1/4 or 1/8 scale through ``Image.draft`` (the DCT does the
shrinking, so a 12 MP photo costs a fraction of a full decode). EXIF orientation is applied
before anything else looks at the pixels.

Memory budget: other formats (PNG, WebP, TIFF, HEIF …) have no reduced decode, so a small
file can hold a huge picture (a 15000×15000 RGBA PNG compresses to under 1 MB and decodes to
900 MB). Before decoding, the peak memory of the decode is estimated from the header (width ×
height × bytes per pixel of the decoded mode and of the one working copy); above the budget
(``--max-decode-mb``, default 512 MiB per worker) the file is refused with one message.
After the decode the image is shrunk first (``Image.reduce``), and only the small copy is
oriented and converted, so no further full-size copies are made.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from lookalike.engine.features import provenance
from lookalike.engine.media.sniff import IMAGE, sniff

ImageFile.LOAD_TRUNCATED_IMAGES = False
_HEIF_READY = False
DEFAULT_BUDGET_MB = 512
_BUDGET = int(os.environ.get("LOOKALIKE_MAX_DECODE_MB") or DEFAULT_BUDGET_MB) * 2**20


def set_decode_budget(budget_bytes: int | None) -> None:
    """Memory budget (bytes) of one decode in this process; the scan sets it per task."""
    global _BUDGET
    if budget_bytes:
        _BUDGET = int(budget_bytes)


# Peak bytes per pixel of a decode in this mode: the decoded image (Pillow keeps 8-bit
# multi-band modes in 4 bytes a pixel) plus the one full-size working copy made before the
# shrink (premultiplied alpha for RGBA/LA, RGB(A) for palettes, 32-bit for 16-bit grey).
_PEAK_BYTES = {
    "1": 2,
    "L": 1,
    "P": 9,
    "RGB": 4,
    "YCbCr": 4,
    "CMYK": 4,
    "LAB": 4,
    "HSV": 4,
    "I": 13,
    "F": 13,
    "RGBA": 8,
    "RGBa": 8,
    "LA": 8,
    "La": 8,
    "PA": 8,
}


def decode_peak_bytes(mode: str, width: int, height: int) -> int:
    """Estimated peak memory of decoding a ``width`` × ``height`` image in ``mode``."""
    per_pixel = 11 if mode.startswith("I;16") else _PEAK_BYTES.get(mode, 8)  # + RGB copy
    return width * height * per_pixel


def _check_budget(img: Image.Image, budget: int) -> None:
    need = decode_peak_bytes(img.mode, *img.size)
    if need > budget:
        w, h = img.size
        raise DecodeError(
            f"too large to decode within the memory budget of {budget / 2**20:.0f} MiB: "
            f"{w}×{h} {img.mode} needs about {need / 2**20:.0f} MiB; raise --max-decode-mb"
        )


_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _shrink(img: Image.Image, target: int) -> Image.Image:
    """Box-reduce by an integer factor while the short side stays above 2 × ``target``, so
    orientation, alpha and colour conversion work on a small copy (the final resize to
    ``target`` happens after them, as before)."""
    k = min(img.size) // (target * 2)
    if k < 2:
        return img
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode.startswith("I;16") or img.mode in ("I", "F"):
        return img  # _to_rgb scales these by their range: shrunk first, they would change
    return img.reduce(k)


def _register_heif() -> None:
    global _HEIF_READY
    if not _HEIF_READY:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            pass
        _HEIF_READY = True


class DecodeError(Exception):
    """A file that cannot be used; the message is meant for the user."""


def task_failure(exc: Exception) -> str:
    """What a decode worker reports for a file its task failed on: the decoder's own message,
    or what went wrong (one file never stops the scan)."""
    if isinstance(exc, DecodeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory while decoding; skipped"
    return f"unexpected error ({type(exc).__name__}: {exc})"


EXIF_DATETIME_ORIGINAL = 36867
EXIF_DATETIME = 306
EXIF_MAKE = 271
EXIF_MODEL = 272
EXIF_ORIENTATION = 274
EXIF_IFD = 0x8769


@dataclass
class Decoded:
    """A reduced, oriented RGB image plus what we learned about the file on the way."""

    rgb: Image.Image  # mode RGB, EXIF orientation applied, reduced size
    width: int  # full size, after orientation
    height: int
    format: str
    exif_fields: int
    capture_time: str | None
    camera: str | None
    orientation: int
    alpha_coverage: float  # share of opaque pixels (1.0 without alpha)
    header: dict = field(default_factory=dict)  # provenance.header_info: EXIF, JPEG quality
    native_luma: np.ndarray | None = None  # native-resolution crop (not JPEG): JPEG traces
    data: bytes | None = None  # the whole file, when small enough to be read at once


# Files up to this size are read whole and decoded from memory: the bytes then serve the
# re-save test and, for a small upright JPEG, are its thumbnail (features/extract.py).
WHOLE_READ = 98_304


def _exif_info(img: Image.Image) -> tuple[int, str | None, str | None, int]:
    try:
        exif = img.getexif()
    except Exception:
        return 0, None, None, 1
    if not exif:
        return 0, None, None, 1
    fields = len(exif)
    try:
        sub = exif.get_ifd(EXIF_IFD)
        fields += len(sub)
    except Exception:
        sub = {}
    date = sub.get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    capture = None
    if isinstance(date, str) and len(date) >= 19 and date[:4].isdigit():
        capture = f"{date[0:4]}-{date[5:7]}-{date[8:10]}T{date[11:19]}"
    make = str(exif.get(EXIF_MAKE, "") or "").strip("\x00 ")
    model = str(exif.get(EXIF_MODEL, "") or "").strip("\x00 ")
    camera = " ".join(p for p in (make, model) if p and not model.startswith(make)) or (
        model or None
    )
    orientation = exif.get(EXIF_ORIENTATION, 1)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    return fields, capture, camera, orientation


def _to_rgb(img: Image.Image) -> tuple[Image.Image, float]:
    """RGB over white, plus the share of opaque pixels (alpha, palettes, 16-bit, CMYK…)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float32)
        hi = 65535.0 if mode.startswith("I;16") else max(float(a.max()), 1.0)
        if mode == "I" and a.max() <= 255:
            hi = 255.0
        a = np.clip(a / hi * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB"), 1.0
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        coverage = float((alpha > 0.5).mean())
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), coverage
    if mode == "RGB":
        return img, 1.0
    return img.convert("RGB"), 1.0


def _as_decode_error(exc: Exception) -> DecodeError | None:
    """One clear message for what opening an image can raise; None: not a decode problem."""
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return DecodeError(f"refused as a decompression bomb ({exc})")
    if isinstance(exc, FileNotFoundError):
        return DecodeError("vanished before it could be read")
    if isinstance(exc, PermissionError):
        return DecodeError("permission denied; check the file's permissions")
    if isinstance(exc, IsADirectoryError):
        return DecodeError("is a directory")
    if isinstance(exc, UnidentifiedImageError):
        return DecodeError("not a readable image (unknown or damaged format)")
    if isinstance(exc, OSError):
        msg = str(exc)
        if "truncated" in msg or "broken data stream" in msg or "image file is truncated" in msg:
            return DecodeError("truncated or corrupt image data")
        return DecodeError(f"could not be decoded ({msg or type(exc).__name__})")
    if isinstance(exc, ValueError | SyntaxError | EOFError | IndexError | struct_error()):
        return DecodeError(f"corrupt image ({type(exc).__name__}: {exc})")
    return None


def decode_reduced(
    path: str, target: int = 320, max_pixels: int = 250_000_000, budget: int | None = None
) -> Decoded:
    """Decode ``path`` so that its shorter side is about ``target`` px (never below), within
    ``budget`` bytes (default: the process's budget, see :func:`set_decode_budget`)."""
    _register_heif()
    budget = budget or _BUDGET
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if not head:
                raise DecodeError("empty file (0 bytes)")
            kind, sniffed = sniff(head)
            if kind != IMAGE and sniffed is None:
                raise DecodeError("not an image (content is not a known image format)")
            if kind != IMAGE:
                raise DecodeError(f"a {sniffed} video; videos are not scanned yet")
            size = os.fstat(fh.fileno()).st_size
            data = (head + fh.read()) if size <= WHOLE_READ else None
            src = io.BytesIO(data) if data is not None else fh
            src.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                old_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None  # checked below, with our own message
                try:
                    img = Image.open(src)
                    w, h = img.size
                    if w * h > max_pixels:
                        raise DecodeError(
                            f"refused: {w}×{h} is {w * h / 1e6:.0f} MP, above the limit of "
                            f"{max_pixels / 1e6:.0f} MP (raise it with --max-pixels)"
                        )
                    fmt = img.format or sniffed or "?"
                    if fmt == "JPEG":
                        img.draft("RGB", (target, target))
                    # size after draft is what load() allocates; checked before getexif,
                    # which loads a whole PNG to look for an eXIf chunk after the pixels
                    _check_budget(img, budget)
                    exif_fields, capture, camera, orientation = _exif_info(img)
                    header = provenance.header_info(img, path, data)
                    img.load()
                finally:
                    Image.MAX_IMAGE_PIXELS = old_limit
    except DecodeError:
        raise
    except Exception as exc:
        err = _as_decode_error(exc)
        if err is None:
            raise
        raise err from exc

    if orientation in (5, 6, 7, 8):
        w, h = h, w
    native = None
    turn = _ORIENT.get(orientation)  # from the values read above: a shrunk copy lacks EXIF
    try:
        if fmt not in ("JPEG", "MPO"):
            if turn is not None:  # rare outside JPEG: turn the full image, as the crop needs
                img, turn = img.transpose(turn), None
            native = _native_luma(img)
        img = _shrink(img, target)
        if turn is not None:
            img = img.transpose(turn)
        rgb, coverage = _to_rgb(img)
    except Exception as exc:
        raise DecodeError(f"could not be converted to RGB ({exc})") from exc
    short = min(rgb.size)
    if short > target * 2:
        scale = target / short
        rgb = rgb.resize(
            (max(1, round(rgb.size[0] * scale)), max(1, round(rgb.size[1] * scale))),
            Image.Resampling.BOX,
        )
    return Decoded(
        rgb, w, h, fmt, exif_fields, capture, camera, orientation, coverage, header, native, data
    )


def _native_luma(img: Image.Image) -> np.ndarray:
    """``provenance.native_luma_crop`` of the full-size RGB picture, computed on the small
    8-aligned region it reads (converted alone), so no full-size RGB copy is made."""
    if img.mode in ("I", "F"):  # their grey scaling depends on the whole image
        return provenance.native_luma_crop(_to_rgb(img)[0])
    side = provenance.NATIVE_SIDE
    w, h = img.size
    cw, ch = min(side, w - w % 8), min(side, h - h % 8)
    x0 = max(0, ((w - cw) // 2) // 8 * 8)
    y0 = max(0, ((h - ch) // 2) // 8 * 8)
    region = img.crop((x0, y0, x0 + cw, y0 + ch))
    return provenance.native_luma_crop(_to_rgb(region)[0])


def struct_error() -> type[Exception]:
    import struct

    return struct.error
