"""Sampled-decode speed of ``media.video.sample_frames`` on 720p H.264, per core.

The issue's goal: ≥ 20× real time per core at a 1 s step on 720p H.264. The shipped 720p
sample (bigbuckbunny.mp4) is 5.3 s with one keyframe; real files are longer and have a GOP, so
this builds 30 s of 720p from it (played forward then backward, no cut) in two encodings that
bracket what people keep: "phone" (a keyframe every second, no B-frames) and "download"
(x264 defaults: a keyframe every 250 frames, B-frames). The process is pinned to one CPU, so
libavcodec runs one thread: the figures are per core.

    python benchmarks/video_decode.py [--keep DIR] [--repeat 5] [--cpu 0] [--scan] [-o out.json]

``--scan`` also times ``lookalike scan --no-ui`` on these files and a rescan with nothing
changed (the issue: a rescan of unchanged videos costs ≤ 5 % of the first scan).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from video_helpers import DATA, read_frames  # noqa: E402

SECONDS = 30
FPS = 25
ENCODINGS = {  # name: x264 settings
    "phone": {"g": str(FPS), "bf": "0", "preset": "veryfast", "crf": "23"},
    "download": {"g": "250", "preset": "veryfast", "crf": "23"},
}


def build(folder: Path) -> dict[str, Path]:
    import av

    frames, _fps = read_frames(DATA / "bigbuckbunny.mp4")
    loop = frames + frames[::-1]
    clip = [loop[k % len(loop)] for k in range(SECONDS * FPS)]
    out = {}
    for name, opts in ENCODINGS.items():
        dst = folder / f"bunny720-{name}.mp4"
        out[name] = dst
        if dst.exists():
            continue
        with av.open(str(dst), "w") as c:
            s = c.add_stream("libx264", rate=FPS)
            s.width, s.height = clip[0].shape[1], clip[0].shape[0]
            s.pix_fmt = "yuv420p"
            s.options = opts
            for f in clip:
                for p in s.encode(av.VideoFrame.from_ndarray(f, "rgb24")):
                    c.mux(p)
            for p in s.encode():
                c.mux(p)
    return out


def measure(path: Path, repeat: int, step: float) -> dict:
    from lookalike.engine.features.video_sig import video_features
    from lookalike.engine.media.video import sample_frames

    best_sample = best_all = cpu_sample = cpu_all = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        s = sample_frames(str(path), step)
        best_sample = min(best_sample, time.perf_counter() - t)
        cpu_sample = min(cpu_sample, time.process_time() - c)
        t, c = time.perf_counter(), time.process_time()
        video_features(str(path), step, None)
        best_all = min(best_all, time.perf_counter() - t)
        cpu_all = min(cpu_all, time.process_time() - c)
    d = s.info.duration
    return {
        "duration_s": d,
        "samples": len(s.times),
        "mode": "seek" if s.seeked else "sequential",
        # wall time on one pinned CPU, and the CPU time the process used (on a shared
        # machine the wall time also counts the other jobs' turns on that CPU)
        "sample_frames_wall_s": round(best_sample, 3),
        "sample_frames_cpu_s": round(cpu_sample, 3),
        "x_real_time_wall": round(d / best_sample, 1),
        "x_real_time_cpu": round(d / cpu_sample, 1),
        "with_signatures_cpu_s": round(cpu_all, 3),
        "x_real_time_with_signatures_cpu": round(d / cpu_all, 1),
        "with_signatures_wall_s": round(best_all, 3),
    }


def scan_twice(folder: Path) -> dict:
    """``lookalike scan --no-ui`` on the folder, then again with nothing changed (all CPUs)."""
    import subprocess

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in ("first", "rescan"):
            t = time.perf_counter()
            r = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lookalike",
                    "scan",
                    "--no-ui",
                    str(folder),
                    "--db",
                    f"{tmp}/c.db",
                    "--no-thumbnails",
                ],
                capture_output=True,
                check=True,
            )
            stats = json.loads(r.stdout)["stats"]
            out[f"{run}_wall_s"] = round(time.perf_counter() - t, 2)
            out[f"{run}_video_stage_s"] = stats["seconds_by_stage"].get("video")
            out[f"{run}_engine_s"] = stats["seconds"]  # the scan itself, no process start
    out["rescan_share_wall"] = round(out["rescan_wall_s"] / out["first_wall_s"], 3)
    out["rescan_share_engine"] = round(out["rescan_engine_s"] / out["first_engine_s"], 3)
    out["rescan_share_video_stage"] = round(
        out["rescan_video_stage_s"] / out["first_video_stage_s"], 3
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="build the test videos here and keep them")
    ap.add_argument("--repeat", type=int, default=5, help="best of N")
    ap.add_argument("--cpu", type=int, default=0, help="the one CPU to run on")
    ap.add_argument("--step", type=float, default=1.0)
    ap.add_argument("-o", type=Path)
    ap.add_argument("--scan", action="store_true", help="also: a scan and a rescan of the files")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = build(folder)
        res: dict = {"scan": scan_twice(folder)} if args.scan else {}
        os.sched_setaffinity(0, {args.cpu})  # after building: libavcodec then runs 1 thread
        res.update({name: measure(p, args.repeat, args.step) for name, p in files.items()})
    res["machine"] = f"{platform.machine()}, pinned to 1 of {os.cpu_count()} CPUs"
    res["load_average"] = [round(x, 2) for x in os.getloadavg()]
    res["step"] = args.step
    print(json.dumps(res, indent=1))
    if args.o:
        args.o.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
