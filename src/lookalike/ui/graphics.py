"""Pick the textual-image widget class for ``--graphics``.

textual-image asks the terminal about its abilities when it is first imported, which only works
before Textual takes over the terminal, so :func:`image_class` must run before ``App.run``.
"""

from __future__ import annotations

from typing import Any

GRAPHICS = ("auto", "kitty", "sixel", "halfcell", "unicode", "none")


def image_class(name: str) -> tuple[type[Any] | None, str]:
    """Return (widget class or None for no images, the renderer's name for the footer)."""
    if name not in GRAPHICS:
        raise ValueError(f"unknown graphics mode {name!r}; choose one of {', '.join(GRAPHICS)}")
    if name == "none":
        return None, "none"
    import textual_image.widget as tiw

    if name == "kitty":
        return tiw.TGPImage, "kitty"
    if name == "sixel":
        return tiw.SixelImage, "sixel"
    if name == "halfcell":
        return tiw.HalfcellImage, "halfcell"
    if name == "unicode":
        return tiw.UnicodeImage, "unicode"
    from textual_image.renderable import Image as auto_renderable

    detected = {
        "TGPImage": "kitty",
        "SixelImage": "sixel",
        "HalfcellImage": "halfcell",
        "UnicodeImage": "unicode",
    }.get(getattr(auto_renderable, "__name__", ""), "")
    if not detected:
        module = getattr(auto_renderable, "__module__", "")
        detected = {"tgp": "kitty"}.get(module.rsplit(".", 1)[-1], module.rsplit(".", 1)[-1])
    return tiw.Image, f"{detected} (auto)"
