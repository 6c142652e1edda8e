"""Fit a picture into a box of terminal cells without distorting it.

Every image renderer (half-cell, unicode, sixel, kitty) stretches what it is given over the whole
widget. So the picture is letterboxed here, in a thread worker: it is scaled to fit, centred on a
canvas of the box's pixel shape and the rest is filled with the tile's background. The widget
then keeps its fixed size (no relayout per picture) and a portrait stays a portrait — what a
person needs to judge crops, letterboxes and rotations.
"""

from __future__ import annotations

from typing import Any

#: Longest side of a canvas: enough for kitty/sixel at a typical tile size, cheap to make.
MAX_CANVAS = 1024
#: A terminal cell's width / height when the terminal does not say (VT340: 10×20 pixels).
DEFAULT_CELL = (10, 20)

RGB = tuple[int, int, int]


def small_rgb(src: Any, side: int) -> Any:
    """An open thumbnail as RGB, at most ``side`` px long: scans keep a small JPEG (up to twice
    that) as its own thumbnail, and the cache's memory and the tiles' fits stay those of
    ``side`` px thumbnails. A JPEG twice as large decodes at half scale (DCT)."""
    from PIL import Image

    w, h = src.size
    scale = side / max(w, h, 1)
    if scale < 1:
        src.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
    src.load()
    im = src.convert("RGB")
    if max(im.size) > side:
        im.thumbnail((side, side), Image.Resampling.BILINEAR)
    return im


def cell_size() -> tuple[int, int]:
    """The terminal's cell size in pixels (textual-image asked the terminal at import)."""
    try:
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        if size.width > 0 and size.height > 0:
            return int(size.width), int(size.height)
    except Exception:  # no terminal, stdout closed, or textual-image not installed
        pass
    return DEFAULT_CELL


def box_pixels(cols: int, rows: int, cell: tuple[int, int] | None = None) -> tuple[int, int]:
    """Pixel size of a box of cells, scaled down (shape kept) so its longest side ≤ MAX_CANVAS."""
    cw, ch = cell or cell_size()
    w, h = max(1, cols) * cw, max(1, rows) * ch
    scale = min(1.0, MAX_CANVAS / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def fit(image: Any, box: tuple[int, int], background: RGB) -> Any:
    """``image`` scaled to fit ``box`` (pixels), centred on a ``background`` canvas of that size."""
    return view(image, box, background)


def view(
    image: Any,
    box: tuple[int, int],
    background: RGB,
    zoom: float = 1.0,
    cx: float = 0.5,
    cy: float = 0.5,
    fit_box: tuple[int, int] | None = None,
) -> Any:
    """The part of ``image`` seen in ``box`` at ``zoom`` (1 = whole picture fits) around the
    centre (``cx``, ``cy``, fractions of the picture). One source pixel stays square.

    ``fit_box``: the box that zoom 1 fits the picture into (default ``box``); two panes of
    slightly different sizes pass the same one so their pictures keep the same scale."""
    from PIL import Image

    bw, bh = box
    w, h = image.size
    canvas = Image.new("RGB", (bw, bh), background)
    if w <= 0 or h <= 0:
        return canvas
    fw, fh = fit_box or box
    scale = min(fw / w, fh / h) * max(1.0, zoom)  # canvas pixels per source pixel
    # The window of the source that the canvas shows, clamped so it never leaves the picture
    # when the picture is larger than the canvas on that axis.
    vw, vh = bw / scale, bh / scale
    left = _clamp(cx * w - vw / 2, w, vw)
    top = _clamp(cy * h - vh / 2, h, vh)
    x0, y0 = max(0.0, left), max(0.0, top)
    x1, y1 = min(float(w), left + vw), min(float(h), top + vh)
    if x1 <= x0 or y1 <= y0:
        return canvas
    out_w = max(1, round((x1 - x0) * scale))
    out_h = max(1, round((y1 - y0) * scale))
    # A fractional source box: two views with the same window line up to within a pixel.
    src = image if image.mode == "RGB" else image.convert("RGB")
    part = src.resize((out_w, out_h), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
    canvas.paste(part, (round((x0 - left) * scale), round((y0 - top) * scale)))
    return canvas


def _clamp(start: float, size: float, window: float) -> float:
    """Window start along one axis: centred when the picture is smaller, else inside it."""
    if window >= size:
        return (size - window) / 2
    return min(max(0.0, start), size - window)


def content_box(image: Any, background: RGB) -> tuple[int, int, int, int] | None:
    """Bounding box of what is not background (tests and the compare view use it)."""
    from PIL import Image, ImageChops

    bg = Image.new("RGB", image.size, background)
    return ImageChops.difference(image.convert("RGB"), bg).getbbox()


_STYLES: dict[tuple[int, int, int, int, int, int], Any] = {}


def halfcell_lines(image: Any, cols: int, rows: int) -> list[Any]:
    """``image`` drawn as ``rows`` lines of ``cols`` upper-half blocks (fore = top pixel, back
    = bottom pixel), as Textual strips — the same picture textual-image's half-cell renderer
    draws, made here in a thread worker so a key press only copies finished lines."""
    from rich.color import Color
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    px = image.convert("RGB").resize((max(1, cols), max(1, rows) * 2)).load()
    lines = []
    for y in range(rows):
        segments: list[Any] = []
        run_style, run = None, 0
        for x in range(cols):
            top, bottom = px[x, 2 * y], px[x, 2 * y + 1]
            key = (*top, *bottom)
            style = _STYLES.get(key)
            if style is None:
                if len(_STYLES) > 65536:
                    _STYLES.clear()
                style = _STYLES[key] = Style(
                    color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom)
                )
            if style is run_style:
                run += 1
                continue
            if run:
                segments.append(Segment("▀" * run, run_style))
            run_style, run = style, 1
        if run:
            segments.append(Segment("▀" * run, run_style))
        lines.append(Strip(segments, cols))
    return lines
