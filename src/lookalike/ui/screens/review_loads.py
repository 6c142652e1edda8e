"""Review keys that may need the catalog first — t (tier), o (sort), d (folder filter), g/G
and moving onto a page not decoded yet — kept apart from review.py (issue 13).

When what the key needs is in memory (ui/review_reads.py says so) it acts at once, as before.
Otherwise the status line says "loading …", a thread worker reads the view's columns or
decodes the page, and the app holds every key typed meanwhile (ui/keyhold.py); the key acts
when the read is done, then the held keys are replayed in order — none lost, none applied
twice, and the event loop never waits on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.message import Message

from lookalike.engine.catalog_groups import GroupFilter
from lookalike.ui.review_reads import jump_ready, load_around, prepare_view, view_ready
from lookalike.ui.screens.base import PromptScreen
from lookalike.ui.screens.review_meta import ReviewMetaKeys
from lookalike.ui.state_store import SORTS, TIERS


class ReadDone(Message):
    """A worker's read for a held key is done (``error``: why it failed, else None)."""

    def __init__(self, token: int, error: str | None) -> None:
        super().__init__()
        self.token = token
        self.error = error


class ReviewLoads(ReviewMetaKeys):
    """Base of ReviewScreen: the keys above; the screen provides ``_changed``/``_moved``."""

    _pending: tuple[int, Callable[[], None]] | None = None

    def _changed(self, list_too: bool = True) -> None:  # pragma: no cover - ReviewScreen's
        raise NotImplementedError

    def _moved(self, old: int) -> None:  # pragma: no cover - ReviewScreen's
        raise NotImplementedError

    # -- the keys ----------------------------------------------------------------------------
    def action_tier(self) -> None:
        state = self.lk.review
        tier = TIERS[(TIERS.index(state.tier_filter) + 1) % len(TIERS)]
        self._switch(GroupFilter(tier, state.folder_filter), state.sort, "tier",
                     lambda: self.notify(f"Tier: {state.cycle_tier()}"))  # fmt: skip

    def action_sort(self) -> None:
        state = self.lk.review
        sort = SORTS[(SORTS.index(state.sort) + 1) % len(SORTS)]
        self._switch(GroupFilter(state.tier_filter, state.folder_filter), sort, "sort",
                     lambda: self.notify(f"Sort: {state.cycle_sort()}"))  # fmt: skip

    def action_folder(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            state, folder = self.lk.review, text.strip()
            self._switch(GroupFilter(state.tier_filter, folder or None), state.sort, "folder",
                         lambda: state.set_folder_filter(folder))  # fmt: skip

        self.app.push_screen(
            PromptScreen(
                "Only groups with a file in a folder containing (empty = all):",
                self.lk.review.folder_filter or "",
            ),
            done,
        )

    def action_group(self, delta: int) -> None:
        state = self.lk.review
        self._jump(state.cursor + delta, lambda: state.move(delta), margin=0)

    def action_first(self) -> None:
        self._jump(0, lambda: self.lk.review.goto_index(0) or True)

    def action_last(self) -> None:
        state = self.lk.review
        self._jump(len(state.view) - 1, lambda: state.goto_index(len(state.view) - 1) or True)

    # -- read first when needed --------------------------------------------------------------
    def _switch(self, flt: GroupFilter, sort: str, what: str, act: Callable[[], None]) -> None:
        """Show another view: at once when it is in memory, else after a worker read it."""

        def then() -> None:
            act()
            self._changed()

        state = self.lk.review
        stored = state.stored
        cur = state.current
        keep, cursor = (cur.id if cur else None), state.cursor
        if stored is None or view_ready(stored, flt, sort, keep, cursor):
            then()
            return
        self._read_then(lambda: prepare_view(stored, flt, sort, keep, cursor), then,
                        f"the {what} view")  # fmt: skip

    def _jump(self, index: int, move: Callable[[], bool], margin: int | None = None) -> None:
        """Move the cursor: at once when the page is decoded, else after a worker did it."""
        state = self.lk.review

        def then() -> None:
            old = state.cursor
            if move():
                self._moved(old)

        stored = state.stored
        kw = {} if margin is None else {"margin": margin}
        if stored is None or jump_ready(stored, index, **kw):
            then()
            return
        self._read_then(lambda: load_around(stored, index, **kw), then, "a page")

    def _read_then(self, read: Callable[[], None], then: Callable[[], None], what: str) -> None:
        hold = getattr(self.app, "hold_while_busy", None)
        token = hold() if hold is not None else 0
        self._pending = (token, then)
        self.say(f"loading {what}…")
        self._read(read, token)

    @work(thread=True, group="review-read", exit_on_error=False)
    def _read(self, read: Callable[[], None], token: int) -> None:
        error = None
        try:
            read()
        except Exception as exc:  # noqa: BLE001 - said on screen; the keys must go on
            error = str(exc) or type(exc).__name__
        self.post_message(ReadDone(token, error))

    def on_read_done(self, message: ReadDone) -> None:
        pending, self._pending = self._pending, None
        try:
            if pending is not None and pending[0] == message.token:
                if message.error is None:
                    pending[1]()
                else:
                    self.notify(f"The review could not be read: {message.error}",
                                severity="error")  # fmt: skip
        finally:
            release = getattr(self.app, "release_busy", None)
            if release is not None:
                release(message.token)
