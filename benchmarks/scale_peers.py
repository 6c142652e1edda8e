"""The peers on a scale set, beside lookalike, in one session: wall, CPU, peak RSS, copies found.

Why: ``scale.py`` times lookalike alone on its sets (10k → 100k → 1 M small real-photo-derived
JPEGs with planted copies); the docs want each figure beside a peer run in the same session.
This runs, one after the other, each in a fresh child process with an empty cache, on the
same set (``photos/`` and ``copies/`` of ``scale.py``'s ``mN``):

- ``lookalike``: ``lookalike scan --no-ui`` first scan on a new catalog, ``--format json``;
- ``czkawka``: PyPI ``czkawka`` (Rust ``image_hasher``) similar images at level 5 ("High"),
  both folders;
- ``imagededup``: PHash ``encode_images`` + ``find_duplicates`` (10 bits) on a folder of hard
  links to every file (it reads one folder); its search compares every pair, so keep it to
  sets of ≈ 10k.

"planted found" is the share of ``labels.json``'s planted (original, copy) pairs that the
tool puts in one group — the same measure as ``scale.py``'s — so resized, re-encoded,
cropped, rotated and mirrored copies (``scale.COPY_KINDS``) count alike. Peers need the
``bench`` extra (``pip install -e '.[bench]'``).

    python benchmarks/scale_peers.py --set /tmp/lookalike-scale/m10000 --work /tmp/peers10k \\
        -o benchmarks/out/scale_peers_10k.json
    python benchmarks/scale_peers.py --set /tmp/lookalike-scale/m100000 --only lookalike,czkawka
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import speed  # noqa: E402  (run_measured: wall, exit code, peak RSS of a process tree)
from accuracy import _union_groups  # noqa: E402  (a peer's pair list read as groups)
from emit import emit  # noqa: E402

CONTENDERS = ("lookalike", "czkawka", "imagededup")


def _child(kind: str, root: Path, work: Path) -> dict:
    """One contender in this (child) process: its groups as lists of paths, and seconds."""
    t0 = time.perf_counter()
    if kind == "czkawka":
        from czkawka import ImageSimilarity

        finder = ImageSimilarity()
        finder.set_directories([root / "photos", root / "copies"])
        finder.set_similarity(5)
        groups = [[str(p) for p in g] for g in finder.find_similar()]
    elif kind == "imagededup":
        from imagededup.methods import PHash

        flat = _flat_links(root, work / "flat")
        ph = PHash(verbose=False)
        enc = ph.encode_images(image_dir=str(flat))
        dups = ph.find_duplicates(encoding_map=enc, max_distance_threshold=10)
        groups = _union_groups((a, b) for a, bs in dups.items() for b in bs)
        groups = [[str(root / name.replace("__", "/")) for name in g] for g in groups]
    else:
        raise SystemExit(f"unknown contender {kind!r}")
    (work / f"{kind}.groups.json").write_text(json.dumps(groups))
    return {"seconds": time.perf_counter() - t0, "groups": len(groups)}


def _flat_links(root: Path, flat: Path) -> Path:
    """Hard links to every file of the set in one folder, named by their relative path with
    ``__`` for ``/`` (the set's names hold no ``__``)."""
    flat.mkdir(parents=True, exist_ok=True)
    for sub in ("photos", "copies"):
        for f in sorted((root / sub).rglob("*.jpg")):
            link = flat / str(f.relative_to(root)).replace("/", "__")
            if not link.exists():
                os.link(f, link)
    return flat


def _groups_of(kind: str, work: Path) -> list[list[str]]:
    if kind == "lookalike":
        doc = json.loads((work / "lookalike.json").read_text())
        return [[m["path"] for m in g["files"]] for g in doc.get("groups", [])]
    return json.loads((work / f"{kind}.groups.json").read_text())


def planted_found(groups: list[list[str]], planted: list[list[str]]) -> float:
    """Share of planted (original, copy) pairs in one group."""
    group_of: dict[str, int] = {}
    for i, g in enumerate(groups):
        for p in g:
            group_of[p] = i
    hit = sum(a in group_of and group_of.get(a) == group_of.get(b) for a, b in planted)
    return round(hit / max(1, len(planted)), 4)


def run(kind: str, root: Path, work: Path, workers: int) -> dict:
    env = dict(os.environ, XDG_CACHE_HOME=str(work / f"cache-{kind}"))
    if kind == "lookalike":
        db = work / "lookalike.db"
        cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(root / "photos"),
               str(root / "copies"), "--db", str(db), "--workers", str(workers),
               "-o", str(work / "lookalike.json"), "--format", "json"]  # fmt: skip
    else:
        cmd = [sys.executable, __file__, "_child", kind, str(root), str(work)]
    return speed.run_measured(cmd, env)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        print(json.dumps(_child(argv[1], Path(argv[2]), Path(argv[3]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, required=True, help="a scale.py set (mN)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale-peers"))
    ap.add_argument("--only", default=",".join(CONTENDERS))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    labels = json.loads((args.set / "labels.json").read_text())
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    files = sum(1 for sub in ("photos", "copies") for _ in (args.set / sub).rglob("*.jpg"))
    result: dict = {
        "script": "benchmarks/scale_peers.py", "argv": sys.argv[1:],
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, cwd=HERE).stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB",
        "set": str(args.set), "files": files, "planted_pairs": len(labels["planted"]),
        "load_before": [round(x, 2) for x in os.getloadavg()], "tools": {},
    }  # fmt: skip
    for kind in [k for k in args.only.split(",") if k]:
        r = run(kind, args.set, args.work, args.workers)
        r.pop("stderr_tail", None) if r["exit_code"] in speed.OK_CODES else None
        if r["exit_code"] in speed.OK_CODES:
            groups = _groups_of(kind, args.work)
            r["groups"] = len(groups)
            r["planted_found"] = planted_found(groups, labels["planted"])
            r["img_s"] = round(files / r["wall_seconds"], 1)
        result["tools"][kind] = r
        print(f"{kind:<11} {json.dumps(r)}", file=sys.stderr)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return emit(result, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
