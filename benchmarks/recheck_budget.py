"""Does the group stage's per-component re-check budget change a library's groups?

Why: ``grouping.recheck_budget`` caps the pixel re-checks a component may ask (a dense folder
of frames would otherwise ask ~N² of them). A cap that binds on a real library costs missed
merges, so this regroups a scanned catalog (a COPY: the catalog's remembered verdicts answer
the re-checks, fresh ones are computed and not stored) and prints, per component, the
re-checks asked against the budget, the edges left unchecked, and a digest of the groups: run
it on main and on the change (``PYTHONPATH``) and compare the digests.

    cp /tmp/lookalike-scale/m100000/run/catalog.db /tmp/x/catalog.db
    python benchmarks/recheck_budget.py /tmp/x/catalog.db --groups /tmp/x/groups.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from lookalike.engine import grouping as G
from lookalike.engine.catalog import Catalog
from lookalike.engine.stages import group as stage


def regroup(db: Path) -> tuple[list, G.Clustering, dict]:
    """The representatives grouped again with the catalog's remembered verdicts; every
    re-check the grouper asks is noted with its pair."""
    cat = Catalog(db)
    reps = list(cat.all_files())
    uniform, _ = stage._not_grouping(cat, [r.id for r in reps])
    items = stage._items(cat, reps, uniform)
    rc, _ = stage.remembered_rechecks(cat, items, reps)
    asked: list[tuple[int, int]] = []

    def recheck(i: int, j: int) -> bool:
        asked.append((i, j))
        return rc(i, j)

    cpu = time.process_time()
    cl = G.group_items(items, 50, set(), None, recheck)
    facts = {"cpu_s": round(time.process_time() - cpu, 1), "fresh": rc.driver_checks}
    cat.close()
    return items, cl, facts | {"asked": asked}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("catalog", type=Path)
    ap.add_argument("--groups", type=Path, help="write the groups (paths) here")
    args = ap.parse_args()
    items, cl, facts = regroup(args.catalog)
    comp = {m: c for c, members in enumerate(cl.parts) for m in members}
    per: dict[int, int] = {}
    for i, _ in facts["asked"]:
        per[comp[i]] = per.get(comp[i], 0) + 1
    budget = getattr(G, "recheck_budget", None)
    worst = sorted(
        ((n, len(cl.parts[c])) for c, n in per.items()),
        key=lambda e: -e[0] / (budget(e[1]) if budget else e[1]),
    )[:8]
    groups = [[items[i].path for i in g] for g in cl.groups]
    digest = hashlib.sha256(json.dumps(groups).encode()).hexdigest()[:16]
    if args.groups:
        args.groups.write_text(json.dumps(groups))
    print(json.dumps({
        "items": len(items), "components": len(cl.parts), "rechecks": len(facts["asked"]),
        "fresh_rechecks": facts["fresh"], "unchecked": getattr(cl, "unchecked", None),
        "group_cpu_s": facts["cpu_s"], "groups": len(groups), "digest": digest,
        "most_asked_of_budget": [(n, m, budget(m) if budget else None) for n, m in worst],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
