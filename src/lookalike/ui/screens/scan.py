"""Scan progress: one line per stage with count, rate and ETA, live group count, errors."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from lookalike.ui.screens.base import ConfirmScreen, ModeScreen

STAGES = ("discover", "catalog", "exact", "extract", "group", "rank")
BAR = 30
NOT_RUN = {"finished": "not needed", "cancelled": "not reached", "failed": "not reached"}


def planned_stages(options: Any) -> tuple[str, ...]:
    """The stages a scan with ``options`` can run, in the engine's order, listed from the
    start (a stage with nothing to do — no videos, no uncertain pairs — ends as "not needed")."""
    ml = getattr(options, "ml", None)
    rules = getattr(options, "content_rules", None)
    wanted = {
        "video": bool(getattr(options, "video", False)),
        "embed": ml is not None or "quality" in getattr(options, "keep_rules", ()),
        "verify": bool(getattr(ml, "similar", False)),
        "rules": bool(rules is not None and rules.rules),
        "recheck": bool(getattr(options, "same", False)),
    }
    order = ("discover", "catalog", "exact", "extract", "embed", "video", "rules", "recheck")
    return tuple(n for n in (*order, "group", "verify", "rank") if wanted.get(n, True))


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def stage_line(name: str, info: dict | None, state: str = "running") -> str:
    """A deterministic text bar (no animation, so snapshots are stable). ``recheck``'s total
    is an upper bound (the uncertain pairs; most are settled without a pixel check)."""
    if info is None:
        return f"  {name:<9} [dim]{'·' * BAR}  {NOT_RUN.get(state, 'waiting')}[/]"
    done, total = info.get("done", 0), info.get("total")
    bound = "up to " if name == "recheck" else ""
    if info.get("skipped"):
        return f"[$warning]–[/] {name:<9} [dim]{'·' * BAR}[/]  skipped: {info['skipped']}"
    if info.get("finished"):
        return (
            f"[$success]✓[/] {name:<9} [$success]{'█' * BAR}[/]  {bound}{done:,} in "
            f"{info.get('seconds', 0):.1f} s"
        )
    if total:
        filled = min(BAR, int(BAR * done / max(1, total)))
        bar = f"[$primary]{'█' * filled}[/][dim]{'░' * (BAR - filled)}[/]"
        if bound:
            count = f"{done:,} of {bound}{total:,} pairs"
        else:
            count = f"{done:,}/{total:,} ({100 * done / max(1, total):.0f}%)"
    else:
        bar = f"[$primary]{'▒' * BAR}[/]"
        count = f"{done:,} so far"
    rate = info.get("rate")
    rate_s = f" · {rate:,.1f}/s" if rate else ""
    return f"[$accent]▶[/] {name:<9} {bar}  {count}{rate_s} · ETA {_eta(info.get('eta'))}"


class ScanScreen(ModeScreen):
    MODE = "scan"
    HELP = """
Progress of the running scan, stage by stage: files found, exact hashing, feature extraction,
videos, embedding, content rules, look-alike re-checks and grouping, each with its count, rate and
time left; every stage the scan will run is listed from the start. The re-check count is an upper
bound ("up to"): most uncertain pairs are settled without one. Groups appear in Review (3) as
they are found. Cancelling keeps what was found so far; it asks first.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("s", "start", "Scan again", id="scan.start"),
        Binding("c", "cancel", "Cancel scan", id="scan.cancel"),
    ]

    def compose_body(self) -> ComposeResult:
        with Vertical(id="scan-body"):
            yield Static("", id="scan-head")
            yield Static("", id="scan-stages")
            yield Static("", id="scan-groups")
            yield Static("[b]Problems[/b]", id="scan-errors-title")
            yield Static("", id="scan-errors")

    def on_mount(self) -> None:
        super().on_mount()
        self.redraw()

    def on_screen_resume(self) -> None:
        self.redraw()

    def on_app_changed(self, what: str) -> None:
        if what == "scan" and self.is_attached:
            self.redraw()

    def redraw(self) -> None:
        scan = self.lk.scan_model
        roots = ", ".join(scan.roots) or "(no scan yet: press 1, pick folders, then s)"
        state = scan.state
        self.query_one("#scan-head", Static).update(f"[b]{state.title()}[/b] · {roots}")
        planned = list(scan.planned or STAGES)
        names = planned + [s for s in scan.stages if s not in planned]
        lines = [
            stage_line(n, scan.stages.get(n), state)
            for n in names
            if n in scan.stages or state != "idle"
        ]
        self.query_one("#scan-stages", Static).update("\n".join(lines))
        self.query_one("#scan-groups", Static).update(
            f"Groups found: [b]{scan.groups:,}[/b] · problems: {len(scan.errors):,}"
            + (f" · {scan.summary}" if scan.summary else "")
        )
        shown = scan.errors[-12:]
        more = len(scan.errors) - len(shown)
        text = "\n".join(f"[$error]✗[/] {p}: {e}" for p, e in shown) or "none"
        if more:
            text = f"… {more:,} earlier\n" + text
        self.query_one("#scan-errors", Static).update(text)
        self.say("scanning — c cancels" if scan.state == "running" else f"scan {scan.state}")

    def action_start(self) -> None:
        if self.lk.scan_model.state == "running":
            self.notify("A scan is already running", severity="warning")
            return
        self.lk.start_scan()

    def action_cancel(self) -> None:
        if self.lk.scan_model.state != "running":
            self.notify("No scan is running")
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.lk.cancel_scan()

        self.app.push_screen(ConfirmScreen("Cancel the scan? Groups found so far are kept."), done)
