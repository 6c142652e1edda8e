"""How dense a ``scale.py`` set is for the grouper: candidates, uncertain edges, components.

Why: issue 13's 100k crops set (every file a crop of one of 14 photos) gave the grouper
1.04 M candidate pairs and one 8 435-file component at 62.5k files, so its group stage never
finished; a real library is far sparser. This reads the catalog a ``scale.py`` scan left and
groups its representatives by signatures only (no pixel re-checks, nothing written), then
counts what the group stage would face and compares the components with the planted pairs.

    python benchmarks/scale_density.py /tmp/lookalike-scale/m5000
    python benchmarks/scale_density.py /tmp/lookalike-scale/m5000 --regroup   # + re-checks

With ``--regroup`` each group beyond the planted pairs is printed with how its files were made
(scale_truth.py): "generated alike" (the same picture by construction) or false.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from lookalike.engine import grouping as G  # noqa: E402
from lookalike.engine.candidates import candidate_array  # noqa: E402
from lookalike.engine.unionfind import connected_components  # noqa: E402
from recheck_pool import _items  # noqa: E402
from scale_truth import Truth, file_index  # noqa: E402


def signature_edges(items: list) -> tuple[np.ndarray, dict[tuple[int, int], float], int]:
    """The candidate pairs of ``items`` (sensitivity 50), the verified edges among them with
    their scores, and how many of those are uncertain (a pixel re-check would be asked)."""
    prep = G.ViewSignatures(items)
    cand = candidate_array(prep)
    thr = G.thresholds_for(50)
    edges, unsure = {}, 0
    for i, j in cand.tolist():
        m = prep.match(i, j)
        if thr.accepts(m):
            edges[(i, j)] = m.score
            unsure += m.band < G.RECHECK_BAND or m.low < G.RECHECK_LOW
    return cand, edges, unsure


def density(root: Path) -> dict:
    """Counts for the set under ``root`` (its ``run/catalog.db`` and ``labels.json``)."""
    t = time.perf_counter()
    items = _items(root / "run" / "catalog.db")
    cand, edges, unsure = signature_edges(items)
    comps = connected_components(len(items), edges, min_size=2)
    sizes = sorted((len(c) for c in comps), reverse=True)
    labels = json.loads((root / "labels.json").read_text())
    planted = labels["planted"]
    pair_of = {p: k for k, pair in enumerate(planted) for p in pair}
    stray = [c for c in comps if not _planted_only([items[i].path for i in c], pair_of)]
    out = root / "run" / "first.json"  # the scan's own groups (after its pixel re-checks)
    groups = json.loads(out.read_text()).get("groups", []) if out.exists() else []
    strays = [g for g in groups if not _planted_only([m["path"] for m in g["files"]], pair_of)]
    truth = Truth(labels.get("seed", 0)) if labels.get("design") == "mosaic" else None
    judged = [_judge([m["path"] for m in g["files"]], truth) for g in strays]
    return {
        "items": len(items), "candidate_pairs": len(cand), "accepted_edges": len(edges),
        "uncertain_edges": unsure, "components": len(comps), "largest": sizes[:5],
        "planted_pairs": len(planted), "components_beyond_planted": len(stray),
        "stray_examples": [sorted(Path(items[i].path).name for i in c)[:4] for c in stray[:5]],
        "scan_groups": len(groups), "scan_groups_beyond_planted": len(strays),
        "scan_generated_alike_groups": sum(j["generated_alike"] for j in judged),
        "scan_false_groups": sum(not j["generated_alike"] for j in judged),
        "scan_stray_examples": judged[:5],
        "seconds": round(time.perf_counter() - t, 1),
    }  # fmt: skip


def regroup(root: Path) -> dict:
    """The group stage's grouping (pixel re-checks included, run here one by one) over the
    catalog a scan left, scored against the planted pairs: which planted copies share a group
    with their original, per kind, and which groups hold anything else. Exact copies are one
    representative after the exact stage, so only the other kinds are scored."""
    t = time.perf_counter()
    items = _items(root / "run" / "catalog.db")
    groups = G.group_items(items, 50).groups
    labels = json.loads((root / "labels.json").read_text())
    planted = labels["planted"]
    pair_of = {p: k for k, pair in enumerate(planted) for p in pair}
    group_of = {os.fsdecode(items[i].path): n for n, g in enumerate(groups) for i in g}
    found: dict[str, list[int]] = {}
    for orig, copy in planted:
        kind = Path(copy).stem.split("_", 1)[1]
        if kind != "exact":
            hit = group_of.get(orig) is not None and group_of.get(orig) == group_of.get(copy)
            found.setdefault(kind, [0, 0])[0] += hit
            found[kind][1] += 1
    strays = [g for g in groups if not _planted_only([items[i].path for i in g], pair_of)]
    seconds = round(time.perf_counter() - t, 1)
    truth = Truth(labels.get("seed", 0)) if labels.get("design") == "mosaic" else None
    judged = [_judge([os.fsdecode(items[i].path) for i in g], truth) for g in strays]
    alike = [j for j in judged if j["generated_alike"]]
    return {
        "groups": len(groups), "planted_found_by_kind": found,
        "groups_beyond_planted": len(strays),
        "generated_alike_groups": len(alike), "false_groups": len(strays) - len(alike),
        "false_group_examples": [j for j in judged if not j["generated_alike"]][:40],
        "generated_alike_examples": alike[:40], "seconds": seconds,
    }  # fmt: skip


def _judge(paths: list[str], truth: Truth | None) -> dict:
    """A group beyond the planted pairs, with how its files were made: it is "generated alike"
    when every two of its files (a copy stands for its original) are (``scale_truth``)."""
    files = sorted({file_index(p) for p in paths})
    pairs = [(a, b) for k, a in enumerate(files) for b in files[k + 1 :]]
    verdicts = {f"{a:07d}/{b:07d}": truth.compare(a, b) for a, b in pairs} if truth else {}
    ok = bool(verdicts) and all(v["alike"] for v in verdicts.values())
    return {"files": sorted(Path(p).name for p in paths), "generated_alike": ok,
            "pairs": verdicts}  # fmt: skip


def _planted_only(paths: list, pair_of: dict) -> bool:
    """True when a component is one planted (original, copy) pair and nothing else."""
    keys = {pair_of.get(os.fsdecode(p)) for p in paths}
    return len(keys) == 1 and None not in keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="a scale.py set folder that has been scanned")
    ap.add_argument(
        "--regroup", action="store_true", help="group as the scan does (re-checks included)"
    )
    args = ap.parse_args()
    print(json.dumps(regroup(args.root) if args.regroup else density(args.root), indent=2))


if __name__ == "__main__":
    main()
