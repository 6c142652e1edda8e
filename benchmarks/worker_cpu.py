"""What a decode worker spends on a photo beyond the per-core floor, in CPU time, paired.

Why: issue 13's first 100k scan ran at 0.60× "floor × cores". The box is shared, so wall
ratios are noisy; this script times, file by file and interleaved (so the load hits every
variant alike), with ``time.process_time`` in one process:

- ``floor``: ``features.extract.extract_file`` without a thumbnail (scale.py's floor);
- ``task``: the worker's whole job, ``stages.extract.extract_task`` with the thumbnail, and the
  pickling of its result for the trip back to the driver;
- ``thumb_jpeg``: the thumbnail as scans write it now (``write_thumbnail``: OpenCV resize of
  the features' array, JPEG);
- ``thumb_box``: the thumbnail as scans wrote it from 8c56114 to 279d7d2 (Pillow BOX resize of
  the decoded image, JPEG), for comparison;
- ``thumb_webp``: the thumbnail as scans wrote it before (copy, ``thumbnail()``, WebP q75
  method 0, saved by path), for comparison.

    python benchmarks/worker_cpu.py /tmp/lookalike-scale/m10000 --count 400
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.engine.features import extract as ex
from lookalike.engine.media.decode import decode_reduced
from lookalike.engine.stages.extract import extract_task


def _webp_thumbnail(rgb: Image.Image, path: str) -> None:
    """The thumbnail writer before issue 13's rate work (496d17d), kept here to compare."""
    thumb = rgb.copy()
    thumb.thumbnail((ex.THUMB_SIZE, ex.THUMB_SIZE), Image.Resampling.BILINEAR)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    thumb.save(tmp, "WEBP", quality=75, method=0)
    os.replace(tmp, path)


def _box_thumbnail(rgb: Image.Image, path: str) -> None:
    """The JPEG writer of 8c56114..279d7d2: Pillow's BOX resize, then the same encode and write."""
    w, h = rgb.size
    scale = ex.THUMB_SIZE / max(w, h)
    if scale < 1:
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    rgb.save(tmp, "JPEG", quality=ex.THUMB_QUALITY)
    os.replace(tmp, path)


def measure(files: list[Path], tmp: str) -> dict[str, float]:
    """CPU ms per file of each variant, the files interleaved."""
    budget = 512 * 2**20

    def task(i: int, f: Path) -> None:
        pickle.dumps(
            extract_task((i, str(f), f"{tmp}/t/{i % 256:02x}/{i}.jpg", 250_000_000, budget))
        )

    def thumb(write, suffix: str):  # noqa: ANN001, ANN202 - a small local factory
        return lambda i, f: write(decode_reduced(str(f)).rgb, f"{tmp}/{suffix}/{i % 256:02x}/{i}")

    variants = {
        "floor": lambda i, f: ex.extract_file(str(f), None, 250_000_000),
        "task": task,
        "decode": lambda i, f: decode_reduced(str(f)),
        "decode_thumb_jpeg": thumb(lambda rgb, p: ex.write_thumbnail(np.asarray(rgb), p), "j"),
        "decode_thumb_box": thumb(_box_thumbnail, "b"),
        "decode_thumb_webp": thumb(_webp_thumbnail, "w"),
    }
    for f in files[:10]:  # imports and allocator warm, as in a long-lived worker
        ex.extract_file(str(f), None, 250_000_000)
    cpu = dict.fromkeys(variants, 0.0)
    for i, f in enumerate(files):
        for name, fn in variants.items():
            t = time.process_time()
            fn(i, f)
            cpu[name] += time.process_time() - t
    ms = {k: v * 1000 / len(files) for k, v in cpu.items()}
    return {
        "floor_ms": round(ms["floor"], 3),
        "task_ms": round(ms["task"], 3),
        "task_over_floor": round(ms["task"] / ms["floor"], 3),
        "thumb_jpeg_ms": round(ms["decode_thumb_jpeg"] - ms["decode"], 3),
        "thumb_box_ms": round(ms["decode_thumb_box"] - ms["decode"], 3),
        "thumb_webp_ms": round(ms["decode_thumb_webp"] - ms["decode"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (with photos/)")
    ap.add_argument("--count", type=int, default=400)
    args = ap.parse_args(argv)
    files = sorted((args.set / "photos").rglob("*.jpg"))[: args.count]
    if not files:
        print(f"no photos under {args.set / 'photos'}: write a set with benchmarks/scale.py "
              "--make-only first", file=sys.stderr)  # fmt: skip
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = measure(files, tmp)
    out.update(files=len(files), load_avg=[round(x, 2) for x in os.getloadavg()],
               date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))  # fmt: skip
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
