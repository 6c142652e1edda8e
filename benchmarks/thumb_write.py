"""Where a thumbnail's file write spends CPU: create, write, close, rename, in CPU ms a file.

Why: issue 13's worker split put the thumbnail's file write at 0.23–0.4 ms of a ≈ 10 ms small
photo. This times each system call of ``features.extract.write_thumbnail``'s write (a
``.tmp`` file created, written, closed, renamed over the thumbnail's name: a killed worker
never leaves a half thumbnail) on the set's own thumbnails' bytes, in 256 cache folders as a
scan has them, and what the cheaper forms would cost: one file written in place (no rename;
not atomic) and an unnamed inode alone (``O_TMPFILE``: what any one-file-a-thumbnail form
pays at least), and ``pack_append``: the bytes appended to one file kept open (what a pack of
thumbnails a worker would pay instead). ``engine_append``, ``member_file`` and
``member_there``: the engine's pack (engine/thumb_pack.py, session 14) as a scan uses it, the
worker's append (with its check that the pack is still there), a group member's file made
from the pack (a stat, a read, the atomic write), and the same call when the file is there
already (a rescan: one stat). Rounds alternate so the box's load hits each alike. ``app_load_ms``: what
the app's thumbnail cache (``ThumbCache.load``, a thread worker) pays to read a thumbnail
made by resize and encode (256 px) and one that is a small JPEG's own bytes (up to 512 px,
shrunk to 256 on load), on the same photos.

    python benchmarks/thumb_write.py /tmp/lookalike-scale/m10000 --count 400 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lookalike.engine.features import extract as ex
from lookalike.engine.media.decode import decode_reduced


def thumbnails(files: list[Path]) -> tuple[list[bytes], list[bytes]]:
    """Each photo's thumbnail bytes as a scan makes them, and as resize + encode make them."""
    out, encoded = [], []
    for f in files:
        d = decode_reduced(str(f))
        encoded.append(bytes(ex.encode_jpeg(ex.thumb_pixels(np.asarray(d.rgb)))))
        ready = ex.source_thumbnail(d)
        out.append(ready if ready is not None else encoded[-1])
    return out, encoded


def app_load(blobs: list[bytes], tmp: str, tag: str) -> float:
    """CPU ms a thumbnail of the app's cache reading it (a fresh cache: no hit)."""
    from lookalike.ui.widgets.thumbs import ThumbCache

    paths = []
    for i, data in enumerate(blobs):
        paths.append(f"{tmp}/{i % 256:02x}/{tag}{i}.jpg")
        Path(paths[-1]).write_bytes(data)
    cache = ThumbCache(size=len(paths) + 1)
    c = time.process_time()
    for p in paths:
        cache.load(p)
    return (time.process_time() - c) * 1000 / len(paths)


def one_round(blobs: list[bytes], tmp: str, r: int) -> dict[str, float]:
    keys = ("create", "write", "close", "rename", "in_place", "inode_only", "pack_append")
    # the engine's pack's keys come from engine_pack
    cpu = dict.fromkeys(keys, 0.0)
    clock = time.process_time
    pack = os.open(f"{tmp}/pack{r}.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    for i, data in enumerate(blobs):
        folder = f"{tmp}/{i % 256:02x}"
        path = f"{folder}/{r}_{i}.jpg"
        c0 = clock()
        fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        c1 = clock()
        os.write(fd, data)
        c2 = clock()
        os.close(fd)
        c3 = clock()
        os.replace(path + ".tmp", path)
        c4 = clock()
        fd = os.open(f"{folder}/{r}_{i}.direct.jpg", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.write(fd, data)
        os.close(fd)
        c5 = clock()
        os.close(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o666))
        c6 = clock()
        os.write(pack, data)
        c7 = clock()
        for k, a, b in (("create", c0, c1), ("write", c1, c2), ("close", c2, c3),
                        ("rename", c3, c4), ("in_place", c4, c5), ("inode_only", c5, c6),
                        ("pack_append", c6, c7)):  # fmt: skip
            cpu[k] += b - a
    os.close(pack)
    cpu.update(engine_pack(blobs, f"{tmp}/engine{r}"))
    return {k: v * 1000 / len(blobs) for k, v in cpu.items()}


def engine_pack(blobs: list[bytes], cache: str) -> dict[str, float]:
    """CPU s of the engine's pack over ``blobs``: appends, then each member's file made from
    the pack (a cache's 256 folders, made first as a scan's cache has them), then again."""
    from lookalike.engine import thumb_pack

    for d in range(256):
        os.makedirs(f"{cache}/{d:02x}")
    paths = [f"{cache}/{i % 256:02x}/{i:016x}.jpg" for i in range(len(blobs))]
    clock = time.process_time
    c0 = clock()
    at = [thumb_pack.append(p, data) for p, data in zip(paths, blobs, strict=True)]
    c1 = clock()
    made = [thumb_pack.materialize(p, a) for p, a in zip(paths, at, strict=True)]
    c2 = clock()
    there = [thumb_pack.materialize(p, a) for p, a in zip(paths, at, strict=True)]
    c3 = clock()
    thumb_pack.close_all()
    assert all(made) and all(there)
    return {"engine_append": c1 - c0, "member_file": c2 - c1, "member_there": c3 - c2}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (with photos/)")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--dir", default=None, help="where to write (default: a temp folder)")
    args = ap.parse_args(argv)
    files = sorted((args.set / "photos").rglob("*.jpg"))[: args.count]
    if not files:
        print(f"no photos under {args.set / 'photos'}", file=sys.stderr)
        return 2
    blobs, encoded = thumbnails(files)
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for d in range(256):
            os.mkdir(f"{tmp}/{d:02x}")
        for r in range(args.rounds):
            for k, v in one_round(blobs, tmp, r).items():
                runs.setdefault(k, []).append(v)
            for tag, b in (("encoded", encoded), ("source", blobs))[:: 1 if r % 2 else -1]:
                runs.setdefault(f"app_load_{tag}", []).append(app_load(b, tmp, f"{tag}{r}_"))
    ms = {k: round(sum(v) / len(v), 3) for k, v in runs.items()}
    print(json.dumps({
        "cpu_ms": ms, "cpu_ms_by_round": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "atomic_write_ms": round(ms["create"] + ms["write"] + ms["close"] + ms["rename"], 3),
        "mean_bytes": round(sum(map(len, blobs)) / len(blobs)),
        "mean_bytes_encoded": round(sum(map(len, encoded)) / len(encoded)), "files": len(blobs),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
