"""Apply: the plan for the decided groups, the operation, a typed confirmation, then progress."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from lookalike.ui.engine_port import PlanSummary
from lookalike.ui.screens.base import ConfirmScreen, ModeScreen, PromptScreen
from lookalike.ui.widgets.grouplist import human_bytes

#: Every operation the CLI has (``--action``), in the order ``o`` cycles through them.
OPERATIONS = ("trash", "quarantine", "move", "copy", "hardlink", "symlink", "shrink", "delete")
NEEDS_FOLDER = ("move", "copy")
TAKES_FOLDER = ("quarantine", "move", "copy")
EXPLAIN = {
    "trash": "to the desktop trash (undo puts each file back)",
    "quarantine": "moved to a quarantine folder on the same file system (undo moves it back)",
    "move": "moved to the folder you choose (undo moves it back)",
    "copy": "copied to the folder you choose; the original stays (undo removes the copy)",
    "hardlink": "replaced by a hard link to the keeper: space is freed, the name stays (undo)",
    "symlink": "replaced by a symbolic link to the keeper: the name stays (undo)",
    "shrink": "a smaller re-encoded copy is written next to it (quality 85, undo removes it)",
    "delete": "DELETED PERMANENTLY: undo cannot bring it back; you type a confirmation",
}


class LockAnswer(Message):
    """Whether permanent delete may go ahead (posted by the lock workers)."""

    def __init__(self, plan: PlanSummary, unlocked: bool, error: str) -> None:
        super().__init__()
        self.plan, self.unlocked, self.error = plan, unlocked, error


MERGE_TEXT = {
    None: "off",
    "sidecar": "what removed copies know goes into each keeper's NAME.EXT.xmp first",
    "file": "what removed copies know goes into each keeper itself first (pixels untouched)",
}


class ApplyScreen(ModeScreen):
    MODE = "apply"
    HELP = """
What will happen to the files you decided to remove in Review. Only decided groups are in the
plan; undecided ones and "not a duplicate" groups are left alone, and every group keeps at least
one file. o picks the operation — trash, quarantine, move, copy, hardlink, symlink, shrink or
delete, as the CLI's --action — and e sets its folder (move and copy need one). a applies: you
must type "apply" to go ahead (for delete: "delete N files", and the passphrase if one is set
with lookalike lock set), so no stray key can act. Everything but delete can be undone from
History (6); the batch id is shown here when it is done. Look-alike groups (tier "similar":
different photos that look alike) are left out of the plan; S asks whether to include them, and
S again leaves them out. M cycles the metadata merge: off, into each keeper's NAME.EXT.xmp
sidecar, into the keeper itself — what a removed copy knows and its keeper lacks (capture date,
GPS, camera, keywords, title, description, rating) is written first, as its own undoable batch.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("o", "operation", "Operation", id="apply.operation"),
        Binding("e", "destination", "Folder", id="apply.destination"),
        Binding("r", "replan", "Refresh plan", id="apply.refresh"),
        Binding("a", "apply", "Apply…", id="apply.apply"),
        Binding("S", "similar", "Include similar…", show=False, id="apply.similar"),
        Binding("M", "merge", "Merge metadata", show=False, id="apply.merge"),
    ]
    MERGES: ClassVar[tuple[str | None, ...]] = (None, "sidecar", "file")
    merge: str | None = None  # M cycles: off → keeper's NAME.EXT.xmp → into the keeper itself

    def action_merge(self) -> None:
        """--merge-metadata for the app: a copy's date, GPS, keywords … reach its keeper first.
        Without the [metadata] extra it stays off and says how to install it."""
        from lookalike import extras

        missing = extras.missing("metadata")
        if missing is not None:
            self.notify(extras.message("metadata", missing), severity="error", timeout=15)
            return
        self.merge = self.MERGES[(self.MERGES.index(self.merge) + 1) % len(self.MERGES)]
        self.redraw()

    def action_similar(self) -> None:
        """Similar groups need their own confirmation: they are different photos."""
        lk = self.lk
        if lk.act_on_similar:
            lk.apply_choice.include_similar(False)
            self.notify("Look-alike (similar) groups are left out again")
            lk.make_plan()
            return

        def done(ok: bool | None) -> None:
            if ok:
                lk.apply_choice.include_similar(True)
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
        kind = lk.operation if lk.operation in EXPLAIN else "trash"
        folder = " · e folder" if kind in TAKES_FOLDER else ""
        merge = f"\n[b]Metadata merge[/b] (M): {MERGE_TEXT[self.merge]}" if self.merge else ""
        self.query_one("#apply-op", Static).update(
            f"[b]Operation[/b]: {op} — each file to remove is {EXPLAIN[kind]}\n"
            f"[dim]o next operation ({' · '.join(OPERATIONS)}){folder}[/]{merge}"
        )
        plan = lk.plan
        if lk.plan_error:
            summary = f"[$error]{lk.plan_error}[/]"
        elif plan is None:
            summary = "Making the plan…"
        elif not plan.items and plan.refused:
            summary = (
                f"Nothing can be done with {op}: every file was refused. "
                "[$warning]Refused:[/] " + "; ".join(plan.refused[:5])
            )
        elif not plan.items:
            summary = "Nothing to do: decide some groups in Review (3) first."
        else:
            freed = "to free" if kind not in ("copy", "shrink") else "in these files"
            undo = (
                "[$error b]cannot be undone[/]"
                if kind == "delete"
                else "undo from History (6) afterwards"
            )
            summary = (
                f"[b]{plan.files:,}[/b] files in [b]{plan.groups:,}[/b] groups · "
                f"[b]{human_bytes(plan.bytes)}[/b] {freed} · {undo}"
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
        word = "delete N files" if kind == "delete" else "apply"
        self.say(f"a applies (asks you to type {word}) · Esc never acts")

    def action_operation(self) -> None:
        lk = self.lk
        lk.apply_choice.next_operation(OPERATIONS)
        if lk.operation in NEEDS_FOLDER and not lk.destination:
            self.action_destination()
        lk.make_plan()
        self.redraw()

    def action_destination(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.lk.apply_choice.set_destination(text)
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
        if plan is not None and self.merge:
            plan = replace(plan, merge=self.merge)
        if plan is None or not plan.items:
            self.notify("Nothing to apply", severity="warning")
            return
        if self.lk.applying:
            self.notify("Already applying", severity="warning")
            return

        def done(ok: bool | None) -> None:
            if not ok:
                self.notify("Not applied")
            elif self.lk.operation == "delete":
                self._check_lock(plan)
            else:
                self.lk.apply_plan(plan)

        if self.lk.operation == "delete":
            word = f"delete {plan.files} files"
            message = (
                f"[$error b]Permanent delete[/]: {plan.files:,} files, {human_bytes(plan.bytes)}. "
                "Undo cannot bring them back; trash or quarantine can be undone."
            )
        else:
            word = "apply"
            message = (
                f"{self.lk.operation_string()}: {plan.files:,} files, {human_bytes(plan.bytes)}."
            )
        self.app.push_screen(ConfirmScreen(message, word=word), done)

    # -- the passphrase lock (``lookalike lock set``) guards permanent delete -----------------
    @work(thread=True, exclusive=True, group="apply-lock")
    def _check_lock(self, plan: PlanSummary) -> None:
        from lookalike.engine.actions import lock

        try:
            free = lock.unlocked()  # reads the config and the session file: off the loop
        except Exception as exc:
            self.post_message(LockAnswer(plan, False, f"cannot read the lock: {exc}"))
            return
        self.post_message(LockAnswer(plan, free, ""))

    def on_lock_answer(self, message: LockAnswer) -> None:
        if message.error:
            self.notify(f"{message.error}; nothing was deleted", severity="error")
        elif message.unlocked:
            self.lk.apply_plan(message.plan)
        else:

            def done(secret: str | None) -> None:
                if secret:
                    self._unlock(message.plan, secret)
                else:
                    self.notify("Not deleted")

            self.app.push_screen(
                PromptScreen("Passphrase (set with lookalike lock set):", password=True), done
            )

    @work(thread=True, exclusive=True, group="apply-lock")
    def _unlock(self, plan: PlanSummary, secret: str) -> None:
        from lookalike.engine.actions import lock

        try:
            ok = lock.unlock(secret)  # scrypt: ~50 ms of CPU, never on the event loop
        except Exception as exc:
            self.post_message(LockAnswer(plan, False, f"cannot unlock: {exc}"))
            return
        self.post_message(LockAnswer(plan, ok, "" if ok else "wrong passphrase"))
