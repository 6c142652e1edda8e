"""Two scans of one set give the same output and the same member thumbnails (issue 13).

Why: the thumbnail pack (engine/thumb_pack.py, session 14) changed where a scan writes a
photo's thumbnail (a worker's pack; a file for group members only); nothing a user sees may
change. Given two ``scale.py --work`` folders (or any two folders holding a ``--format json``
output and the ``cache/`` the scan wrote, as scale.py leaves them), this says whether the
outputs' groups and errors are identical once each folder's own path is blanked out of the
thumbnail paths (the stats' seconds differ between any two runs), with a digest of them, and
whether every member thumbnail the second output names is a file with the first one's bytes.

    python benchmarks/thumb_same.py /tmp/thumbpack-runs/A1 /tmp/thumbpack-runs/B1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def blanked(folder: Path, name: str) -> tuple[dict, str]:
    """The output as parsed, and its groups and errors as JSON with ``folder`` blanked."""
    doc = json.loads((folder / name).read_text())
    part = json.dumps({"groups": doc.get("groups"), "errors": doc.get("errors")})
    return doc, part.replace(str(folder.resolve()), "RUN").replace(str(folder), "RUN")


def cache_counts(cache: Path) -> dict:
    files = [p for p in cache.rglob("*") if p.is_file()]
    packs = [p for p in files if p.parent.name == "packs" and p.suffix == ".pack"]
    return {"files": len(files) - len(packs), "packs": len(packs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--output", default="first.json", help="the JSON output's name in each")
    args = ap.parse_args(argv)
    a, b = args.before, args.after
    _, part_a = blanked(a, args.output)
    doc_b, part_b = blanked(b, args.output)
    thumbs = {f["thumb"] for g in doc_b["groups"] for f in g["files"] if f.get("thumb")}
    same = differ = missing = 0
    for t in sorted(thumbs):
        mine = Path(t)
        theirs = Path(t.replace(str(b.resolve()), str(a.resolve())).replace(str(b), str(a)))
        if not mine.is_file() or not theirs.is_file():
            missing += 1
        elif mine.read_bytes() == theirs.read_bytes():
            same += 1
        else:
            differ += 1
    out = {
        "groups": len(doc_b["groups"]),
        "identical": part_a == part_b,
        "digest_before": hashlib.sha256(part_a.encode()).hexdigest()[:16],
        "digest_after": hashlib.sha256(part_b.encode()).hexdigest()[:16],
        "member_thumbs": {"same_bytes": same, "differ": differ, "missing": missing},
        "cache_before": cache_counts(a / "cache"),
        "cache_after": cache_counts(b / "cache"),
    }
    print(json.dumps(out))
    return 0 if out["identical"] and not differ and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
