"""One reduced-size decode per file: open, sniff, refuse bombs, orient, normalise to RGB.

JPEG files decode at 1/2, 1/4 or 1/8 scale through ``Image.draft`` (the DCT does the
shrinking, so a 12 MP photo costs a fraction of a full decode). EXIF orientation is applied
before anything else looks at the pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from lookalike.engine.features import provenance
from lookalike.engine.media.sniff import IMAGE, sniff

ImageFile.LOAD_TRUNCATED_IMAGES = False
_HEIF_READY = False


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


def decode_reduced(path: str, target: int = 320, max_pixels: int = 250_000_000) -> Decoded:
    """Decode ``path`` so that its shorter side is about ``target`` px (never below)."""
    _register_heif()
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
            fh.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                old_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None  # checked below, with our own message
                try:
                    img = Image.open(fh)
                    w, h = img.size
                    if w * h > max_pixels:
                        raise DecodeError(
                            f"refused: {w}×{h} is {w * h / 1e6:.0f} MP, above the limit of "
                            f"{max_pixels / 1e6:.0f} MP (raise it with --max-pixels)"
                        )
                    fmt = img.format or sniffed or "?"
                    exif_fields, capture, camera, orientation = _exif_info(img)
                    header = provenance.header_info(img)
                    if fmt == "JPEG":
                        img.draft("RGB", (target, target))
                    img.load()
                finally:
                    Image.MAX_IMAGE_PIXELS = old_limit
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError(f"refused as a decompression bomb ({exc})") from exc
    except FileNotFoundError as exc:
        raise DecodeError("vanished before it could be read") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied; check the file's permissions") from exc
    except IsADirectoryError as exc:
        raise DecodeError("is a directory") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not a readable image (unknown or damaged format)") from exc
    except OSError as exc:
        msg = str(exc)
        if "truncated" in msg or "broken data stream" in msg or "image file is truncated" in msg:
            raise DecodeError("truncated or corrupt image data") from exc
        raise DecodeError(f"could not be decoded ({msg or type(exc).__name__})") from exc
    except (ValueError, SyntaxError, EOFError, IndexError, struct_error()) as exc:
        raise DecodeError(f"corrupt image ({type(exc).__name__}: {exc})") from exc

    if orientation in (5, 6, 7, 8):
        w, h = h, w
    try:
        img = ImageOps.exif_transpose(img) if orientation != 1 else img
        rgb, coverage = _to_rgb(img)
    except Exception as exc:
        raise DecodeError(f"could not be converted to RGB ({exc})") from exc
    native = provenance.native_luma_crop(rgb) if fmt not in ("JPEG", "MPO") else None
    short = min(rgb.size)
    if short > target * 2:
        scale = target / short
        rgb = rgb.resize(
            (max(1, round(rgb.size[0] * scale)), max(1, round(rgb.size[1] * scale))),
            Image.Resampling.BOX,
        )
    return Decoded(
        rgb, w, h, fmt, exif_fields, capture, camera, orientation, coverage, header, native
    )


def struct_error() -> type[Exception]:
    import struct

    return struct.error
