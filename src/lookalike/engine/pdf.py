"""A PDF of photos (``lookalike pdf``): one page per image, the page the image's own size.

JPEGs are embedded as they are — img2pdf copies the JPEG stream into the PDF byte for byte, no
re-encode — unless ``max_size`` asks for a smaller picture. Every other format (PNG, WebP, HEIC,
TIFF, GIF …) and a JPEG that must shrink is decoded once by Pillow (EXIF orientation applied,
transparency over white) and encoded as JPEG at ``quality``. The PDF is written to a temp file
beside ``out`` and renamed into place only when complete, so a failure or Ctrl-C never leaves a
half-written PDF.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lookalike.atomicio import AtomicFile
from lookalike.engine.media.sniff import IMAGE, sniff


class PdfError(Exception):
    """The PDF cannot be made; the message says what happened and what to do."""


@dataclass
class PdfResult:
    pages: int = 0
    embedded: int = 0  # JPEGs copied byte for byte
    encoded: int = 0  # images re-encoded at the chosen quality
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def _page(path: str, quality: int, max_size: tuple[int, int] | None) -> tuple[bytes, bool]:
    """(JPEG bytes for the page, True if they are the file's own bytes)."""
    from PIL import Image, ImageOps

    from lookalike.engine.media.decode import _register_heif

    with open(path, "rb") as fh:
        raw = fh.read()
    kind, fmt = sniff(raw[:32])
    if kind != IMAGE:
        raise PdfError("not an image")
    _register_heif()
    with Image.open(io.BytesIO(raw)) as im:
        fits = max_size is None or (im.width <= max_size[0] and im.height <= max_size[1])
        if fmt == "JPEG" and fits and im.mode in ("RGB", "L", "CMYK"):
            im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()  # a cheap 1/8-scale decode: a truncated JPEG never becomes a broken page
            return raw, True
        im.load()
        img = ImageOps.exif_transpose(im)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGB", img.size, "white")
        bg.paste(img, mask=img.getchannel("A"))
        img = bg
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if max_size:
        img.thumbnail(max_size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue(), False


def make_pdf(
    paths: Iterable[str],
    out: str,
    *,
    quality: int = 85,
    max_size: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PdfResult:
    """Write ``out`` with one page per readable image; unreadable ones are skipped with a
    reason. Raises :class:`PdfError` when no page could be made (``out`` is left as it was)."""
    try:
        import img2pdf
    except ImportError as exc:  # the [pdf] extra; the app and the job API show this line
        from lookalike.extras import message

        raise PdfError(message("pdf", "img2pdf")) from exc

    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise PdfError(f"the folder {folder} does not exist; create it or choose another OUT")
    paths = list(paths)
    res = PdfResult()
    pages: list[bytes] = []
    for n, p in enumerate(paths, 1):
        try:
            data, same = _page(p, quality, max_size)
        except PdfError as exc:
            res.skipped.append((p, str(exc)))
        except OSError as exc:
            why = (
                f"cannot be read ({exc.strerror})" if exc.errno else f"not a readable image ({exc})"
            )
            res.skipped.append((p, why))
        except Exception as exc:  # Pillow raises many kinds for a damaged image
            res.skipped.append((p, f"not a readable image ({type(exc).__name__}: {exc})"))
        else:
            pages.append(data)
            res.embedded += same
            res.encoded += not same
        if progress:
            progress(n, len(paths))
    if not pages:
        raise PdfError("no page: none of the files is a readable image; nothing was written")
    with AtomicFile(out, text=False) as fh:
        img2pdf.convert(*pages, outputstream=fh.fh, rotation=img2pdf.Rotation.ifvalid)
    res.pages = len(pages)
    return res
