"""The prompt an image generator embedded in its output, for ``generation_prompt`` rules.

AUTOMATIC1111 writes a ``parameters`` text chunk (prompt, ``Negative prompt:``, settings);
ComfyUI writes its workflow as ``prompt`` JSON (node id → {class_type, inputs}); both may also sit
in EXIF UserComment (JPEG/WebP). We read only metadata — no pixel decode — and return the text a
person would search, lower-cased.
"""

from __future__ import annotations

import json
import os

from PIL import Image

USER_COMMENT = 0x9286
EXIF_IFD = 0x8769


def generation_text(path: str | os.PathLike[str]) -> str:
    """All generation prompt text found in the file ('' when none), lower-cased."""
    parts: list[str] = []
    with Image.open(path) as im:
        info = dict(im.info)
        text = getattr(im, "text", None)  # PNG tEXt/iTXt/zTXt (loads the chunks after IDAT)
        if isinstance(text, dict):
            info.update(text)
        for key in ("parameters", "Parameters"):
            if isinstance(info.get(key), str):
                parts.append(a1111_prompt(info[key]))
        if isinstance(info.get("prompt"), str):
            parts.append(comfy_prompt(info["prompt"]))
        try:
            exif = im.getexif().get_ifd(EXIF_IFD)
        except Exception:
            exif = {}
        comment = decode_user_comment(exif.get(USER_COMMENT))
        if comment:
            stripped = comment.strip()
            parts.append(
                comfy_prompt(stripped) if stripped.startswith("{") else a1111_prompt(comment)
            )
    return "\n".join(p for p in parts if p).lower()


def a1111_prompt(text: str) -> str:
    """The positive prompt of an A1111 ``parameters`` block: the text before ``Negative prompt:``
    and the ``Steps:`` settings line (a negative prompt's words must not make a rule fire)."""
    lines = text.splitlines()
    keep: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:") or line.startswith("Steps:"):
            break
        keep.append(line)
    return "\n".join(keep).strip()


def comfy_prompt(text: str) -> str:
    """Text inputs of a ComfyUI prompt graph (``CLIPTextEncode`` and similar nodes)."""
    try:
        graph = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(graph, dict):
        return ""
    out: list[str] = []
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            continue
        for key in ("text", "text_g", "text_l", "prompt", "positive"):
            v = inputs.get(key)
            if isinstance(v, str):
                out.append(v)
    return "\n".join(out)


def decode_user_comment(raw: object) -> str:
    """EXIF UserComment: an 8-byte charset code (ASCII, UNICODE = UTF-16), then the text."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes | bytearray) or len(raw) < 8:
        return ""
    code, body = bytes(raw[:8]), bytes(raw[8:])
    if code.startswith(b"UNICODE"):
        for enc in ("utf-16-be", "utf-16-le"):
            try:
                text = body.decode(enc)
            except UnicodeDecodeError:
                continue
            if text.isprintable() or "\n" in text:
                return text.rstrip("\0")
        return ""
    return body.decode("utf-8", "replace").rstrip("\0")


def matches(text: str, substrings: tuple[str, ...]) -> bool:
    """Every word of the list appears (AND); case-insensitive."""
    return bool(text) and all(s.lower() in text for s in substrings)
