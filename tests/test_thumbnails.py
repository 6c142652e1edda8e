"""Scan thumbnails (features/extract.py): a small JPEG from the one decode, written atomically,
that still looks like the photo — JPEG because WebP's encoder cost a fifth of a small photo's
whole per-file work (issue 13)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
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
    assert (
        ex.write_thumbnail(Image.new("RGB", (300, 300)), str(tmp_path / "file" / "t.jpg")) is None
    )


def test_video_strips_sit_beside_new_and_old_thumbnails():
    assert strip_path("/c/ab/abcd.jpg") == "/c/ab/abcd.strip.webp"
    assert strip_path("/c/ab/abcd.webp") == "/c/ab/abcd.strip.webp"


def test_the_thumbnail_resize_matches_an_area_average_on_real_photos():
    """The cheap resize (OpenCV: a whole-factor area average, then bilinear under 2×) keeps
    the picture Pillow's BOX filter gives, at every factor a scan meets: 1–2× (small photos),
    about 2× (draft-decoded phone JPEGs) and far more (PNGs decode at full size)."""
    from sklearn.datasets import load_sample_image

    for photo in (data.coffee(), load_sample_image("china.jpg"), data.camera()):
        for width in (300, 511, 640, 1500, 3000):
            height = round(width * photo.shape[0] / photo.shape[1])
            src = np.asarray(
                Image.fromarray(photo).resize((width, height), Image.Resampling.LANCZOS)
            )
            src.setflags(write=False)  # as np.asarray of a decoded image is
            small = ex.thumb_pixels(src)
            assert max(small.shape[:2]) == ex.THUMB_SIZE and small.dtype == np.uint8
            assert abs(small.shape[1] / small.shape[0] - width / height) < 0.02
            ref = Image.fromarray(src).resize(small.shape[1::-1], Image.Resampling.BOX)
            assert np.abs(np.asarray(ref, float) - small).mean() < 6.5, (width, photo.shape)
    tiny = data.coffee()[:100, :150]
    assert ex.thumb_pixels(tiny) is tiny  # never enlarged, not even copied


def test_features_and_the_thumbnail_share_one_copy_of_the_pixels(tmp_path, monkeypatch):
    """One np.asarray of the decoded image serves trim, views, provenance and thumbnail (each
    copy cost ≈ 0.16 ms of a small photo's ≈ 10 ms); the features are those of the image."""
    path = tmp_path / "coffee.jpg"
    Image.fromarray(data.coffee()).save(path, quality=90)
    decoded = ex.decode_reduced(str(path))
    expected = ex.features_of(decoded, None)
    copies = []
    real = type(decoded.rgb).__array_interface__

    class Counting(type(decoded.rgb)):
        @property
        def __array_interface__(self):  # noqa: ANN204 - Pillow's own protocol
            copies.append(1)
            return real.fget(self)

    decoded.rgb.__class__ = Counting
    f = ex.features_of(decoded, str(tmp_path / "t" / "x.jpg"))
    assert len(copies) == 1 and f.thumb and os.path.isfile(f.thumb)
    assert [v.haar for v in f.views] == [v.haar for v in expected.views]
    assert all(np.array_equal(a.dct, b.dct) for a, b in zip(f.views, expected.views, strict=True))
    assert f.prov == expected.prov


def test_the_thumbnail_encode_gives_pillows_bytes_on_real_photos():
    """The JPEG encode by OpenCV (cheaper: no PIL image, no file object) writes the very bytes
    Pillow's ``save(…, "JPEG", quality=THUMB_QUALITY)`` wrote, for colour and grey photos of
    every shape a thumbnail takes; a layout OpenCV is not given goes to Pillow, as before."""
    import io

    from sklearn.datasets import load_sample_image

    photos = [data.coffee(), load_sample_image("china.jpg"), data.camera(), data.astronaut()]
    for photo in photos:
        for size in ((256, 171), (171, 256), (200, 133), (37, 255), (1, 1)):
            arr = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BILINEAR))
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "JPEG", quality=ex.THUMB_QUALITY)
            assert bytes(ex.encode_jpeg(arr)) == buf.getvalue(), (photo.shape, size)
    rgba = np.dstack([data.coffee()[:64, :64], np.full((64, 64), 255, np.uint8)])
    with pytest.raises(OSError):  # as Pillow refused it: write_thumbnail loses the thumbnail
        ex.encode_jpeg(np.ascontiguousarray(rgba))
