"""End-to-end scale of one box: N small real-photo-derived JPEGs, first scan and rescan.

Why: issue 13 asks what a scan costs as the collection grows (10k → 100k → 1 M): wall time,
images/s, peak memory of the whole process tree, catalog size, and whether the planted copies
are still found. The files come from the real photos the tests ship (skimage.data and
scikit-learn's sample images): each is a random crop (15–45 % of the source's area), resized
to 160–400 px, colour-shifted (brightness, saturation, hue rotation), saved as JPEG; a share
of them get a planted copy (exact, JPEG re-save at q60, or a 70 % downscale) in another
folder. They are written once into ``--data`` (default /tmp, never the repository).

    python benchmarks/scale.py --count 10000 -o benchmarks/out/scale_10k.json

Each scan runs ``python -m lookalike scan --no-ui`` in a child process; a sampler adds up the
RSS of that process and its decode workers every 0.1 s (peak tree RSS) and keeps the
driver's own peak. The per-core floor is ``features.extract.extract_file`` (the one decode and
every feature a scan computes for a photo) on 200 of the same files in one process, before and
after the scans, with the heap the scan's workers keep (``engine.pool.keep_heap``: without it
a photo's freed arrays go back to the kernel and fault in again, ≈ 16 % of a small photo's CPU
that no scan pays since issue 13's session 11).

CPU, not wall: the box is shared, so wall ratios are noisy. ``cpu_per_file_ms`` is the CPU time
of the scan's process tree (driver + decode workers, from the children's rusage), of the
driver alone (its last psutil reading) and of the rest, over the files; ``cpu_efficiency`` is
the floor's CPU per file (``time.process_time``) over the tree's — what the wall ratio
"rate / (floor × cores)" tends to on an idle box whose cores are all the scan's.
``cpu_s_by_stage`` splits the tree's CPU by stage (a timeline of every process's CPU, sampled
with the RSS), ``driver_cpu_s_by_stage`` the driver's own (the same timeline); ``extract_cpu_ms_per_image`` / ``extract_cpu_efficiency`` are the extract
stage's alone, per decoded photo — the part the floor compares with, without the walk, the
catalog diff, the exact stage, grouping and ranking around it. ``thumb_cache``: the thumbnail
cache's files, bytes and disk (whole blocks, as ``du``) after each scan.

A killed run still says where it was (issue 13: two 16-core tries ran out of time and left
nothing): each phase's start and end go to stderr stamped as they happen (``run_log.py``),
each scan's own stderr (``--progress plain``: progress and stage seconds) goes line by line to
``--log-dir`` (first.log, again.log), and ``box`` holds the box's CPU quota, throttling and
fsync time. The floors run OpenCV on one thread, as the decode workers do. ``--work`` keeps
the catalog out of the set's ``run/``, which other scripts read (use it on a shared set).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageEnhance

import scale_camera
from run_log import PHASES, Tee, box_facts, phase, say

COPY_SHARE = 0.1  # share of images that get a planted copy
# 2: crops of one source, one seeded generator per file, written by a pool;
# 3: mosaics of 2-4 tiles from different sources (``--design mosaic``); camera: 12 MP ones
SET_VERSION = {"crops": 2, "mosaic": 3, "camera": 1}
COPY_KINDS = {"crops": ["exact", "q60", "down70"],
              "mosaic": ["exact", "q60", "down70", "mirror", "rot90"]}  # fmt: skip
COPY_KINDS["camera"] = COPY_KINDS["mosaic"]


def _sources() -> list[Image.Image]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    names = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "motorcycle_right",
             "hubble_deep_field", "immunohistochemistry", "cat", "camera", "page", "retina"]  # fmt: skip
    out = []
    for n in names:
        try:
            out.append(Image.fromarray(getattr(data, n)()).convert("RGB"))
        except Exception:  # noqa: BLE001 - a dataset that is not installed here is skipped
            continue
    out += [Image.fromarray(a).convert("RGB") for a in load_sample_images().images]
    return out


def _derive(src: Image.Image, rng: random.Random) -> Image.Image:
    w, h = src.size
    share = rng.uniform(0.15, 0.45)
    cw, ch = int(w * share**0.5 * rng.uniform(0.8, 1.2)), int(h * share**0.5)
    cw, ch = min(cw, w), min(ch, h)
    x, y = rng.randrange(0, w - cw + 1), rng.randrange(0, h - ch + 1)
    side = rng.randrange(160, 401)
    scale = side / max(cw, ch)
    size = (max(8, int(cw * scale)), max(8, int(ch * scale)))
    # crop and resize in one pass (box=): no intermediate copy of the crop
    im = src.resize(size, Image.BILINEAR, box=(x, y, x + cw, y + ch))
    return _shift_colour(im, rng)


def _shift_colour(im: Image.Image, rng: random.Random) -> Image.Image:
    return _apply_colour(im, _colour_draws(rng))


def _colour_draws(rng: random.Random) -> tuple[float, float, int | None]:
    """The colour shift's random draws, in the order the set was made with (so a tile can be
    described without rendering it, see ``mosaic_tiles``)."""
    bright, sat = rng.uniform(0.7, 1.3), rng.uniform(0.5, 1.5)
    hue = rng.randrange(20, 236) if rng.random() < 0.5 else None
    return bright, sat, hue


def _apply_colour(im: Image.Image, draws: tuple[float, float, int | None]) -> Image.Image:
    bright, sat, hue = draws
    im = ImageEnhance.Brightness(im).enhance(bright)
    im = ImageEnhance.Color(im).enhance(sat)
    if hue is not None:  # hue rotation: a different colour cast, same structure
        hsv = np.asarray(im.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + hue) % 256
        im = Image.fromarray(hsv, "HSV").convert("RGB")
    return im


def _layout(w: int, h: int, tiles: int, rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Cut the canvas into ``tiles`` boxes by random guillotine cuts (largest box first)."""
    boxes = [(0, 0, w, h)]
    while len(boxes) < tiles:
        boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        x0, y0, x1, y1 = boxes.pop()
        cut = rng.uniform(0.3, 0.7)
        if (x1 - x0) >= (y1 - y0) if rng.random() < 0.75 else rng.random() < 0.5:
            xm = x0 + int((x1 - x0) * cut)
            boxes += [(x0, y0, xm, y1), (xm, y0, x1, y1)]
        else:
            ym = y0 + int((y1 - y0) * cut)
            boxes += [(x0, y0, x1, ym), (x0, ym, x1, y1)]
    return boxes


def _tile_draws(size: tuple[int, int], tw: int, th: int, rng: random.Random) -> dict:
    """Where a ``tw``×``th`` tile comes from in a ``size`` source: a crop of 3-40 % of its
    area at the tile's aspect, turned by up to ±12° (cut from a larger window, so no blank
    corners). ``crop`` is the box the tile shows, in source pixels (before the turn)."""
    w, h = size
    area = rng.uniform(0.03, 0.40) * w * h
    ch = min(h, int((area * th / tw) ** 0.5))
    cw = min(w, max(8, int(ch * tw / th)))
    ch = min(h, max(8, int(cw * th / tw)))
    angle = rng.uniform(-12, 12) if rng.random() < 0.6 else 0.0
    pad = 1.0 + abs(np.sin(np.radians(angle))) * 1.5 if angle else 1.0
    if cw * pad > w or ch * pad > h:  # no room for the larger window: no turn
        angle, pad = 0.0, 1.0
    ow, oh = int(cw * pad), int(ch * pad)
    x, y = rng.randrange(0, w - ow + 1), rng.randrange(0, h - oh + 1)
    cx, cy = x + ow / 2, y + oh / 2
    return {"window": (x, y, ow, oh), "size": (cw, ch), "angle": angle, "colour": _colour_draws(rng),
            "crop": (cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2)}  # fmt: skip


def _tile(src: Image.Image, tw: int, th: int, rng: random.Random) -> Image.Image:
    """A ``tw``×``th`` piece of ``src`` (see ``_tile_draws``), turned and colour-shifted."""
    return _render_tile(src, tw, th, _tile_draws(src.size, tw, th, rng))


def _render_tile(src: Image.Image, tw: int, th: int, d: dict) -> Image.Image:
    """The tile that the draws ``d`` describe."""
    x, y, ow, oh = d["window"]
    cw, ch = d["size"]
    big = (int(tw * ow / cw) + 1, int(th * oh / ch) + 1)
    im = src.resize(big, Image.BILINEAR, box=(x, y, x + ow, y + oh))
    if d["angle"]:
        im = im.rotate(d["angle"], Image.BILINEAR)
    left, top = (im.width - tw) // 2, (im.height - th) // 2
    return _apply_colour(im.crop((left, top, left + tw, top + th)), d["colour"])


def _mosaic_plan(sizes: list[tuple[int, int]], rng: random.Random) -> tuple[int, int, list]:
    """The canvas size and, per tile, its box on the canvas and its source index, in the
    order the tiles are drawn (2-4 tiles, each from a different source)."""
    side = rng.randrange(160, 401)
    aspect = rng.choice([4 / 3, 3 / 2, 1.0, 16 / 9])
    w, h = side, max(64, int(side / aspect))
    if rng.random() < 0.3:
        w, h = h, w
    boxes = _layout(w, h, rng.choice([2, 3, 3, 4, 4]), rng)
    return w, h, list(zip(boxes, rng.sample(range(len(sizes)), len(boxes)), strict=False))


def _mosaic(srcs: list[Image.Image], rng: random.Random) -> Image.Image:
    """2-4 tiles, each from a different source, at their own scale, angle and colour cast,
    in a random layout: two files share a large region only by rare chance (issue 13) — but
    skimage's ``cat()`` is ``chelsea()`` and a plain sky is the same wherever it is cut, so
    scale_truth.py judges groups beyond the planted pairs from the tiles, not from this."""
    w, h, plan = _mosaic_plan([s.size for s in srcs], rng)
    canvas = Image.new("RGB", (w, h))
    for (x0, y0, x1, y1), s in plan:
        canvas.paste(_tile(srcs[s], x1 - x0, y1 - y0, rng), (x0, y0))
    return canvas


def mosaic_tiles(i: int, seed: int, sizes: list[tuple[int, int]]) -> list[dict]:
    """What file ``i`` of a mosaic set is made of, recomputed from the seed without rendering:
    per tile its source index, its box on the canvas and the box it shows of the source."""
    rng = random.Random(seed * 1_000_003 + i)
    w, h, plan = _mosaic_plan(sizes, rng)
    out = []
    for (x0, y0, x1, y1), s in plan:
        d = _tile_draws(sizes[s], x1 - x0, y1 - y0, rng)
        box = (x0 / w, y0 / h, x1 / w, y1 / h)
        out.append({"source": s, "box": box, "crop": d["crop"], "colour": d["colour"]})
    return out


def _copy(im: Image.Image, path: Path, cpath: Path, kind: str) -> None:
    if kind == "exact":
        cpath.write_bytes(path.read_bytes())
    elif kind == "q60":
        im.save(cpath, quality=60)
    elif kind == "down70":
        im.resize((int(im.width * 0.7), int(im.height * 0.7)), Image.LANCZOS).save(cpath)
    elif kind == "mirror":
        im.transpose(Image.FLIP_LEFT_RIGHT).save(cpath, quality=90)
    else:  # rot90
        im.transpose(Image.ROTATE_90).save(cpath, quality=90)


_SRCS: list[Image.Image] = []


def _make_chunk(job: tuple[str, int, int, int, str]) -> list[list[str]]:
    """Write files [start, stop) into one folder of 1000; returns their planted pairs.

    Each file draws from its own seeded generator, so the set is the same whatever the number
    of worker processes or the order in which chunks finish."""
    root_s, start, stop, seed, design = job
    root = Path(root_s)
    if not _SRCS:
        _SRCS.extend(_sources())
    pairs = []
    sub, cdir = root / "photos" / f"{start // 1000:03d}", root / "copies" / f"{start // 1000:03d}"
    sub.mkdir(parents=True, exist_ok=True)
    cdir.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i)
        path = sub / f"{i:07d}.jpg"
        if design == "camera":
            scale_camera.save(im := scale_camera.render(_SRCS, rng), path, i)
        else:
            im = _mosaic(_SRCS, rng) if design == "mosaic" else _derive(_SRCS[i % len(_SRCS)], rng)
            im.save(path, quality=rng.randrange(80, 96))
        if rng.random() < COPY_SHARE:
            kind = rng.choice(COPY_KINDS[design])
            cpath = cdir / f"{i:07d}_{kind}.jpg"
            _copy(im, path, cpath, kind)
            pairs.append([str(path), str(cpath)])
    return pairs


def set_root(data: Path, n: int, design: str) -> Path:
    """Where a set lives: crops sets keep their old folders (``nN``), mosaics ``mN``, camera
    photos ``cN``."""
    return data / ({"crops": "n", "camera": "c"}.get(design, "m") + str(n))


def make_set(root: Path, n: int, seed: int = 0, workers: int = 2, design: str = "mosaic") -> dict:
    """Write n derived JPEGs (+ planted copies) under root with a pool; returns the labels."""
    labels_path = root / "labels.json"
    version = SET_VERSION[design]
    if labels_path.exists():
        labels = json.loads(labels_path.read_text())
        if labels.get("version") == version and labels.get("n") == n:
            return labels
        for d in ("photos", "copies"):  # an older set's files must not mix with this one's
            subprocess.run(["rm", "-rf", str(root / d)], check=True)
    step = 50 if design == "camera" else 1000  # a 12 MP file takes ~0.5 s: smaller jobs
    jobs = [(str(root), s, min(n, s + step), seed, design) for s in range(0, n, step)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(max(1, workers)) as pool:
        pairs = [p for chunk in pool.imap(_make_chunk, jobs) for p in chunk]
    labels = {"version": version, "design": design, "n": n, "seed": seed, "planted": pairs}
    labels_path.write_text(json.dumps(labels))
    return labels


def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _sample(proc: subprocess.Popen, peaks: dict) -> None:
    """Peak RSS of the driver and of its tree, the driver's own CPU seconds (its last
    reading, at most 0.1 s before it exits), and a timeline of the tree's CPU seconds so far
    (every process ever seen, at its last reading: released workers keep counting), every
    0.1 s; every 1 s also the tree's PSS (the workers share their libraries' pages, which a
    sum of RSS counts once a worker: ≈ 36 of a worker's ≈ 82 MB)."""
    seen: dict[int, float] = {}
    t0 = time.perf_counter()
    n = 0
    try:
        p = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                kids = p.children(recursive=True)
                own = p.memory_info().rss
                tree = own + sum(c.memory_info().rss for c in kids)
                peaks["driver_cpu_s"] = seen[p.pid] = _cpu_s(p)
                if n % 10 == 0:  # smaps_rollup: ≈ 1 ms a process, so not every 0.1 s
                    peaks["pss"] = max(peaks.get("pss", 0), _pss([p, *kids]))
                n += 1
            except psutil.Error:
                break
            for c in kids:
                try:
                    seen[c.pid] = _cpu_s(c)
                except psutil.Error:
                    pass
            tick = (time.perf_counter() - t0, sum(seen.values()), seen.get(p.pid, 0.0))
            peaks["timeline"].append(tick)
            peaks["driver"] = max(peaks["driver"], own)
            peaks["tree"] = max(peaks["tree"], tree)
            time.sleep(0.1)
    except psutil.Error:
        pass


def _pss(procs: list[psutil.Process]) -> int:
    total = 0
    for q in procs:
        try:
            mem = q.memory_full_info()
            total += getattr(mem, "pss", mem.rss)
        except psutil.Error:
            pass
    return total


def stage_cpu(timeline: list[tuple], seconds_by_stage: dict, col: int = 1) -> dict[str, float]:
    """The tree's (``col`` 1; 2: the driver's) CPU seconds in each stage: the stages ran one
    after the other and ended at the driver's last reading (the output written after them is
    short), so their windows are laid back from there; each window's CPU is read off the
    sampled timeline (±0.1 s)."""
    if len(timeline) < 2:
        return {}
    ts, cpu = [t[0] for t in timeline], [t[col] for t in timeline]
    end, out = ts[-1], {}
    for stage, secs in reversed(list(seconds_by_stage.items())):
        start = end - secs
        out[stage] = float(np.interp(end, ts, cpu) - np.interp(start, ts, cpu))
        end = start
    return dict(reversed(out.items()))


def _children_cpu_s() -> float:
    """CPU seconds of every reaped descendant: the scan's driver, and its decode workers (the
    pool joins them, so the driver's rusage holds theirs when the driver exits)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def hash_mode(extra: list[str]) -> list[str]:
    """The scan's options, with ``--model none`` unless they ask for the ML stage: a plain scan
    embeds on a box with an NVIDIA GPU (the default there), so a hash-mode figure must say so
    (session 11's "hash-mode" scans on the lent GPU boxes were model scans)."""
    ml = ("--model", "--similar", "--similarity", "--by", "--weights", "--device", "--prompt")
    if any(a.split("=")[0] in ml for a in extra):
        return extra
    return [*extra, "--model", "none"]


def scan(
    root: Path, db: Path, out: Path, workers: int, extra: list[str], log: Path | None = None
) -> dict:
    """One scan in a child process; its stderr (``--progress plain``: each stage's progress
    and seconds) goes line by line, stamped, to ``log`` and to this process's stderr."""
    env = dict(os.environ, XDG_CACHE_HOME=str(db.parent / "cache"))
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(root / "photos"),
           str(root / "copies"), "--db", str(db), "--workers", str(workers), "-o", str(out),
           "--format", "json", "--progress", "plain", *hash_mode(extra)]  # fmt: skip
    peaks: dict = {"driver": 0, "tree": 0, "driver_cpu_s": 0.0, "timeline": []}
    cpu0 = _children_cpu_s()
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    tee = Tee(proc, log, out.stem)
    sampler = threading.Thread(target=_sample, args=(proc, peaks), daemon=True)
    sampler.start()
    proc.wait()
    err = tee.join()
    wall = time.perf_counter() - t
    tree_cpu = _children_cpu_s() - cpu0
    sampler.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"scan failed ({proc.returncode}): {err[-2000:]}")
    doc = json.loads(out.read_text())
    secs = (doc.get("stats") or {}).get("seconds_by_stage", {})
    by_stage = stage_cpu(peaks["timeline"], secs)
    driver_by_stage = stage_cpu(peaks["timeline"], secs, col=2)
    cat_bytes = sum(f.stat().st_size for f in db.parent.glob(db.name + "*"))
    return {"wall_s": round(wall, 2), "peak_tree_rss_mb": round(peaks["tree"] / 2**20),
            "peak_tree_pss_mb": round(peaks.get("pss", 0) / 2**20),
            "peak_driver_rss_mb": round(peaks["driver"] / 2**20),
            "catalog_mb": round(cat_bytes / 2**20, 1), "stats": doc.get("stats"),
            "thumb_cache": thumb_cache(db.parent / "cache"),
            "cpu_s": {"tree": round(tree_cpu, 2), "driver": round(peaks["driver_cpu_s"], 2),
                      "workers": round(tree_cpu - peaks["driver_cpu_s"], 2)},
            "cpu_s_by_stage": {k: round(v, 2) for k, v in by_stage.items()},
            "driver_cpu_s_by_stage": {k: round(v, 2) for k, v in driver_by_stage.items()},
            "groups": doc.get("groups", [])}  # fmt: skip


def thumb_cache(cache: Path) -> dict:
    """The thumbnail cache the scan wrote: files, bytes, and the disk they take (``du``:
    whole blocks, so a small file costs a 4 KiB block at least; packs included). The workers'
    packs (engine/thumb_pack.py: every photo's thumbnail appended) are counted apart from the
    files (made for the members of groups only)."""
    files, packs = [], []
    for f in cache.rglob("*"):
        if f.is_file():
            (packs if f.parent.name == "packs" and f.suffix == ".pack" else files).append(f.stat())
    disk = sum(s.st_blocks * 512 for s in files + packs)
    return {"files": len(files), "mb": round(sum(s.st_size for s in files) / 2**20, 1),
            "disk_mb": round(disk / 2**20, 1), "packs": len(packs),
            "packs_mb": round(sum(s.st_size for s in packs) / 2**20, 1)}  # fmt: skip


def floor_rate(root: Path, count: int = 200) -> tuple[float, float]:
    """Per-core rate of the scan's per-photo work (one decode, every feature), and its CPU
    milliseconds per file (``time.process_time``: unlike the rate, steady on a shared box)."""
    import cv2

    from lookalike.engine import pool
    from lookalike.engine.features.extract import extract_file

    getattr(pool, "keep_heap", lambda: False)()  # the heap the scan's decode workers keep
    cv2.setNumThreads(1)  # as in a decode worker (pool._quiet_worker): no pool of a core each
    files = sorted((root / "photos").rglob("*.jpg"))[:count]
    for f in files[:10]:  # imports, allocator and page cache warm, as in a long-lived worker
        extract_file(str(f), None, 250_000_000)
    t, c = time.perf_counter(), time.process_time()
    for f in files:
        extract_file(str(f), None, 250_000_000)
    cpu_ms = (time.process_time() - c) * 1000 / len(files)
    return len(files) / (time.perf_counter() - t), cpu_ms


def hash_rate(tmp: Path, mb: int = 256) -> float:
    """Full-hash throughput (xxh3-128, the exact stage's) of a file in the page cache, MB/s."""
    from lookalike.engine.features.exact import full_hash

    f = tmp / "hash_probe.bin"
    f.write_bytes(os.urandom(2**20) * mb)
    full_hash(str(f))  # into the page cache
    t = time.perf_counter()
    full_hash(str(f))
    rate = mb / (time.perf_counter() - t)
    f.unlink()
    return rate


def catalog_rate(tmp: Path, n: int = 20_000) -> float:
    """Files per second the catalog takes: a file row + its two feature rows (the sizes a
    scan writes: ~300 B metadata, ~600 B perceptual views), committed every 5000 files."""
    from lookalike.engine.catalog import Catalog

    db = tmp / "rate.db"
    meta, views = os.urandom(300), os.urandom(600)
    with Catalog(db) as cat:
        scan = cat.start_scan([str(tmp)])
        t = time.perf_counter()
        for start in range(0, n, 5000):
            with cat.transaction():
                for i in range(start, min(n, start + 5000)):
                    fid = cat.add_file(f"{tmp}/p/{i:08d}.jpg", 1, i, 1000 + i, i, scan)
                    cat.put_feature(fid, "meta", 1, meta)
                    cat.put_feature(fid, "percept", 1, views)
        rate = n / (time.perf_counter() - t)
    for f in tmp.glob("rate.db*"):
        f.unlink()
    return rate


def planted_found(groups: list[dict], planted: list[list[str]]) -> float:
    together = set()
    for g in groups:
        paths = sorted(m["path"] for m in g["files"])
        together.update((a, b) for i, a in enumerate(paths) for b in paths[i + 1 :])
    hit = sum((min(a, b), max(a, b)) in together for a, b in planted)
    return round(hit / max(1, len(planted)), 4)


def _commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                       cwd=Path(__file__).parent)  # fmt: skip
    return r.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--data", type=Path, default=Path("/tmp/lookalike-scale"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--design",
        choices=["mosaic", "crops", "camera"],
        default="mosaic",
        help="mosaic: 2-4 tiles of different sources a file (sparse, like a real "
        "library); crops: one crop of one of 14 sources a file (dense, set v2); camera: "
        "12 MP mosaics with grain and EXIF (scale_camera.py; use --count 500-1000)",
    )
    ap.add_argument("--make-only", action="store_true", help="write the set, scan nothing")
    ap.add_argument("--extra-args", default="", help="more scan options, e.g. '--executor ray'")
    ap.add_argument(
        "--work",
        type=Path,
        help="folder for the catalog, thumbnails and scan outputs (emptied first; default: "
        "the set's run/, which other scripts read: give your own when the set is shared)",
    )
    ap.add_argument(
        "--log-dir",
        type=Path,
        help="where each scan's stderr goes as it runs (first.log, again.log; default --work)",
    )
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    root = set_root(args.data, args.count, args.design)
    t = time.perf_counter()
    with phase(f"make set {root}"):
        labels = make_set(root, args.count, workers=args.workers, design=args.design)
    made = time.perf_counter() - t
    if args.make_only:
        print(f"{args.count} files (+{len(labels['planted'])} copies) in {made:.0f} s: {root}")
        return 0
    work = args.work or root / "run"
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    logs = args.log_dir or work
    logs.mkdir(parents=True, exist_ok=True)
    db = work / "catalog.db"
    files = args.count + len(labels["planted"])
    extra = args.extra_args.split()
    with phase("box facts"):
        box = box_facts([work])
    say(f"box: {json.dumps(box)}")
    with phase("floor before"):  # before and after the scans: the box's load drifts
        floor0, cpu0 = floor_rate(root)
    with phase(f"first scan, {files} files, {args.workers} workers"):
        first = scan(root, db, work / "first.json", args.workers, extra, logs / "first.log")
    with phase("rescan"):
        again = scan(root, db, work / "again.json", args.workers, extra, logs / "again.log")
    with phase("floor after"):
        floor1, cpu1 = floor_rate(root)
    floor, floor_cpu_ms = (floor0 + floor1) / 2, (cpu0 + cpu1) / 2
    with phase("hash rate"):
        hash_mb_s = round(hash_rate(work))
    with phase("catalog rate"):
        catalog_files_s = round(catalog_rate(work))
    result = {
        "script": "benchmarks/scale.py", "argv": sys.argv[1:], "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB",
        "files": files, "planted_pairs": len(labels["planted"]), "make_set_s": round(made, 1),
        "floor_per_core_img_s": round(floor, 1), "floor_cpu_ms": round(floor_cpu_ms, 2),
        "floor_cpu_ms_before_after": [round(cpu0, 2), round(cpu1, 2)],
        "workers": args.workers, "load_avg": [round(x, 2) for x in os.getloadavg()],
        "hash_mb_s": hash_mb_s, "catalog_files_s": catalog_files_s, "box": box,
        "phases_s": dict(PHASES),
    }  # fmt: skip
    for name, r in (("first", first), ("rescan", again)):
        groups = r.pop("groups")
        r["img_s"] = round(files / r["wall_s"], 1)
        r["cpu_per_file_ms"] = {k: round(v * 1000 / files, 2) for k, v in r.pop("cpu_s").items()}
        # what the 2-core wall ratio converges to at idle: the floor's CPU over the scan's
        r["cpu_efficiency"] = round(floor_cpu_ms / max(r["cpu_per_file_ms"]["tree"], 1e-9), 3)
        # the extract stage alone (workers + driver while decoding), a decoded photo each: what
        # the stage's wall ratio tends to at idle; the rest of the tree's CPU is the other stages
        decoded = (r["stats"] or {}).get("images_decoded") or 0
        if decoded and "extract" in r["cpu_s_by_stage"]:
            ms = r["cpu_s_by_stage"]["extract"] * 1000 / decoded
            r["extract_cpu_ms_per_image"] = round(ms, 2)
            if ms > 0:  # 0 with --executor ray: Ray's workers are not the scan's children
                r["extract_cpu_efficiency"] = round(floor_cpu_ms / ms, 3)
        r["groups"] = len(groups)
        r["planted_found"] = planted_found(groups, labels["planted"])
        r["stats"] = {
            k: (r["stats"] or {}).get(k) for k in ("images_decoded", "seconds_by_stage", "errors")
        }
        result[name] = r
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
