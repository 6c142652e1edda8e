"""Memory budget per decode: a small file holding a huge picture is refused before it is
decoded, and a large one under the budget decodes without extra full-size copies. Peak memory
is measured in a fresh child process (ru_maxrss), never estimated."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from PIL import Image
from skimage import data

CHILD = r"""
import json, resource, sys
from lookalike.engine.media.decode import DecodeError, decode_reduced
import numpy, PIL.Image  # imports counted in the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {"before_kb": before}
try:
    d = decode_reduced(sys.argv[1], budget=int(sys.argv[2]) * 2**20)
    out.update(size=list(d.rgb.size), width=d.width, height=d.height, coverage=d.alpha_coverage)
except DecodeError as exc:
    out["error"] = str(exc)
out["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def big_png(path: Path, width: int, height: int) -> Path:
    """An RGBA PNG written row by row (the test never holds the picture in memory): opaque
    top half in a horizontal gradient, transparent bottom half; it compresses to little."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ramp = [x * 255 // max(width - 1, 1) for x in range(width)]
    # PNG "Sub" filter: each byte minus the same channel of the pixel to its left
    sub = [(ramp[0], 255 - ramp[0], 128, 255)] + [
        ((b - a) % 256, (a - b) % 256, 0, 0) for a, b in zip(ramp, ramp[1:], strict=False)
    ]
    opaque = b"\1" + b"".join(bytes(p) for p in sub)
    clear = b"\0" + bytes(4 * width)
    z = zlib.compressobj(6)
    idat = bytearray()
    for y in range(height):
        idat += z.compress(opaque if y < height // 2 else clear)
    idat += z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", bytes(idat))
        + chunk(b"IEND", b"")
    )
    return path


def decode_in_child(path: Path, budget_mb: int) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(budget_mb)],
        capture_output=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def test_huge_rgba_png_is_refused_before_decoding(tmp_path):
    png = big_png(tmp_path / "huge.png", 15000, 15000)
    assert png.stat().st_size < 4_000_000  # 900 MB of pixels in a small file
    out = decode_in_child(png, 512)
    assert out["error"] == (
        "too large to decode within the memory budget of 512 MiB: 15000×15000 RGBA needs "
        "about 1717 MiB; raise --max-decode-mb"
    )
    assert out["peak_kb"] - out["before_kb"] < 50 * 1024  # nothing was decoded


def test_large_rgba_png_decodes_without_full_size_copies(tmp_path):
    png = big_png(tmp_path / "large.png", 6000, 6000)  # 137 MiB once decoded
    out = decode_in_child(png, 512)
    assert "error" not in out, out
    assert (out["width"], out["height"]) == (6000, 6000)
    assert min(out["size"]) == 320
    assert abs(out["coverage"] - 0.5) < 0.01
    decoded_mb = 6000 * 6000 * 4 / 2**20
    grown_mb = (out["peak_kb"] - out["before_kb"]) / 1024
    # the decoded image and one premultiplied copy at most (the old path made five)
    assert grown_mb < 3 * decoded_mb, grown_mb  # was 6.2× before the budget work


def test_budget_option_reaches_the_decode_workers(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    Image.fromarray(data.astronaut()).save(lib / "man.jpg")
    (lib / "man-copy.jpg").write_bytes((lib / "man.jpg").read_bytes())
    big_png(lib / "poster.png", 4000, 4000)  # 122 MiB at peak: refused under a 64 MiB budget
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(lib), "--db",
         str(tmp_path / "c.db"), "--workers", "2", "--max-decode-mb", "64"],
        capture_output=True, timeout=300, env={**os.environ},
    )  # fmt: skip
    assert r.returncode == 3, r.stderr.decode()
    doc = json.loads(r.stdout)
    assert doc["errors"] == [
        {
            "path": str(lib / "poster.png"),
            "error": "too large to decode within the memory budget of 64 MiB: 4000×4000 RGBA "
            "needs about 122 MiB; raise --max-decode-mb",
        }
    ]
    assert [len(g["files"]) for g in doc["groups"]] == [2]
    assert str(lib / "poster.png").encode() in r.stderr  # and one line on stderr
