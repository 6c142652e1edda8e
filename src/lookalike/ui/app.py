"""The Textual app: modes, shared state, and the workers that talk to the engine.

Workers only post messages; the ``on_*`` handlers here are the only places that change shared
state, then they publish ``changed`` so the visible screen redraws. Every engine call except the
async scan stream runs in a thread worker, so SQLite, decoding and model loading never block keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal

from lookalike import config
from lookalike.engine.options import MLOptions, ScanOptions
from lookalike.engine.records import Group
from lookalike.ui.app_apply import ApplyMixin
from lookalike.ui.app_decisions import DecisionsMixin
from lookalike.ui.app_save import SaveMixin
from lookalike.ui.app_scan import ScanMixin, ScanModel, _freeze_heap
from lookalike.ui.app_settings import common_parent, flatten_keymap, keeper_rules, scan_settings
from lookalike.ui.apply_choice import ApplyChoice
from lookalike.ui.commands import GoToFileProvider
from lookalike.ui.engine_port import (
    BatchInfo,
    EnginePort,
    PlanSummary,
    as_port,
)
from lookalike.ui.group_pages import open_stored, pages_port, record_keys
from lookalike.ui.keyhold import KeyHoldMixin
from lookalike.ui.messages import Loaded
from lookalike.ui.screens.apply import ApplyScreen
from lookalike.ui.screens.base import ConfirmScreen, HelpScreen
from lookalike.ui.screens.browse import BrowseScreen
from lookalike.ui.screens.history import HistoryScreen
from lookalike.ui.screens.review import ReviewScreen
from lookalike.ui.screens.rules import RulesScreen
from lookalike.ui.screens.scan import ScanScreen
from lookalike.ui.select import Selections
from lookalike.ui.state import STATE_KEY, ReviewState
from lookalike.ui.themes import DEFAULT_THEME, load_themes
from lookalike.ui.widgets.thumbs import ThumbCache

# -- the app -----------------------------------------------------------------------------------


class LookalikeApp(KeyHoldMixin, DecisionsMixin, ScanMixin, SaveMixin, ApplyMixin, App[None]):
    TITLE = "lookalike"
    CSS_PATH = "styles/app.tcss"
    COMMANDS = App.COMMANDS | {GoToFileProvider}
    MODES: ClassVar[dict[str, Any]] = {
        "browse": BrowseScreen,
        "scan": ScanScreen,
        "review": ReviewScreen,
        "apply": ApplyScreen,
        "rules": RulesScreen,
        "history": HistoryScreen,
    }
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("1", "mode('browse')", "Browse", show=False, id="app.mode_browse"),
        Binding("2", "mode('scan')", "Scan", show=False, id="app.mode_scan"),
        Binding("3", "mode('review')", "Review", show=False, id="app.mode_review"),
        Binding("4", "mode('apply')", "Apply", show=False, id="app.mode_apply"),
        Binding("5", "mode('rules')", "Rules", show=False, id="app.mode_rules"),
        Binding("6", "mode('history')", "History", show=False, id="app.mode_history"),
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        settings: Mapping[str, Any],
        engine: EnginePort,
        *,
        image_cls: type[Any] | None,
        graphics_label: str,
        roots: Sequence[Path] = (),
        files_from: Path | None = None,
        themes_dir: Path | None = None,
        start_mode: str | None = None,
        browse_start: Path | None = None,
        scan_base: ScanOptions | None = None,
        start_scan: bool = False,
    ) -> None:
        super().__init__()
        # ``lookalike scan PATH… --include … --min-size …`` on a terminal: every option given
        # there is the base of the scans started here (the app's own knobs override theirs).
        self.scan_base = scan_base
        self._start_scan = start_scan
        if scan_base is not None and not roots:
            roots = scan_base.roots
        self.settings = dict(settings)
        self.engine = engine
        self.image_cls = image_cls
        self.graphics_label = graphics_label
        self.review = ReviewState()
        self.thumbs = ThumbCache()
        self.scan_model = ScanModel()
        self.roots: list[Path] = [Path(r).expanduser().resolve() for r in roots]
        self.files_from = files_from
        self.browse_start = browse_start or (
            common_parent(self.roots) if self.roots else Path.home()
        )
        self.recent: list[str] = []
        self.dir_info: dict[str, dict[str, Any]] = {}
        self.scan_settings = scan_settings(self.setting, scan_base)
        self.keeper_rules = keeper_rules(self.setting, scan_base)
        self.rule_hits: dict[str, str] = {}  # path → content rule that fires (content_rules.py)
        self.apply_choice = ApplyChoice(
            str(self.setting("ui.operation", "trash")), str(self.setting("ui.destination", ""))
        )
        self.selections = Selections()  # review: selections by criteria, undoable with U
        self.plan: PlanSummary | None = None
        self.plan_error = ""
        self.applying = False
        self.apply_text = ""
        self.batches: list[BatchInfo] = []
        self.history_error = ""
        self.changed: Signal[str] = Signal(self, "changed")
        self._cancel: threading.Event | None = None
        self._undone: dict[str, list[int]] = {}
        self._pending: set[str] = set()
        self._save_timer: Any = None
        self._saving = False  # a review save is in flight (saves never overlap)
        self._save_again = False
        self._quit_unsaved = False  # q was pressed once and the save failed
        self._themes_dir = themes_dir
        self._themes_ready = False
        self._start_mode = start_mode or ("browse" if (self.roots or files_from) else "review")
        keymap = flatten_keymap(self.settings.get("keymap", {}))
        if keymap:
            self._keymap = self._normalize_keymap(keymap)

    # -- settings and start-up ---------------------------------------------------------------
    # The keep rules live in ``self.keeper_rules`` (ui/keep_rules.py); these read them.
    # What Apply will do lives in ``self.apply_choice`` (ui/apply_choice.py); these read it.
    @property
    def operation(self) -> str:
        return self.apply_choice.operation

    @property
    def destination(self) -> str:
        return self.apply_choice.destination

    @property
    def act_on_similar(self) -> bool:
        return self.apply_choice.similar

    @property
    def keep_rules(self) -> list[str]:
        return self.keeper_rules.rules

    @property
    def reference(self) -> list[str]:
        return self.keeper_rules.reference

    @property
    def overrides(self) -> dict[str, list[str]]:
        return self.keeper_rules.overrides

    @property
    def rules_dirty(self) -> bool:
        return self.keeper_rules.dirty

    def setting(self, dotted: str, default: Any = None) -> Any:
        return config.get_key(self.settings, dotted, default)

    def on_mount(self) -> None:
        # Fewer, larger young-generation collections: each one stalled a key press (see
        # docs/tui.md, key-to-screen time). Restored on unmount.
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(max(self._gc_threshold[0], 20_000), *self._gc_threshold[1:])
        themes, problems = load_themes(self._themes_dir)
        for theme in themes:
            self.register_theme(theme)
        wanted = str(self.setting("ui.theme", DEFAULT_THEME))
        names = {t.name for t in themes} | set(self.available_themes)
        if wanted not in names:
            problems.append(f"theme {wanted!r} not found")
            wanted = DEFAULT_THEME
        self.theme = wanted if wanted in self.available_themes else "textual-dark"
        if problems:
            self.notify(
                "\n".join(problems) + f"\nUsing the {self.theme} theme.",
                title="Theme problem",
                severity="warning",
                timeout=8,
            )
        self._themes_ready = True
        self.watch(self, "theme", self._theme_changed, init=False)
        self.switch_mode(self._start_mode)
        self.run_worker(self._load_initial, thread=True, group="load", exit_on_error=False)
        if self._start_scan:
            self.call_later(self.start_scan)

    def _load_initial(self) -> None:
        error = ""
        groups: list[Group] = []
        state = recent = dirs = stored = records = None
        try:
            state = self.engine.load_state(STATE_KEY, None)
            recent = self.engine.load_state("ui.recent", [])
            dirs = self.engine.load_state("ui.dirs", {})
        except Exception as exc:
            error = f"could not read the saved review state: {exc}"
        port = pages_port(self.engine)
        # a paged review's stored decisions are read and matched in a worker after the first
        # page shows (app_decisions.py); an older state's decisions by group number move
        # over at once (load_json), so they need the records first
        old = isinstance(state, dict) and isinstance(state.get("decisions"), dict)
        later = port is not None and not old
        if not later:
            records, error = self._read_records(error)
        try:
            if port is not None:  # the stored review a page at a time (docs/scale.md)
                stored = open_stored(port, () if later else record_keys(records), state)
            else:
                groups = self.engine.last_groups()
        except Exception as exc:  # a missing or new catalog is not an error for the user
            error = f"no previous results ({exc.__class__.__name__}: {exc})"
        if later and stored is None:  # nothing stored: the decisions wait for a scan's review
            later = False
            records, error = self._read_records(error)
        notes: list[str] = []
        try:
            notes = self.engine.recovery_notes()
        except Exception:  # a journal that cannot be read shows up in History instead
            pass
        hits: dict[str, str] = {}
        try:  # what scan --rules / rules run found: badges from the first paint
            hits = self.engine.stored_rule_hits()
        except Exception:  # badges are a hint; the content rules screen scores them anew
            pass
        self.post_message(
            Loaded(groups, state, recent, dirs, error, notes, records, hits, stored, later)
        )

    def show_rule_hits(self, hits: dict[str, str]) -> None:
        """Content rules scored anew (path → rule): Review badges them."""
        self.rule_hits = dict(hits)
        self.publish("review")

    def use_files_from(self, path: Path | None) -> None:
        """The next scan reads its file list from PATH (None: the roots only)."""
        self.files_from = path

    def on_loaded(self, message: Loaded) -> None:
        if message.rule_hits and not self.rule_hits:
            self.rule_hits = dict(message.rule_hits)
        if message.stored is not None and not self.review.groups:
            self.review.set_stored(message.stored)
        elif message.groups and not self.review.groups:
            self.review.set_groups(message.groups)
        if message.later and message.stored is not None:
            self.match_later(message.stored)  # read and matched after the first page shows
        elif message.records is not None:
            self.review.load_records(message.records)
        self.review.load_json(message.state)
        if self.review.unsaved:  # decisions moved over from an older state format
            self.schedule_save()
        if isinstance(message.recent, list):
            self.recent = [str(r) for r in message.recent][:20]
        if isinstance(message.dirs, dict):
            self.dir_info = {str(k): v for k, v in message.dirs.items() if isinstance(v, dict)}
        if message.error and "no previous results" not in message.error:
            self.notify(message.error, severity="warning")
        for note in message.notes:
            self.notify(note, title="Interrupted batch", severity="warning", timeout=20)
        _freeze_heap()
        self.publish("groups")
        self.publish("recent")

    def on_unmount(self) -> None:
        gc.set_threshold(*self._gc_threshold)

    # -- change notification -----------------------------------------------------------------
    def publish(self, what: str) -> None:
        self.changed.publish(what)

    def publish_soon(self, what: str) -> None:
        """Coalesce bursts (hundreds of GroupFound a second) into one redraw per 100 ms."""
        if not self._pending:
            self.set_timer(0.1, self._flush_pending)
        self._pending.add(what)

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, set()
        for what in sorted(pending):
            self.publish(what)

    # -- modes, help, quit, palette ----------------------------------------------------------
    def action_mode(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        if self.scan_model.state == "running" or self.applying:
            what = "A scan" if self.scan_model.state == "running" else "An apply"

            def done(ok: bool | None) -> None:
                if ok:
                    self.cancel_scan()
                    self.run_worker(self._save_and_exit(), group="quit")

            self.push_screen(ConfirmScreen(f"{what} is running. Stop it and quit?"), done)
            return
        await self._save_and_exit()

    async def _save_and_exit(self) -> None:
        for _ in range(700):  # a save in flight ends first (SQLite waits up to 30 s on a lock)
            if not self._saving:
                break
            await asyncio.sleep(0.05)
        changes = self.review.take_changes()
        try:
            await asyncio.to_thread(self._save_review, self.review.to_json(), changes)
        except Exception as exc:  # quitting must work even if the catalog is gone
            if (changes[0] or changes[1]) and not self._quit_unsaved:
                self.review.give_back(*changes)
                self._quit_unsaved = True
                self.notify(
                    f"Review decisions could not be saved ({exc}). Press q again to quit "
                    "without them, or wait and try again.",
                    title="Not saved",
                    severity="error",
                    timeout=30,
                )
                return
            self.log.warning(f"could not save review state: {exc}")
        self.exit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, label in (
            ("browse", "Browse folders"),
            ("scan", "Scan progress"),
            ("review", "Review groups"),
            ("apply", "Apply the plan"),
            ("rules", "Keep rules"),
            ("history", "History / undo"),
        ):
            yield SystemCommand(
                f"Go: {label}", f"Switch to the {mode} screen", lambda m=mode: self.action_mode(m)
            )
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            b = active.binding
            if b.description and b.id and b.id not in seen and not b.id.startswith("app.mode"):
                seen.add(b.id)
                key = self.get_key_display(b)
                yield SystemCommand(
                    b.description,
                    f"{key} · {b.id}",
                    lambda a=b.action, node=active.node: self.call_later(node.run_action, a),
                )

    def go_to(self, position: int, member: int) -> None:
        """Palette hit: show group ``position`` (in the current view) with ``member`` selected."""
        self.review.goto_index(position)
        self.review.member = member
        if self.current_mode != "review":
            self.switch_mode("review")
        self.publish("review")

    def _theme_changed(self, name: str) -> None:
        """Remember a theme picked in the palette (written to config.toml in a thread)."""
        if name == self.setting("ui.theme", DEFAULT_THEME) or not self._themes_ready:
            return
        ui = self.settings.setdefault("ui", {})
        if isinstance(ui, dict):
            ui["theme"] = name

        def work() -> None:
            try:
                config.update_config(lambda data: config.set_key(data, "ui.theme", name))
            except Exception as exc:
                self.call_from_thread(self.notify, f"theme not saved: {exc}", severity="warning")

        self.run_worker(work, thread=True, group="save-theme", exclusive=True)

    # -- browse / roots ----------------------------------------------------------------------
    def add_root(self, path: Path) -> None:
        path = path.expanduser().resolve()
        if path not in self.roots:
            self.roots.append(path)
        self.publish("roots")

    def toggle_root(self, path: Path) -> None:
        path = path.expanduser().resolve()
        if path in self.roots:
            self.roots.remove(path)
        else:
            self.roots.append(path)
        self.publish("roots")

    def groups_under(self, folder: str) -> int:
        """Groups with a file under FOLDER (a thread worker calls this: it reads every group,
        a page at a time when the review is paged)."""
        prefix = folder.rstrip(os.sep) + os.sep
        review = self.review
        ids = [g.id for g in review.groups] if review.stored is None else review.stored.all_ids()
        return sum(
            1
            for g in review.iter_view(ids, facts=True)
            if any(m.path.startswith(prefix) for m in g.members)
        )

    # -- scanning ----------------------------------------------------------------------------
    def scan_options(self) -> ScanOptions:
        files: tuple[Path, ...] = ()
        if self.files_from is not None:
            text = self.files_from.read_text(encoding="utf-8", errors="replace")
            files = tuple(Path(line.strip()) for line in text.splitlines() if line.strip())
        similar = bool(self.scan_settings.get("similar"))
        base = self.scan_base
        if base is not None and not files and self.files_from is None:
            files = base.files_from
        ml = base.ml if base is not None else None
        if ml is not None and ml.similar != similar:
            ml = dataclasses.replace(ml, similar=similar)
        elif ml is None and similar:
            ml = MLOptions(similar=True)
        return dataclasses.replace(
            base or ScanOptions(),
            ml=ml,
            roots=tuple(self.roots),
            files_from=files,
            sensitivity=int(self.scan_settings["sensitivity"]),
            same=bool(self.scan_settings["same"]),
            workers=max(1, int(self.scan_settings["workers"])),
            keep_rules=tuple(self.keep_rules),
            reference=tuple(Path(r) for r in self.reference),
            keep_overrides=tuple((Path(k), tuple(v)) for k, v in self.overrides.items()),
        )


def make_app(
    settings: Mapping[str, Any],
    engine: Any,
    *,
    graphics: str | None = None,
    roots: Sequence[Path] = (),
    files_from: Path | None = None,
    themes_dir: Path | None = None,
    image_cls: type[Any] | None = None,
    start_mode: str | None = None,
    browse_start: Path | None = None,
    scan_base: ScanOptions | None = None,
    start_scan: bool = False,
) -> LookalikeApp:
    """The one way to build the app: the CLI passes the real Engine, tests a fake one.

    ``image_cls`` overrides ``graphics`` (snapshot tests pass HalfcellImage/UnicodeImage).
    """
    from lookalike.ui.graphics import image_class, steady_image_class

    if image_cls is not None:
        label = {"HalfcellImage": "halfcell", "UnicodeImage": "unicode"}.get(
            image_cls.__name__, image_cls.__name__
        )
    else:
        mode = graphics or str(config.get_key(dict(settings), "ui.graphics", "auto"))
        image_cls, label = image_class(mode)
    if image_cls is not None:
        image_cls = steady_image_class(image_cls)
    return LookalikeApp(
        settings,
        as_port(engine),
        image_cls=image_cls,
        graphics_label=label,
        roots=roots,
        files_from=files_from,
        themes_dir=themes_dir,
        start_mode=start_mode,
        browse_start=browse_start,
        scan_base=scan_base,
        start_scan=start_scan,
    )
