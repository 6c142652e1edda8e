"""One zoom/pan window shared by the full view and Compare, so both step and clamp alike.

The window is a zoom factor and a centre given as fractions of the picture; screens that use it
redraw through their own `reload()`.
"""

from __future__ import annotations

MAX_ZOOM = 16.0


class ZoomPan:
    """Zoom (1×–16×, doubling) and pan (a quarter of the visible width per step).

    Mixed into a Screen that defines `reload()` (redraw the window).
    """

    zoom: float = 1.0
    cx: float = 0.5
    cy: float = 0.5

    def reset_view(self) -> None:
        self.zoom, self.cx, self.cy = 1.0, 0.5, 0.5

    def action_zoom(self, step: int) -> None:
        self.zoom = max(1.0, min(MAX_ZOOM, self.zoom * (2 if step > 0 else 0.5)))
        if self.zoom == 1:
            self.cx = self.cy = 0.5
        self.reload()  # type: ignore[attr-defined]

    def action_pan(self, dx: int, dy: int) -> None:
        step = 0.25 / self.zoom
        self.cx = min(1.0, max(0.0, self.cx + dx * step))
        self.cy = min(1.0, max(0.0, self.cy + dy * step))
        self.reload()  # type: ignore[attr-defined]
