"""Quality score, colour histogram and face count on real bundled photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lookalike.engine.features import colour, quality

data = pytest.importorskip("skimage.data")


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket"])
def test_quality_prefers_sharp_and_large(name: str) -> None:
    img = _photo(name)
    q = quality.measure(img)
    blurred = quality.measure(img.filter(ImageFilter.GaussianBlur(3)), *img.size)
    small = img.resize((img.width // 4, img.height // 4))
    q_small = quality.measure(small)
    assert 0.0 <= q.score <= 1.0
    assert blurred.sharpness < q.sharpness / 3
    assert blurred.score < q.score
    assert q_small.score < q.score
    noisy = np.clip(
        np.asarray(img, np.float32)
        + np.random.default_rng(0).normal(0, 12, (img.height, img.width, 3)),
        0,
        255,
    )
    assert quality.measure(noisy.astype(np.uint8)).noise > q.noise
    dark = quality.measure((np.asarray(img) * 0.15).astype(np.uint8))
    assert dark.score < q.score
    assert set(q.to_json()) == {
        "sharpness",
        "brightness",
        "clipped",
        "noise",
        "blocking",
        "megapixels",
        "score",
    }


def test_colour_vector_is_unit_and_similarity_ranks() -> None:
    a = colour.colour_vector(_photo("coffee"))
    assert a.shape == (colour.DIM,) and np.isclose(np.linalg.norm(a), 1.0, atol=1e-4)
    copy = colour.colour_vector(_photo("coffee").resize((200, 133)))
    other = colour.colour_vector(_photo("astronaut"))
    grey = colour.colour_vector(
        np.asarray(_photo("camera" if hasattr(data, "camera") else "coffee").convert("L"))
    )
    assert colour.colour_similarity(a, copy) > 0.97
    assert colour.colour_similarity(a, other) < colour.colour_similarity(a, copy)
    assert colour.colour_similarity(a, grey) < 0.8
    assert colour.colour_vector(np.zeros((0, 0, 3), np.uint8)).sum() == 0


def test_face_count() -> None:
    faces = pytest.importorskip("lookalike.engine.features.faces")
    try:
        backend = faces.backend()
    except faces.FacesUnavailable:
        pytest.skip("no face detector on this install")
    assert backend in ("opencv-haar", "skimage-lbp")
    assert faces.count_faces(_photo("astronaut")) >= 1
    assert faces.count_faces(_photo("coffee")) == 0
    found = faces.detect_faces(_photo("astronaut"))
    assert all(0 <= f.x <= 1 and 0 < f.w <= 1 for f in found)
    assert faces.same_faces(1, 1) and not faces.same_faces(0, 0) and not faces.same_faces(1, 2)


def test_faces_without_a_detector_say_so_once_and_group_by_palette(monkeypatch) -> None:
    """No face detector (OpenCV 5 without the faces extra): one warning, no per-file errors."""
    from lookalike.engine import ml_stage
    from lookalike.engine.features import faces
    from lookalike.engine.options import MLOptions

    def missing() -> str:
        raise faces.FacesUnavailable("no detector; pip install 'lookalike[faces]'")

    monkeypatch.setattr(faces, "backend", missing)
    feeder = ml_stage.Feeder(MLOptions(by="faces"), cat=None)
    assert not feeder.want_faces and feeder.want_colour
    assert feeder.job[2] is False  # the decode workers are not asked for faces
    assert [level for _, level in feeder.notices] == ["warning"]
    assert "lookalike[faces]" in feeder.notices[0][0]
