"""Content rules in the app: hit counts on the catalog, a live threshold preview, rule hits.

Opened from the Rules screen with ``c``. The engine scores each rule once over the catalog's
images (engine/rules/preview.py); moving a threshold here is a comparison over those scores,
so the count and the example hits follow every key press at once. ``w`` writes the new
threshold to config.toml. The hits also feed the review's badges (``app.rule_hits``), and a
rule whose action is ``notify`` says its count in a toast.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lookalike.engine.actions.fsutil import display_path
from lookalike.ui.screens.base import ModeScreen

EXAMPLES = 8  # example hits shown for the highlighted rule


def step_for(preview: Any) -> float:
    """Probability-like bars (classifiers) move by 0.05; cosine differences by 0.01."""
    probability = bool(preview.scored) and all(0.0 <= s.score <= 1.0 for s in preview.scored)
    return 0.05 if probability and (preview.threshold or 0.0) >= 0.3 else 0.01


def save_threshold(rule: str, value: float) -> str:
    """Write ``value`` as the rule's threshold (``min_probability`` for a classifier) in
    config.toml; returns the file written."""
    from lookalike import config

    data = config.load_config()
    for entry in data.get("content_rules", []):
        if isinstance(entry, dict) and entry.get("name") == rule:
            when = entry.get("when")
            if not isinstance(when, dict) or "any" in when or "all" in when:
                raise ValueError(f"rule {rule!r} has no single threshold to write")
            key = "min_probability" if "classifier" in when else "threshold"
            when[key] = round(float(value), 4)
            config.save_config(data)
            return str(config.config_path())
    raise ValueError(f"no content rule named {rule!r} in config.toml")


class ContentRulesScreen(ModeScreen):
    MODE = "rules"
    HELP = """
Content rules (config.toml [[content_rules]], docs/rules.md): each line shows a rule, how many
of the catalog's images it catches on its own, and its action. The right side is the rule hits
view: the threshold, the count at that threshold and the best-scoring hits.
[ and ] (or - and +) move the highlighted rule's threshold and the count follows at once;
0 puts it back; w writes it to config.toml. t tests the rule on the review's current image.
u scores the rules again (after a scan or an edit of config.toml). Escape goes back.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("right_square_bracket,plus", "nudge(1)", "Threshold up", id="content_rules.up"),
        Binding(
            "left_square_bracket,minus", "nudge(-1)", "Threshold down", id="content_rules.down"
        ),
        Binding("0", "reset", "Reset threshold", id="content_rules.reset"),
        Binding("w,ctrl+s", "save", "Save threshold", id="content_rules.save"),
        Binding("t", "test_current", "Test on current image", id="content_rules.test"),
        Binding("u", "refresh", "Score again", id="content_rules.refresh"),
        Binding("escape", "back", "Back", id="content_rules.back"),
        Binding("j", "cursor(1)", "Down", show=False, id="content_rules.cursor_down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="content_rules.cursor_up"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.previews: list[Any] = []
        self.thresholds: dict[str, float] = {}  # the user's live value per rule
        self.tested = ""
        self.busy = True

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="content-rules-body"):
            with Vertical(id="content-rules-left"):
                yield Static("[b]Content rules[/b] (first that fires wins)")
                yield OptionList(id="content-rule-list")
            yield Static("scoring the rules on the catalog…", id="content-rule-hits")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(OptionList).focus()
        self.action_refresh()

    # -- data ---------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.busy = True
        self.say("scoring the content rules on the catalog…")
        self._score()

    @work(thread=True, exclusive=True, group="content-rules")
    def _score(self) -> None:
        try:
            previews = self.lk.engine.rule_previews()
        except Exception as exc:  # a bad rule, model or catalog: one line, the screen stays
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._scored, previews)

    def _failed(self, message: str) -> None:
        self.busy = False
        self.query_one("#content-rule-hits", Static).update(
            f"[b]cannot score the rules[/b]\n{message}"
        )
        self.say(message)

    def _scored(self, previews: list[Any]) -> None:
        from lookalike.engine.rules.preview import first_hits

        self.busy = False
        self.previews = previews
        self.thresholds = {p.rule: p.threshold for p in previews if p.threshold is not None}
        self.lk.show_rule_hits(first_hits(previews))
        for p in previews:
            if p.action == "notify" and p.count():
                self.app.notify(
                    f"{p.count()} image(s) match rule {p.rule}", title="Content rule", timeout=8
                )
        if not previews:
            self.query_one("#content-rule-hits", Static).update(
                "no content rules; add [[content_rules]] to config.toml (docs/rules.md)"
            )
        self.redraw()
        errors = sum(p.errors for p in previews)
        self.say(
            f"{len(previews)} rule(s) scored"
            + (f"; {errors} file(s) could not be read" if errors else "")
        )

    # -- drawing ------------------------------------------------------------------------------
    def current(self) -> Any | None:
        i = self.query_one(OptionList).highlighted
        return self.previews[i] if i is not None and 0 <= i < len(self.previews) else None

    def redraw(self) -> None:
        ol = self.query_one(OptionList)
        old = ol.highlighted or 0
        ol.clear_options()
        ol.add_options(
            [
                Option(
                    f"{p.rule}  {p.count(self.thresholds.get(p.rule))} hit(s)  → {p.action}",
                    id=p.rule,
                )
                for p in self.previews
            ]
        )
        if self.previews:
            ol.highlighted = min(old, len(self.previews) - 1)
        self.draw_hits()

    def draw_hits(self) -> None:
        p = self.current()
        if p is None:
            return
        t = self.thresholds.get(p.rule)
        hits = p.hits(t)
        if t is None:
            head = f"[b]{p.rule}[/b]: {len(hits)} hit(s) (several conditions: no single threshold)"
        else:
            moved = "" if t == p.threshold else f" (configured {p.threshold:g}; w saves)"
            head = (
                f"[b]{p.rule}[/b]: threshold {t:.2f}{moved} → {len(hits)} hit(s) of {len(p.scored)}"
            )
        rows = [f"  {s.score:7.4f}  {display_path(s.path)}" for s in hits[:EXAMPLES]]
        more = len(hits) - EXAMPLES
        body = "\n".join(rows) + (f"\n  … and {more} more" if more > 0 else "")
        self.query_one("#content-rule-hits", Static).update(
            f"{head}\naction: {p.action}\n\n[b]Rule hits[/b]\n{body or '  (none)'}"
            + (f"\n\n{self.tested}" if self.tested else "")
        )

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.tested = ""
        self.draw_hits()

    # -- keys ---------------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        ol = self.query_one(OptionList)
        ol.action_cursor_down() if delta > 0 else ol.action_cursor_up()

    def action_nudge(self, direction: int) -> None:
        p = self.current()
        if p is None or p.rule not in self.thresholds:
            self.say("this rule has no single threshold to move")
            return
        self.thresholds[p.rule] = round(self.thresholds[p.rule] + direction * step_for(p), 4)
        self.redraw()

    def action_reset(self) -> None:
        p = self.current()
        if p is not None and p.threshold is not None:
            self.thresholds[p.rule] = p.threshold
            self.redraw()

    def action_save(self) -> None:
        p = self.current()
        if p is None or p.rule not in self.thresholds:
            return
        value = self.thresholds[p.rule]

        def write() -> None:
            try:
                where = save_threshold(p.rule, value)
            except (ValueError, OSError) as exc:
                self.app.call_from_thread(self.say, f"not saved: {exc}")
                return
            self.app.call_from_thread(self.say, f"threshold {value:g} of {p.rule} saved to {where}")

        self.run_worker(write, thread=True, group="content-rules-save")

    def action_test_current(self) -> None:
        p = self.current()
        member = self.lk.review.current_member if p is not None else None
        if p is None or member is None:
            self.say("no current image: pick one in Review (3) first")
            return
        t = self.thresholds.get(p.rule)
        got = next((s for s in p.scored if s.path == member.path), None)
        name = display_path(member.path)
        if got is None:
            self.tested = f"[b]current image[/b] {name}: not scored (outside the rule's folders or not in the catalog)"
        else:
            fires = got in p.hits(t)
            verdict = "fires" if fires else ("vetoed by unless" if got.vetoed else "does not fire")
            self.tested = f"[b]current image[/b] {name}: score {got.score:.4f}, {verdict}"
        self.draw_hits()

    def action_back(self) -> None:
        self.app.pop_screen()
