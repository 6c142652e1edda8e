"""Real-photo pairs whose verification verdicts tests/test_verify_verdicts.py pins: copies
turned by right angles, mirrored, cropped, slightly rotated, softened (the whole-frame
fallback's pictures: too few keypoints to align) and hard negatives (bursts, stereo views,
regions of one texture, pages and screenshots of one layout)."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

Pair = tuple[str, np.ndarray, np.ndarray]
T = Image.Transpose


def _photo(name: str) -> Image.Image:
    from skimage import data

    img = getattr(data, name)()
    return Image.fromarray(img).convert("RGB")


def _crop(img: Image.Image, frac: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(w * frac), round(h * frac / 2), w, h))


def _soft(img: Image.Image, radius: int) -> Image.Image:
    """A picture too soft to align on its corners (the whole-frame fallback's pictures)."""
    return img.filter(ImageFilter.GaussianBlur(radius))


EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "rot90": lambda im: im.transpose(T.ROTATE_90),
    "rot180": lambda im: im.transpose(T.ROTATE_180),
    "rot270": lambda im: im.transpose(T.ROTATE_270),
    "mirror": lambda im: im.transpose(T.FLIP_LEFT_RIGHT),
    "flip": lambda im: im.transpose(T.FLIP_TOP_BOTTOM),
    "transverse": lambda im: im.transpose(T.TRANSVERSE),
    "crop15": lambda im: _crop(im, 0.15),
    "rot4": lambda im: im.rotate(4, resample=Image.Resampling.BICUBIC),
    "half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
}


def pairs() -> Iterator[Pair]:
    """(name, a, b) in a fixed order."""
    from skimage import data

    for name in ("astronaut", "chelsea", "coffee", "camera"):
        img = _photo(name)
        for edit, fn in EDITS.items():
            yield f"{name}/{edit}", np.asarray(img), np.asarray(fn(img))
    for name, radius in (("coffee", 25), ("coffee", 40), ("astronaut", 40), ("rocket", 25)):
        soft = _soft(_photo(name), radius)
        for edit in ("rot90", "rot180", "rot270", "mirror", "transverse", "half", "crop15"):
            yield f"soft{radius}-{name}/{edit}", np.asarray(soft), np.asarray(EDITS[edit](soft))
    horse = Image.fromarray(data.horse()).convert("RGB")
    for edit in ("rot90", "mirror", "half"):
        yield f"horse/{edit}", np.asarray(horse), np.asarray(EDITS[edit](horse))
    soft = {n: np.asarray(_soft(_photo(n), 25)) for n in ("astronaut", "coffee", "chelsea")}
    yield "soft/coffee-astronaut", soft["coffee"], soft["astronaut"]
    yield "soft/coffee-chelsea", soft["coffee"], soft["chelsea"]
    frames = [_soft(f, 25) for f in corpus.burst_frames(_photo("coffee"), seed=5)]
    yield "soft/burst-coffee", np.asarray(frames[0]), np.asarray(frames[1])
    brighter = ImageEnhance.Brightness(_soft(_photo("coffee"), 25)).enhance(1.3)
    yield "soft/coffee-brighter", soft["coffee"], np.asarray(brighter)
    names = ("astronaut", "chelsea", "coffee", "rocket")
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            yield f"other/{a}-{b}", np.asarray(_photo(a)), np.asarray(_photo(b))
    for name in ("astronaut", "coffee"):
        frames = corpus.burst_frames(_photo(name), seed=5)
        yield f"burst/{name}", np.asarray(frames[0]), np.asarray(frames[1])
        yield (
            f"burst/{name}-mirror",
            np.asarray(frames[0]),
            np.asarray(frames[2].transpose(T.FLIP_LEFT_RIGHT)),
        )
    left, right, _ = data.stereo_motorcycle()
    yield "stereo", left, right
    yield "stereo/rot90", left, np.ascontiguousarray(np.rot90(right))
    for name in ("brick", "gravel", "grass"):
        tex = getattr(data, name)()
        h, w = tex.shape[:2]
        yield f"texture/{name}", tex[: h // 2, : w // 2], tex[h // 2 :, w // 2 :]
        yield f"texture/{name}-rot90", tex[: h // 2], np.ascontiguousarray(np.rot90(tex[h // 2 :]))
    rng = random.Random(3)
    shot_a, shot_b = corpus.screenshot(rng), corpus.screenshot(rng)
    yield "screenshots/layout", np.asarray(shot_a), np.asarray(shot_b)
    yield "screenshots/half", np.asarray(shot_a), np.asarray(EDITS["half"](shot_a))
    page = Image.fromarray(data.page()).convert("RGB")
    yield "page/flip", np.asarray(page), np.asarray(EDITS["flip"](page))


def verdict(a: np.ndarray, b: np.ndarray) -> dict:
    """What the pin keeps of a pair's check: the verdict and how it was reached (the reason,
    mirrored, the turn and the block share of a whole-frame match), and whether the whole
    frames refute the pair (the hash re-check's last word)."""
    from lookalike.engine.features.frame_check import frames_differ
    from lookalike.engine.features.verify import prepare, verify_prepared

    pa, pb = prepare(a), prepare(b)
    r = verify_prepared(pa, pb)
    same = None if r.same is None else bool(r.same)
    out = {"same": same, "reason": r.reason, "mirrored": bool(r.mirrored)}
    if r.reason.endswith("(direct)") or r.reason == "content differs" and r.inlier_ratio == 1.0:
        out.update(angle=round(r.angle), bad_blocks=round(r.bad_blocks, 3))
    differ = frames_differ(pa, pb)
    out["frames_differ"] = None if differ is None else round(differ, 3)
    return out


if __name__ == "__main__":  # python tests/verdict_cases.py > tests/data/verify_verdicts.json
    import json

    print(json.dumps({name: verdict(a, b) for name, a, b in pairs()}, indent=1))
