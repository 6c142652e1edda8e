"""Burst frames whose moved subject is too soft for the points to vote on a second motion:
5-9 % of their blocks differ, under the bar a watermark needs, so the pixel re-check called
them one photo and the hash grouper put them in a "same" group (session 16, room burst). The
blocks that differ show the other frame's content shifted (features/moved.py): refuted. A
re-save of a frame still groups with it, watermarked copies still verify."""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.features.extract import extract_file
from lookalike.engine.features.verify import R_MOVED, verify_arrays
from lookalike.engine.grouping import Item, group_items

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

pytest.importorskip("skimage.data")

# (source, seed, frame, frame): the hash edges of corpus.burst_frames (7 skimage sources,
# seeds 0-3, q92, no EXIF) the pixel re-check did not refute before (4.7-8.9 % of blocks)
CALLED_SAME = [
    ("coffee", 0, 0, 1),
    ("coffee", 0, 1, 2),
    ("coffee", 2, 0, 1),
    ("coffee", 3, 0, 1),
    ("astronaut", 0, 0, 1),
]
BURSTS = sorted({(c[0], c[1]) for c in CALLED_SAME})


def _q92(im: Image.Image, quality: int = 92) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _frames(sid: str, seed: int) -> list[Image.Image]:
    return corpus.burst_frames(corpus._source_image(sid), seed=seed)


@pytest.mark.parametrize(("sid", "seed", "i", "j"), CALLED_SAME)
def test_a_moved_soft_subject_refutes_one_photo(sid: str, seed: int, i: int, j: int) -> None:
    frames = [np.asarray(_q92(f)) for f in _frames(sid, seed)]
    res = verify_arrays(frames[i], frames[j])
    assert res.same is False and res.reason == R_MOVED, res
    back = verify_arrays(frames[j], frames[i])
    assert back.same is False, back


@pytest.mark.parametrize(("sid", "seed"), BURSTS)
def test_a_burst_never_shares_a_same_group_and_resaves_stay(
    tmp_path: Path, sid: str, seed: int
) -> None:
    """Through the hash grouper and its pixel re-checks (one burst a folder, as a camera
    writes it): no two frames in one group, a q70 re-save of a frame still with its frame."""
    paths: list[Path] = []
    for k, f in enumerate(_frames(sid, seed)):
        paths.append(tmp_path / f"frame{k}.jpg")
        f.save(paths[-1], quality=92)
        if k == 1:  # a re-save of the middle frame, the one nearest both others
            paths.append(tmp_path / f"frame{k}_q70.jpg")
            f.save(paths[-1], quality=70)
    items = [Item(n, str(p), extract_file(str(p), None, 10**9).views) for n, p in enumerate(paths)]
    groups = [{paths[i].name for i in g} for g in group_items(items, 50).groups]
    for g in groups:
        assert len({n[:6] for n in g}) == 1, g  # one frame (and its re-save)
    assert {"frame1.jpg", "frame1_q70.jpg"} in groups, groups


@pytest.mark.parametrize("sid", ["coffee", "astronaut", "chelsea", "camera", "rocket"])
@pytest.mark.parametrize("where", ["corner", "centre"])
def test_watermarked_copies_still_verify(sid: str, where: str) -> None:
    """A watermark changes a few % of the blocks too, but puts new content there: nothing of
    the original moved."""
    img = corpus.upscale_if_small(corpus._source_image(sid))
    made = corpus.t_watermark(where)(img, b"", random.Random(0))
    copy = Image.open(io.BytesIO(made.data)).convert("RGB")
    orig = np.asarray(_q92(img))
    assert verify_arrays(orig, np.asarray(copy)).same, sid
    assert verify_arrays(np.asarray(copy), orig).same, sid
