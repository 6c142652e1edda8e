"""Scan thumbnails (features/extract.py): a small JPEG from the one decode, written atomically,
that still looks like the photo — JPEG because WebP's encoder cost a fifth of a small photo's
whole per-file work (issue 13)."""

from __future__ import annotations

import os
import shutil

import numpy as np
from PIL import Image
from skimage import data

from lookalike.engine.features import extract as ex
from lookalike.engine.features.video_sig import strip_path


def test_thumbnail_is_a_small_jpeg_of_the_photo(tmp_path):
    photo = Image.fromarray(data.astronaut())  # 512×512
    wide = photo.resize((600, 300))
    for im in (photo, wide):
        path = str(tmp_path / "ab" / f"ab{im.width}{ex.THUMB_SUFFIX}")
        assert ex.write_thumbnail(im, path) == path
        with Image.open(path) as t:
            assert t.format == "JPEG" and max(t.size) == ex.THUMB_SIZE
            assert abs(t.width / t.height - im.width / im.height) < 0.02  # aspect kept
            back = np.asarray(t.convert("RGB").resize(im.size), float)
        assert np.abs(back - np.asarray(im, float)).mean() < 12  # the same picture
    assert not [n for n in os.listdir(tmp_path / "ab") if n.endswith(".tmp")]  # none left


def test_a_small_photo_is_not_enlarged_and_a_lost_folder_is_made_again(tmp_path):
    small = Image.fromarray(data.coffee()).resize((200, 133))
    path = str(tmp_path / "cd" / "cd.jpg")
    assert ex.write_thumbnail(small, path) == path
    with Image.open(path) as t:
        assert t.size == (200, 133)
    shutil.rmtree(tmp_path / "cd")  # the cache was cleared while the worker ran
    assert ex.write_thumbnail(small, path) == path and os.path.isfile(path)


def test_an_unwritable_cache_only_loses_the_thumbnail(tmp_path):
    (tmp_path / "file").write_bytes(b"x")  # a file where the folder should be
    assert ex.write_thumbnail(Image.new("RGB", (300, 300)), str(tmp_path / "file" / "t.jpg")) is None


def test_video_strips_sit_beside_new_and_old_thumbnails():
    assert strip_path("/c/ab/abcd.jpg") == "/c/ab/abcd.strip.webp"
    assert strip_path("/c/ab/abcd.webp") == "/c/ab/abcd.strip.webp"
