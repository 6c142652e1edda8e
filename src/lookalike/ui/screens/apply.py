"""Apply: the plan for the decided groups, the operation, a typed confirmation, then progress."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from lookalike.ui.screens.base import ConfirmScreen, ModeScreen, PromptScreen
from lookalike.ui.widgets.grouplist import human_bytes

OPERATIONS = ("trash", "quarantine", "move")


class ApplyScreen(ModeScreen):
    MODE = "apply"
    HELP = """
What will happen to the files you decided to remove in Review. Only decided groups are in the
plan; undecided ones and "not a duplicate" groups are left alone, and every group keeps at least
one file. o picks the operation (trash, quarantine folder, move to a folder), e sets its folder.
a applies: you must type "apply" to go ahead, so no stray key can act. Everything done here can
be undone from History (6). Look-alike groups (tier "similar": different photos that look alike)
are left out of the plan; S asks whether to include them, and S again leaves them out.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("o", "operation", "Operation", id="apply.operation"),
        Binding("e", "destination", "Folder", id="apply.destination"),
        Binding("r", "replan", "Refresh plan", id="apply.refresh"),
        Binding("a", "apply", "Apply…", id="apply.apply"),
        Binding("S", "similar", "Include similar…", show=False, id="apply.similar"),
    ]

    def action_similar(self) -> None:
        """Similar groups need their own confirmation: they are different photos."""
        lk = self.lk
        if lk.act_on_similar:
            lk.act_on_similar = False
            self.notify("Look-alike (similar) groups are left out again")
            lk.make_plan()
            return

        def done(ok: bool | None) -> None:
            if ok:
                lk.act_on_similar = True
                lk.make_plan()

        self.app.push_screen(
            ConfirmScreen(
                "Also act on look-alike (similar) groups you accepted? They are DIFFERENT "
                "photos that look alike (bursts, same scene, same colours), not copies."
            ),
            done,
        )

    def compose_body(self) -> ComposeResult:
        with Vertical(id="apply-body"):
            yield Static("", id="apply-op")
            yield Static("", id="apply-summary")
            yield Static("", id="apply-progress")
            yield Static("", id="apply-files")

    def on_mount(self) -> None:
        super().on_mount()
        self.lk.make_plan()
        self.redraw()

    def on_screen_resume(self) -> None:
        self.lk.make_plan()
        self.redraw()

    def on_app_changed(self, what: str) -> None:
        if what in ("plan", "apply") and self.is_attached:
            self.redraw()

    def redraw(self) -> None:
        lk = self.lk
        op = lk.operation_string()
        self.query_one("#apply-op", Static).update(
            f"[b]Operation[/b]: {op}   (o change · e folder)"
        )
        plan = lk.plan
        if lk.plan_error:
            summary = f"[$error]{lk.plan_error}[/]"
        elif plan is None:
            summary = "Making the plan…"
        elif not plan.items:
            summary = "Nothing to do: decide some groups in Review (3) first."
        else:
            summary = (
                f"[b]{plan.files:,}[/b] files in [b]{plan.groups:,}[/b] groups · "
                f"[b]{human_bytes(plan.bytes)}[/b] to free"
            )
            c = lk.review.counts()
            summary += (
                f"\n{c['groups'] - c['decided'] - c['not-dup']:,} groups undecided (untouched)"
            )
            if plan.refused:
                summary += "\n[$warning]Refused:[/] " + "; ".join(plan.refused[:5])
        self.query_one("#apply-summary", Static).update(summary)
        self.query_one("#apply-progress", Static).update(lk.apply_text)
        lines = []
        if plan is not None:
            for item in plan.items[:200]:
                dest = f" → {item.destination}" if item.destination else ""
                lines.append(f"  {item.source}{dest}  ({human_bytes(item.size)})")
            if plan.files > 200:
                lines.append(f"  … and {plan.files - 200:,} more")
        self.query_one("#apply-files", Static).update("\n".join(lines))
        self.say("a applies (asks you to type apply) · Esc never acts")

    def action_operation(self) -> None:
        lk = self.lk
        i = OPERATIONS.index(lk.operation) if lk.operation in OPERATIONS else 0
        lk.operation = OPERATIONS[(i + 1) % len(OPERATIONS)]
        if lk.operation == "move" and not lk.destination:
            self.action_destination()
        lk.make_plan()
        self.redraw()

    def action_destination(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.lk.destination = text.strip()
                self.lk.make_plan()
                self.redraw()

        self.app.push_screen(
            PromptScreen(f"Folder for {self.lk.operation} (empty = default):", self.lk.destination),
            done,
        )

    def action_replan(self) -> None:
        self.lk.make_plan()
        self.redraw()

    def action_apply(self) -> None:
        plan = self.lk.plan
        if plan is None or not plan.items:
            self.notify("Nothing to apply", severity="warning")
            return
        if self.lk.applying:
            self.notify("Already applying", severity="warning")
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.lk.apply_plan(plan)
            else:
                self.notify("Not applied")

        self.app.push_screen(
            ConfirmScreen(
                f"{self.lk.operation_string()}: {plan.files:,} files, {human_bytes(plan.bytes)}.",
                word="apply",
            ),
            done,
        )
