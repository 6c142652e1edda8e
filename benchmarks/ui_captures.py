"""SVG captures of the review screen for the docs, from the real app on a real scan.

Two real photos (scikit-image, via ``corpus.py``), each as a camera original (camera EXIF) and
five edited copies (letterboxed, PNG re-save, watermark, noise, brightened by an editor), are
scanned by the real engine inside the app; the captures show Review with the letterboxed copy
selected at 80×24 and 120×40 with half-cell thumbnails (``--compare`` adds Compare at 120×40). The library
lies under a fixed folder so the paths in the pictures do not change between runs.

    python benchmarks/ui_captures.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import ORIGINAL_QUALITY, SOURCES, TRANSFORMS, encode, load_original  # noqa: E402
from keeper import camera_exif, edited_exif, with_exif  # noqa: E402

BASE = Path("/tmp/lookalike-captures")
COPIES = ("letterbox_16x9", "to_png", "watermark_centre", "noise", "brightness_up")
SIZES = ((80, 24), (120, 40))


def make_library(root: Path) -> None:
    """The camera original has the longest name, so the path never decides the keeper."""
    from PIL import Image

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for sid in ("astronaut", "coffee"):
        raw = encode(load_original(SOURCES[sid].path()), "JPEG", quality=ORIGINAL_QUALITY)
        cam, taken = camera_exif(sid, 0)
        (root / f"{sid}_original_from_the_camera.jpg").write_bytes(with_exif(raw, cam))
        for name in COPIES:
            made = TRANSFORMS[name].fn(
                Image.open(io.BytesIO(raw)).convert("RGB"), raw, random.Random(1)
            )
            data = made.data
            if name == "brightness_up":
                data = with_exif(data, edited_exif(cam, taken, "Adobe Photoshop 25.0", None))
            (root / f"{sid}_{name}.{made.ext}").write_bytes(data)


async def _until(pilot: Any, cond: Any, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("the app never got there")
        await pilot.pause(0.1)


async def capture(out: Path, size: tuple[int, int], compare: bool) -> Path:
    from textual_image.widget import HalfcellImage

    from lookalike.engine import Engine
    from lookalike.ui.app import make_app

    work = BASE / "state"
    for var in ("LOOKALIKE_CONFIG_DIR", "LOOKALIKE_CACHE_DIR", "LOOKALIKE_DATA_DIR"):
        os.environ[var] = str(work / var.lower())
    root = BASE / "photos"
    engine = Engine(work / "catalog.db", work / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, image_cls=HalfcellImage, roots=[root])
    async with app.run_test(size=size) as pilot:
        await pilot.press("1")
        await pilot.press("s")
        await _until(pilot, lambda: app.scan_model.state == "finished")
        await _until(pilot, lambda: app.current_mode == "review" and len(app.review.groups) == 2)
        r = app.review
        target = str(root / "coffee_letterbox_16x9.jpg")
        index, pos = next(
            (i, j)
            for i, gid in enumerate(r.view)
            for j, m in enumerate(r.by_id[gid].members)
            if m.path == target
        )
        await pilot.press("g", *["j"] * index, *["l"] * pos)
        await _until(
            pilot, lambda: r.current_member is not None and r.current_member.path == target
        )
        if compare:
            await pilot.press("v")
        await pilot.pause(2.0)  # thumbnails decoded by the loader thread
        name = f"{'compare' if compare else 'review'}-{size[0]}x{size[1]}.svg"
        app.save_screenshot(name, str(out))
        await pilot.press("q")
    return out / name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--compare", action="store_true", help="also Compare at 120x40")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    make_library(BASE / "photos")
    shutil.rmtree(BASE / "state", ignore_errors=True)
    jobs = [(size, False) for size in SIZES] + ([((120, 40), True)] if args.compare else [])
    for size, compare in jobs:
        print(asyncio.run(capture(args.out, size, compare)))


if __name__ == "__main__":
    main()
