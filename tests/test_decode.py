"""One reduced decode per file: formats, orientation, odd modes, and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from lookalike.engine.features.extract import extract_file
from lookalike.engine.media.decode import DecodeError, decode_reduced
from lookalike.engine.media.sniff import IMAGE, VIDEO, sniff


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(data.astronaut()).resize((640, 640))


@pytest.mark.parametrize(
    "fmt,kw,expected",
    [
        ("JPEG", {"quality": 90}, "JPEG"),
        ("PNG", {}, "PNG"),
        ("WEBP", {"quality": 80}, "WEBP"),
        ("HEIF", {"quality": 70}, "HEIF"),
        ("AVIF", {"quality": 70}, "AVIF"),
        ("BMP", {}, "BMP"),
        ("TIFF", {}, "TIFF"),
        ("GIF", {}, "GIF"),
    ],
)
def test_every_format_decodes_by_content_not_name(tmp_path, photo, fmt, kw, expected):
    import pillow_heif

    pillow_heif.register_heif_opener()
    path = tmp_path / "wrong-extension.txt"
    photo.save(path, fmt, **kw)
    assert sniff(path.read_bytes()[:32])[0] == IMAGE
    d = decode_reduced(str(path))
    assert d.format.upper().startswith(expected[:3])
    assert (d.width, d.height) == (640, 640)
    assert d.rgb.mode == "RGB"


def test_jpeg_is_decoded_reduced(tmp_path):
    big = Image.fromarray(data.coffee()).resize((4000, 3000))
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    d = decode_reduced(str(path), target=320)
    assert (d.width, d.height) == (4000, 3000)
    assert max(d.rgb.size) <= 1000  # DCT scaling did the work, not a full decode


def test_exif_orientation_is_applied_first(tmp_path, photo):
    turned = photo.transpose(Image.Transpose.ROTATE_90)  # stored sideways …
    exif = Image.Exif()
    exif[274] = 6  # … and tagged "rotate 90 CW to display"
    path = tmp_path / "oriented.jpg"
    turned.save(path, quality=95, exif=exif)
    d = decode_reduced(str(path))
    assert d.orientation == 6
    shown = np.asarray(d.rgb.resize((64, 64)), dtype=np.float32)
    truth = np.asarray(photo.resize((64, 64)), dtype=np.float32)
    assert np.abs(shown - truth).mean() < 12


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "I;16", "1", "L"])
def test_odd_modes_become_rgb(tmp_path, photo, mode):
    if mode == "I;16":
        arr = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        img = Image.fromarray(arr)
        path = tmp_path / "deep.png"
    else:
        img = photo.convert(mode)
        path = tmp_path / ("img.tif" if mode == "CMYK" else "img.png")
    img.save(path)
    d = decode_reduced(str(path))
    assert d.rgb.mode == "RGB"
    if mode == "I;16":
        assert np.asarray(d.rgb).std() > 20  # not clipped to white


def test_mostly_transparent_and_flat_images_are_near_uniform(tmp_path, photo):
    clear = photo.convert("RGBA")
    clear.putalpha(Image.new("L", clear.size, 0))
    clear.paste(photo.resize((40, 40)), (0, 0))
    clear.save(tmp_path / "clear.png")
    Image.new("RGB", (500, 400), (0, 0, 0)).save(tmp_path / "black.jpg")
    Image.new("RGB", (500, 400), (255, 255, 255)).save(tmp_path / "white.png")
    for name in ("clear.png", "black.jpg", "white.png"):
        assert extract_file(str(tmp_path / name), None, 10**9).uniform, name
    photo.save(tmp_path / "photo.jpg")
    assert not extract_file(str(tmp_path / "photo.jpg"), None, 10**9).uniform


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.jpg", b"", "empty"),
        ("notes.jpg", b"hello, I am text", "not an image"),
        ("clip.jpg", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "video"),
    ],
)
def test_bad_files_raise_one_clear_message(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DecodeError, match=message):
        decode_reduced(str(p))


def test_truncated_jpeg_is_reported(tmp_path, photo):
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90)
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.getvalue()[:3000])
    with pytest.raises(DecodeError, match="truncated|corrupt"):
        decode_reduced(str(p))


def test_decompression_bomb_is_refused(tmp_path, photo):
    p = tmp_path / "huge.png"
    photo.save(p)
    with pytest.raises(DecodeError, match="above the limit"):
        decode_reduced(str(p), max_pixels=100_000)


def test_vanished_and_unreadable_files(tmp_path, monkeypatch):
    with pytest.raises(DecodeError, match="vanished"):
        decode_reduced(str(tmp_path / "gone.jpg"))

    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(DecodeError, match="permission"):
        decode_reduced(str(tmp_path / "x.jpg"))


def test_sniff_knows_video_containers():
    assert sniff(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 20)[0] == VIDEO
    assert sniff(b"\x1aE\xdf\xa3" + b"\x00" * 28)[0] == VIDEO
