"""A small upright JPEG is its own thumbnail (features/extract.py ``source_thumbnail``): its
bytes, metadata dropped, instead of a resize and an encode (0.5 ms of a ≈ 10 ms small photo,
issue 13). Proved on real photos saved small, through a real scan, for every consumer that
reads a thumbnail: the app's cache and its fits, compare's fallback, the JSON output, the
server's ``GET /thumbs/KEY`` and its gate's key, and the app's remote port."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from lookalike.engine.api import Engine
from lookalike.engine.events import ScanFinished
from lookalike.engine.features import extract as ex
from lookalike.engine.group_thumbs import key_int
from lookalike.engine.media.decode import WHOLE_READ, decode_reduced
from lookalike.engine.options import ScanOptions


def _small(arr: np.ndarray, side: int = 300) -> Image.Image:
    im = Image.fromarray(arr)
    scale = side / max(im.size)
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[271] = "Phone maker"  # Make
    exif[274] = orientation
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 30.0)  # GPS latitude: must not reach the cache
    return exif.tobytes()


def _pixels(blob: bytes | str) -> np.ndarray:
    src = io.BytesIO(blob) if isinstance(blob, bytes) else blob
    with Image.open(src) as im:
        return np.asarray(im.convert("RGB"), dtype=float)


def test_a_small_upright_jpeg_is_its_own_thumbnail_without_its_metadata(tmp_path):
    cases = {  # name: (image, save options)
        "plain": (_small(data.coffee()), {"quality": 90}),
        "meta": (_small(data.chelsea()), {"quality": 92, "exif": _exif(1), "comment": b"x" * 900}),
        "progressive": (_small(data.astronaut(), 480), {"quality": 85, "progressive": True}),
        "grey": (_small(data.camera(), 200), {"quality": 90}),
    }
    for name, (im, opts) in cases.items():
        path = tmp_path / f"{name}.jpg"
        im.save(path, **opts)
        decoded = decode_reduced(str(path))
        thumb = ex.source_thumbnail(decoded)
        assert thumb is not None, name
        raw = path.read_bytes()
        assert len(thumb) <= len(raw) and thumb[-2:] == b"\xff\xd9"
        if name != "meta":
            assert thumb == raw, name  # nothing to drop: the file's very bytes
        with Image.open(io.BytesIO(thumb)) as t:
            assert t.size == im.size and not t.getexif() and "comment" not in t.info
            assert t.mode == ("L" if name == "grey" else "RGB")
        assert np.array_equal(_pixels(thumb), _pixels(str(path)))  # the same picture
        f = ex.features_of(decoded, str(tmp_path / "c" / f"{name}.jpg"))
        assert f.thumb and Path(f.thumb).read_bytes() == thumb
    assert b"Phone maker" not in (tmp_path / "c" / "meta.jpg").read_bytes()


def test_what_a_viewer_could_show_otherwise_is_encoded_as_before(tmp_path):
    """Turned by EXIF, CMYK, larger than SOURCE_SIDE, larger than a whole read, not a JPEG,
    or a header cut short: the thumbnail is the decode's pixels, resized and encoded."""
    photo = _small(data.coffee())  # 300×200
    noise = np.random.default_rng(0).integers(0, 256, (500, 500, 3), dtype=np.uint8)
    cases = {
        "turned.jpg": (photo, {"exif": _exif(6)}),
        "cmyk.jpg": (photo.convert("CMYK"), {}),
        "large.jpg": (_small(data.coffee(), 600), {}),
        "heavy.jpg": (Image.fromarray(noise), {"quality": 100}),
        "photo.png": (photo, {}),
    }
    for name, (im, opts) in cases.items():
        path = tmp_path / name
        im.save(path, **opts)
        decoded = decode_reduced(str(path))
        assert ex.source_thumbnail(decoded) is None, name
        f = ex.features_of(decoded, str(tmp_path / "c" / f"{name}.jpg"))
        with Image.open(f.thumb) as t:
            assert t.format == "JPEG" and t.mode == "RGB"
            assert max(t.size) == min(ex.THUMB_SIZE, max(decoded.rgb.size)), name
            if name == "turned.jpg":
                assert t.size == (171, 256)  # upright as the camera meant it, like the decode
    assert os.path.getsize(tmp_path / "heavy.jpg") > WHOLE_READ
    raw = (tmp_path / "c" / "large.jpg.jpg").read_bytes()
    assert ex.jpeg_as_thumbnail(raw[:40]) is None and ex.jpeg_as_thumbnail(b"\xff\xd8") is None
    assert ex.jpeg_as_thumbnail(raw.replace(b"\xff\xc0", b"\xff\xc9", 1)) is None  # arithmetic


def _library(tmp: Path) -> Path:
    """Real photos saved at 300 px (the cat with EXIF), an exact copy of two, and two shots
    of one scene (a hard negative, kept apart)."""
    import shutil

    lib = tmp / "lib"
    lib.mkdir()
    _small(data.chelsea()).save(lib / "cat.jpg", quality=90, exif=_exif(1))
    _small(data.coffee()).save(lib / "cup.jpg", quality=90)
    for i in (0, 1):
        _small(data.stereo_motorcycle()[i]).save(lib / f"moto{i}.jpg", quality=90)
    for name in ("cat", "cup"):
        shutil.copy(lib / f"{name}.jpg", lib / f"{name}-copy.jpg")
    return lib


def _check_thumb(thumb: str, photo: str) -> None:
    """The thumbnail is the photo's bytes (EXIF dropped), and the app's cache reads it at
    THUMB_SIZE, the same picture."""
    from lookalike.ui.widgets.thumbs import ThumbCache

    raw, got = Path(photo).read_bytes(), Path(thumb).read_bytes()
    assert got == raw if "cup" in photo else (b"Phone maker" not in got and len(got) < len(raw))
    im = ThumbCache().load(thumb)
    assert im.mode == "RGB" and max(im.size) == ex.THUMB_SIZE  # 300 px kept at 256
    ref = np.asarray(Image.open(photo).convert("RGB").resize(im.size), dtype=float)
    assert np.abs(np.asarray(im, dtype=float) - ref).mean() < 4


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, list]:
    tmp = tmp_path_factory.mktemp("scan")
    lib = _library(tmp)
    eng = Engine(tmp / "cat.db", tmp / "thumbs")
    events = list(eng.scan_sync(ScanOptions(roots=(lib,), workers=1)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished)
    return tmp, list(fin.groups)


def test_a_scan_writes_source_thumbnails_every_app_view_reads(scanned):
    from lookalike.ui.screens.compare import load_picture
    from lookalike.ui.widgets.thumbs import ThumbCache

    tmp, groups = scanned
    names = sorted(sorted(Path(m.path).name for m in g.members) for g in groups)
    assert names == [["cat-copy.jpg", "cat.jpg"], ["cup-copy.jpg", "cup.jpg"]]
    cache = ThumbCache()
    for m in (m for g in groups for m in g.members):
        assert Path(m.thumb).is_relative_to(tmp / "thumbs") and not os.path.islink(m.thumb)
        assert os.stat(m.thumb).st_ino != os.stat(m.path).st_ino  # a copy, never a link
        _check_thumb(m.thumb, m.path)
        assert key_int(m.thumb) is not None  # the server's gate reads its key from the name
        im = cache.load(m.thumb)
        assert cache.load_fitted(m.thumb, (20, 8), (0, 0, 0), lines=True) is not None
        assert cache.lines(m.thumb, (20, 8), (0, 0, 0))  # the half-cell tiles' drawing
        pic, note = load_picture(str(tmp / "gone.jpg"), m.thumb, cache)  # original gone
        assert note == "thumbnail" and pic is im
        assert m.to_json()["thumb"] == m.thumb  # the --format json contract


def test_the_server_serves_and_the_remote_port_fetches_source_thumbnails(scanned):
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    from starlette.testclient import TestClient

    from lookalike.serve.app import ServeSettings, make_app

    tmp, groups = scanned
    settings = ServeSettings(roots=(str((tmp / "lib").resolve()),), catalog=tmp / "cat.db",
                             thumb_dir=tmp / "thumbs", state_dir=tmp / "state", workers=1)  # fmt: skip
    with TestClient(make_app(settings), base_url="http://127.0.0.1") as c:
        review = c.get("/review/groups").json()
        files = [f for g in review["groups"] for f in g["files"]]
        assert len(files) == 4
        for f in files:
            got = c.get(f["thumb_url"])
            assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
            assert got.content == Path(f["thumb"]).read_bytes()
            with Image.open(io.BytesIO(got.content)) as t:
                assert max(t.size) == 300 and not t.getexif()


def test_the_app_on_a_server_fetches_source_thumbnails(tmp_path):
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    from lookalike.ui.remote_port import RemotePort
    from serve_helpers import Server

    async def collect(stream) -> list:  # noqa: ANN001 - the port's async event stream
        return [ev async for ev in stream]

    lib = _library(tmp_path)
    server = Server(tmp_path, lib)
    try:
        port = RemotePort(server.url, cache=tmp_path / "remote-thumbs")
        events = asyncio.run(collect(port.scan(ScanOptions(roots=(lib,), workers=1))))
        members = [m for g in events[-1].groups for m in g.members]
        assert len(members) == 4
        for m in members:
            assert Path(m.thumb).is_relative_to(tmp_path / "remote-thumbs")
            _check_thumb(m.thumb, m.path)
    finally:
        server.stop()
