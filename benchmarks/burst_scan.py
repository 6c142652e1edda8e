"""Do burst frames of real photos ever land in one "same" group? Through the real CLI.

Why (session 16, room burst): ``corpus.burst_frames`` (the camera drifts, a subject moves, new
exposure and sensor noise) of the skimage sources, seeds 0-3, saved at JPEG q92 without EXIF,
plus a q70 re-save of each burst's middle frame. Each burst is scanned in its own folder (as a
camera writes it) with ``lookalike scan --no-ui DIR --format json`` on a fresh catalog; the
answer: how many bursts give a "same"/"exact" group holding two of their frames, and how many
re-saves sit with their frame. ``--src TREE/src`` scans with another tree's code.
``--copies CORPUS`` (a ``corpus.py`` folder) also verifies every (original, copy) pair both
ways with this tree's verify.py: how many a moved part refutes (features/moved.py), and the
block shares of those still called one photo above 3 % (watermarks, borders, resizes).

    python benchmarks/burst_scan.py --work /tmp/NAME-bursts [--src /work/main/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from corpus import _source_image, burst_frames

SOURCES = ("coffee", "astronaut", "chelsea", "camera", "rocket", "china", "flower")


def make(work: Path, seeds: int) -> list[Path]:
    """One folder a burst: frame0..2.jpg (q92) and frame1_q70.jpg; made once."""
    out = []
    for sid in SOURCES:
        img = _source_image(sid)
        for seed in range(seeds):
            d = work / "bursts" / f"{sid}{seed}"
            out.append(d)
            if (d / "frame1_q70.jpg").exists():
                continue
            d.mkdir(parents=True, exist_ok=True)
            for k, im in enumerate(burst_frames(img, seed=seed)):
                im.save(d / f"frame{k}.jpg", quality=92)
                if k == 1:
                    im.save(d / "frame1_q70.jpg", quality=70)
    return out


def scan(folder: Path, work: Path, src: str | None) -> list[dict]:
    """The scan's groups (fresh catalog and thumbnail cache under ``work``)."""
    runs = work / "runs" / folder.name
    runs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, XDG_CACHE_HOME=str(runs / "cache"))
    if src:
        env["PYTHONPATH"] = src
    db = runs / "catalog.db"
    for p in runs.glob("catalog.db*"):
        p.unlink()
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(folder)]
    cmd += ["--format", "json", "--db", str(db), "--workers", "1"]
    done = subprocess.run(cmd, env=env, capture_output=True, check=True)
    return json.loads(done.stdout)["groups"]


def judge(groups: list[dict]) -> dict:
    """Frames sharing a same/exact group, and whether the re-save sits with its frame."""
    names = [(g["tier"], {Path(f["path"]).name for f in g["files"]}) for g in groups]
    frames = [sorted(n[:6] for n in g) for t, g in names if t in ("same", "exact")]
    together = [f for f in frames if len(set(f)) > 1]
    kept = any({"frame1.jpg", "frame1_q70.jpg"} <= g for _, g in names)
    return {"frames_in_one_same_group": together, "resave_with_its_frame": kept}


def copies(root: Path) -> dict:
    """Every (original, copy) pair of a corpus, both ways: the moved-part refutations."""
    import pillow_heif

    from lookalike.engine.features import verify

    pillow_heif.register_heif_opener()
    fired: list[bool] = []
    real = verify.moved_part

    def spy(*a: object) -> bool:
        fired.append(real(*a))  # type: ignore[arg-type]
        return fired[-1]

    verify.moved_part = spy  # type: ignore[assignment]
    files = json.loads((root / "labels.json").read_text())["files"]
    orig = {f["source"]: f["path"] for f in files if f["transform"] == "original"}
    v, refuted, shares, n = verify.Verifier(), [], [], 0
    for f in files:
        if f["distractor"] or f["transform"] == "original" or f["source"] not in orig:
            continue
        for a, b in ((orig[f["source"]], f["path"]), (f["path"], orig[f["source"]])):
            fired.clear()
            res, n = v.verify(root / a, root / b), n + 1
            if any(fired):
                refuted.append(f["path"])
            elif res.same and res.bad_blocks > 0.03:
                shares.append((round(res.bad_blocks, 3), f["transform"]))
    return {"pairs": n, "refuted_as_moved": refuted, "same_above_3pct": sorted(shares)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--src", help="PYTHONPATH of the tree to scan with (default: this one)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--copies", type=Path, help="a corpus.py folder to verify the copies of")
    args = ap.parse_args(argv)
    if args.copies:
        print(json.dumps(copies(args.copies)))
    out = {d.name: judge(scan(d, args.work, args.src)) for d in make(args.work, args.seeds)}
    bad = sorted(k for k, v in out.items() if v["frames_in_one_same_group"])
    lost = sorted(k for k, v in out.items() if not v["resave_with_its_frame"])
    print(json.dumps({"bursts": len(out), "with_frames_in_one_same_group": bad,
                      "resaves_not_with_their_frame": lost}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
