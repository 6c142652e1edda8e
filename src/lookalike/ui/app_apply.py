"""The app's plan, apply, history and undo/redo: engine calls in thread workers, results as
messages."""

from __future__ import annotations

import os

from lookalike.ui.engine_port import (
    PlanSummary,
)
from lookalike.ui.messages import ApplyDone, ApplyStep, HistoryLoaded, PlanReady, UndoDone


class ApplyMixin:
    """Part of LookalikeApp."""

    # -- plan and apply ----------------------------------------------------------------------
    def operation_string(self) -> str:
        return self.apply_choice.as_string()

    def make_plan(self) -> None:
        removals, groups = self.review.removal_plan()
        op = self.operation_string()
        self.plan = None
        self.plan_error = ""

        def work() -> None:
            try:
                plan = self.engine.plan(
                    groups,
                    removals,
                    op,
                    # the engine's plan builder enforces these (never acted on)
                    references=list(self.reference),
                    favourites=set(self.review.favourites),
                    tiers=("exact", "same", "similar")
                    if self.act_on_similar
                    else ("exact", "same"),
                )
                self.post_message(PlanReady(plan))
            except Exception as exc:
                self.post_message(PlanReady(None, f"{exc}"))

        self.run_worker(work, thread=True, group="plan", exclusive=True)

    def on_plan_ready(self, message: PlanReady) -> None:
        self.plan, self.plan_error = message.plan, message.error
        self.publish("plan")

    def apply_plan(self, plan: PlanSummary) -> None:
        self.applying = True
        self.apply_text = f"Applying 0/{plan.files:,}…"

        def work() -> None:
            try:
                result = self.engine.apply(plan, lambda p: self.post_message(ApplyStep(p)))
                self.post_message(ApplyDone(plan, result))
            except Exception as exc:
                self.post_message(ApplyDone(plan, None, f"{exc.__class__.__name__}: {exc}"))

        self.run_worker(work, thread=True, group="apply", exclusive=True)
        self.publish("apply")

    def on_apply_step(self, message: ApplyStep) -> None:
        p = message.progress
        self.apply_text = f"Applying {p.done:,}/{p.total:,} · {os.path.basename(p.path)}"
        self.publish("apply")

    def on_apply_done(self, message: ApplyDone) -> None:
        self.applying = False
        r = message.result
        if r is None:
            self.apply_text = f"[$error]Failed:[/] {message.error}"
            self.notify(message.error, title="Apply failed", severity="error", timeout=10)
        else:
            self.review.mark_applied({i.group_id for i in message.plan.items}, r.batch_id)
            self.apply_text = (
                f"[$success]Done[/]: batch {r.batch_id} · {r.done:,} done · {r.skipped:,} skipped"
                f" · {r.failed:,} failed. Undo it from History (6)."
            )
            for line in r.messages[:5]:
                self.apply_text += f"\n  {line}"
            self.notify(f"Batch {r.batch_id}: {r.done:,} files", title="Applied")
            self.schedule_save()
        self.make_plan()
        self.load_history()
        self.publish("apply")
        self.publish("groups")

    # -- history -----------------------------------------------------------------------------
    def load_history(self) -> None:
        def work() -> None:
            try:
                self.post_message(HistoryLoaded(self.engine.history()))
            except Exception as exc:
                self.post_message(HistoryLoaded([], f"history not available: {exc}"))

        self.run_worker(work, thread=True, group="history", exclusive=True)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.batches, self.history_error = message.batches, message.error
        self.publish("history")

    def run_undo_redo(self, verb: str, batch_id: str) -> None:
        def work() -> None:
            try:
                fn = self.engine.undo if verb == "undo" else self.engine.redo
                self.post_message(UndoDone(verb, batch_id, fn(batch_id), ""))
            except Exception as exc:
                self.post_message(UndoDone(verb, batch_id, None, f"{exc}"))

        self.run_worker(work, thread=True, group="undo", exclusive=True)

    def on_undo_done(self, message: UndoDone) -> None:
        if message.result is None:
            self.notify(message.error, title=f"{message.verb} failed", severity="error")
        else:
            r = message.result
            if message.verb == "undo":
                self._undone[message.batch_id] = [
                    gid for gid, d in self.review.decisions.items() if d.batch == message.batch_id
                ]
                self.review.mark_undone(message.batch_id)
            else:
                # A redo is journalled as a new batch: its id is the one a later undo names.
                self.review.mark_applied(
                    self._undone.pop(message.batch_id, []), r.batch_id or message.batch_id
                )
            extra = f", {r.failed} failed" if r.failed else ""
            self.notify(f"{message.verb.title()} of {message.batch_id}: {r.done:,} files{extra}")
            self.schedule_save()
        self.load_history()
        self.publish("groups")
