"""Pairwise precision/recall of ``lookalike scan`` on the labelled real-photo corpus.

Why pairwise: a group is a claim "all these files are the same photo", so every pair inside an
output group is a prediction. A pair (original, copy) from one source photo is a true pair;
any pair of files from different source photos inside one group is a false pair. False pairs
with a distractor (regions of one large photo) or between a near-scene pair (stereo views,
bursts) are counted apart, because they are the look-alikes a user must never lose.

Groups of the ``similar`` tier are look-alike shots by design, so by default only ``exact`` and
``same`` groups are scored; ``similar`` groups get their own small report.

    python benchmarks/accuracy.py [CORPUS_DIR] [--heldout] [--sensitivity N] [--model M]
                                  [--extra-args="..."] [-o results.json]
    python benchmarks/accuracy.py CORPUS_DIR --from-json scan.json     # score a saved result
    python benchmarks/accuracy.py CORPUS_DIR --peer czkawka|imagededup  # same scoring for peers

CORPUS_DIR is built with ``benchmarks/corpus.py`` first when it has no labels.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import (  # noqa: E402
    DISTRACTOR,
    HARD_FAMILIES,
    HARD_PHOTOS,
    ORIGINAL,
    load_labels,
    make_corpus,
)

DEFAULT_TIERS = ("exact", "same")


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


class _Resolver:
    """Maps paths as a tool printed them (absolute, relative, symlinked) to labelled files."""

    def __init__(self, corpus_dir: Path, labels: dict) -> None:
        self.root = corpus_dir.resolve()
        self.by_rel = {f["path"]: f for f in labels["files"]}
        self.by_name: dict[str, dict | None] = {}
        for f in labels["files"]:
            name = Path(f["path"]).name
            self.by_name[name] = None if name in self.by_name else f  # None = ambiguous

    def __call__(self, path: str) -> dict | None:
        p = Path(path)
        if p.is_absolute():
            for cand in (p, p.resolve()):
                try:
                    rel = cand.relative_to(self.root).as_posix()
                except ValueError:
                    continue
                if rel in self.by_rel:
                    return self.by_rel[rel]
        elif p.as_posix() in self.by_rel:
            return self.by_rel[p.as_posix()]
        return self.by_name.get(p.name)


def _pairs(members: Sequence[str]) -> Iterable[tuple[str, str]]:
    yield from itertools.combinations(sorted(set(members)), 2)


def _prf(tp: int, fp: int, found: int, total: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = found / total if total else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def score(
    labels: dict,
    result: dict,
    corpus_dir: str | os.PathLike[str],
    tiers: Sequence[str] = DEFAULT_TIERS,
) -> dict:
    """Score a lookalike JSON result (schema version 1) against corpus labels.

    Returns overall precision/recall/F1, recall per transform and per kind, false pairs per
    category (distractor / near_pair / other) and per transform, and a ``similar`` tier report.
    """
    resolve = _Resolver(Path(corpus_dir), labels)
    files = {f["path"]: f for f in labels["files"]}
    near = {s["id"]: set(s.get("near_pair_with", ())) for s in labels.get("sources", [])}
    unknown: list[str] = []

    def members_of(group: dict) -> list[str]:
        out = []
        for m in group.get("files", []):
            f = resolve(m["path"])
            if f is None:
                unknown.append(m["path"])
            else:
                out.append(f["path"])
        return out

    scored = [g for g in result.get("groups", []) if g.get("tier", "same") in tiers]
    other = [g for g in result.get("groups", []) if g.get("tier", "same") not in tiers]

    # Predicted pairs, each once even if two groups repeat it
    predicted: set[tuple[str, str]] = set()
    for g in scored:
        predicted.update(_pairs(members_of(g)))

    def category(a: dict, b: dict) -> str:
        if a.get("hard") or b.get("hard"):
            return "hard:" + (a.get("hard") or b.get("hard"))
        if a["distractor"] or b["distractor"]:
            return "distractor"
        if b["source"] in near.get(a["source"], ()) or a["source"] in near.get(b["source"], ()):
            return "near_pair"
        return "other"

    tp = 0
    false_by_cat: Counter[str] = Counter()
    false_by_transform: Counter[str] = Counter()
    false_examples: list[dict] = []
    for a, b in sorted(predicted):
        fa, fb = files[a], files[b]
        if fa["group"] == fb["group"]:
            tp += 1
            continue
        cat = category(fa, fb)
        false_by_cat[cat] += 1
        for t in {fa["transform"], fb["transform"]}:
            false_by_transform[t] += 1
        if len(false_examples) < 25:
            false_examples.append({"a": a, "b": b, "category": cat})
    fp = sum(false_by_cat.values())

    # Files grouped with no file of their own photo in that group: what a user would lose
    unrelated: set[str] = set()
    for g in scored:
        ms = set(members_of(g))
        for m in ms:
            if not any(files[o]["group"] == files[m]["group"] for o in ms if o != m):
                unrelated.add(m)

    # Recall over (original, copy) pairs, per transform and per kind
    by_group: dict[str, list[dict]] = defaultdict(list)
    for f in labels["files"]:
        by_group[f["group"]].append(f)
    per_t: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # found, total
    kind_of: dict[str, str] = {}
    all_found = all_total = 0
    for members in by_group.values():
        orig = next((f for f in members if f["transform"] == ORIGINAL), None)
        for a, b in itertools.combinations(sorted(m["path"] for m in members), 2):
            all_total += 1
            all_found += (a, b) in predicted
        if orig is None:
            continue
        for f in members:
            if f is orig:
                continue
            pair = tuple(sorted((orig["path"], f["path"])))
            per_t[f["transform"]][1] += 1
            per_t[f["transform"]][0] += pair in predicted
            kind_of[f["transform"]] = f["kind"]
    found = sum(v[0] for v in per_t.values())
    total = sum(v[1] for v in per_t.values())
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t, (fnd, tot) in per_t.items():
        per_kind[kind_of[t]][0] += fnd
        per_kind[kind_of[t]][1] += tot

    # Which copies failed to decode (reported by the tool as errors)
    errors_by_transform: Counter[str] = Counter()
    for e in result.get("errors", []):
        f = resolve(str(e.get("path", "")))
        errors_by_transform[f["transform"] if f else "?"] += 1

    # The similar tier: look-alike shots, where near pairs belong
    similar_pairs: set[tuple[str, str]] = set()
    for g in other:
        similar_pairs.update(_pairs(members_of(g)))
    sim_cats: Counter[str] = Counter()
    for a, b in similar_pairs:
        fa, fb = files[a], files[b]
        sim_cats["same_photo" if fa["group"] == fb["group"] else category(fa, fb)] += 1

    return {
        "tiers_scored": list(tiers),
        "files_labelled": len(files),
        "files_grouped": len({p for pair in predicted for p in pair}),
        "groups_scored": len(scored),
        "predicted_pairs": len(predicted),
        "true_pairs_found": tp,
        "false_pairs": fp,
        "false_pairs_by_category": dict(false_by_cat),
        "unrelated_files_grouped": len(unrelated),
        "unrelated_examples": sorted(unrelated)[:25],
        "hard_negatives": sum(1 for f in files.values() if f.get("hard")),
        "copy_pairs": total,
        "copy_pairs_found": found,
        **_prf(tp, fp, found, total),
        "recall_all_same_photo_pairs": round(all_found / all_total, 4) if all_total else 1.0,
        "per_transform": {
            t: {
                "kind": kind_of[t],
                "pairs": tot,
                "found": fnd,
                "recall": round(fnd / tot, 4) if tot else 1.0,
                "false_pairs": false_by_transform.get(t, 0),
                "errors": errors_by_transform.get(t, 0),
            }
            for t, (fnd, tot) in sorted(per_t.items(), key=lambda kv: (kind_of[kv[0]], kv[0]))
        },
        "per_kind": {
            k: {"pairs": tot, "found": fnd, "recall": round(fnd / tot, 4) if tot else 1.0}
            for k, (fnd, tot) in sorted(per_kind.items())
        },
        "false_pairs_with_distractors": false_by_transform.get(DISTRACTOR, 0),
        "false_examples": false_examples,
        "errors": len(result.get("errors", [])),
        "errors_by_transform": dict(errors_by_transform),
        "unknown_paths": len(unknown),
        "similar_tier": {"groups": len(other), "pairs": len(similar_pairs), **dict(sim_cats)},
    }


def format_table(s: dict, title: str = "") -> str:
    """Human-readable summary: overall line, then recall per kind and per transform."""
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  F1 {s['f1']:.3f}   "
        f"({s['copy_pairs_found']}/{s['copy_pairs']} copy pairs, {s['false_pairs']} false of "
        f"{s['predicted_pairs']} predicted pairs; tiers {','.join(s['tiers_scored'])})"
    )
    cats = s["false_pairs_by_category"]
    lines.append(
        "false pairs: "
        + ", ".join(f"{k} {cats.get(k, 0)}" for k in ("distractor", "near_pair", "other"))
        + "".join(f", {k} {v}" for k, v in sorted(cats.items()) if k.startswith("hard:"))
        + f"   errors {s['errors']}   unknown paths {s['unknown_paths']}"
    )
    lines.append(
        f"unrelated files grouped: {s.get('unrelated_files_grouped', 0)}"
        f"   (hard negatives in the corpus: {s.get('hard_negatives', 0)})"
    )
    st = s["similar_tier"]
    lines.append(
        f"similar tier: {st['groups']} groups, {st['pairs']} pairs "
        f"(same photo {st.get('same_photo', 0)}, near pair {st.get('near_pair', 0)}, "
        f"distractor {st.get('distractor', 0)}, other {st.get('other', 0)})"
    )
    lines.append("")
    lines.append(f"{'kind':<16}{'recall':>8}{'pairs':>7}")
    for k, v in s["per_kind"].items():
        lines.append(f"{k:<16}{v['recall']:>8.3f}{v['pairs']:>7}")
    lines.append("")
    lines.append(f"{'transform':<22}{'kind':<16}{'recall':>8}{'pairs':>7}{'false':>7}{'err':>5}")
    for t, v in s["per_transform"].items():
        lines.append(
            f"{t:<22}{v['kind']:<16}{v['recall']:>8.3f}{v['pairs']:>7}"
            f"{v['false_pairs']:>7}{v['errors']:>5}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Running lookalike and peers
# --------------------------------------------------------------------------------------------


def run_lookalike(
    images: Path,
    out_json: Path,
    db: Path,
    sensitivity: int | None,
    model: str | None,
    extra: Sequence[str],
) -> tuple[list[str], float, int, str]:
    """Run the CLI; returns (command, seconds, exit code, stderr tail)."""
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(images)]
    cmd += ["--format", "json", "-o", str(out_json), "--db", str(db)]
    if sensitivity is not None:
        cmd += ["--sensitivity", str(sensitivity)]
    if model:
        cmd += ["--model", model]
    cmd += list(extra)
    env = dict(os.environ, XDG_CACHE_HOME=str(db.parent / "cache"))  # thumbnails stay in tmp
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return cmd, time.perf_counter() - t0, proc.returncode, proc.stderr[-3000:]


def _union_groups(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components of matched pairs (how a user reads a peer's pair list)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[find(a)] = find(b)
    comps: dict[str, list[str]] = defaultdict(list)
    for x in parent:
        comps[find(x)].append(x)
    return [sorted(c) for c in comps.values() if len(c) > 1]


def run_peer(peer: str, images: Path, level: int | None) -> tuple[dict, float]:
    """Run a peer tool in-process and convert its answer to lookalike's JSON schema."""
    t0 = time.perf_counter()
    if peer == "czkawka":
        from czkawka import ImageSimilarity

        finder = ImageSimilarity()
        finder.set_directories([images])
        finder.set_similarity(5 if level is None else level)  # Czkawka's "High" preset
        groups = [[str(p) for p in g] for g in finder.find_similar()]
    elif peer == "imagededup":
        from imagededup.methods import PHash

        ph = PHash(verbose=False)
        enc = ph.encode_images(image_dir=str(images))
        dups = ph.find_duplicates(
            encoding_map=enc, max_distance_threshold=10 if level is None else level
        )
        groups = _union_groups((a, b) for a, bs in dups.items() for b in bs)
        groups = [[str(images / p) for p in g] for g in groups]
    else:
        raise SystemExit(f"unknown peer {peer!r}")
    secs = time.perf_counter() - t0
    return {
        "version": 1,
        "groups": [
            {"id": i, "tier": "same", "files": [{"path": p} for p in g]}
            for i, g in enumerate(groups)
        ],
        "errors": [],
        "stats": {"seconds": secs},
    }, secs


def _git_head() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except OSError:
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "corpus_dir",
        type=Path,
        nargs="?",
        default=None,
        help="default benchmarks/data/corpus_main (corpus_heldout / corpus_hard with --heldout / --hard)",
    )
    ap.add_argument("--heldout", action="store_true", help="build the held-out corpus if absent")
    ap.add_argument(
        "--hard", action="store_true", help="build the hard-negative corpus if absent (corpus_hard)"
    )
    ap.add_argument("--sensitivity", type=int, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument(
        "--extra-args",
        default="",
        help='more lookalike scan arguments as one string; write --extra-args="--similar" (with =)',
    )
    ap.add_argument("--tiers", default=",".join(DEFAULT_TIERS), help="tiers scored as 'same'")
    ap.add_argument("--from-json", type=Path, default=None, help="score this saved result")
    ap.add_argument("--peer", choices=("czkawka", "imagededup"), default=None)
    ap.add_argument("--peer-level", type=int, default=None, help="czkawka 0-50 / imagededup bits")
    ap.add_argument("--db", type=Path, default=None, help="catalog path (default: fresh temp)")
    ap.add_argument("-o", "--output", type=Path, default=None, help="write the scores as JSON")
    ap.add_argument("--save-result", type=Path, default=None, help="keep the tool's JSON here")
    ap.add_argument("--quiet", action="store_true", help="no per-transform table")
    args = ap.parse_args(argv)

    corpus_dir: Path = args.corpus_dir or Path(__file__).resolve().parent / "data" / (
        "corpus_hard" if args.hard else "corpus_heldout" if args.heldout else "corpus_main"
    )
    if not (corpus_dir / "labels.json").exists():
        print(f"building corpus in {corpus_dir} …", file=sys.stderr)
        if args.hard:
            make_corpus(corpus_dir, photos=HARD_PHOTOS, seed=0, hard=list(HARD_FAMILIES), jobs=2)
        else:
            make_corpus(corpus_dir, seed=1 if args.heldout else 0, heldout=args.heldout, jobs=2)
    labels = load_labels(corpus_dir)
    images = corpus_dir / labels.get("images_dir", "images")
    meta: dict = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu",
        "git": _git_head(),
        "corpus": str(corpus_dir),
        "heldout": labels.get("heldout", False),
        "files": len(labels["files"]),
        "hard_families": labels.get("hard_families", []),
    }
    tiers = [t for t in args.tiers.split(",") if t]

    if args.from_json:
        result = json.loads(args.from_json.read_text())
        meta["tool"] = f"from-json {args.from_json}"
    elif args.peer:
        result, secs = run_peer(args.peer, images, args.peer_level)
        meta.update(tool=args.peer, level=args.peer_level, seconds=round(secs, 2))
    else:
        with tempfile.TemporaryDirectory(prefix="lookalike-acc-") as tmp:
            out_json = Path(tmp) / "out.json"
            db = args.db or Path(tmp) / "catalog.db"
            cmd, secs, rc, err = run_lookalike(
                images, out_json, db, args.sensitivity, args.model, shlex.split(args.extra_args)
            )
            meta.update(tool="lookalike", command=shlex.join(cmd[1:]), seconds=round(secs, 2))
            variant = []
            if args.sensitivity is not None:
                variant += ["--sensitivity", str(args.sensitivity)]
            if args.model:
                variant += ["--model", args.model]
            meta["variant"] = shlex.join(variant + shlex.split(args.extra_args))
            meta["exit_code"] = rc
            if not out_json.exists():
                print(f"lookalike failed (exit {rc}):\n{err}", file=sys.stderr)
                return 1
            result = json.loads(out_json.read_text())
        meta["tool_stats"] = result.get("stats", {})

    if args.save_result:
        args.save_result.parent.mkdir(parents=True, exist_ok=True)
        args.save_result.write_text(json.dumps(result, indent=1))
    s = score(labels, result, corpus_dir, tiers)
    title = f"{meta.get('tool')}  {meta['date_utc']}  {meta['files']} files"
    if "seconds" in meta:
        title += f"  {meta['seconds']} s"
    text = format_table(s, title)
    print(text if not args.quiet else "\n".join(text.splitlines()[:4]))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"meta": meta, "scores": s}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
