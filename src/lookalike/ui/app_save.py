"""What the app saves: review decisions (debounced, one writer at a time), not-a-duplicate
pairs, favourites, and the keep rules in the config file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lookalike import config
from lookalike.ui.state import STATE_KEY


class SaveMixin:
    """Part of LookalikeApp: every write runs in a thread worker; failures are shown."""

    def _save_many(self, values: Mapping[str, Any]) -> None:
        """Runs in a worker thread; a failed save is shown, never dropped silently."""
        for key, value in values.items():
            try:
                self.engine.save_state(key, value)
            except Exception as exc:
                try:
                    self.call_from_thread(
                        self.notify, f"{key} not saved ({exc})", severity="error", timeout=10
                    )
                except RuntimeError:  # the app is gone already
                    pass
                return

    # -- review state persistence ------------------------------------------------------------
    def schedule_save(self) -> None:
        """Debounced: at most one SQLite write every half second, in a thread."""
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(0.5, self._save_now)

    def _save_now(self) -> None:
        """One save at a time, in order: two writers racing could store an older decision over
        a newer one. Changes made while a save runs go out right after it."""
        if self._saving:
            self._save_again = True
            return
        self._saving, self._save_again = True, False
        data = self.review.to_json()
        changes = self.review.take_changes()

        def work() -> None:
            error: Exception | None = None
            try:
                self._save_review(data, changes)
            except Exception as exc:
                error = exc
            try:
                self.call_from_thread(self._save_done, changes, error)
            except RuntimeError:  # the app is gone already
                pass

        # Not exclusive: cancelling a running save would lose the changes it carries.
        self.run_worker(work, thread=True, group="save")

    def _save_done(
        self, changes: tuple[list[dict[str, Any]], list[str]], error: Exception | None
    ) -> None:
        self._saving = False
        if error is not None:
            self._save_again = False  # retried with the next change or on quit, not in a loop
            self._save_failed(changes, error)
        elif self._save_again:
            self._save_now()

    def _save_review(
        self, data: Mapping[str, Any], changes: tuple[list[dict[str, Any]], list[str]]
    ) -> None:
        """Decisions first (they matter most), then position, marks and filters."""
        if changes[0] or changes[1]:
            self.engine.save_decisions(*changes)
        self.engine.save_state(STATE_KEY, data)

    def _save_failed(self, changes: tuple[list[dict[str, Any]], list[str]], exc: Exception) -> None:
        self.review.give_back(*changes)
        self.notify(
            f"review decisions not saved yet ({exc}); they are saved again on the next change "
            "or when you quit",
            severity="error",
            timeout=10,
        )

    def remember_not_duplicate(self, paths: list[str]) -> None:
        def work() -> None:
            try:
                self.engine.mark_not_duplicate(paths)
            except Exception as exc:
                self.call_from_thread(self.notify, f"not saved: {exc}", severity="error")

        self.run_worker(work, thread=True, group="notdup")

    def set_favourite(self, path: str, on: bool) -> None:
        """Favourites live in the catalog too, so ``scan --action`` and ``apply`` leave them
        alone as well as this app's plans."""

        def work() -> None:
            try:
                self.engine.set_favourite(path, on)
            except Exception as exc:
                self.call_from_thread(self.notify, f"favourite not saved: {exc}", severity="error")

        self.run_worker(work, thread=True, group="favourite")

    def forget_not_duplicate(self, paths: list[str]) -> None:
        def work() -> None:
            try:
                self.engine.forget_not_duplicate(paths)
            except Exception as exc:
                self.call_from_thread(self.notify, f"not saved: {exc}", severity="error")

        self.run_worker(work, thread=True, group="notdup")

    # -- rules -------------------------------------------------------------------------------
    def save_rules(self) -> None:
        rules, refs, overrides = self.keeper_rules.snapshot()

        def work() -> None:
            try:

                def change(data: dict[str, Any]) -> None:
                    config.set_key(data, "rules.keep", rules)
                    config.set_key(data, "rules.reference", refs)
                    config.set_key(data, "rules.overrides", overrides)

                config.update_config(change)
                path = config.config_path()
                self.call_from_thread(self._rules_saved, str(path), "")
            except Exception as exc:
                self.call_from_thread(self._rules_saved, "", str(exc))

        self.run_worker(work, thread=True, group="rules")

    def _rules_saved(self, path: str, error: str) -> None:
        if error:
            self.notify(f"Not saved: {error}", severity="error")
        else:
            self.keeper_rules.saved()
            self.notify(f"Saved to {path}")
        self.settings.setdefault("rules", {})
        self.publish("rules")
