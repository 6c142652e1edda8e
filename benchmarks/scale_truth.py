"""Which of a mosaic set's files a person would call the same picture, from how they were made.

Why: ``scale.py`` promises that two mosaics share a large region only by rare chance, so any
group beyond the planted copies counts as a false pair. Two things break the promise (issue 13,
the 100k set's ``0031678``/``0077452``): the source list holds one photo twice (skimage's
``cat()`` is ``chelsea()``), and two crops of a plain region (a night sky) are the same pixels
wherever they are cut. This recomputes each file's tiles from the seed (``scale.mosaic_tiles``)
and compares two files tile by tile, by photo (sources that are pixel-identical are one photo),
place on the canvas and box in the photo — never by the engine's features.

A pair is **generated alike** when both have the same number of tiles and each tile of one has
a tile of the same photo in the other at the same place (canvas boxes IoU ≥ ``PLACE_IOU``)
that shows the same part of it (source crops IoU ≥ ``CROP_IOU``) or, both crops being plain
(≤ ``PLAIN_EDGES`` of their pixels on an edge), the same nothing — in the same colours: a
hue rotation on one tile and not the other (or rotations more than ``HUE_STEP`` apart) makes
another picture (an orange retina is not a blue one; a grey photo has no hue to turn), while
the brightness and saturation draws (±30 %, ±50 %) are the edits a copy may carry.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image

import scale

PLACE_IOU = 0.5  # the tile sits at the same place on both canvases
CROP_IOU = 0.5  # ... and shows the same part of its photo
PLAIN_EDGES = 0.02  # ... or both crops are plain: this share of pixels at most on an edge
EDGE_STEP = 8.0  # grey levels a pixel must differ from its neighbours by to be on an edge
HUE_STEP = 16  # of 256: hue rotations at most this far apart are one colour cast


class Truth:
    """The tiles of a set's files and the photos they come from (one seed, one source list)."""

    def __init__(self, seed: int = 0, sources: list[Image.Image] | None = None) -> None:
        srcs = scale._sources() if sources is None else sources
        self.seed = seed
        self.sizes = [s.size for s in srcs]
        self.lum = [np.asarray(s.convert("L"), np.float32) for s in srcs]
        self.photo = _photo_ids(srcs)
        self.grey = [bool(np.ptp(np.asarray(s, np.int16), axis=2).max() < 8) for s in srcs]

    def tiles(self, i: int) -> list[dict]:
        return scale.mosaic_tiles(i, self.seed, self.sizes)

    def compare(self, i: int, j: int) -> dict:
        """Per tile of file ``i``: its photo and the best counterpart's place/crop IoU and
        whether both crops are plain; ``alike`` when every tile has a matching counterpart."""
        a, b = self.tiles(i), self.tiles(j)
        rows, used = [], set()
        for t in a:
            best = max(
                ((self._match(t, u), k) for k, u in enumerate(b) if k not in used),
                default=(None, -1),
                key=lambda r: (r[0] or {}).get("score", -1.0),
            )
            row, k = best
            rows.append(row or {"photo": self.photo[t["source"]], "score": -1.0, "ok": False})
            if row and row["ok"]:
                used.add(k)
        ok = len(a) == len(b) and all(r["ok"] for r in rows)
        return {"alike": ok, "tiles": [{k: v for k, v in r.items() if k != "score"}
                                       for r in rows]}  # fmt: skip

    def _match(self, t: dict, u: dict) -> dict | None:
        if self.photo[t["source"]] != self.photo[u["source"]]:
            return None
        place, crop = _iou(t["box"], u["box"]), _iou(t["crop"], u["crop"])
        plain = (self.edges(t) <= PLAIN_EDGES) and (self.edges(u) <= PLAIN_EDGES)
        hue = self.grey[t["source"]] or _same_hue(t["colour"][2], u["colour"][2])
        ok = place >= PLACE_IOU and (crop >= CROP_IOU or plain) and hue
        return {"photo": self.photo[t["source"]], "place_iou": round(place, 3),
                "crop_iou": round(crop, 3), "plain": plain, "same_hue": hue, "ok": ok,
                "score": place + crop + plain + hue}  # fmt: skip

    def edges(self, t: dict) -> float:
        """Share of the tile's source crop whose grey gradient is over ``EDGE_STEP``."""
        x0, y0, x1, y1 = (int(round(v)) for v in t["crop"])
        g = self.lum[t["source"]][y0:y1, x0:x1]
        if min(g.shape) < 2:
            return 1.0
        gy, gx = np.gradient(g)
        return float((np.hypot(gx, gy) > EDGE_STEP).mean())


def _same_hue(a: int | None, b: int | None) -> bool:
    """Both tiles unturned in hue, or turned by rotations at most ``HUE_STEP`` apart."""
    if a is None or b is None:
        return a is None and b is None
    return min((a - b) % 256, (b - a) % 256) <= HUE_STEP


def _photo_ids(srcs: list[Image.Image]) -> list[int]:
    """One id per distinct photo: a source pixel-identical to an earlier one takes its id."""
    ids: list[int] = []
    for k, s in enumerate(srcs):
        a = np.asarray(s)
        same = [m for m in range(k) if srcs[m].size == s.size
                and np.array_equal(np.asarray(srcs[m]), a)]  # fmt: skip
        ids.append(ids[same[0]] if same else k)
    return ids


def _iou(a: tuple, b: tuple) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def file_index(path: str) -> int:
    """The set's file number of an original (``0031678.jpg``) or a copy (``0031678_q60.jpg``)."""
    name = path.rsplit("/", 1)[-1]
    return int(name[:7])


def render_mosaic(
    i: int, seed: int, srcs: list[Image.Image], colours_of: int | None = None
) -> Image.Image:
    """File ``i`` of a mosaic set as ``_make_chunk`` draws it (pixel for pixel, before its
    JPEG encode); with ``colours_of``, each tile in the colour draws of that file's tile in
    the same place of the list instead: the same geometry, another file's brightness,
    saturation and hue edits (how the grouper treats a colour-only difference)."""
    sizes = [s.size for s in srcs]

    def plan(k: int) -> tuple[int, int, list]:
        rng = random.Random(seed * 1_000_003 + k)
        w, h, boxes = scale._mosaic_plan(sizes, rng)
        draws = [
            (b, s, scale._tile_draws(sizes[s], b[2] - b[0], b[3] - b[1], rng)) for b, s in boxes
        ]
        return w, h, draws

    w, h, tiles = plan(i)
    if colours_of is not None:
        other = plan(colours_of)[2]
        if len(other) != len(tiles):
            raise ValueError(f"file {colours_of} has {len(other)} tiles, file {i} {len(tiles)}")
        tiles = [
            (b, s, dict(d, colour=o[2]["colour"]))
            for (b, s, d), o in zip(tiles, other, strict=True)
        ]
    canvas = Image.new("RGB", (w, h))
    for (x0, y0, x1, y1), s, d in tiles:
        canvas.paste(scale._render_tile(srcs[s], x1 - x0, y1 - y0, d), (x0, y0))
    return canvas
