"""pyexiv2 behind three calls: read metadata from bytes, rewrite metadata into bytes, and make a
fresh XMP sidecar. pyexiv2 works on a buffer (``ImageData``), never on a file name, so names that
are not UTF-8 work and the caller decides how the bytes reach the disk (atomically, journalled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EMPTY_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"></rdf:RDF></x:xmpmeta>'
    b'<?xpacket end="w"?>'
)


class MetadataError(Exception):
    """Metadata cannot be read or written; the message is meant for the user."""


@dataclass
class Raw:
    """Everything exiv2 read from one buffer (tag → value, as pyexiv2 returns them)."""

    mime: str = ""
    exif: dict[str, Any] = field(default_factory=dict)
    xmp: dict[str, Any] = field(default_factory=dict)
    iptc: dict[str, Any] = field(default_factory=dict)
    icc: bytes = b""
    comment: str = ""


def available() -> bool:
    """Whether pyexiv2 (the [metadata] extra) is installed; without it ``lookalike info`` shows
    what Pillow and PyAV read, and merges are refused before they start."""
    try:
        import pyexiv2  # noqa: F401
    except ImportError:
        return False
    return True


def _lib() -> Any:
    import pyexiv2

    pyexiv2.set_log_level(4)  # exiv2 warnings would go straight to stderr; we report our own
    return pyexiv2


def _read(img: Any, what: str) -> Any:
    """One block; text that is not UTF-8 (old cameras write Latin-1) is read as Latin-1."""
    fn = getattr(img, f"read_{what}")
    try:
        return fn() if what == "icc" else fn(encoding="utf-8")
    except UnicodeDecodeError:
        return fn(encoding="iso-8859-1")


def read(data: bytes) -> Raw:
    """EXIF, XMP, IPTC, ICC and the comment of an image (or an XMP sidecar) held in ``data``."""
    lib = _lib()
    try:
        img = lib.ImageData(data)
    except (RuntimeError, ValueError) as exc:
        raise MetadataError(f"no metadata could be read ({exc})") from exc
    try:
        out = Raw(mime=img.get_mime_type())
        for what in ("exif", "xmp", "iptc"):
            try:
                setattr(out, what, _read(img, what) or {})
            except (RuntimeError, ValueError):
                pass  # one damaged block does not hide the others
        try:
            out.icc = bytes(_read(img, "icc") or b"")
            out.comment = img.read_comment() or ""
        except (RuntimeError, ValueError, UnicodeDecodeError):
            pass
        return out
    finally:
        img.close()


def rewrite(data: bytes, *, exif: dict[str, Any], xmp: dict[str, Any]) -> bytes:
    """``data`` with these EXIF and XMP tags set; exiv2 rewrites metadata segments only."""
    lib = _lib()
    try:
        img = lib.ImageData(data)
    except (RuntimeError, ValueError) as exc:
        raise MetadataError(f"cannot rewrite its metadata ({exc})") from exc
    try:
        if exif:
            img.modify_exif(exif)
        if xmp:
            img.modify_xmp(xmp)
        return bytes(img.get_bytes())
    except (RuntimeError, ValueError) as exc:
        raise MetadataError(f"exiv2 refused the new metadata ({exc})") from exc
    finally:
        img.close()


def sidecar(existing: bytes | None, xmp: dict[str, Any]) -> bytes:
    """An XMP sidecar: ``existing`` (an earlier sidecar, kept) with these tags set."""
    return rewrite(existing or EMPTY_XMP, exif={}, xmp=xmp)
