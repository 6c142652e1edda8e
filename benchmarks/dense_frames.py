"""Dense look-alikes: does the group stage stay near-linear on a folder of near-identical frames?

Why (issue 13): a time-lapse, an astrophotography session or a surveillance folder holds
thousands of frames of one scene. They are hard negatives (different shots), yet each frame is
a look-alike candidate of many others, and an uncertain edge costs a pixel re-check (two
decodes + ORB + RANSAC). This builds such sets from real pictures, scans each and regroups its
catalog in-process with every re-check counted:

* ``video``: frames of tests/data/video/*.mp4 (every frame, 640 px wide at most); past the
  videos' 622 frames, later passes over them add exposure drift and sensor noise (a new shot
  of the same instant, as ``corpus.burst_frames``);
* ``sky``: 480×360 crops of skimage's Hubble deep field drifting about a pixel per frame along
  a slow Lissajous path (a night-sky session), each with its own sensor noise;
* planted copies among them, one per ``--every`` frames: a re-save at quality 70, a 75 %
  resize, a 90° turn, a mirror — each must end in its frame's group.

    python benchmarks/dense_frames.py --sizes 250 500 1000 --kind sky --work /tmp/dense-b

Prints per size: the scan's group-stage seconds, candidate pairs, verified edges, uncertain
edges, the largest components, re-checks asked, the regroup's CPU seconds (re-checks in the
driver, one process), groups, planted copies found, groups that hold two different shots
and the widest drift inside a group; then the growth exponents between sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

VIDEOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "video"
PLANTS = ("resave", "resize", "turn", "mirror")
VIDEO_FRAMES = 622  # frames of the four test videos together, in name order
CARPHONE = 120  # the last two (carphone_distorted, carphone_pristine) are one video's frames


def video_frames(n: int, seed: int = 0):
    """``n`` frames of the test videos (≤ 640 px wide), cycling; each later pass adds exposure
    drift and sensor noise to the same frames."""
    base = []
    for path in sorted(VIDEOS.glob("*.mp4")):
        with av.open(str(path)) as c:
            for fr in c.decode(video=0):
                im = fr.to_image()
                if im.width > 640:
                    im = im.resize((640, round(im.height * 640 / im.width)), Image.LANCZOS)
                base.append(im)
    rng = np.random.default_rng(seed)
    for k in range(n):
        im, lap = base[k % len(base)], k // len(base)
        if lap:
            a = np.asarray(im, dtype=np.float32) * (1 + 0.015 * lap * rng.choice((-1, 1)))
            a += rng.normal(0, 2.0, a.shape)
            im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
        yield im


def sky_frames(n: int, seed: int = 0):
    """Crops of the Hubble deep field drifting ~1 px a frame, each with its own noise."""
    from skimage import data

    sky = np.asarray(data.hubble_deep_field(), dtype=np.float32)
    h, w = sky.shape[:2]
    cw, ch = 480, 360
    rng = np.random.default_rng(seed)
    for k in range(n):
        x, y = sky_origin(k, w - cw, h - ch)
        a = sky[y : y + ch, x : x + cw] + rng.normal(0, 2.5, (ch, cw, 3))
        yield Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def sky_origin(k: int, room_x: int = 520, room_y: int = 512) -> tuple[int, int]:
    """Frame ``k``'s crop origin: ≤ 0.6 px from the last frame's, and still at the path's turns
    (a mount that tracks: the same field, new noise)."""
    ax, ay = room_x / 2 - 1, room_y / 2 - 1
    t = k / 700.0
    return int(round(ax + ax * math.sin(t * 1.3))), int(round(ay + ay * math.sin(t * 0.9 + 0.5)))


def shot(kind: str, path: str) -> tuple[int, int] | int:
    """What a frame shows: the video frame it was made from (later laps are exposure and
    noise edits of it; carphone_distorted's frame k is a copy of carphone_pristine's), or the
    sky crop's origin."""
    k = int(Path(path).stem[1:6])
    if kind != "video":
        return sky_origin(k)
    k %= VIDEO_FRAMES
    return k - CARPHONE if k >= VIDEO_FRAMES - CARPHONE else k  # pristine: the distorted's


def plant(im: Image.Image, how: str) -> Image.Image:
    if how == "resize":
        return im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    if how == "turn":
        return im.transpose(Image.Transpose.ROTATE_90)
    if how == "mirror":
        return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return im


def make(root: Path, kind: str, n: int, every: int) -> dict:
    """``root``/frames/f00000.jpg… and ``root``/copies/…; labels.json: the planted pairs."""
    (root / "frames").mkdir(parents=True, exist_ok=True)
    (root / "copies").mkdir(exist_ok=True)
    frames = video_frames(n) if kind == "video" else sky_frames(n)
    planted = []
    for k, im in enumerate(frames):
        src = root / "frames" / f"f{k:05d}.jpg"
        im.save(src, quality=92)
        if k % every == every // 2:
            how = PLANTS[len(planted) % len(PLANTS)]
            dst = root / "copies" / f"c{k:05d}_{how}.jpg"
            plant(im, how).save(dst, quality=70 if how == "resave" else 90)
            planted.append([str(src), str(dst)])
    labels = {"kind": kind, "n": n, "planted": planted}
    (root / "labels.json").write_text(json.dumps(labels))
    return labels


def scan(root: Path, workers: int) -> dict:
    """One first scan (``--no-ui --format json``); its stats and the tree's CPU seconds."""
    db, out = root / "run" / "catalog.db", root / "run" / "first.json"
    db.parent.mkdir(exist_ok=True)
    env = dict(os.environ, XDG_CACHE_HOME=str(root / "run" / "cache"))
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(root / "frames"),
           str(root / "copies"), "--db", str(db), "--workers", str(workers), "-o", str(out),
           "--format", "json", "--progress", "none"]  # fmt: skip
    before = os.times()
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    after = os.times()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    stats = json.loads(out.read_text()).get("stats") or {}
    return {
        "wall_s": round(time.perf_counter() - t, 1),
        "cpu_s": round(sum(after[2:4]) - sum(before[2:4]), 1),  # the children's user + sys
        "group_s": (stats.get("seconds_by_stage") or {}).get("group"),
    }


def regroup(root: Path) -> dict:
    """The catalog's representatives grouped again in this process, every re-check in the
    driver and counted: the group stage's work as one CPU figure, and what it decided."""
    from lookalike.engine import grouping as G
    from lookalike.engine.recheck import pixel_recheck
    from lookalike.engine.unionfind import connected_components
    from recheck_pool import _items
    from scale_density import signature_edges

    items = _items(root / "run" / "catalog.db")
    cand, edges, unsure = signature_edges(items)
    comps = connected_components(len(items), edges, min_size=2)
    rc = pixel_recheck(items)
    cpu = time.process_time()
    cl = G.group_items(items, 50, set(), None, rc)
    cpu = time.process_time() - cpu
    groups = [[items[i].path for i in g] for g in cl.groups]
    return {
        "items": len(items), "candidate_pairs": len(cand), "verified_edges": len(edges),
        "uncertain_edges": unsure, "largest_components": sorted(map(len, comps))[-3:][::-1],
        "rechecks": rc.driver_checks, "unchecked": getattr(cl, "unchecked", 0), "group_cpu_s": round(cpu, 1), "groups": groups,
    }  # fmt: skip


def judge(labels: dict, groups: list[list[str]]) -> dict:
    """Planted copies found (both in one group); groups that hold two different shots (video
    frames made from different frames, sky crops at different origins) and the widest drift
    inside a group (sky: pixels between crop origins; video: frames apart)."""
    where = {p: g for g, paths in enumerate(groups) for p in paths}
    found = sum(1 for a, b in labels["planted"] if a in where and where.get(a) == where.get(b))
    kind = labels["kind"]

    def shots(g: list[str]) -> list:
        return [shot(kind, p) for p in g if "/frames/" in p]

    def drift(g: list[str]) -> float:
        s = shots(g)
        if not s:
            return 0
        if kind == "video":
            return max(s) - min(s)
        xs, ys = [p[0] for p in s], [p[1] for p in s]
        return round(math.hypot(max(xs) - min(xs), max(ys) - min(ys)), 1)

    mixed = [g for g in groups if len(set(shots(g))) > 1]
    return {
        "planted": len(labels["planted"]), "planted_found": found,
        "groups_of_shots": len(mixed), "files_in_them": sum(map(len, mixed)),
        "widest_drift": max(map(drift, groups), default=0),
        "largest_group": max(map(len, groups), default=0),
    }  # fmt: skip


def exponent(rows: list[dict], key: str) -> list[float]:
    out = []
    for a, b in zip(rows, rows[1:], strict=False):
        if a[key] and b[key]:
            out.append(round(math.log(b[key] / a[key]) / math.log(b["n"] / a["n"]), 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ap.add_argument("--kind", choices=("video", "sky"), default="sky")
    ap.add_argument("--every", type=int, default=50, help="one planted copy per this many frames")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dense-frames"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-scan", action="store_true", help="regroup the sets' catalogs only")
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        root = args.work / f"{args.kind}{n}"
        if (root / "labels.json").exists():
            labels = json.loads((root / "labels.json").read_text())
        else:
            labels = make(root, args.kind, n, args.every)
        row: dict = {"n": n}
        if not args.no_scan or not (root / "run" / "catalog.db").exists():
            row["scan"] = scan(root, args.workers)
        got = regroup(root)
        row.update({k: v for k, v in got.items() if k != "groups"})
        row.update(judge(labels, got["groups"]))
        rows.append(row)
        print(json.dumps(row), flush=True)
    for key in ("candidate_pairs", "uncertain_edges", "rechecks", "group_cpu_s"):
        print(f"growth exponent of {key}: {exponent(rows, key)}")


if __name__ == "__main__":
    main()
