"""The scale benchmark's file sets (benchmarks/scale.py): the sparse mosaic design and the old
dense crops design, both still selectable (issue 13)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from PIL import Image

import scale


@pytest.fixture(scope="module")
def sources() -> list[Image.Image]:
    return scale._sources()


def test_mosaic_tiles_come_from_different_sources(sources) -> None:
    """Each tile of a mosaic is a piece of a different real photo, so two random files share
    no large region (the crops design made every file a crop of one of a dozen photos)."""
    rng = random.Random(7)
    for _ in range(20):
        boxes = scale._layout(300, 200, 4, rng)
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)
        assert area == 300 * 200  # the tiles cover the canvas exactly once
        assert len(boxes) == 4
    a, b = scale._mosaic(sources, random.Random(1)), scale._mosaic(sources, random.Random(2))
    assert a.size != b.size or np.abs(np.asarray(a, float) - np.asarray(b, float)).mean() > 20
    again = scale._mosaic(sources, random.Random(1))
    assert np.array_equal(np.asarray(a), np.asarray(again))  # one seed, one file


def test_make_set_plants_copies_and_keeps_designs_apart(tmp_path) -> None:
    root = scale.set_root(tmp_path, 60, "mosaic")
    labels = scale.make_set(root, 60, workers=1, design="mosaic")
    assert labels["version"] == 3 and labels["design"] == "mosaic"
    assert len(list((root / "photos").rglob("*.jpg"))) == 60
    assert labels["planted"], "a 60-file set plants some copies"
    for orig, copy in labels["planted"]:
        kind = copy.rsplit("_", 1)[1].removesuffix(".jpg")
        a, b = Image.open(orig).convert("L"), Image.open(copy).convert("L")
        if kind == "mirror":
            b = b.transpose(Image.FLIP_LEFT_RIGHT)
        elif kind == "rot90":
            b = b.transpose(Image.ROTATE_270)
        b = b.resize(a.size)
        diff = np.abs(np.asarray(a, float) - np.asarray(b, float)).mean()
        assert diff < 6, (kind, diff)  # the same picture, re-saved / scaled / turned
    assert json.loads((root / "labels.json").read_text()) == labels
    crops = scale.set_root(tmp_path, 60, "crops")
    assert crops != root and crops.name == "n60"  # old crops sets keep their folders
