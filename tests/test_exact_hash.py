"""The exact stage's hashes on real photos: the head+tail hash read with one system call a
block gives the bytes the buffered reader gave (stored hashes and marks stay valid), and a scan
writes both hash columns in batches and groups only the byte-identical files.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import xxhash

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import ScanFinished
from lookalike.engine.features.exact import BLOCK, full_hash, headtail_hash


def _jpeg(img, quality: int = 92) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _buffered_headtail(path: Path, size: int) -> bytes:
    """The hash as it was computed before (Python's buffered reader): the reference."""
    h = xxhash.xxh3_128()
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as fh:
        h.update(fh.read(BLOCK))
        if size > 2 * BLOCK:
            fh.seek(size - BLOCK)
            h.update(fh.read(BLOCK))
        elif size > BLOCK:
            h.update(fh.read())
    return h.digest()


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    from skimage import data

    raw = _jpeg(data.astronaut())
    assert len(raw) > 4 * BLOCK
    return raw


@pytest.mark.parametrize(
    "size",
    [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK, 2 * BLOCK + 1, 3 * BLOCK, None],
)
def test_headtail_same_bytes_as_the_buffered_reader(tmp_path, photo_bytes, size):
    data = photo_bytes if size is None else photo_bytes[:size]
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    assert headtail_hash(str(path), len(data)) == _buffered_headtail(path, len(data))


def test_headtail_sees_head_tail_and_small_files_whole(tmp_path, photo_bytes):
    """Hard negatives: one byte changed at either end, or anywhere in a file of at most two
    blocks, changes the hash; a change in a big file's middle does not (the full hash does)."""

    def flipped(data: bytes, at: int) -> bytes:
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]

    def pair(a: bytes, b: bytes) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
        pa, pb = tmp_path / "a.jpg", tmp_path / "b.jpg"
        pa.write_bytes(a)
        pb.write_bytes(b)
        return (
            (headtail_hash(str(pa), len(a)), headtail_hash(str(pb), len(b))),
            (full_hash(str(pa)), full_hash(str(pb))),
        )

    big = photo_bytes
    for at in (0, len(big) - 1):
        (ha, hb), _ = pair(big, flipped(big, at))
        assert ha != hb
    (ha, hb), (fa, fb) = pair(big, flipped(big, len(big) // 2))
    assert ha == hb and fa != fb
    small = big[: 2 * BLOCK]
    (ha, hb), _ = pair(small, flipped(small, BLOCK + BLOCK // 2))
    assert ha != hb


def test_scan_writes_hashes_and_groups_only_byte_copies(tmp_path, photo_bytes):
    """A byte copy and a same-size file that differs in its last byte: only the copy is an
    exact cluster; the colliding files' hashes are in the catalog after the scan."""
    from skimage import data

    root = tmp_path / "lib"
    root.mkdir()
    orig = root / "astronaut.jpg"
    orig.write_bytes(photo_bytes)
    shutil.copyfile(orig, root / "astronaut_copy.jpg")
    tail = photo_bytes[:-1] + bytes([photo_bytes[-1] ^ 0x01])  # same size, other bytes
    (root / "astronaut_tail.jpg").write_bytes(tail)
    (root / "coffee.jpg").write_bytes(_jpeg(data.coffee()))
    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    exact = [
        g
        for g in fin.groups
        if {Path(m.path).name for m in g.members} >= {"astronaut.jpg", "astronaut_copy.jpg"}
    ]
    assert exact and all("coffee.jpg" not in {Path(m.path).name for m in g.members} for g in exact)
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        rows = {
            Path(os.fsdecode(p)).name: (ht, fh)
            for p, ht, fh in db.execute("SELECT path, headtail, fullhash FROM files")
        }
    ht = {n: r[0] for n, r in rows.items()}
    assert (
        ht["astronaut.jpg"]
        == ht["astronaut_copy.jpg"]
        == headtail_hash(str(orig), len(photo_bytes))
    )
    assert ht["astronaut_tail.jpg"] not in (None, ht["astronaut.jpg"])
    assert rows["astronaut.jpg"][1] == rows["astronaut_copy.jpg"][1] == full_hash(str(orig))
    assert rows["astronaut_tail.jpg"][1] is None  # its head+tail already told it apart
    assert ht["coffee.jpg"] is None  # a size of its own: never read for the exact stage
