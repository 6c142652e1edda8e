"""``lookalike info``: raw metadata of real photos (JPEG, HEIC, PNG with generator chunks, WebP)
and a real video; one clear line per file that cannot be described."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms, PngImagePlugin
from skimage import data

from lookalike.cli import main
from lookalike.engine.metadata.info import InfoError, file_info

VIDEO = Path(__file__).parent / "data" / "video" / "bikes.mp4"
A1111 = (
    "a lighthouse at dusk, oil painting\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512"
)
COMFY = {"3": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow"}}}


def _exif() -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F] = "Canon"  # Make
    ex[0x0110] = "Canon EOS 5D"  # Model
    gps = ex.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    return ex


def _astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def test_jpeg_exif_gps_and_icc(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    _astronaut().save(p, quality=90, exif=_exif(), icc_profile=srgb)
    got = file_info(str(p))
    assert got["kind"] == "image" and got["image"]["width"] == 512
    assert got["exif"]["Exif.Image.Model"] == "Canon EOS 5D"
    assert got["exif"]["Exif.GPSInfo.GPSLatitudeRef"] == "N"
    assert got["icc"]["bytes"] == len(srgb) and "sRGB" in got["icc"]["description"]


def test_heic_and_webp(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif").register_heif_opener()
    for name in ("a.heic", "a.webp"):
        p = tmp_path / name
        _astronaut().save(p, exif=_exif().tobytes(), quality=70)
        got = file_info(str(p))
        assert got["format"] == ("HEIF" if name.endswith("heic") else "WEBP")
        assert got["exif"]["Exif.Image.Make"] == "Canon"


def test_png_generation_chunks(tmp_path: Path) -> None:
    p = tmp_path / "gen.png"
    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", A1111)
    meta.add_text("prompt", json.dumps(COMFY))
    Image.fromarray(data.chelsea()).save(p, pnginfo=meta)
    gen = file_info(str(p))["generation"]
    assert gen["a1111_parameters"] == A1111
    assert gen["comfyui_prompt"] == COMFY
    assert "lighthouse" in gen["prompt_text"] and "red fox" in gen["prompt_text"]


def test_video_streams() -> None:
    got = file_info(str(VIDEO))["video"]
    (v,) = [s for s in got["streams"] if s["type"] == "video"]
    assert (v["codec"], v["width"], v["height"]) == ("h264", 640, 272)
    assert got["duration"] == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "is empty"),
        (b"hello, this is text\n" * 4, "not an image or a video"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "not a readable image"),
    ],
)
def test_bad_files_raise_one_sentence(tmp_path: Path, content: bytes, why: str) -> None:
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(InfoError, match=why):
        file_info(str(p))


def test_cli_text_json_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    _astronaut().save(p, exif=_exif())
    r = CliRunner().invoke(main, ["info", str(p), str(VIDEO)])
    assert r.exit_code == 0, r.output
    assert "Exif.Image.Make = Canon" in r.output and "stream 0: video h264" in r.output
    r = CliRunner().invoke(main, ["info", "--format", "json", str(p), str(tmp_path / "no.jpg")])
    assert r.exit_code == 3
    lines = r.output.splitlines()
    assert json.loads(lines[0])["exif"]["Exif.Image.Make"] == "Canon"
    assert any("no.jpg cannot be read (No such file" in line for line in lines)
    assert "Traceback" not in r.output
