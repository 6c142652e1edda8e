"""Are retouched copies (clone-stamp and healing fills) refuted as "part of the picture moved"?

Why (session 17, room keeper; trust item 3 of closing16): features/moved.py refutes a pixel
check when a patch of differing blocks is the other picture's content shifted ≥ 6 px (at
256 px) within 10 % of its side: a burst's moved subject. A clone stamp does the same by hand:
it copies a patch of the photo from elsewhere in it over a blemish, so the retouched copy's
differing patch IS the original's content shifted. Each skimage source (q92) is retouched at
a seeded place: a square patch (``--sizes``, share of the short side) copied from ``--offsets``
away (share of the long side; 0.04 lies inside the search radius, 0.3 outside), hard-edged
("clone") or feathered into its surroundings ("heal"), saved at q92; both ways the
verifier's verdict against the original is counted: "same", refuted as moved, refuted
otherwise (content differs, ...), or no evidence; and the pairs refuted either way (what
rank's keeper check asks, engine/keeper_check.py) and refuted as moved either way.

    python benchmarks/retouch_moved.py [--seeds 3] [-o out.json]
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from corpus import _source_image, upscale_if_small
from emit import emit

SOURCES = ("coffee", "astronaut", "chelsea", "camera", "rocket", "china", "flower")


def _q92(im: Image.Image) -> np.ndarray:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=92)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def retouch(img: np.ndarray, size: float, offset: float, heal: bool, seed: int) -> np.ndarray:
    """``img`` with a square patch (``size`` × its short side) copied from ``offset`` × its
    long side away, in a seeded direction, over a seeded place; ``heal``: feathered edges."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    s = max(4, int(size * min(h, w)))
    d = offset * max(h, w)
    for _ in range(100):
        angle = rng.uniform(0, 2 * np.pi)
        dx, dy = int(round(d * np.cos(angle))), int(round(d * np.sin(angle)))
        x, y = int(rng.integers(0, w - s)), int(rng.integers(0, h - s))
        if 0 <= x + dx <= w - s and 0 <= y + dy <= h - s:
            break
    else:
        raise ValueError("no room for the patch")
    out = img.astype(np.float32).copy()
    patch = img[y + dy : y + dy + s, x + dx : x + dx + s].astype(np.float32)
    alpha = np.ones((s, s), np.float32)
    if heal:  # a healing brush: full in the middle, fading to nothing at the edge
        edge = np.minimum(np.arange(s), np.arange(s)[::-1]).astype(np.float32)
        alpha = np.clip(np.minimum.outer(edge, edge) / max(1.0, 0.3 * s), 0, 1)
    region = out[y : y + s, x : x + s]
    out[y : y + s, x : x + s] = region * (1 - alpha[..., None]) + patch * alpha[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _kind(res: object, moved: str) -> str:
    """A verdict's kind: same, no_evidence, moved, or "other: REASON" (another refutation)."""
    if res.same:  # type: ignore[attr-defined]
        return "same"
    if res.same is None:  # type: ignore[attr-defined]
        return "no_evidence"
    reason = res.reason  # type: ignore[attr-defined]
    return "moved" if reason == moved else f"other: {reason}"


def run(seeds: int, sizes: list[float], offsets: list[float]) -> dict:
    from lookalike.engine.features.verify import R_MOVED, verify_arrays

    table: dict[str, Counter] = {}
    for sid in SOURCES:
        img = np.asarray(upscale_if_small(_source_image(sid)).convert("RGB"))
        orig = _q92(Image.fromarray(img))
        for size in sizes:
            for offset in offsets:
                for heal in (False, True):
                    key = f"{'heal' if heal else 'clone'} size {size} offset {offset}"
                    row = table.setdefault(key, Counter())
                    for seed in range(seeds):
                        copy = _q92(Image.fromarray(retouch(img, size, offset, heal, seed)))
                        kinds = [
                            _kind(verify_arrays(a, b), R_MOVED)
                            for a, b in ((orig, copy), (copy, orig))
                        ]
                        row.update(kinds)
                        row["pairs"] += 1
                        row["pairs_refuted_either_way"] += any(
                            k not in ("same", "no_evidence") for k in kinds
                        )
                        row["pairs_moved_either_way"] += "moved" in kinds
    return {k: dict(v) for k, v in table.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.03, 0.06, 0.1, 0.15])
    ap.add_argument("--offsets", type=float, nargs="+", default=[0.04, 0.3])
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    out = {"pairs_by_retouch": run(args.seeds, args.sizes, args.offsets)}
    out |= {"script": "benchmarks/retouch_moved.py", "argv": sys.argv[1:]}
    return emit(out, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
