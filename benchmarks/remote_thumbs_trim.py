"""What keeping the ``--server`` app's thumbnail cache under its cap costs (remote_thumbs.py).

Why: the port trims ``remote-thumbs/`` in a thread at its start and while over the cap every
2 000 fetches; a trim lists and stats every file (≈ 100 000 at the default 1 GB cap). This
makes ``--count`` synthetic thumbnails of ``--bytes`` each (their size does not change the
listing's cost) with distinct use times in ``--work`` (made again each run) and prints, as JSON, the process CPU seconds and wall of a dry
trim under the cap (the listing alone), a dry trim to half the cap, a real one to half (the
removal), and of a hit (``ThumbCache.find``: an ``os.utime``) against the stat it replaced.

    python benchmarks/remote_thumbs_trim.py --count 100000 --work /tmp/remotecache-bench
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

from lookalike import remote_thumbs


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def fill(folder: Path, count: int, size: int) -> list[str]:
    """``count`` files of ``size`` bytes under ``folder``, oldest first; their keys."""
    keys = [f"{(i * 2654435761) % 2**64:016x}" for i in range(count)]
    if folder.exists():
        shutil.rmtree(folder)  # the last run removed half of them
    now, blob = time.time(), b"\xff" * size
    for i, key in enumerate(keys):
        (folder / key[:2]).mkdir(parents=True, exist_ok=True)
        path = folder / key[:2] / f"{key}.jpg"
        path.write_bytes(blob)
        os.utime(path, (now - 86400 + i * 0.01,) * 2)
    return keys


def timed(label: str, fn, out: dict) -> object:  # noqa: ANN001
    c, w = cpu(), time.perf_counter()
    result = fn()
    out[label] = {"cpu_s": round(cpu() - c, 3), "wall_s": round(time.perf_counter() - w, 3)}
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--bytes", type=int, default=2_000, help="each thumbnail's size")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--hits", type=int, default=20_000)
    a = ap.parse_args(argv)
    folder = a.work / f"remote-thumbs-{a.count}-{a.bytes}"
    keys = fill(folder, a.count, a.bytes)
    total, out = a.count * a.bytes, {"count": a.count, "bytes": a.bytes}
    out["load"] = os.getloadavg()[0]
    cache = remote_thumbs.ThumbCache(folder, None)  # no cap: no trim of its own
    timed("stat_hits", lambda: [os.path.exists(cache.path(k, ".jpg")) for k in keys[: a.hits]],
          out)  # fmt: skip
    timed("utime_hits", lambda: [cache.find(k) for k in keys[: a.hits]], out)
    under = timed("trim_under_cap_dry", lambda: remote_thumbs.trim(folder, total, True), out)
    half = timed("trim_to_half_dry", lambda: remote_thumbs.trim(folder, total // 2, True), out)
    done = timed("trim_to_half", lambda: remote_thumbs.trim(folder, total // 2), out)
    out["removed"] = [getattr(t, "removed", None) for t in (under, half, done)]
    for k in ("stat_hits", "utime_hits"):
        out[k]["us_per_hit"] = round(out[k]["cpu_s"] / a.hits * 1e6, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
