"""The app's open matches stored review decisions in a thread worker, after the first page is
on screen (issue 13).

Why: matching took about a minute at 100,000 decided groups (32 s once only the decided
groups' member facts were read; 10.5 s on a loaded 2-core box since the common case is
found in SQL, ui/stored_match.py, its rows left in the catalog, ui/stored_records.py,
docs/scale.md), and the first page waited for it. Now the
first page shows as with no decisions; the status line says "matching decisions …". Keys
that only move in the review (next/previous group or file, page, first, last) act at once —
they read no decision — while every other key (a decision, a filter, select, save, quit)
waits (ui/keyhold.py, with no safety-net release: a decision key must never act on a review
whose decisions are not back yet) and is replayed, in order, once the decisions are set; a
moving key typed after a waiting one waits too, so each key acts on the group it was typed
on. Matching is exactly ``state_store.match_records``, so a decision whose group changed is
dropped or kept as before.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

from textual import events
from textual.message import Message
from textual.widgets import Input

from lookalike.engine.heap import collected_after
from lookalike.ui.group_pages import StoredReview
from lookalike.ui.state_store import Decision, Record, parse_records
from lookalike.ui.stored_records import StoredRecords, paired_decisions

MATCHING = "matching decisions …"
MOVES = frozenset(  # the review's bindings (ui/screens/review.py) that only move the cursor
    {
        "review.next_group",
        "review.prev_group",
        "review.next_file",
        "review.prev_file",
        "review.page_down",
        "review.page_up",
        "review.first",
        "review.last",
    }
)


class DecisionsMatched(Message):
    """A worker matched stored decisions to ``stored`` (``error``: why it could not)."""

    def __init__(
        self,
        token: int,
        stored: StoredReview,
        records: Any,  # dict[str, Record] or ui/stored_records.StoredRecords
        decisions: dict[int, Decision],
        error: str | None = None,
    ) -> None:
        super().__init__()
        self.token, self.stored, self.records = token, stored, records
        self.decisions, self.error = decisions, error


# No cyclic collection while the worker reads and matches: it builds about a million long-lived
# objects (rows, records, their frozensets, decisions) and every full collection in between
# walked all of them again — about half the matching time at 100,000 decided groups
# (docs/scale.md). The scan's walk pauses it the same way (engine/heap.py).
collector_paused = collected_after


def match_stored(stored: StoredReview, records: dict[str, Record]) -> dict[int, Decision]:
    """Stored decisions matched to a stored review (a thread worker; tests gate it here)."""
    return stored.matched(records)


def match_left(
    port: Any, stored: StoredReview, pairs: list[Any], rows: list[dict[str, Any]]
) -> tuple[StoredRecords, dict[int, Decision]]:
    """The decisions of the rows the catalog paired in SQL, those rows left undecoded, and
    the rest (``rows``: every other row) matched by the rule among themselves — exact, since
    no other row touches a paired group (engine/stored_match.py ``pair_stored_rows``)."""
    decisions, again = paired_decisions(stored, pairs)
    if again:  # read again with the others, in the order stored (the rule's tie-break)
        rows = port.load_decisions([*(r["key"] for r in rows), *again])
    rest = parse_records(rows)
    decisions.update(match_stored(stored, rest))
    skip = set(again)
    left = {p.key: p.batch for p in pairs if p.key not in skip}
    return StoredRecords(rest, left, port.load_decisions), dict(sorted(decisions.items()))


def read_rows(port: Any) -> tuple[list[Any] | None, list[dict[str, Any]]]:
    """The stored rows paired with a group in SQL (None: the port cannot pair them, or a row
    needs the rule) and the rows of every other decision. A server pairs them itself and
    sends both in one answer (ui/remote_decisions.py); an older server, or a port with
    neither, gives every row."""
    if (both := getattr(port, "paired_decision_rows", None)) is not None:
        return both()
    pair = getattr(port, "pair_stored_decisions", None)
    got = pair() if pair is not None else None
    if got is None:
        return None, port.load_decisions()
    return got[0], port.load_decisions(got[1])


class DecisionsMixin:
    """Part of LookalikeApp (which provides review, hold_while_busy, run_worker, publish…)."""

    matching: str = ""  # the status line's word while decisions are matched ("" when not)

    def _read_records(self, error: str) -> tuple[Any, str]:
        """The stored decisions (None when they cannot be read) and the first error to say."""
        try:
            return self.engine.load_decisions(), error  # type: ignore[attr-defined]
        except Exception as exc:
            return None, error or f"could not read the saved review decisions: {exc}"

    def match_later(self, stored: StoredReview, data: Any = None) -> None:
        """Match stored decision rows (None: read them from the engine) to ``stored`` in a
        worker; keys that only move act meanwhile, every other key waits for it."""
        app: Any = self
        token = app.hold_while_busy(limit=None, lets=self.only_moves)
        self.matching = MATCHING

        def work() -> None:
            with collector_paused():
                read_and_match()

        def read_and_match() -> None:
            records: Any = {}
            try:
                got, rows = (None, data) if data is not None else read_rows(app.engine)
            except Exception as exc:  # noqa: BLE001 - said on screen, as the open did
                error = f"could not read the saved review decisions: {exc}"
                app.post_message(DecisionsMatched(token, stored, records, {}, error))
                return
            try:
                if got is None:
                    records = parse_records(rows)
                    decisions = match_stored(stored, records)
                else:  # the rows paired in SQL stay in the catalog (ui/stored_records.py)
                    records, decisions = match_left(app.engine, stored, got, rows)
            except Exception as exc:  # noqa: BLE001 - said on screen, records kept
                if got is not None:  # every row, as the open read them before SQL paired
                    with contextlib.suppress(Exception):
                        records = parse_records(app.engine.load_decisions())
                error = (
                    f"saved review decisions could not be matched ({exc}); they are kept and "
                    "matched again the next time the review opens"
                )
                app.post_message(DecisionsMatched(token, stored, records, {}, error))
                return
            app.post_message(DecisionsMatched(token, stored, records, decisions))

        app.run_worker(work, thread=True, group="decisions", exit_on_error=False)

    def only_moves(self, key: events.Key) -> bool:
        """A key bound (as the app is now: the screen shown, the focus, the keymap) to a review
        binding that only moves the cursor: it needs no decision, so it acts while they are
        matched."""
        app: Any = self
        if isinstance(app.focused, Input):
            return False
        try:
            active = app.screen.active_bindings.get(key.key)
        except Exception:  # noqa: BLE001 - unsure: the key waits, as every key did
            return False
        return active is not None and active.enabled and active.binding.id in MOVES

    def on_decisions_matched(self, message: DecisionsMatched) -> None:
        app: Any = self
        review = app.review
        again = False
        try:
            if message.error is not None:  # the records stay: none is lost or rewritten
                review.set_matched(message.records, {})
                app.notify(message.error, severity="warning")
            elif review.stored is message.stored:
                review.set_matched(message.records, message.decisions)
                gc.freeze()  # long-lived: out of the collector's sight (app_scan._freeze_heap)
            elif review.stored is not None:  # a scan stored a new review meanwhile: again
                again = True
                self.match_later(review.stored, [r.to_json() for r in message.records.values()])
            else:  # a review of every group in memory (a server without page endpoints)
                review.load_records([r.to_json() for r in message.records.values()])
        finally:
            if not again:
                self.matching = ""
            app.release_busy(message.token)
        app.publish("groups")
