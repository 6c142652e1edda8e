"""Key-to-screen time of the review screen with 10,000 groups (Textual Pilot, headless).

For each key press it measures from posting the key to the end of the first screen update
written after the review state changed: event dispatch + handler + layout + render + the
write to the (headless) driver. Thumbnails come from the same cache a scan fills; with the
neighbour prefetch they are already decoded when the key arrives, as in normal use.

    python benchmarks/ui_keys.py [--groups 10000] [--presses 200] [--graphics halfcell]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def measure(
    groups: int, presses: int, graphics: str, size: tuple[int, int]
) -> dict[str, Any]:
    from lookalike.ui.app import make_app
    from lookalike.ui.fake import FakeEngine, make_groups, make_thumbs

    tmp = Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    for var in ("LOOKALIKE_CONFIG_DIR", "LOOKALIKE_CACHE_DIR", "LOOKALIKE_DATA_DIR"):
        os.environ[var] = str(tmp / var.lower())
    thumbs = make_thumbs(tmp / "thumbs", 12)
    engine = FakeEngine(make_groups(groups, thumbs))
    app = make_app({}, engine, graphics=graphics)

    paints: list[float] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        paints.append(time.perf_counter())

    app._display = display  # type: ignore[method-assign]

    results: dict[str, list[float]] = {"next group (j)": [], "prev group (k)": []}
    async with app.run_test(size=size) as pilot:
        while len(app.review.groups) < groups:
            await pilot.pause(0.05)
        await pilot.pause(0.5)

        async def one(key: str, bucket: str, expect_move: bool) -> None:
            before = app.review.cursor
            paints.clear()
            t0 = time.perf_counter()
            await pilot.press(key)
            await pilot.pause()
            if expect_move:
                assert app.review.cursor != before, "the key did not move"
            if paints:
                results[bucket].append((paints[0] - t0) * 1000)

        for i in range(presses):
            await one("j", "next group (j)", True)
            if i % 4 == 3:
                await one("k", "prev group (k)", True)
                await one("j", "next group (j)", True)
        final = app.review.cursor
    summary = {}
    for name, values in results.items():
        if values:
            summary[name] = {
                "n": len(values),
                "median_ms": round(statistics.median(values), 1),
                "p95_ms": round(_percentile(values, 0.95), 1),
                "max_ms": round(max(values), 1),
            }
    return {
        "groups": groups,
        "graphics": app.graphics_label,
        "size": size,
        "final": final,
        "results": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument(
        "--graphics", default="halfcell,none", help="comma list of halfcell, unicode, none"
    )
    parser.add_argument("--size", default="160x45")
    args = parser.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    print(
        f"# lookalike UI key-to-screen — {time.strftime('%Y-%m-%d %H:%M')} · "
        f"{platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
        f"Python {sys.version.split()[0]}"
    )
    for graphics in args.graphics.split(","):
        report = asyncio.run(measure(args.groups, args.presses, graphics, (w, h)))
        print(f"\n{report['groups']:,} groups · graphics {report['graphics']} · terminal {w}x{h}")
        for name, r in report["results"].items():
            print(
                f"  {name:<16} median {r['median_ms']:>6.1f} ms   p95 {r['p95_ms']:>6.1f} ms   "
                f"max {r['max_ms']:>6.1f} ms   (n={r['n']})"
            )


if __name__ == "__main__":
    main()
