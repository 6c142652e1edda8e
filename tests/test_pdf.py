"""``lookalike pdf``: real photos → a PDF that pypdfium2 renders page by page, whose embedded JPEG
streams are the source files' bytes, page sizes from the images, bad files left out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from lookalike.cli import main

pdfium = pytest.importorskip("pypdfium2")
pikepdf = pytest.importorskip("pikepdf")


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    d = tmp_path / "in"
    d.mkdir()
    a, b = d / "astronaut.jpg", d / "coffee.jpg"
    Image.fromarray(data.astronaut()).save(a, quality=90)
    Image.fromarray(data.coffee()).save(b, quality=80)
    png = d / "chelsea.png"
    Image.fromarray(data.chelsea()).convert("RGBA").save(png)
    odd = Path(os.fsdecode(os.path.join(os.fsencode(d), b"caf\xe9.jpg")))
    Image.fromarray(data.rocket()).save(odd, quality=85)
    return [a, b, png, odd]


def _streams(pdf: Path) -> list[bytes]:
    with pikepdf.open(pdf) as doc:
        out = []
        for page in doc.pages:
            (img,) = page.get_images().values()
            out.append(img.read_raw_bytes())
        return out


def test_jpegs_embedded_byte_for_byte_every_page_renders(
    tmp_path: Path, photos: list[Path]
) -> None:
    out = tmp_path / "album.pdf"
    r = CliRunner().invoke(main, ["pdf", str(out), *map(str, photos)])
    assert r.exit_code == 0, r.output
    assert "4 page(s), 3 JPEG(s) embedded as they are, 1 re-encoded" in r.output
    streams = _streams(out)
    for src, got in zip(photos, streams, strict=True):
        if src.suffix == ".jpg":
            assert got == src.read_bytes()
    doc = pdfium.PdfDocument(str(out))
    assert len(doc) == 4
    for i, src in enumerate(photos):
        w, h = doc[i].get_size()
        with Image.open(src) as im:
            assert w / h == pytest.approx(im.width / im.height, rel=1e-3)
        bitmap = doc[i].render(scale=0.25).to_pil()
        assert bitmap.getextrema() != ((0, 0), (0, 0), (0, 0)) and bitmap.width > 10


def test_max_size_and_quality_reencode(tmp_path: Path, photos: list[Path]) -> None:
    out = tmp_path / "small.pdf"
    r = CliRunner().invoke(
        main, ["pdf", str(out), str(photos[0]), "--max-size", "200x200", "--quality", "60"]
    )
    assert r.exit_code == 0, r.output
    (stream,) = _streams(out)
    assert stream != photos[0].read_bytes()
    with Image.open(__import__("io").BytesIO(stream)) as im:
        assert max(im.size) == 200


def test_marked_selection_and_bad_files(tmp_path: Path, photos: list[Path]) -> None:
    db = str(tmp_path / "c.db")
    bad = tmp_path / "in" / "broken.jpg"
    whole = photos[0].read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])  # header fine, image data cut: never a page
    text = tmp_path / "in" / "notes.txt"
    text.write_text("not a photo")
    r = CliRunner().invoke(main, ["marks", "add", str(photos[1]), str(bad), "--db", db])
    assert r.exit_code == 0, r.output
    out = tmp_path / "marked.pdf"
    r = CliRunner().invoke(main, ["pdf", str(out), "--marked", str(text), "--db", db])
    assert r.exit_code == 3
    assert "broken.jpg: not a readable image" in r.output and "notes.txt: not an image" in r.output
    assert _streams(out) == [photos[1].read_bytes()]


def test_nothing_readable_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"")
    out = tmp_path / "none.pdf"
    r = CliRunner().invoke(main, ["pdf", str(out), str(bad)])
    assert r.exit_code == 2 and "no page" in r.output
    assert not out.exists() and os.listdir(tmp_path) == ["x.jpg"]  # no temp file left
