"""Do burst frames of real photos ever land in one "same" group? Through the real CLI.

Why (session 16, room burst): ``corpus.burst_frames`` (the camera drifts, a subject moves, new
exposure and sensor noise) of the skimage sources, seeds 0-3, saved at JPEG q92 without EXIF,
plus a q70 re-save of each burst's middle frame. Each burst is scanned in its own folder (as a
camera writes it) with ``lookalike scan --no-ui DIR --format json`` on a fresh catalog; the
answer: how many bursts give a "same"/"exact" group holding two of their frames, and how many
re-saves sit with their frame. ``--src TREE/src`` scans with another tree's code.
``--together``: all seeds of a source in ONE folder (s0frame0.jpg ...): frame k of one seed
is a near-copy of frame k of another, so clusters merge across seeds and a group could hold
two frames of one burst through them (rank's keeper check, engine/keeper_check.py).
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


def make(work: Path, seeds: int, together: bool = False) -> list[Path]:
    """One folder a burst: frame0..2.jpg (q92) and frame1_q70.jpg; made once. ``together``:
    one folder a source, each file's name led by its seed (s0frame0.jpg ...)."""
    out = []
    for sid in SOURCES:
        img = _source_image(sid)
        for seed in range(seeds):
            d = work / ("together" if together else "bursts") / f"{sid}{'' if together else seed}"
            if d not in out:
                out.append(d)
            lead = f"s{seed}" if together else ""
            if (d / f"{lead}frame1_q70.jpg").exists():
                continue
            d.mkdir(parents=True, exist_ok=True)
            for k, im in enumerate(burst_frames(img, seed=seed)):
                im.save(d / f"{lead}frame{k}.jpg", quality=92)
                if k == 1:
                    im.save(d / f"{lead}frame1_q70.jpg", quality=70)
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


def judge(groups: list[dict], seeds: list[str]) -> dict:
    """Frames of one burst sharing a same/exact group, and whether each re-save sits with
    its frame (``seeds``: the names' leads, "" for a folder a burst)."""
    names = [(g["tier"], {Path(f["path"]).name for f in g["files"]}) for g in groups]
    same = [g for t, g in names if t in ("same", "exact")]
    frames = [
        sorted(n[len(s) : len(s) + 6] for n in g if n.startswith(s) and n[len(s)] == "f")
        for g in same
        for s in seeds
    ]
    together = [f for f in frames if len(set(f)) > 1]
    kept = all(any({f"{s}frame1.jpg", f"{s}frame1_q70.jpg"} <= g for _, g in names) for s in seeds)
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
    ap.add_argument("--together", action="store_true", help="all seeds of a source in one folder")
    args = ap.parse_args(argv)
    if args.copies:
        print(json.dumps(copies(args.copies)))
    leads = [f"s{n}" for n in range(args.seeds)] if args.together else [""]
    out = {
        d.name: judge(scan(d, args.work, args.src), leads)
        for d in make(args.work, args.seeds, args.together)
    }
    bad = sorted(k for k, v in out.items() if v["frames_in_one_same_group"])
    lost = sorted(k for k, v in out.items() if not v["resave_with_its_frame"])
    print(json.dumps({"bursts": len(out), "with_frames_in_one_same_group": bad,
                      "resaves_not_with_their_frame": lost}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
