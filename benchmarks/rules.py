"""Content rules: cost per image on top of embeddings, and a prototype rule's precision/recall.

Labelled real photos (scikit-image samples): "textures" (brick, grass, gravel, …) against
"scenes" (astronaut, coffee, chelsea, …), each as several transformed copies (crops, flips,
brightness, small rotations). Per class, the copies of some photos are the rule's sample
folders and the copies of the OTHER photos are scored, so the split is by source photo (no copy
of a scored photo is among the samples).

Cost: ``embed`` is decode + preprocess + effnet-lite0 per image (what a scan with embeddings
pays); ``rules`` is the rule evaluation per image once the vectors exist (prototype build
excluded: it is paid once per sample-folder change), both on the same files and machine.

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
        hits = {r.path for r in results if r.hit}
        truth = set(labelled["texture"])
        tp = len(hits & truth)
        precision = tp / len(hits) if hits else 1.0
        recall = tp / len(truth)
        out = {
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()}",
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
            "misses": sorted(Path(p).name for p in truth - hits),
            "false_hits": sorted(Path(p).name for p in hits - truth),
        }
    print(json.dumps(out, indent=1))
    if args.output:
        args.output.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
