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


def steady_image_class(cls: type[Any]) -> type[Any]:
    """Subclass whose ``set_image`` repaints without a relayout.

    Thumbnail cells have a fixed CSS size, so the relayout textual-image asks for on every new
    picture is wasted work; skipping it keeps next-group under one frame.
    """

    class Steady(cls, Renderable=cls._Renderable):  # type: ignore[misc, valid-type, call-arg]
        _quiet = False

        def set_image(self, value: Any) -> None:
            self._quiet = True
            try:
                self.image = value
            finally:
                self._quiet = False

        def refresh(self, *regions: Any, **kwargs: Any) -> Any:
            if self._quiet:
                kwargs["layout"] = False
            return super().refresh(*regions, **kwargs)

    Steady.__name__ = f"Steady{cls.__name__}"
    Steady.__qualname__ = Steady.__name__
    return Steady
