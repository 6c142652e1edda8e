"""The catalog stage's sniff hashes a colliding photo's head and tail from the same read: the
exact stage then opens none of them, and the stored hashes are the ones ``headtail_hash``
gives (rescans and marks compare them). Files that are not media are not hashed, even when
their size collides, and byte copies are still the only exact clusters.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import ScanFinished
from lookalike.engine.features import exact as hashing
from lookalike.engine.features.exact import BLOCK, full_hash, headtail_hash


def _jpeg(img, quality: int = 92) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.mark.parametrize("size", [1, 31, BLOCK, 2 * BLOCK, 2 * BLOCK + 1, None])
def test_first_block_then_headtail_of_is_headtail_hash(tmp_path, size):
    from skimage import data

    raw = _jpeg(data.astronaut())
    raw = raw if size is None else raw[:size]
    path = tmp_path / "p.jpg"
    path.write_bytes(raw)
    fd = os.open(path, os.O_RDONLY)
    try:
        first = hashing.first_block(fd, len(raw))
        assert first[:32] == raw[:32]
        assert hashing.headtail_of(fd, len(raw), first) == headtail_hash(str(path), len(raw))
    finally:
        os.close(fd)


def _rows(db_path: Path) -> dict[str, tuple]:
    with sqlite3.connect(db_path) as db:
        return {
            Path(os.fsdecode(p)).name: (kind, ht, fh)
            for p, kind, ht, fh in db.execute("SELECT path, kind, headtail, fullhash FROM files")
        }


def test_scan_hashes_colliding_photos_in_the_sniff(tmp_path, monkeypatch):
    """The exact stage may not read a head or tail (it would raise): the big photo's byte
    copy is still its cluster, a same-size photo whose tail differs and a small photo's
    same-size variant are not, a misnamed file of a colliding size is hashed (it is media),
    a text file of that size is not, and a photo of a size of its own is never hashed."""
    from skimage import data

    root = tmp_path / "lib"
    root.mkdir()
    big = _jpeg(data.astronaut())
    assert len(big) > 2 * BLOCK
    (root / "a.jpg").write_bytes(big)
    shutil.copyfile(root / "a.jpg", root / "a_copy.jpg")
    (root / "a_tail.jpg").write_bytes(big[:-1] + bytes([big[-1] ^ 0x01]))
    (root / "notes.txt").write_bytes(b"x" * len(big))
    (root / "fake.jpg").write_bytes(b"y" * len(big))
    small = _jpeg(data.coffee()[:96, :96], 80)
    assert len(small) <= 2 * BLOCK
    (root / "s.jpg").write_bytes(small)
    (root / "s_mid.jpg").write_bytes(small[:-3] + bytes([small[-3] ^ 0x10]) + small[-2:])
    (root / "own.jpg").write_bytes(_jpeg(data.chelsea()))

    def no_read(path: str, size: int) -> bytes:
        raise AssertionError(f"the exact stage read {path}")

    monkeypatch.setattr(hashing, "headtail_hash", no_read)
    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")
    fin = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    members = [{Path(m.path).name for m in g.members} for g in fin.groups]
    assert any({"a.jpg", "a_copy.jpg"} <= m for m in members)
    rows = _rows(tmp_path / "catalog.db")
    monkeypatch.undo()
    for name in ("a.jpg", "a_copy.jpg", "a_tail.jpg", "fake.jpg", "s.jpg", "s_mid.jpg"):
        assert rows[name][1] == headtail_hash(str(root / name), (root / name).stat().st_size)
    assert rows["a.jpg"][1] == rows["a_copy.jpg"][1] != rows["a_tail.jpg"][1]
    assert rows["s.jpg"][1] != rows["s_mid.jpg"][1]
    assert rows["a.jpg"][2] == rows["a_copy.jpg"][2] == full_hash(str(root / "a.jpg"))
    assert rows["a_tail.jpg"][2] is None  # its head+tail told it apart: never read whole
    assert rows["s.jpg"][2] is None and rows["s_mid.jpg"][2] is None  # no exact cluster
    assert rows["notes.txt"][0] == "other" and rows["notes.txt"][1] is None
    assert rows["fake.jpg"][0] == "other"
    assert rows["own.jpg"][0] == "image" and rows["own.jpg"][1] is None
