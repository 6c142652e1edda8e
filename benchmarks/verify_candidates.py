"""Could fewer embedding candidates be checked without losing a pair? (issue 13, session 12)

Why: a ``--model`` scan checks every embedding neighbour of a file above the family's cosine
threshold, up to ``CANDIDATE_K`` of them (≈ 10 a file), and those checks are the stage's cost.
This reads a catalog a ``--model`` scan wrote (its vectors and ``pair_checks``: every pair the
stage checked, with the verdict) and prints, for the pairs the check called the same photo
and for the others, their cosine and their neighbour rank (the better of the two files' ranks
of each other), then how many of each a higher threshold or a smaller k would have kept. With
the corpus's ``labels.json`` it also splits the pairs by their label (same source photo or not).
Pairs the stage checked that were not candidates (the cross pairs of a merge) are counted too:
a cut loses them only through the merges it no longer tries.

    python benchmarks/verify_candidates.py CATALOG.db [LABELS.json] [-o out.json]
    python benchmarks/verify_candidates.py CATALOG.db --against FEWER.db   # what a cut lost

``--against``: another scan of the same files with fewer candidates (``verify_rounds.py
--candidate-k / --candidate-threshold --db``): its checks, and the verified pairs and the
groups of CATALOG it does not have.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

THRESHOLDS = (0.60, 0.65, 0.70, 0.75, 0.80)
KS = (3, 5, 10, 20)


def _vectors(con: sqlite3.Connection) -> tuple[dict[int, int], np.ndarray]:
    name = con.execute("SELECT name FROM features WHERE name LIKE 'emb:%' LIMIT 1").fetchone()[0]
    rows = con.execute("SELECT file_id, data FROM features WHERE name=?", (name,)).fetchall()
    mat = np.stack([np.frombuffer(d, np.float16).astype(np.float32) for _, d in rows])
    return {fid: n for n, (fid, _) in enumerate(rows)}, mat


def _verdicts(db: Path) -> tuple[int, set, set]:
    """Checks made, the pairs verified the same photo and the groups (by paths) of a catalog."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    path = dict(con.execute("SELECT id, path FROM files"))
    rows = con.execute("SELECT a, b, same FROM pair_checks").fetchall()
    same = {frozenset((path[a], path[b])) for a, b, s in rows if s}
    groups: dict[int, set] = {}
    for ord_, p in con.execute("SELECT ord, path FROM group_files"):
        groups.setdefault(ord_, set()).add(p)
    return len(rows), same, {frozenset(g) for g in groups.values()}


def _against(db: Path, fewer: Path) -> dict:
    n1, same1, groups1 = _verdicts(db)
    n2, same2, groups2 = _verdicts(fewer)
    return {
        "checks": [n1, n2],
        "verified_pairs": [len(same1), len(same2)],
        "verified_pairs_lost": len(same1 - same2),
        "groups": [len(groups1), len(groups2)],
        "groups_lost": len(groups1 - groups2),
        "groups_new": len(groups2 - groups1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db", type=Path)
    ap.add_argument("labels", type=Path, nargs="?")
    ap.add_argument("--against", type=Path, help="a scan of the same files with fewer candidates")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args()
    if args.against:
        text = json.dumps(_against(args.db, args.against), indent=1)
        print(text)
        if args.output:
            args.output.write_text(text + "\n")
        return
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    pos, mat = _vectors(con)
    sims = mat @ mat.T
    np.fill_diagonal(sims, -2.0)
    rank = np.empty(sims.shape, np.int32)  # rank[i, j]: j's place among i's neighbours (1 = best)
    rank[np.arange(len(sims))[:, None], np.argsort(-sims, axis=1)] = np.arange(1, len(sims) + 1)
    group: dict[int, str] = {}
    if args.labels:
        labels = json.loads(args.labels.read_text())
        root = args.labels.parent
        by_path = {os.fspath(root / f["path"]): f["group"] for f in labels["files"]}
        for fid, p in con.execute("SELECT id, path FROM files"):
            if (g := by_path.get(os.fsdecode(p))) is not None:
                group[fid] = g
    rows: dict[str, list[tuple[float, int]]] = {}
    for a, b, same in con.execute("SELECT a, b, same FROM pair_checks"):
        if a not in pos or b not in pos:
            continue
        i, j = pos[a], pos[b]
        key = "same" if same else "not"
        if group:
            key += ", label same" if group.get(a, -1) == group.get(b, -2) else ", label other"
        rows.setdefault(key, []).append((float(sims[i, j]), int(min(rank[i, j], rank[j, i]))))
    out: dict = {"db": str(args.db), "checks": sum(len(v) for v in rows.values())}
    for key, vals in sorted(rows.items()):
        v = np.array(vals)
        out[key] = {
            "pairs": len(v),
            "cosine_quantiles_0_5_50_100": np.round(
                np.quantile(v[:, 0], [0, 0.05, 0.5, 1]), 3
            ).tolist(),
            "rank_quantiles_50_95_100": np.quantile(v[:, 1], [0.5, 0.95, 1]).tolist(),
            "kept_at_threshold": {t: int((v[:, 0] >= t).sum()) for t in THRESHOLDS},
            "kept_at_k": {k: int((v[:, 1] <= k).sum()) for k in KS},
        }
    text = json.dumps(out, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
