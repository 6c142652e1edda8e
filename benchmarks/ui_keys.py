"""Key-to-screen time of the review screen with 10,000 groups.

``--tmux`` (the acceptance measure) runs the real app in a real terminal — a detached tmux
pane — and types into it with ``tmux send-keys``: for each of j, k, l, space and Enter it
measures from sending the key to the moment the pane's text shows the key's effect (the next
or previous group's number, the marker on file 2, its KEEP/remove flipped, the full view's key
line),
polled with ``capture-pane``, so the figure includes tmux and the polling: an upper bound.
"j tiles" runs to the new group's first caption in its tile: the review paints the text of a
new group first and its tiles in the next frame. One round is j, l, space, Enter, Esc, k and
an unmeasured j (so each round moves on by one group). The app is the
real LookalikeApp with half-cell thumbnails; only the engine is the fake one (10,000 groups
need no scan), so the figures are those of the UI.

Without ``--tmux`` it uses Textual's Pilot (headless): from posting the key to the end of the
first screen update written after the review state changed.

    python benchmarks/ui_keys.py --tmux [--groups 10000] [--presses 50] [--size 160x45]
    python benchmarks/ui_keys.py [--groups 10000] [--presses 200] [--graphics halfcell]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
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


def serve(groups: int, graphics: str) -> None:
    """The app in this terminal (what ``--tmux`` starts inside the pane)."""
    from lookalike.ui.app import make_app
    from lookalike.ui.fake import FakeEngine, make_groups, make_thumbs

    tmp = Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    for var in ("LOOKALIKE_CONFIG_DIR", "LOOKALIKE_CACHE_DIR", "LOOKALIKE_DATA_DIR"):
        os.environ[var] = str(tmp / var.lower())
    thumbs = make_thumbs(tmp / "thumbs", 12)
    make_app({}, FakeEngine(make_groups(groups, thumbs)), graphics=graphics).run()


def measure_tmux(groups: int, presses: int, size: tuple[int, int]) -> dict[str, Any]:
    import shlex
    import shutil
    import subprocess
    import uuid

    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed")
    sock = f"lookalike-bench-{uuid.uuid4().hex[:8]}"
    base = ["tmux", "-L", sock]

    def tmux(*args: str) -> str:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=30).stdout

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "bench")

    def wait(cond: Any, timeout: float = 120.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = screen()
            if cond(text):
                return text
            time.sleep(0.01)  # each poll starts a tmux client: do not load the machine more
        raise RuntimeError(f"the screen never got there:\n{screen()}")

    env = "env -u COLUMNS -u LINES TERM=xterm-256color"
    path = os.pathsep.join(p for p in sys.path if p)
    command = (
        f"{env} PYTHONPATH={shlex.quote(path)} {shlex.quote(sys.executable)} "
        f"{shlex.quote(os.path.abspath(__file__))} --serve --groups {groups}"
    )
    w, h = size
    tmux("new-session", "-d", "-s", "bench", "-x", str(w), "-y", str(h), command)
    tmux("resize-window", "-t", "bench", "-x", str(w), "-y", str(h))
    buckets = ("j", "j tiles", "k", "l", "space", "Enter")
    results: dict[str, list[float]] = {k: [] for k in buckets}
    pane_pid = int(tmux("display-message", "-p", "-t", "bench", "#{pane_pid}").strip() or 0)
    cpu = [0.0, 0.0]
    try:
        wait(lambda t: f"{groups} groups shown" in t)  # groups loaded
        time.sleep(1.0)
        cpu[0] = _cpu_seconds(pane_pid)

        def one(key: str, bucket: str, expect: Any) -> str:
            """Time from sending ``key`` to the screen showing what the key should show
            (``expect(before, now)``), not merely to the first change of any kind."""
            before = screen()
            t0 = time.perf_counter()
            tmux("send-keys", "-t", "bench", key)
            try:
                after = wait(lambda t: expect(before, t), 10.0)
            except RuntimeError:
                raise RuntimeError(f"{key!r} never showed its effect:\n{before}") from None
            results[bucket].append((time.perf_counter() - t0) * 1000)
            return after

        def group_no(text: str) -> int:
            m = re.search(r"Group (\d+)/", text)
            return int(m.group(1)) if m else -1

        def keeper(text: str) -> str:
            m = re.search(r"keep: ([^\s·…]+)", text)
            return m.group(1) if m else "?"

        for _ in range(presses):
            t0 = time.perf_counter()
            now = one("j", "j", lambda b, t: group_no(t) == group_no(b) + 1)
            # The tiles come a frame after the text: the new keeper's caption in its card.
            name = keeper(now)
            wait(lambda t, name=name: f"│ {name} " in t, 10.0)
            results["j tiles"].append((time.perf_counter() - t0) * 1000)
            one("l", "l", lambda b, t: "▶2 " in t)
            one("space", "space", lambda b, t: ("▶2 KEEP" in b) != ("▶2 KEEP" in t))
            one("Enter", "Enter", lambda b, t: "Zoom in" in t)
            tmux("send-keys", "-t", "bench", "Escape")
            wait(lambda t: "groups shown" in t and "Zoom in" not in t, 10.0)
            time.sleep(0.05)
            now = one("k", "k", lambda b, t: group_no(t) == group_no(b) - 1)
            name = keeper(now)
            wait(lambda t, name=name: f"│ {name} " in t, 10.0)
            time.sleep(0.05)
            tmux("send-keys", "-t", "bench", "j")  # on to the next group, not measured
            wait(lambda t, n=group_no(now) + 1: group_no(t) == n, 10.0)
            name = keeper(screen())
            wait(lambda t, name=name: f"│ {name} " in t, 10.0)
            time.sleep(0.05)
        cpu[1] = _cpu_seconds(pane_pid)
    finally:
        tmux("kill-server")
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
        "graphics": "halfcell",
        "size": size,
        "results": summary,
        "app_cpu_s": round(cpu[1] - cpu[0], 2),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the app's process tree: the work the keys cost, which other
    load on the machine changes far less than the wall-clock figures (needs psutil)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.Error:
        return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--tmux", action="store_true", help="drive the real app in tmux")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--graphics", default="halfcell,none", help="comma list of halfcell, unicode, none"
    )
    parser.add_argument("--size", default="160x45")
    args = parser.parse_args()
    if args.serve:
        serve(args.groups, "halfcell")
        return
    w, h = (int(x) for x in args.size.split("x"))
    if args.tmux:
        print(
            f"# lookalike UI key-to-screen in tmux — {time.strftime('%Y-%m-%d %H:%M')} · "
            f"{platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
            f"Python {sys.version.split()[0]}"
        )
        report = measure_tmux(args.groups, args.presses, (w, h))
        print(f"\n{report['groups']:,} groups · graphics halfcell · tmux pane {w}x{h}")
        if report["app_cpu_s"]:
            print(f"  app CPU time during the presses: {report['app_cpu_s']:.2f} s")
        for name, r in report["results"].items():
            print(
                f"  {name:<7} median {r['median_ms']:>6.1f} ms   p95 {r['p95_ms']:>6.1f} ms   "
                f"max {r['max_ms']:>6.1f} ms   (n={r['n']})"
            )
        return
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
