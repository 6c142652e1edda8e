"""Does sensor noise tell a copy from a new exposure of the same scene? (experiment, issue 13)

Why: frames of one scene without EXIF (a stripped night-sky session, a time-lapse render,
extracted video frames) group as "same photo": the signatures and the pixel re-check cannot
tell a 1-px drift from a 1-px crop. A copy (re-save, resize, format, rotation, mirror, crop,
colour edit) carries its source's noise realisation, attenuated by the edit; a new exposure has
its own. This aligns each pair as the re-check does (ORB + RANSAC similarity, the mirrored
image tried too, on ``verify.prepare``'s working images), refines the fit to sub-pixel with ECC
at full resolution, warps the larger image onto the smaller's grid and prints the normalised
correlation of the two high-pass residuals (grey − Gaussian blur) over the overlap, per family:

* copies: each corpus transform (``corpus.TRANSFORMS``) of skimage photos given their own
  sensor noise, and of sky frames (``dense_frames.sky_frames``); the planted copies of a
  ``dense_frames.py`` set (``--sky-set``: its labels.json);
* exposures: sky frames 1, 5 and 25 apart, video frames and the same frame's next lap (new
  noise and exposure), burst frames (``corpus.burst_frames``), a star field rendered twice
  with new noise (``corpus.render_exposure``), the stereo pair.

    python benchmarks/noise_split.py --sky-set /tmp/dense-a/sky250

A threshold splits them only if every copy's correlation is above every exposure's that the
verifier calls "same" (printed: the margin).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).parent))

from corpus import (  # noqa: E402
    TRANSFORMS,
    _sky,
    _source_image,
    burst_frames,
    render_exposure,
)
from dense_frames import sky_frames, video_frames  # noqa: E402
from lookalike.engine.features import verify  # noqa: E402

MAX_SIDE = 1024  # decoded long side the residuals are compared at (cost bound)
BAND = (0.0, 1.5)  # residual: blur(σ lo) − blur(σ hi) (lo 0: the grey itself)
PHOTOS = ("astronaut", "coffee", "chelsea")
STATS = ("corr", "edge_tie", "lag1", "diff_rms")
SKIPPED = {"exact_copy"}  # byte-identical: found by the exact stage, never re-checked

Pair = tuple[str, str, Image.Image, Image.Image]  # family, name, a, b


def _gray(img: Image.Image) -> np.ndarray:
    g = np.asarray(img.convert("L"), dtype=np.float32)
    s = MAX_SIDE / max(g.shape)
    if s < 1:
        g = cv2.resize(
            g, (round(g.shape[1] * s), round(g.shape[0] * s)), interpolation=cv2.INTER_AREA
        )
    return g


def _coarse_fit(ga: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, int] | None:
    """b → a similarity in full-resolution pixels, from the re-check's own ORB matches."""
    pa = verify.prepare(ga.astype(np.uint8))
    pb = verify.prepare(gb.astype(np.uint8))
    xa, xb = verify._mutual_matches(pa, pb)
    if len(xa) < verify.MIN_INLIERS:
        return None
    m, inl = cv2.estimateAffinePartial2D(xb, xa, method=cv2.RANSAC, ransacReprojThreshold=3.0,
                                         maxIters=3000, confidence=0.995)  # fmt: skip
    if m is None:
        return None
    sa = pa.work.shape[1] / ga.shape[1]
    sb = pb.work.shape[1] / gb.shape[1]
    full = np.vstack([m, [0, 0, 1]])
    full = np.diag([1 / sa, 1 / sa, 1]) @ full @ np.diag([sb, sb, 1])
    return full[:2].astype(np.float32), int(inl.sum())


def _fit(ga: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The better of b and mirrored b: (b's grey as used, its b → a transform)."""
    best = None
    for g in (gb, np.ascontiguousarray(gb[:, ::-1])):
        fit = _coarse_fit(ga, g)
        if fit is not None and (best is None or fit[1] > best[2]):
            best = (g, fit[0], fit[1])
    return None if best is None else (best[0], best[1])


def pair_stats(a: Image.Image, b: Image.Image) -> dict | None:
    """Once ``a`` and ``b`` are aligned on the smaller image's grid: the normalised correlation
    of their band-pass residuals (``corr``) and the shape of their difference (None: no
    alignment)."""
    ga, gb = _gray(a), _gray(b)
    fit = _fit(ga, gb)
    if fit is None:
        return None
    gb, m = fit
    m3 = np.vstack([m, [0, 0, 1]])
    if ga.size < gb.size:  # template: the smaller image; warp: template pixel → other's pixel
        small, big, warp = ga, gb, np.linalg.inv(m3)[:2]
    else:
        small, big, warp = gb, ga, m
    scale = float(np.hypot(warp[0, 0], warp[1, 0]))
    if scale > 1.2:  # the larger image is shrunk: blur first, as a resize would
        big = cv2.GaussianBlur(big, (0, 0), 0.4 * scale)
    warp = warp.astype(np.float32)
    try:
        _, warp = cv2.findTransformECC(small, big, warp, cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-6),
                                       None, 5)  # fmt: skip
    except cv2.error:
        pass  # keep the coarse fit
    h, w = small.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    moved = cv2.warpAffine(big, warp, (w, h), flags=flags)
    inside = cv2.warpAffine(np.ones_like(big), warp, (w, h), flags=flags) > 0.999
    inside = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    inside &= (small > 2) & (small < 253) & (moved > 2) & (moved < 253)  # clipped: no noise
    if inside.sum() < 1000:
        return None
    ra, rb = _band(small)[inside], _band(moved)[inside]
    ra -= ra.mean()
    rb -= rb.mean()
    corr = float((ra * rb).sum() / np.sqrt((ra * ra).sum() * (rb * rb).sum() + 1e-9))
    return dict(corr=corr, **_difference_shape(small, moved, inside))


def _difference_shape(small: np.ndarray, moved: np.ndarray, inside: np.ndarray) -> dict:
    """What the difference of the aligned pair looks like: a new exposure's is sensor noise
    (white: ``lag1`` ≈ 0, blind to the scene's edges: ``edge_tie`` ≈ 0); a copy's is the
    edit's error (JPEG, resampling, blur: tied to edges, smooth)."""
    x, y = moved[inside], small[inside]
    gain, offset = np.polyfit(x, y, 1)  # colour edits: one gain and offset
    d = np.zeros_like(small)
    d[inside] = y - (gain * x + offset)
    gx = cv2.Sobel(cv2.GaussianBlur(small, (0, 0), 1.0), cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(cv2.GaussianBlur(small, (0, 0), 1.0), cv2.CV_32F, 0, 1)
    edge = np.hypot(gx, gy)[inside]
    ad = np.abs(d[inside])
    tie = float(np.corrcoef(ad, edge)[0, 1]) if edge.std() > 0 and ad.std() > 0 else 0.0
    both = inside[:, 1:] & inside[:, :-1]
    a, b = d[:, 1:][both], d[:, :-1][both]
    lag1 = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
    return dict(edge_tie=tie, lag1=lag1, diff_rms=float(np.sqrt((d[inside] ** 2).mean())))


def _band(g: np.ndarray) -> np.ndarray:
    lo, hi = BAND
    fine = g if lo <= 0 else cv2.GaussianBlur(g, (0, 0), lo)
    return fine - cv2.GaussianBlur(g, (0, 0), hi)


def _decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def _noisy_original(img: Image.Image, seed: int, sigma: float = 3.0) -> tuple[Image.Image, bytes]:
    """A camera original: the photo with its own sensor noise, stored as a q92 JPEG."""
    rng = np.random.default_rng(seed)
    a = np.asarray(img, dtype=np.float32) + rng.normal(0, sigma, (img.height, img.width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=92)
    raw = buf.getvalue()
    return _decode(raw), raw


def copy_pairs(sky_set: Path | None) -> Iterator[Pair]:
    """Every corpus transform of noisy photos and of sky frames; a sky set's planted copies."""
    originals = [(sid, _source_image(sid)) for sid in PHOTOS]
    originals += [(f"sky{k}", im) for k, im in enumerate(sky_frames(2, seed=7))]
    for i, (sid, img) in enumerate(originals):
        orig, raw = _noisy_original(img, seed=i) if not sid.startswith("sky") else _as_jpeg(img)
        for t in TRANSFORMS.values():
            if not t.available or t.name in SKIPPED:
                continue
            made = t.fn(orig, raw, random.Random(i))
            fam = "copy/sky" if sid.startswith("sky") else "copy/photo"
            yield fam, f"{sid}:{t.name}", orig, _decode(made.data)
    if sky_set is not None:
        for cp in sorted((sky_set / "copies").glob("c*.jpg")):
            src = sky_set / "frames" / f"f{cp.stem[1:6]}.jpg"
            yield "copy/planted", cp.name, _open(src), _open(cp)


def _as_jpeg(img: Image.Image) -> tuple[Image.Image, bytes]:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return _decode(buf.getvalue()), buf.getvalue()


def exposure_pairs(sky_set: Path | None, video_n: int) -> Iterator[Pair]:
    """New exposures of one scene: sky frames k apart, video frames, bursts, star fields, stereo."""
    if sky_set is not None:
        frames = sorted((sky_set / "frames").glob("f*.jpg"))
        for k in range(0, len(frames) - 25, max(1, len(frames) // 6)):
            for gap in (1, 5, 25):
                a, b = frames[k], frames[k + gap]
                yield f"exposure/sky+{gap}", f"{a.stem}~{b.stem}", _open(a), _open(b)
    vids = list(video_frames(video_n))
    lap = 622
    for k in range(0, min(lap, video_n) - 1, 60):
        yield "exposure/video+1", f"v{k}~v{k + 1}", vids[k], vids[k + 1]
    for k in range(0, max(0, video_n - lap), 3):
        yield "exposure/video-lap", f"v{k}~v{k + lap}", vids[k], vids[k + lap]
    for i, sid in enumerate(("china", "flower", "astronaut", "coffee")):
        fr = burst_frames(_source_image(sid), seed=i)
        for x, y in ((0, 1), (1, 2), (0, 2)):
            yield "exposure/burst", f"{sid}{x}~{y}", fr[x], fr[y]
    for s in range(3):
        stars = _sky(100 + s)
        a, b = (render_exposure(stars, (300, 300), seed=1000 * s + j) for j in (1, 2))
        yield "exposure/starfield", f"stars{s}", a, b
    yield (
        "exposure/stereo",
        "motorcycle",
        *(_source_image(f"motorcycle_{side}") for side in ("left", "right")),
    )


def _open(p: Path) -> Image.Image:
    with Image.open(p) as im:
        return im.convert("RGB")


def measure(pairs: Iterator[Pair]) -> list[dict]:
    rows = []
    for fam, name, a, b in pairs:
        t = time.process_time()
        stats = pair_stats(a, b) or dict.fromkeys(STATS)
        cpu = time.process_time() - t
        v = verify.verify_arrays(a, b)
        rows.append(dict(family=fam, name=name, same=bool(v.same), reason=v.reason,
                         cpu_s=round(cpu, 3), **stats))  # fmt: skip
    return rows


def _summary(rows: list[dict], key: str, stat: str) -> str:
    ok = [r for r in rows if r[stat] is not None]
    if not ok:
        return f"  {key:<22} n={len(rows):>3}  (no alignment)"
    p = np.percentile([r[stat] for r in ok], [0, 10, 50, 90, 100])
    lo = min(ok, key=lambda r: r[stat])["name"]
    hi = max(ok, key=lambda r: r[stat])["name"]
    return (f"  {key:<22} n={len(rows):>3} min {p[0]:.3f} p10 {p[1]:.3f} p50 {p[2]:.3f} "
            f"p90 {p[3]:.3f} max {p[4]:.3f}  unaligned {len(rows) - len(ok)}  "
            f"(min: {lo}; max: {hi})")  # fmt: skip


def report(rows: list[dict]) -> None:
    """Per statistic: each family's distribution, then the exposures the verifier calls
    "same" (the ones a refutation would have to catch) against all copies."""
    fams = sorted({r["family"] for r in rows})
    copies = [r for r in rows if r["family"].startswith("copy")]
    same_exp = [r for r in rows if r["family"].startswith("exposure") and r["same"]]
    for stat in STATS:
        print(f"{stat}:")
        for fam in fams:
            print(_summary([r for r in rows if r["family"] == fam], fam, stat))
        print(_summary(same_exp, "exposures 'same'", stat))
        cv = [r[stat] for r in copies if r[stat] is not None]
        ev = [r[stat] for r in same_exp if r[stat] is not None]
        if cv and ev:
            print(f"  split copies above: {min(cv) - max(ev):+.3f}  "
                  f"copies below: {min(ev) - max(cv):+.3f}  (> 0: a threshold separates)")  # fmt: skip
    miss = [r["name"] for r in copies if r["corr"] is None]
    if miss:
        print("copies not aligned:", ", ".join(miss))


def main(argv: list[str] | None = None) -> int:
    global BAND
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sky-set", type=Path, help="a dense_frames.py --kind sky set")
    ap.add_argument("--video-frames", type=int, default=640, help="622 + laps of new noise")
    ap.add_argument("--band", type=float, nargs=2, default=BAND, metavar=("LO", "HI"),
                    help="residual band: Gaussian σ of the fine and the coarse blur")  # fmt: skip
    ap.add_argument("--json", type=Path, help="write every pair's row here")
    args = ap.parse_args(argv)
    BAND = tuple(args.band)
    t0 = time.process_time()
    rows = measure(copy_pairs(args.sky_set)) + measure(
        exposure_pairs(args.sky_set, args.video_frames)
    )
    report(rows)
    print(f"pairs {len(rows)}, CPU {time.process_time() - t0:.1f} s "
          f"(residual only: {sum(r['cpu_s'] for r in rows):.1f} s)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
