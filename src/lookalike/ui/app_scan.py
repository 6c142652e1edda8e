"""The app's scan: start and cancel it, and fold the engine's events into the scan model."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lookalike.engine.events import (
    GroupFound,
    ItemError,
    Notice,
    ScanFinished,
    ScanStarted,
    StageDone,
    StageProgress,
)
from lookalike.ui.group_pages import open_stored, pages_port
from lookalike.ui.messages import GroupsReloaded, ScanEvent, ScanFailed
from lookalike.ui.state_store import file_key
from lookalike.ui.stored_records import all_records
from lookalike.ui.widgets.grouplist import human_bytes


@dataclass
class ScanModel:
    state: str = "idle"  # idle | running | finished | cancelled | failed
    roots: list[str] = field(default_factory=list)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    planned: tuple[str, ...] = ()  # the stages these options run (screens/scan.py), in order
    groups: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    summary: str = ""


def _freeze_heap() -> None:
    """Move the (large, long-lived) groups out of the collector's sight.

    With 10,000 groups every full collection walked them all and stalled a key press by up to
    ~190 ms; frozen objects are skipped, so the p95 key-to-screen time stays near the median.
    """
    gc.freeze()


class ScanMixin:
    """Part of LookalikeApp: the scan worker only posts messages; these handlers act."""

    def start_scan(self) -> None:
        if self.scan_model.state == "running":
            self.notify("A scan is already running", severity="warning")
            return
        self.scan_model = ScanModel(state="running", roots=[str(r) for r in self.roots])
        self._cancel = threading.Event()
        self.run_worker(
            self._scan_worker(self._cancel), group="scan", exclusive=True, exit_on_error=False
        )
        self.switch_mode("scan")
        self.publish("scan")

    async def _scan_worker(self, cancel: threading.Event) -> None:
        """Only posts messages: the engine's own thread does the work."""
        try:
            # A file list may be long: read it off the event loop.
            options = await asyncio.to_thread(self.scan_options)
        except (OSError, ValueError) as exc:
            self.post_message(ScanFailed(f"cannot scan: {exc}"))
            return
        from lookalike.ui.screens.scan import planned_stages

        self.scan_model.planned = planned_stages(options)  # on the event loop: this is async
        self.publish("scan")
        try:
            async for event in self.engine.scan(options, cancel):
                self.post_message(ScanEvent(event))
        except Exception as exc:
            self.post_message(ScanFailed(f"{exc.__class__.__name__}: {exc}"))
            return
        if not cancel.is_set() and hasattr(self.engine, "sweep_cache"):  # not on a server
            self.run_worker(self._sweep_cache, thread=True, group="cache", exit_on_error=False)

    def _sweep_cache(self) -> None:
        """The thumbnail cache's sweep, when due, after the scan (engine/thumb_sweep.py)."""
        note = self.engine.sweep_cache()
        if note:
            self.call_from_thread(self.notify, note.removeprefix("lookalike: "), timeout=10)

    def cancel_scan(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def on_scan_event(self, message: ScanEvent) -> None:
        ev = message.event
        model = self.scan_model
        if isinstance(ev, ScanStarted):
            model.roots = list(ev.roots)
        elif isinstance(ev, StageProgress):
            info = model.stages.setdefault(ev.stage, {})
            info.update(done=ev.done, total=ev.total, rate=ev.rate, eta=ev.eta)
        elif isinstance(ev, StageDone):
            info = model.stages.setdefault(ev.stage, {})
            info.update(finished=True, seconds=ev.seconds, done=ev.count or info.get("done", 0))
        elif isinstance(ev, ItemError):
            model.errors.append((ev.error.path, ev.error.error))
        elif isinstance(ev, GroupFound):
            model.groups += 1
            self.review.add_group(ev.group)
            self.publish_soon("groups")
        elif isinstance(ev, Notice):
            if ev.message.startswith("embeddings off"):
                # The stage still ends (colour/faces may have run): show it as skipped, not ✓.
                reason = ev.message.partition(":")[2].strip() or "no embedding model"
                model.stages.setdefault("embed", {})["skipped"] = reason
            self.notify(ev.message, severity="warning" if ev.level != "info" else "information")
        elif isinstance(ev, ScanFinished):
            self._scan_finished(ev)
            return
        self.publish_soon("scan")

    def _scan_finished(self, ev: ScanFinished) -> None:
        model = self.scan_model
        model.state = "cancelled" if ev.cancelled else "finished"
        model.groups = len(ev.groups) or model.groups
        s = ev.stats
        model.summary = (
            f"{s.files_seen:,} files · {s.duplicate_files:,} duplicates · "
            f"{human_bytes(s.bytes_to_free)} to free · {s.seconds:.1f} s"
        )
        for err in ev.errors:
            if (err.path, err.error) not in model.errors:
                model.errors.append((err.path, err.error))
        self.run_worker(self._reload_groups, thread=True, group="reload", exit_on_error=False)
        stamp = time.strftime("%Y-%m-%d %H:%M")
        for root in model.roots:
            self.dir_info[root] = {"last_scan": stamp}
            if root in self.recent:
                self.recent.remove(root)
            self.recent.insert(0, root)
        self.recent = self.recent[:20]
        self.run_worker(
            lambda: self._save_many({"ui.recent": self.recent, "ui.dirs": self.dir_info}),
            thread=True,
            group="save-misc",
        )
        self.publish("scan")
        self.publish("groups")
        self.publish("recent")
        self.notify(
            f"Scan {model.state}: {model.groups:,} groups. Press 3 to review.",
            title="Scan",
            timeout=6,
        )

    def _reload_groups(self) -> None:
        """After a scan the review shows the stored groups: this scan's, merged with those of
        earlier scans it did not look at (decisions follow their files, see ui/state.py)."""
        try:
            port = pages_port(self.engine)
            if port is None:  # a server without page endpoints: every group, as before
                self.post_message(GroupsReloaded(self.engine.last_groups()))
                return
            review = self.review
            try:  # read ahead the group the cursor goes back to
                cur = review.current
                keys = {file_key(m) for m in (cur.members if cur else ())}
                records = all_records(review.records, port.load_decisions)
            except (RuntimeError, LookupError):  # changed meanwhile: the loop asks itself
                keys, records = set(), {}
            saved = {"tier": review.tier_filter, "folder": review.folder_filter}
            stored = open_stored(port, keys, {**saved, "sort": review.sort})
            if stored is not None and records:  # matched here, used if still the same
                stored.prematch(records)
            self.post_message(GroupsReloaded([], stored=stored))
        except Exception as exc:
            self.post_message(GroupsReloaded(None, f"{exc.__class__.__name__}: {exc}"))

    def on_groups_reloaded(self, message: GroupsReloaded) -> None:
        if message.groups is None:
            self.notify(f"could not load the results: {message.error}", severity="error")
            return
        if message.stored is not None:
            self.review.set_stored(message.stored)
        else:
            self.review.set_groups(message.groups)
        _freeze_heap()
        self.publish("groups")
        # never while shutting down: a new mode's screen stack would appear mid-close
        if self.current_mode == "scan" and self.review.groups and self.is_running:
            self.switch_mode("review")

    def on_scan_failed(self, message: ScanFailed) -> None:
        self.scan_model.state = "failed"
        self.scan_model.summary = message.error
        self.notify(message.error, title="Scan failed", severity="error", timeout=10)
        self.publish("scan")
