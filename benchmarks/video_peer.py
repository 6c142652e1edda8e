"""Run the peer ``videohash2`` on a folder of videos, for benchmarks/video.py.

``videohash2`` (PyPI) is the maintained fork of ``videohash``, whose 3.0.1 calls Pillow's
removed ``Image.ANTIALIAS`` and fails on every file. It extracts frames with the ``ffmpeg`` program and hashes a collage of them into 64
bits; two videos are "similar" at ≤ 10 differing bits (its own ``is_similar``). No ffmpeg
program is installed here, so the run puts the binary shipped in the ``imageio-ffmpeg`` wheel on
PATH, in the peer's process only. It runs in the Python given (a venv with both packages):

    python -m venv --system-site-packages /tmp/peer
    /tmp/peer/bin/pip install videohash2 imageio-ffmpeg
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from pathlib import Path

_SCRIPT = r"""
import json, os, sys, tempfile
import imageio_ffmpeg
bin_dir = tempfile.mkdtemp()
os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), os.path.join(bin_dir, "ffmpeg"))
os.environ["PATH"] = bin_dir + os.pathsep + os.environ["PATH"]
from videohash2 import VideoHash
out = {}
for path in sys.argv[1:]:
    try:
        out[os.path.basename(path)] = VideoHash(path=path).hash
    except Exception as exc:  # the peer's own failure on a file: counted, run goes on
        out[os.path.basename(path)] = "error: " + type(exc).__name__ + ": " + str(exc)[:200]
print(json.dumps(out))
"""


def run_videohash(
    python: Path, folder: Path, names: list[str]
) -> tuple[set[tuple[str, str]], float, dict[str, str]]:
    """(similar pairs, wall seconds for hashing every file, per-file errors)."""
    t = time.perf_counter()
    r = subprocess.run(
        [str(python), "-c", _SCRIPT, *(str(folder / n) for n in names)],
        capture_output=True,
        check=True,
    )
    seconds = time.perf_counter() - t
    hashes = json.loads(r.stdout)
    errors = {k: v for k, v in hashes.items() if v.startswith("error")}
    good = {
        k: int(v, 2) if v.startswith("0b") else int(v, 16)
        for k, v in hashes.items()
        if k not in errors
    }
    pairs = {
        (a, b)
        for a, b in itertools.combinations(sorted(good), 2)
        if bin(good[a] ^ good[b]).count("1") <= 10
    }
    return pairs, seconds, errors
