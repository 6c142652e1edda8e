"""Rules: keep-rule order, reference folders, per-directory overrides (saved to config.toml)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lookalike.engine.options import KEEP_RULE_NAMES
from lookalike.ui.screens.base import ModeScreen, PromptScreen


class RulesScreen(ModeScreen):
    MODE = "rules"
    HELP = """
How the keeper of a group is chosen: rules are tried top to bottom until one prefers a file.
Move the highlighted rule with K/J (or shift+up/down), add one with a, remove it with x.
Reference folders (r adds, R removes the last) are never acted on: their files are always kept.
Per-directory overrides give a folder its own rule order: o adds one ("FOLDER: rule, rule"),
O removes the last. w writes all of it to config.toml; the next scan uses the new order.
c opens the content rules: hit counts on the catalog and a live threshold preview.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("K,shift+up", "move(-1)", "Rule up", id="rules.up"),
        Binding("J,shift+down", "move(1)", "Rule down", id="rules.down"),
        Binding("a", "add", "Add rule", id="rules.add"),
        Binding("x", "remove", "Remove rule", id="rules.remove"),
        Binding("r", "add_reference", "Add reference", id="rules.add_reference"),
        Binding("R", "drop_reference", "Drop reference", show=False, id="rules.drop_reference"),
        Binding("o", "add_override", "Add override", id="rules.add_override"),
        Binding("O", "drop_override", "Drop override", show=False, id="rules.drop_override"),
        Binding("w,ctrl+s", "save", "Save", id="rules.save"),
        Binding("c", "content_rules", "Content rules", show=False, id="rules.content"),
        Binding("j", "cursor(1)", "Down", show=False, id="rules.cursor_down"),
        Binding("k", "cursor(-1)", "Up", show=False, id="rules.cursor_up"),
    ]

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="rules-body"):
            with Vertical(id="rules-left"):
                yield Static("[b]Keep rules[/b] (first that decides wins)")
                yield OptionList(id="rule-list")
            yield Static("", id="rules-right")

    def on_mount(self) -> None:
        super().on_mount()
        self.redraw()
        self.query_one(OptionList).focus()

    def on_app_changed(self, what: str) -> None:
        if what == "rules" and self.is_attached:  # saved (or not): the status line says which
            self.redraw()

    def redraw(self, highlight: int | None = None) -> None:
        ol = self.query_one(OptionList)
        old = ol.highlighted if highlight is None else highlight
        ol.clear_options()
        ol.add_options([Option(f"{i + 1}. {r}", id=r) for i, r in enumerate(self.lk.keep_rules)])
        if self.lk.keep_rules:
            ol.highlighted = min(old or 0, len(self.lk.keep_rules) - 1)
        refs = "\n".join(f"  • {r}" for r in self.lk.reference) or "  (none)"
        ov = "\n".join(f"  {k}: {', '.join(v)}" for k, v in self.lk.overrides.items()) or "  (none)"
        unused = sorted(KEEP_RULE_NAMES - set(self.lk.keep_rules))
        self.query_one("#rules-right", Static).update(
            f"[b]Reference folders[/b] (always kept)\n{refs}\n\n"
            f"[b]Per-directory overrides[/b]\n{ov}\n\n"
            f"[b]Other rules[/b]: {', '.join(unused)}"
        )
        self.say("unsaved changes — w saves" if self.lk.rules_dirty else "rules as in config.toml")

    def action_cursor(self, delta: int) -> None:
        ol = self.query_one(OptionList)
        ol.action_cursor_down() if delta > 0 else ol.action_cursor_up()

    def action_move(self, delta: int) -> None:
        ol = self.query_one(OptionList)
        i = ol.highlighted
        if i is not None and self.lk.keeper_rules.move(i, delta):
            self.redraw(highlight=i + delta)

    def action_add(self) -> None:
        def done(name: str | None) -> None:
            name = (name or "").strip()
            if not name:
                return
            try:
                self.lk.keeper_rules.add(name)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self.redraw()

        unused = ", ".join(sorted(KEEP_RULE_NAMES - set(self.lk.keep_rules)))
        self.app.push_screen(PromptScreen(f"Rule to add ({unused}):"), done)

    def action_remove(self) -> None:
        ol = self.query_one(OptionList)
        if ol.highlighted is not None and self.lk.keeper_rules.remove(ol.highlighted):
            self.redraw()

    def action_add_reference(self) -> None:
        def done(path: str | None) -> None:
            if path and path.strip():
                self.lk.keeper_rules.add_reference(path.strip())
                self.redraw()

        self.app.push_screen(PromptScreen("Reference folder (its files are always kept):"), done)

    def action_drop_reference(self) -> None:
        if self.lk.keeper_rules.drop_reference():
            self.redraw()

    def action_add_override(self) -> None:
        def done(text: str | None) -> None:
            if not text or ":" not in text:
                if text:
                    self.notify("Write it as FOLDER: rule, rule", severity="warning")
                return
            folder, _, rest = text.rpartition(":")
            rules = [r.strip() for r in rest.split(",") if r.strip()]
            try:
                self.lk.keeper_rules.set_override(folder.strip(), rules)
            except ValueError as exc:
                self.notify(str(exc), severity="error")
                return
            self.redraw()

        self.app.push_screen(
            PromptScreen(
                "Override — FOLDER: rule, rule", placeholder="/photos/phone: newest, bytes"
            ),
            done,
        )

    def action_drop_override(self) -> None:
        if self.lk.keeper_rules.drop_override():
            self.redraw()

    def action_save(self) -> None:
        self.lk.save_rules()

    def action_content_rules(self) -> None:
        from lookalike.ui.screens.content_rules import ContentRulesScreen

        self.app.push_screen(ContentRulesScreen())
