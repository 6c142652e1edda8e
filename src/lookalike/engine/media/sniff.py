"""What a file is, from its first bytes rather than its name."""

from __future__ import annotations

IMAGE = "image"
VIDEO = "video"
OTHER = "other"

_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"II+\x00", 0, "TIFF"),
    (b"MM\x00+", 0, "TIFF"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_VIDEO_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"dash"}
# Extensions that mark camera RAW files (TIFF-based); recognised but decoded only if Pillow can.
RAW_EXTENSIONS = {".dng", ".nef", ".cr2", ".arw", ".orf", ".rw2", ".pef", ".srw", ".raf"}


def sniff(head: bytes) -> tuple[str, str | None]:
    """(kind, format) from the first 32 bytes of a file."""
    for magic, offset, fmt in _IMAGE_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return IMAGE, fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return IMAGE, "WEBP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return IMAGE, "AVIF"
        if brand in _HEIF_BRANDS:
            return IMAGE, "HEIF"
        if brand in _VIDEO_BRANDS:
            return VIDEO, "MP4"
        return VIDEO, "MP4"
    if head[:4] == b"\x1aE\xdf\xa3":
        return VIDEO, "MKV"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return VIDEO, "AVI"
    if head[:4] == b"\x00\x00\x01\xba" or head[:4] == b"\x00\x00\x01\xb3":
        return VIDEO, "MPEG"
    return OTHER, None
