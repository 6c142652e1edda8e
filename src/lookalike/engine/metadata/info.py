"""``lookalike info FILE``: everything a photo or video says about itself, as one dict.

Images: format and size (Pillow, header only), EXIF, XMP, IPTC and ICC (exiv2 via pyexiv2), PNG
text chunks, and the prompt an image generator embedded (AUTOMATIC1111 ``parameters``, ComfyUI
``prompt``/``workflow``, EXIF UserComment). Videos: container, duration, tags and every stream
(PyAV). No pixel is decoded. A file that is not a readable image or video raises
:class:`InfoError` with one sentence saying why.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from lookalike.engine.actions.fsutil import safe_text
from lookalike.engine.media.sniff import IMAGE, VIDEO, sniff
from lookalike.engine.metadata.exiv import MetadataError, available, read

MAX_VALUE = 2000  # characters of one tag kept (maker notes and thumbnails are long blobs)
READ_LIMIT = 512 * 1024 * 1024  # an image larger than this is not read into memory for exiv2


class InfoError(Exception):
    """The file cannot be described; the message says what happened."""


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE:
        return value[:MAX_VALUE] + f"… ({len(value)} characters)"
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def file_info(path: str) -> dict[str, Any]:
    """All metadata of one file (see the module doc); raises :class:`InfoError`."""
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise InfoError("is a folder; give a file")
        if not stat.S_ISREG(st.st_mode):
            raise InfoError("is not a regular file")
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError as exc:
        raise InfoError(f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise InfoError("is empty (0 bytes)")
    kind, fmt = sniff(head)
    out: dict[str, Any] = {"path": path, "size": st.st_size, "kind": kind, "format": fmt}
    if kind == IMAGE:
        out.update(_image(path, st.st_size))
    elif kind == VIDEO:
        out["video"] = _video(path)
    elif path.lower().endswith(".xmp") and head.lstrip().startswith((b"<", b"\xef\xbb\xbf")):
        out.update(kind="sidecar", format="XMP", xmp=_short(_sidecar(path)))
    else:
        raise InfoError("is not an image or a video lookalike can read (unknown format)")
    return out


def _image(path: str, size: int) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    from lookalike.engine.media.decode import _register_heif

    _register_heif()
    out: dict[str, Any] = {}
    try:
        with Image.open(path) as im:
            out["image"] = {
                "format": im.format,
                "mode": im.mode,
                "width": im.width,
                "height": im.height,
                "frames": getattr(im, "n_frames", 1),
            }
            text = dict(getattr(im, "text", None) or {})  # PNG tEXt/iTXt/zTXt
            if text:
                out["png_text"] = _short(text)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InfoError(f"is not a readable image ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise InfoError(f"is too large to open safely ({exc})") from exc
    if size <= READ_LIMIT and available():  # EXIF/XMP/IPTC/ICC need the [metadata] extra
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            raw = read(data)
        except MetadataError as exc:
            out["metadata_error"] = str(exc)
        else:
            out.update(
                {
                    k: _short(v)
                    for k, v in (("exif", raw.exif), ("xmp", raw.xmp), ("iptc", raw.iptc))
                    if v
                }
            )
            if raw.icc:
                out["icc"] = _icc(raw.icc)
            if raw.comment:
                out["comment"] = _short(raw.comment)
    gen = _generation(path, out.get("png_text") or {}, out.get("exif") or {})
    if gen:
        out["generation"] = gen
    return out


def _sidecar(path: str) -> dict[str, Any]:
    """An XMP sidecar (``NAME.EXT.xmp``, what --merge-metadata writes)."""
    if not available():
        raise InfoError("is an XMP sidecar; reading it needs the [metadata] extra")
    try:
        with open(path, "rb") as fh:
            return read(fh.read()).xmp
    except (OSError, MetadataError) as exc:
        raise InfoError(f"is not a readable XMP sidecar ({exc})") from exc


def _icc(data: bytes) -> dict[str, Any]:
    from io import BytesIO

    from PIL import ImageCms

    got: dict[str, Any] = {"bytes": len(data)}
    try:
        prof = ImageCms.ImageCmsProfile(BytesIO(data))
        got["description"] = ImageCms.getProfileDescription(prof).strip()
        got["colour_space"] = prof.profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError, AttributeError):
        got["description"] = "(unreadable profile)"
    return got


def _generation(path: str, text: dict[str, Any], exif: dict[str, Any]) -> dict[str, Any]:
    """The generator's own record: raw A1111 parameters, ComfyUI prompt JSON, the prompt text."""
    from lookalike.engine.rules.genprompt import generation_text

    got: dict[str, Any] = {}
    for key in ("parameters", "Parameters"):
        if isinstance(text.get(key), str):
            got["a1111_parameters"] = text[key]
    for key in ("prompt", "workflow"):
        if isinstance(text.get(key), str):
            try:
                got[f"comfyui_{key}"] = json.loads(text[key])
            except json.JSONDecodeError:
                got[f"comfyui_{key}"] = text[key]
    comment = exif.get("Exif.Photo.UserComment")
    if isinstance(comment, str) and "steps:" in comment.lower():
        got["a1111_parameters"] = comment
    if got:
        try:
            got["prompt_text"] = generation_text(path)
        except (OSError, ValueError):
            pass
    return got


def _video(path: str) -> dict[str, Any]:
    import av

    try:
        container = av.open(path, metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise InfoError(f"is not a readable video ({exc})") from exc
    with container:
        streams = [_stream(s) for s in container.streams]
        return {
            "container": str(container.format.name or "?"),
            "duration": round(container.duration / 1_000_000, 3) if container.duration else None,
            "bit_rate": container.bit_rate or None,
            "tags": dict(container.metadata),
            "streams": streams,
        }


def _stream(s: Any) -> dict[str, Any]:
    ctx = s.codec_context
    got: dict[str, Any] = {"index": s.index, "type": s.type, "codec": getattr(ctx, "name", None)}
    if s.duration is not None and s.time_base is not None:
        got["duration"] = round(float(s.duration * s.time_base), 3)
    if s.type == "video":
        rate = s.average_rate or s.guessed_rate
        got.update(width=ctx.width, height=ctx.height, fps=round(float(rate), 3) if rate else None)
        got["pixel_format"] = getattr(ctx, "pix_fmt", None)
    elif s.type == "audio":
        got.update(sample_rate=ctx.sample_rate, channels=ctx.channels)
    if getattr(ctx, "bit_rate", None):
        got["bit_rate"] = ctx.bit_rate
    if s.metadata:
        got["tags"] = dict(s.metadata)
    return got


SECTIONS = ("exif", "xmp", "iptc", "png_text", "comment", "icc", "generation", "metadata_error")


def _line(value: Any) -> str:
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return safe_text(str(value)).replace("\n", "\\n")


def info_lines(info: dict[str, Any]) -> list[str]:
    """:func:`file_info` as text lines (``lookalike info`` and the app's metadata panel)."""
    out = [
        f"== {safe_text(info['path'])}",
        f"file: {info['kind']} {info['format']}, {info['size']} bytes",
    ]
    im = info.get("image")
    if im:
        frames = f", {im['frames']} frames" if im["frames"] > 1 else ""
        out.append(f"image: {im['format']} {im['mode']} {im['width']}x{im['height']}{frames}")
    vid = info.get("video")
    if vid:
        out.append(f"video: {vid['container']}, {vid['duration']} s, {vid['bit_rate']} bit/s")
        for s in vid["streams"]:
            rest = {k: v for k, v in s.items() if k not in ("index", "type", "codec")}
            out.append(f"  stream {s['index']}: {s['type']} {s['codec']} {_line(rest)}")
        out.extend(f"  {k} = {_line(v)}" for k, v in vid["tags"].items())
    for section in SECTIONS:
        got = info.get(section)
        if not got:
            continue
        out.append(f"[{section}]")
        if isinstance(got, dict):
            out.extend(f"  {k} = {_line(v)}" for k, v in got.items())
        else:
            out.append(f"  {_line(got)}")
    return out
