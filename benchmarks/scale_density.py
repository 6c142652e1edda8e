"""How dense a ``scale.py`` set is for the grouper: candidates, uncertain edges, components.

Why: issue 13's 100k crops set (every file a crop of one of 14 photos) gave the grouper
1.04 M candidate pairs and one 8 435-file component at 62.5k files, so its group stage never
finished; a real library is far sparser. This reads the catalog a ``scale.py`` scan left and
groups its representatives by signatures only (no pixel re-checks, nothing written), then
counts what the group stage would face and compares the components with the planted pairs.

    python benchmarks/scale_density.py /tmp/lookalike-scale/m5000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from lookalike.engine import grouping as G  # noqa: E402
from lookalike.engine.candidates import candidate_array  # noqa: E402
from lookalike.engine.unionfind import connected_components  # noqa: E402
from recheck_pool import _items  # noqa: E402


def density(root: Path) -> dict:
    """Counts for the set under ``root`` (its ``run/catalog.db`` and ``labels.json``)."""
    t = time.perf_counter()
    items = _items(root / "run" / "catalog.db")
    prep = G.ViewSignatures(items)
    cand = candidate_array(prep)
    thr = G.thresholds_for(50)
    edges, unsure = {}, 0
    for i, j in cand.tolist():
        m = prep.match(i, j)
        if thr.accepts(m):
            edges[(i, j)] = m.score
            unsure += m.band < G.RECHECK_BAND or m.low < G.RECHECK_LOW
    comps = connected_components(len(items), edges, min_size=2)
    sizes = sorted((len(c) for c in comps), reverse=True)
    planted = json.loads((root / "labels.json").read_text())["planted"]
    pair_of = {p: k for k, pair in enumerate(planted) for p in pair}
    stray = [c for c in comps if not _planted_only([items[i].path for i in c], pair_of)]
    out = root / "run" / "first.json"  # the scan's own groups (after its pixel re-checks)
    groups = json.loads(out.read_text()).get("groups", []) if out.exists() else []
    strays = [g for g in groups if not _planted_only([m["path"] for m in g["files"]], pair_of)]
    return {
        "items": len(items), "candidate_pairs": len(cand), "accepted_edges": len(edges),
        "uncertain_edges": unsure, "components": len(comps), "largest": sizes[:5],
        "planted_pairs": len(planted), "components_beyond_planted": len(stray),
        "stray_examples": [sorted(Path(items[i].path).name for i in c)[:4] for c in stray[:5]],
        "scan_groups": len(groups), "scan_groups_beyond_planted": len(strays),
        "scan_stray_examples": [sorted(Path(m["path"]).name for m in g["files"])[:4]
                                for g in strays[:5]],
        "seconds": round(time.perf_counter() - t, 1),
    }  # fmt: skip


def _planted_only(paths: list, pair_of: dict) -> bool:
    """True when a component is one planted (original, copy) pair and nothing else."""
    keys = {pair_of.get(os.fsdecode(p)) for p in paths}
    return len(keys) == 1 and None not in keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="a scale.py set folder that has been scanned")
    print(json.dumps(density(ap.parse_args().root), indent=2))


if __name__ == "__main__":
    main()
