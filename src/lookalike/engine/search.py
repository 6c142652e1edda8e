"""Neighbours of one file by perceptual signature (no model needed).

The query image need not be in the catalog: it is decoded once, its 8 dihedral hashes are
searched in the faiss index of the catalog's signatures, and the hits are ranked by the same
verification score the grouper uses, with the Jacobs Haar similarity as a tie-breaker (the
paper's use: image querying).
"""

from __future__ import annotations

import json
from pathlib import Path

from lookalike.engine.candidates import candidate_pairs
from lookalike.engine.catalog import Catalog
from lookalike.engine.features import perceptual as pc
from lookalike.engine.features.extract import PERCEPTUAL_VERSION, extract_file, unpack_views
from lookalike.engine.grouping import Item, ViewSignatures

QUERY_RADIUS = 110  # wider than grouping: a ranked list, not a decision


def neighbours_of_file(catalog_path: Path, path: Path, k: int = 10) -> list[tuple[str, float]]:
    """Up to ``k`` (path, score) pairs, best first; score in [0, 1]."""
    query = extract_file(str(path), None, 10**10)
    with Catalog(catalog_path) as cat:
        feats = cat.load_features("percept", PERCEPTUAL_VERSION)
        metas = cat.load_features("meta", PERCEPTUAL_VERSION)
        rows = cat.files_by_ids(feats)
    items = [Item(-1, str(path), query.views)]
    for fid, blob in sorted(feats.items()):
        if fid in rows and not json.loads(metas.get(fid, b"{}")).get("uniform", False):
            items.append(Item(fid, rows[fid].path, unpack_views(blob)))
    prep = ViewSignatures(items)
    hits = {j for i, j in candidate_pairs(prep, QUERY_RADIUS) if i == 0}
    scored = []
    for j in hits:
        m = prep.match(0, j)
        if m.low <= 0:
            continue
        haar = max(
            pc.haar_similarity(
                pc.transform_haar(pc.HaarSignature.from_bytes(va.haar), m.transform),
                pc.HaarSignature.from_bytes(vb.haar),
            )
            for va in items[0].views
            for vb in items[j].views
        )
        scored.append((round(m.score, 4), round(haar, 4), items[j].path))
    scored.sort(key=lambda x: (-x[0], -x[1], x[2]))
    return [(p, s) for s, _, p in scored[:k]]
