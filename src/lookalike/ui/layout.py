"""How the review screen shares the terminal: pure arithmetic, so every size is testable.

80×24 gets the group list, ONE large picture and a one-line strip with every file's keep/remove
label (details on demand with ``i``); 120 columns and up add the details pane and a grid sized to
the group; 160 and up widen the panes.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPACT_BELOW = 100  # columns: one large picture instead of a grid, details hidden
WIDE_FROM = 160
CHROME_ROWS = 3  # mode bar, status line, key footer
TITLE_ROWS = 2  # group line + suggestion (or file strip) line
GRID_PAD = 2  # the grid's padding left and right


@dataclass(frozen=True)
class ReviewLayout:
    compact: bool
    list_width: int
    details: bool
    details_width: int
    grid_width: int  # cells for tiles, across
    grid_height: int  # cells for tiles, down


def review_layout(width: int, height: int, details: bool | None = None) -> ReviewLayout:
    """``details``: None = the default for this size, else the user's ``i`` choice."""
    compact = width < COMPACT_BELOW
    list_width = 20 if compact else (34 if width >= WIDE_FROM else 30)
    show = (not compact) if details is None else details
    details_width = 48 if width >= WIDE_FROM else (38 if not compact else 34)
    main = width - list_width - 1 - ((details_width + 1) if show else 0)
    if main < 20 and show:  # never squeeze the picture away for the details
        details_width = max(20, details_width - (20 - main))
        main = width - list_width - 1 - details_width - 1
    grid_height = max(1, height - CHROME_ROWS - TITLE_ROWS)
    return ReviewLayout(
        compact=compact,
        list_width=list_width,
        details=show,
        details_width=details_width,
        grid_width=max(1, main - GRID_PAD),
        grid_height=grid_height,
    )
