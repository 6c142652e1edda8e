"""Keys typed right behind a prompt's Enter reach what comes next, in the order typed.

Textual hands each key to the focused widget's queue as soon as the app reads it, but an Input
acts on Enter later, in its own task. A key typed right behind Enter is therefore already
queued on the prompt's Input when the prompt closes, and would be typed into the closed prompt:
a fast typist's `/ name Enter a` lost the `a`. SubmitInput acts on Enter in its own task (so the
value holds exactly the keys typed before Enter), has the app hold the keys it reads from then
on, and hands back the keys queued behind Enter; the app then replays them all, oldest first,
to whatever is focused now (the screen underneath, or the prompt again if it stayed open).

While the review reads a view or a page in a thread worker (ui/screens/review_loads.py), the
app is busy: every key, typed then or already on its way, waits and is replayed in order when
the read is done, so it acts on the new view, once. A hold may let some keys through (``lets``:
moving in the review while stored decisions are matched, ui/app_decisions.py) — only while no
key waits, so keys still act in the order typed: once one waits, every key after it waits too.

The same holds when a prompt opens: keys typed right behind the key that opens it would reach
the prompt before its Input is there and focused, and be lost. A dialog holds keys from the
moment it is made (hold_for_dialog) until its SubmitInput has focus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events
from textual._context import active_app
from textual.app import App
from textual.message import Message
from textual.widgets import Input

HOLD_LIMIT_S = 2.0  # a safety net only: a hold is normally released within a few messages
BUSY_LIMIT_S = 60.0  # the same for a review view read in a worker (3 s at 100,000 groups)


class KeysReleased(Message):
    """Posted to the app: the keys a prompt's Input got after Enter, to be replayed first."""

    def __init__(self, keys: list[events.Key], hold: int) -> None:
        super().__init__()
        self.keys = keys
        self.hold = hold


class BusyDone(Message):
    """Posted to the app: the work of this busy hold is done (or its safety net fired)."""

    def __init__(self, token: int) -> None:
        super().__init__()
        self.token = token


class KeyHoldMixin:
    """Part of LookalikeApp: while a hold is on, keys read from the terminal wait in order."""

    _held_keys: list[events.Key] | None = None
    _hold_count: int = 0
    _busy: frozenset[int] = frozenset()
    _busy_count: int = 0
    _busy_keys: list[events.Key] | None = None
    _busy_lets: dict[int, Callable[[events.Key], bool]] = {}

    def hold_while_busy(
        self,
        limit: float | None = BUSY_LIMIT_S,
        lets: Callable[[events.Key], bool] | None = None,
    ) -> int:
        """Hold every key until :meth:`release_busy` with the returned token (or ``limit``
        seconds; None: no safety net, for work whose keys must never act early); ``lets``: the
        keys this work lets act meanwhile (when every hold on lets them and none waits)."""
        self._busy_count += 1  # not _hold_count: a prompt's release must still match its hold
        token = self._busy_count
        self._busy = self._busy | {token}
        if lets is not None:
            self._busy_lets = {**self._busy_lets, token: lets}
        if self._busy_keys is None:
            self._busy_keys = []
        app: App[None] = self  # type: ignore[assignment]
        if limit is not None:
            app.set_timer(limit, lambda: app.post_message(BusyDone(token)))
        return token

    def release_busy(self, token: int) -> None:
        self.post_message(BusyDone(token))  # type: ignore[attr-defined]

    async def on_busy_done(self, message: BusyDone) -> None:
        """The last busy hold ended: replay its keys, oldest first (one that starts another
        read is held again, with the ones behind it)."""
        if message.token not in self._busy:
            return
        self._busy = self._busy - {message.token}
        self._busy_lets = {t: f for t, f in self._busy_lets.items() if t != message.token}
        if self._busy:
            return
        keys, self._busy_keys = self._busy_keys or [], None
        for key in keys:
            await super().on_event(events.Key(key.key, key.character))  # type: ignore[misc]

    def hold_keys(self) -> int:
        """Start holding keys; returns the hold's number for KeysReleased."""
        self._hold_count += 1
        hold = self._hold_count
        if self._held_keys is None:
            self._held_keys = []
        app: App[None] = self  # type: ignore[assignment]
        app.set_timer(HOLD_LIMIT_S, lambda: app.post_message(KeysReleased([], hold)))
        return hold

    async def on_event(self, event: events.Event) -> None:
        # Held too: a key that went to the screen underneath before the dialog opened and came
        # back up unhandled (its bindings would now be looked up on the dialog, and miss).
        if isinstance(event, events.Key) and self._busy_keys is not None:
            if not self._busy_keys and self._held_keys is None and self._busy_let(event):
                await super().on_event(event)  # type: ignore[misc]
                return
            self._busy_keys.append(event)  # a view is being read: after it, in order
            return
        if isinstance(event, events.Key) and self._held_keys is not None:
            self._held_keys.append(event)
            return
        await super().on_event(event)  # type: ignore[misc]

    def _busy_let(self, key: events.Key) -> bool:
        """Every busy hold lets this key act now (none waits before it: checked by the caller)."""
        lets = self._busy_lets
        return bool(self._busy) and all(t in lets and lets[t](key) for t in self._busy)

    async def on_keys_released(self, message: KeysReleased) -> None:
        """Replay the prompt's leftover keys, then the held ones, through normal routing."""
        if message.hold != self._hold_count and not message.keys:
            return  # the safety net of an older hold
        keys = [*message.keys, *(self._held_keys or [])]
        self._held_keys = None
        for key in keys:
            await super().on_event(events.Key(key.key, key.character))  # type: ignore[misc]


class EnterFlushed(Message):
    """Queued on a SubmitInput behind every key that reached it before it acted on Enter."""


def hold_for_dialog() -> None:
    """Called when a dialog with a SubmitInput is made: hold keys until that Input has focus."""
    try:
        app = active_app.get()
    except LookupError:
        return
    if isinstance(app, KeyHoldMixin):
        app.hold_keys()


class SubmitInput(Input):
    """An Input that calls ``on_submit(value)`` on Enter, in its own task, without losing the
    keys typed right after (see the module docstring). The callback may dismiss the screen."""

    def __init__(self, on_submit: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_submit = on_submit
        self._after_enter: list[events.Key] | None = None
        self._hold = 0
        self._focused_once = False

    async def _on_key(self, event: events.Key) -> None:
        if self._after_enter is not None:  # meant for whatever comes after this prompt
            event.stop()
            event.prevent_default()
            self._after_enter.append(event)
            return
        if event.key != "enter":
            return  # Input's own handler (next in the MRO) types it
        event.stop()
        event.prevent_default()
        if isinstance(self.app, KeyHoldMixin):
            self._after_enter = []
            self._hold = self.app.hold_keys()
            self.post_message(EnterFlushed())
        self._on_submit(self.value)

    def on_enter_flushed(self, message: EnterFlushed) -> None:
        message.stop()
        keys, self._after_enter = self._after_enter or [], None
        self.app.post_message(KeysReleased(keys, self._hold))

    def on_focus(self) -> None:
        """The dialog is ready for typing: the keys held since it was made come here now."""
        if not self._focused_once and isinstance(self.app, KeyHoldMixin):
            self._focused_once = True
            self.app.post_message(KeysReleased([], self.app._hold_count))
