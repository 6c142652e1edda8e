"""Content rules: cost per image on top of embeddings, and a prototype rule's precision/recall.

Labelled real photos (scikit-image samples): "textures" (brick, grass, gravel, …) against
"scenes" (astronaut, coffee, chelsea, …), each as several transformed copies (crops, flips,
brightness, small rotations). Per class, the copies of some photos are the rule's sample
folders and the copies of the OTHER photos are scored, so the split is by source photo (no copy
of a scored photo is among the samples).

Cost: ``embed`` is decode + preprocess + effnet-lite0 per image (what a scan with embeddings
pays); ``rules`` is the rule evaluation per image once the vectors exist (prototype build
excluded: it is paid once per sample-folder change), both on the same files and machine.
``in_scan`` is the real ``lookalike scan --no-ui --model effnet-lite0 --rules --dry-run`` on a
fresh catalog over the scored photos (prototypes built beforehand): the rules stage's share of
the scan, and how many scanned images the rules decoded a second time (goal: none).

    python benchmarks/rules.py [--copies 4] [--threshold 0.0] [-o results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageEnhance

TEXTURES = ["brick", "grass", "gravel", "moon", "hubble_deep_field"]
SCENES = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "motorcycle"]
SAMPLE_T, SAMPLE_S = TEXTURES[:2], SCENES[:2]


def photo(name: str) -> Image.Image:
    import skimage.data as data

    if name == "motorcycle":
        return Image.fromarray(data.stereo_motorcycle()[0]).convert("RGB")
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def copies(img: Image.Image, n: int) -> list[Image.Image]:
    w, h = img.size
    out = [
        img.crop((0, 0, int(w * 0.8), int(h * 0.8))),
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ImageEnhance.Brightness(img).enhance(1.3),
        img.rotate(4),
        img.crop((int(w * 0.15), int(h * 0.1), w, h)),
        ImageEnhance.Contrast(img).enhance(0.7),
    ]
    return out[:n]


def build(base: Path, n: int) -> dict[str, list[str]]:
    labelled: dict[str, list[str]] = {"texture": [], "scene": []}
    for cls, names, samples in (("texture", TEXTURES, SAMPLE_T), ("scene", SCENES, SAMPLE_S)):
        for name in names:
            folder = base / (f"samples-{cls}" if name in samples else "inbox")
            folder.mkdir(parents=True, exist_ok=True)
            for i, im in enumerate(copies(photo(name), n)):
                p = folder / f"{name}-{i}.jpg"
                im.resize((256, max(1, round(256 * im.size[1] / im.size[0])))).save(p, quality=90)
                if name not in samples:
                    labelled[cls].append(str(p))
    return labelled


def _anchor_scores(eng, base: Path, files: list[str]) -> dict[str, tuple]:
    """Each scored photo's cosines to every positive and every negative sample photo: the
    anchors play the part of prompts (one vector each), in the same embedding space."""
    import numpy as np

    pos = sorted(str(p) for p in (base / "samples-texture").iterdir())
    neg = sorted(str(p) for p in (base / "samples-scene").iterdir())
    vec = eng.vectors(files + pos + neg)
    P = np.stack([vec[p] for p in pos])
    N = np.stack([vec[p] for p in neg])
    proto = P.mean(axis=0) / np.linalg.norm(P.mean(axis=0))  # the positive-only prototype
    return {f: (P @ vec[f], N @ vec[f], float(proto @ vec[f])) for f in files}


def _compare_scorings(anchors: dict[str, tuple], truth: set[str]) -> dict:
    """Ours: mean cos to positives − mean cos to negatives. Simple Image Compare's, as issue 12
    describes it: P × harmonic mean of the negative similarities — which RISES as the image
    looks more like the negatives. Reported: how well each separates the labelled classes
    (ROC AUC, best F1 over all thresholds) and how each moves with the negative similarity
    (Pearson r between the score and the mean negative cosine)."""
    from statistics import harmonic_mean

    import numpy as np

    files = sorted(anchors)
    y = np.array([f in truth for f in files])
    neg_mean = np.array([float(np.mean(anchors[f][1])) for f in files])
    ours = np.array([float(np.mean(anchors[f][0]) - np.mean(anchors[f][1])) for f in files])
    sic = np.array(
        [
            float(np.mean(anchors[f][0]))
            * harmonic_mean([max(float(x), 1e-6) for x in anchors[f][1]])
            for f in files
        ]
    )
    out = {name: _separation(score, y, neg_mean) for name, score in (("ours", ours), ("sic", sic))}
    # positives only. SIC divides each similarity by the collection's smallest one
    # (compare_embeddings._compute_multiembedding_diff), so every image scores >= 1 and any
    # bar in 0..1 (its embedding default is 0.9) passes all of them. Ours: a positive-only
    # prototype rule, cos(q, P+) against its default bar 0.4.
    sic_pos = np.array([float(np.mean(anchors[f][0])) for f in files])
    sic_pos = sic_pos / sic_pos.min()
    sims = np.array([anchors[f][2] for f in files])
    out["positives_only"] = {
        "sic_fires_on": f"{int((sic_pos >= 0.9).sum())}/{len(files)}",
        "ours_fires_on": f"{int((sims >= 0.4).sum())}/{len(files)}",
        "ours_precision": round(float(y[sims >= 0.4].mean()), 3) if (sims >= 0.4).any() else 1.0,
        "ours_recall": round(float((y & (sims >= 0.4)).sum() / y.sum()), 3),
    }
    return out


def _separation(score, y, neg_mean) -> dict:
    import numpy as np

    order = np.argsort(-score)
    pos, n = int(y.sum()), len(y)
    ranks = np.empty(n)
    ranks[np.argsort(score)] = np.arange(1, n + 1)
    auc = (ranks[y].sum() - pos * (pos + 1) / 2) / (pos * (n - pos))
    best = 0.0
    for k in range(1, n + 1):  # threshold just above the k-th best score
        tp = int(y[order[:k]].sum())
        best = max(best, 2 * tp / (k + pos))
    r = float(np.corrcoef(score, neg_mean)[0, 1])
    return {
        "roc_auc": round(float(auc), 3),
        "best_f1": round(best, 3),
        "r_with_negatives": round(r, 3),
    }


def _sample_rewrite_rebuilds(eng, base: Path, rule) -> bool:
    """Rewrite one positive sample in place (same path, new pixels): a cache keyed by file
    identity and content must rebuild the prototype (a cache keyed by path would not)."""
    sample = sorted((base / "samples-texture").iterdir())[0]
    with Image.open(sample) as im:
        ImageEnhance.Brightness(im.convert("RGB")).enhance(0.5).save(sample, quality=90)
    eng.built.clear()
    eng._protos.clear()  # a new run: only the store remains
    eng.signature(rule)
    return str(base / "samples-texture") in eng.built


def _in_scan(base: Path, rule: dict) -> dict:
    """The rules inside a real first scan (a subprocess with its own config and cache)."""
    import sqlite3
    import subprocess
    import sys

    env = dict(os.environ)
    for name in ("CONFIG", "CACHE", "DATA"):
        env[f"LOOKALIKE_{name}_DIR"] = str(base / f"scan-{name.lower()}")
        os.makedirs(env[f"LOOKALIKE_{name}_DIR"], exist_ok=True)
    (base / "scan-config" / "config.toml").write_text(
        "[[content_rules]]\n"
        f"name = {json.dumps(rule['name'])}\n"
        "when = { "
        + ", ".join(f"{k} = {json.dumps(v)}" for k, v in rule["when"].items())
        + ' }\naction = "hide"\n'
    )
    warm = (  # build the prototypes into the scan's store: paid once per sample change
        "from lookalike import config; from lookalike.engine.rules.content import parse_rules;"
        "from lookalike.engine.rules.evaluate import RuleEngine;"
        "rs = parse_rules(config.load_config()); e = RuleEngine(rs); e.signature(rs[0]); e.close()"
    )
    subprocess.run([sys.executable, "-c", warm], env=env, check=True)
    cmd = [sys.executable, "-m", "lookalike", "scan", "--no-ui", str(base / "inbox")]
    cmd += ["--db", str(base / "scan.sqlite"), "--model", "effnet-lite0", "--rules"]
    cmd += ["--dry-run", "--format", "json"]
    got = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    stats = json.loads(got.stdout)["stats"]
    by_stage = stats["seconds_by_stage"]
    rules_s = by_stage.get("rules", 0.0)
    scan_s = sum(v for k, v in by_stage.items() if k != "rules")
    with sqlite3.connect(base / "scan-cache" / "rules.sqlite") as db:
        paths = [os.fsdecode(r[0]) for r in db.execute("SELECT path FROM vectors")]
    inbox = str(base / "inbox") + os.sep
    return {
        "scan_seconds_without_rules_stage": round(scan_s, 2),
        "rules_stage_seconds": round(rules_s, 3),
        "extra_percent": round(100 * rules_s / max(scan_s, 1e-9), 2),
        "hits": got.stderr.count("rule textures ("),
        "scanned_images_decoded_again_by_rules": sum(p.startswith(inbox) for p in paths),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--threshold", type=float, default=0.0)
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    from lookalike.engine.features.embed import Embedder
    from lookalike.engine.rules.content import parse_rules
    from lookalike.engine.rules.evaluate import RuleEngine

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        labelled = build(base, args.copies)
        rule = {
            "name": "textures",
            "when": {
                "prototype": str(base / "samples-texture"),
                "negative_prototype": str(base / "samples-scene"),
                "threshold": args.threshold,
            },
        }
        rules = parse_rules({"content_rules": [rule]})
        emb = Embedder("effnet-lite0", device="cpu")
        files = sorted(labelled["texture"] + labelled["scene"])
        with RuleEngine(rules, embedder=emb, store=base / "rules.sqlite") as eng:
            t0 = time.perf_counter()
            eng.vectors(files)  # what the scan pays: decode + embed
            t_embed = time.perf_counter() - t0
            eng.signature(rules[0])  # prototypes built (once per sample-folder change)
            t0 = time.perf_counter()
            results = eng.evaluate(rules[0], files)
            t_rules = time.perf_counter() - t0
            anchors = _anchor_scores(eng, base, files)
            rebuilt = _sample_rewrite_rebuilds(eng, base, rules[0])
        hits = {r.path for r in results if r.hit}
        truth = set(labelled["texture"])
        tp = len(hits & truth)
        precision = tp / len(hits) if hits else 1.0
        recall = tp / len(truth)
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from accuracy import _git_head

        out = {
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
            "commit": _git_head(),
            "date": time.strftime("%Y-%m-%d"),
            "images": len(files),
            "texture": len(truth),
            "scene": len(labelled["scene"]),
            "threshold": args.threshold,
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "embed_ms_per_image": round(1000 * t_embed / len(files), 2),
            "rules_ms_per_image": round(1000 * t_rules / len(files), 3),
            "extra_percent": round(100 * t_rules / t_embed, 2),
            "in_scan": _in_scan(base, rule),
            "prompt_style_scoring": _compare_scorings(anchors, truth),
            "prototype_rebuilt_after_a_sample_was_rewritten": rebuilt,
            "misses": sorted(Path(p).name for p in truth - hits),
            "false_hits": sorted(Path(p).name for p in hits - truth),
        }
    print(json.dumps(out, indent=1))
    if args.output:
        args.output.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
