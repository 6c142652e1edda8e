"""What a decode worker's task costs beyond the floor (``extract_file`` without a thumbnail),
piece by piece, in one process on the same photos.

Why (issue 13's 0.9× goal): everything a worker does a photo beyond ``extract_file(path, None,
…)`` is paid ≈ 108 000 times at 100k, and a margin of 1–2 % is ≈ 0.03–0.06 ms a photo. Each
piece is timed two ways:

- **interleaved**: file by file, the floor and the task with pieces added one at a time (the
  order rotated file by file, so the box's load and the caches hit each variant alike):
  ``floor`` · ``thumb_no_write`` (the thumbnail made as a scan makes it — the JPEG's
  segments scanned, its bytes copied — but not appended) · ``thumb_packed`` (appended to this
  process's pack: ``extract_file(path, thumb, …, pack=True)``) · ``task`` (``extract_task``
  and its result's pickle: the meta row's JSON, the packed views, the decode budget); and
  ``floor_again``, the floor once more: its distance from ``floor`` is the method's noise;
- **isolated**: each piece alone in a loop over the already decoded photos (what the piece
  costs with warm caches; the interleaved difference minus this is what the piece costs the
  rest of the photo's work through the caches); ``pack_append_in_16s``: the same bytes
  appended 16 thumbnails a write (what buffering a chunk's appends could save).

Also the cyclic garbage collector's passes a photo during the task loop (generation 0, 1, 2)
and the CPU they took: ``gc.freeze()`` or a higher threshold can only gain that.
``*_sys`` are system CPU ms a photo. This process keeps its heap as a worker does.

    python benchmarks/task_parts.py /tmp/lookalike-scale/m10000 --count 800 --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

from emit import emit
from lookalike.engine import thumb_pack
from lookalike.engine.features import extract as ex
from lookalike.engine.media.decode import decode_reduced, set_decode_budget
from lookalike.engine.pool import keep_heap
from lookalike.engine.stages.extract_worker import extract_task, meta_row

PIXELS, BUDGET = 250_000_000, 512 * 2**20


def _not_appended(thumb: str, data: bytes | memoryview) -> list:
    return ["-", 0, len(data)]


def variants(tmp: str) -> dict:
    """The task with its pieces added one at a time: name → fn(index, path)."""
    th = lambda j: f"{tmp}/{j % 256:02x}/{j}.jpg"  # noqa: E731 - a local path rule

    def thumb_no_write(j: int, f: str) -> object:
        real, thumb_pack.append = thumb_pack.append, _not_appended
        try:
            return ex.extract_file(f, th(j), PIXELS, True)
        finally:
            thumb_pack.append = real

    return {
        "floor": lambda j, f: ex.extract_file(f, None, PIXELS),
        "thumb_no_write": thumb_no_write,
        "floor_again": lambda j, f: ex.extract_file(f, None, PIXELS),  # the method's own noise
        "thumb_packed": lambda j, f: ex.extract_file(f, th(j), PIXELS, True),
        "task": lambda j, f: pickle.dumps(extract_task((j, f, th(j), PIXELS, BUDGET))),
    }


def interleaved(files: list[str], rounds: int, tmp: str) -> dict:
    """CPU and system CPU ms a photo of each variant, rotated file by file."""
    fns = variants(tmp)
    names = list(fns)
    acc = {k: [0.0, 0.0] for k in names}
    for f in files[:20]:  # imports and allocator warm, as in a long-lived worker
        ex.extract_file(f, None, PIXELS)
    for _ in range(rounds):
        for j, f in enumerate(files):
            for k in names[j % len(names) :] + names[: j % len(names)]:
                s0, c0 = resource.getrusage(resource.RUSAGE_SELF).ru_stime, time.process_time()
                fns[k](j, f)
                c1, s1 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_stime
                acc[k][0] += c1 - c0
                acc[k][1] += s1 - s0
    n = len(files) * rounds
    out = {}
    for k, (cpu, sys_s) in acc.items():
        out[k] = round(cpu * 1000 / n, 4)
        out[f"{k}_sys"] = round(sys_s * 1000 / n, 4)
        out[f"{k}_over_floor"] = round((cpu - acc["floor"][0]) * 1000 / n, 4)
    return out


def _loop_ms(fn, args: list, reps: int) -> float:
    c = time.process_time()
    for _ in range(reps):
        for a in args:
            fn(a)
    return round((time.process_time() - c) * 1000 / len(args) / reps, 4)


def _batched_ms(ready: list[bytes], tmp: str, n: int) -> float:
    """CPU ms a thumbnail when ``n`` thumbnails' bytes go to a pack in one write (a worker
    buffering its chunk's thumbnails): what batching the appends could save."""
    path = os.path.join(tmp, "batched.pack")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        c = time.process_time()
        for i in range(0, len(ready), n):
            os.fstat(fd)
            os.write(fd, b"".join(ready[i : i + n]))
        return round((time.process_time() - c) * 1000 / len(ready), 4)
    finally:
        os.close(fd)


def isolated(files: list[str], tmp: str, reps: int = 5) -> dict:
    """Each piece alone, in a loop, on photos decoded already: CPU ms a call."""
    decs = [decode_reduced(f, max_pixels=PIXELS) for f in files]
    feats = [ex.features_of(d, None) for d in decs]
    thumbs = [ex.source_thumbnail(d) for d in decs]
    rows = [(j, meta_row(x), ex.pack_views(x.views), None) for j, x in enumerate(feats)]
    ready = [t for t in thumbs if t is not None]
    return {
        "source_thumbnail": _loop_ms(ex.source_thumbnail, decs, reps),
        "pack_append": _loop_ms(lambda t: thumb_pack.append(f"{tmp}/00/x.jpg", t), ready, 1),
        "pack_append_in_16s": _batched_ms(ready, tmp, 16),
        "meta_row": _loop_ms(meta_row, feats, reps),
        "pack_views": _loop_ms(lambda x: ex.pack_views(x.views), feats, reps),
        "result_pickle": _loop_ms(pickle.dumps, rows, reps),
        "set_decode_budget": _loop_ms(set_decode_budget, [BUDGET] * len(files), reps),
        "source_thumbnail_share": round(len(ready) / len(decs), 3),
    }


def gc_passes(files: list[str], tmp: str) -> dict:
    """The collector's passes a photo, by generation, and their CPU, over the task loop."""
    passes, spent, t0 = [0, 0, 0], [0.0], [0.0]

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            t0[0] = time.process_time()
        else:
            passes[info["generation"]] += 1
            spent[0] += time.process_time() - t0[0]

    gc.callbacks.append(watch)
    try:
        for j, f in enumerate(files):
            pickle.dumps(extract_task((j, f, f"{tmp}/{j % 256:02x}/g{j}.jpg", PIXELS, BUDGET)))
    finally:
        gc.callbacks.remove(watch)
    n = len(files)
    return {"passes_a_photo": [round(p / n, 4) for p in passes],
            "gc_ms_a_photo": round(spent[0] * 1000 / n, 5),
            "threshold": list(gc.get_threshold()), "tracked_objects": len(gc.get_objects())}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", type=Path, help="a scale.py set folder (photos/)")
    ap.add_argument("--count", type=int, default=800, help="photos, spread over the set")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    every = sorted(str(f) for f in (args.set / "photos").rglob("*.jpg"))
    if len(every) < args.count:
        print(f"too few photos under {args.set}/photos", file=sys.stderr)
        return 2
    files = every[:: len(every) // args.count][: args.count]
    kept = keep_heap()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="task_parts_") as tmp:
        mixed = interleaved(files, args.rounds, tmp)
        alone = isolated(files, tmp)
        collector = gc_passes(files, tmp)
        thumb_pack.close_all()
    out = {"script": "benchmarks/task_parts.py", "argv": sys.argv[1:], "photos": len(files),
           "heap_kept": kept, "interleaved_ms": mixed, "isolated_ms": alone, "gc": collector,
           "load_avg": [[round(x, 2) for x in load0], [round(x, 2) for x in os.getloadavg()]],
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip
    return emit(out, args.output, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
