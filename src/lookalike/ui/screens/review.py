"""Review: walk the groups, pick keepers, mark not-duplicates; decisions persist via the engine."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from lookalike.ui.layout import review_layout
from lookalike.ui.screens.base import ConfirmScreen, PromptScreen
from lookalike.ui.screens.review_loads import ReviewLoads
from lookalike.ui.widgets.details import Details
from lookalike.ui.widgets.grouplist import GroupList, human_bytes
from lookalike.ui.widgets.thumbs import ThumbGrid, uses_lines
from lookalike.ui.widgets.tilegrid import TileClicked, TileGrid


class ThumbsReady(Message):
    """A thread worker decoded the thumbnails of a group (only ever posts; never touches UI)."""

    def __init__(self, group_id: int) -> None:
        super().__init__()
        self.group_id = group_id


class ReviewScreen(ReviewLoads):
    MODE = "review"
    HELP = """
Walk the groups one by one. The left list shows every group (✓ accepted, ✎ changed, ≠ not a
duplicate, ⌫ applied, ! decided but new files joined it since: a accepts the suggestion for them); the middle shows the files of the current group, each titled KEEP or
remove; the suggested keeper and its reason are in the line above and under Details. Space flips
keep/remove of the selected file, c makes it the only keeper, a accepts the suggestion. Nothing is deleted here: decisions are only recorded (and saved, so
you can quit and come back). Press 4 (Apply) to act on the decided groups.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("j,down", "group(1)", "Next group", id="review.next_group"),
        Binding("k,up", "group(-1)", "Prev group", id="review.prev_group"),
        Binding("l,right", "member(1)", "Next file", show=False, id="review.next_file"),
        Binding("h,left", "member(-1)", "Prev file", show=False, id="review.prev_file"),
        Binding("pagedown,ctrl+d", "group(20)", "Page down", show=False, id="review.page_down"),
        Binding("pageup,ctrl+u", "group(-20)", "Page up", show=False, id="review.page_up"),
        Binding("g,home", "first", "First group", show=False, id="review.first"),
        Binding("G,end", "last", "Last group", show=False, id="review.last"),
        Binding("space", "toggle_keep", "Keep/remove", id="review.toggle_keep"),
        Binding("c", "choose", "Choose keeper", id="review.choose_keeper"),
        Binding("a", "accept", "Accept", id="review.accept"),
        Binding("A", "accept_all", "Accept all", show=False, id="review.accept_all"),
        Binding("n", "not_dup", "Not dup", id="review.not_duplicate"),
        Binding("u", "reset", "Undecide", show=False, id="review.reset"),
        Binding(
            "right_square_bracket",
            "next_undecided",
            "Next undecided",
            show=False,
            id="review.next_undecided",
        ),
        Binding("enter,z", "full", "Full view", id="review.full_view"),
        Binding("f", "favourite", "Favourite", show=False, id="review.favourite"),
        Binding("slash", "find", "Find", id="review.find"),
        Binding("t", "tier", "Tier filter", show=False, id="review.tier_filter"),
        Binding("d", "folder", "Folder filter", show=False, id="review.folder_filter"),
        Binding("o", "sort", "Sort", show=False, id="review.sort"),
        Binding("S", "slideshow", "Slideshow", show=False, id="review.slideshow"),
        Binding("i", "details", "Details", show=False, id="review.details"),
        Binding("v", "compare", "Compare", id="review.compare"),
        Binding("asterisk", "select", "Select…", show=False, id="review.select"),
        Binding("U", "undo_select", "Undo select", show=False, id="review.undo_select"),
        Binding("y", "copy_path", "Copy path", show=False, id="review.copy_path"),
        Binding("O", "open_file(False)", "Open", show=False, id="review.open"),
        Binding("R", "open_file(True)", "Reveal folder", show=False, id="review.reveal"),
    ]

    def compose_body(self) -> ComposeResult:
        state = self.lk.review
        # Held here, not looked up on every key (a query walks the DOM).
        self._list = GroupList(state, id="grouplist")
        self._title = Static("", id="group-title")
        self._sub = Static("", id="group-sub")
        self._info = Details(id="details")
        with Horizontal(id="review-body"):
            yield self._list
            with Vertical(id="review-main"):
                yield self._title
                yield self._sub
                yield self._make_grid()
            yield self._info

    def _make_grid(self) -> TileGrid | ThumbGrid:
        """One widget draws the tiles for half-cell pictures and for none; kitty, sixel and
        unicode pictures are textual-image widgets, so those get a card widget per file."""
        cls = self.lk.image_cls
        grid_cls = TileGrid if cls is None or uses_lines(cls) else ThumbGrid
        self._grid = grid_cls(cls, id="thumbgrid")
        return self._grid

    def on_mount(self) -> None:
        super().on_mount()
        self._slideshow = None
        self._grid_due = 0  # redraw counter: a deferred tile paint runs only if still newest
        self._details: bool | None = None  # None: what suits the terminal size; i toggles
        self._layout_panes()
        self.call_after_refresh(self.redraw)

    def on_resize(self) -> None:
        if self._layout_panes():
            self.redraw(list_too=False)

    def _layout_panes(self) -> bool:
        """Size the panes for the terminal (see ui/layout.py); True if the tiles changed."""
        if not self.query("#thumbgrid"):  # a resize can come before the first compose
            return False
        width, height = self.app.size
        lay = review_layout(width, height, self._details)
        self.set_class(lay.compact, "-compact")
        self.query_one(GroupList).styles.width = lay.list_width
        details = self.query_one(Details)
        details.display = lay.details
        details.styles.width = lay.details_width
        grid = self._grid
        changed = grid.set_area(lay.grid_width, lay.grid_height, lay.compact)
        if changed:
            grid.refit(self.lk.thumbs)
        return changed

    def action_details(self) -> None:
        details = self.query_one(Details)
        self._details = not details.display
        self._layout_panes()
        self.redraw(list_too=False)

    def on_screen_resume(self) -> None:
        if self.query("#group-title"):  # a resume can come before the first compose
            self.redraw()

    def on_app_changed(self, what: str) -> None:
        if what in ("groups", "review") and self.is_attached:
            self.redraw()

    # -- drawing -----------------------------------------------------------------------------
    def redraw(self, list_too: bool = True, grid_later: bool = False) -> None:
        """Everything the current group shows; O(members), never O(groups).

        ``grid_later`` (moving between groups): the text — title, list, details — is painted
        first and the tiles right after that frame; when keys come faster than the tiles can
        be painted (a held j), only the group the cursor stops at gets its tiles.
        """
        state = self.lk.review
        g = state.current
        if list_too:
            self._list.refresh_rows()
        keep = state.keep_set(g) if g else frozenset()
        m = state.current_member
        self._info.show(
            g,
            m,
            keep,
            state.status(g) if g else "",
            bool(m and m.path in state.marks),
            bool(m and m.path in state.favourites),
            state.notes.get(m.path, "") if m else "",
        )
        title, sub = self._title, self._sub
        if g is None:
            title.update(self._empty_text(), layout=False)
            sub.update("", layout=False)
        else:
            counts = state.counts()
            filt = f" · tier={state.tier_filter}" if state.tier_filter else ""
            filt += f" · folder~{state.folder_filter}" if state.folder_filter else ""
            kept = [x.path.rsplit("/", 1)[-1] for x in g.members if x.path in keep]
            keeper = kept[0] + (f" +{len(kept) - 1}" if len(kept) > 1 else "") if kept else "-"
            title.update(
                f"Group [b]{state.cursor + 1}[/b]/{len(state.view)} · {g.tier} · "
                f"keep: [$success]{keeper}[/] · decided {counts['decided']} · "
                f"sort {state.sort}{filt}",
                layout=False,
            )
            if self.has_class("-compact"):
                sub.update(self._strip(g, keep, state.member), layout=False)
            else:
                suggested = g.keep.rsplit("/", 1)[-1]
                sub.update(f"[dim]suggested[/] {suggested}: {g.reason}", layout=False)
        self.say(self._status_text())
        self._grid_due += 1
        if grid_later:
            self.call_after_refresh(self._draw_grid, self._grid_due)
        else:
            self._draw_grid(self._grid_due)

    def _draw_grid(self, due: int) -> None:
        """The tiles of the current group (skipped if a newer redraw superseded this one)."""
        if due != self._grid_due or not self.is_attached:
            return
        state = self.lk.review
        g = state.current
        keep = state.keep_set(g) if g else frozenset()
        cache = self.lk.thumbs
        grid = self._grid
        grid.show(g, keep, state.member, cache, state.marks, state.favourites, self.lk.rule_hits)
        if g is not None and self.lk.image_cls is not None:
            box, bg = grid.box, grid.background
            lines = uses_lines(self.lk.image_cls)
            if any(
                m.thumb
                and (
                    cache.fitted(m.thumb, box, bg) is None
                    or (lines and not cache.lines(m.thumb, box, bg))
                )
                for m in g.members
            ):
                self._load_thumbs(g.id, box, bg, grid.plan_for, lines)
            else:
                self._prefetch(grid.plan_for, bg, lines)

    def _empty_text(self) -> str:
        state = self.lk.review
        n = len(state.groups)
        if n and state.folder_filter:
            tier = f"{state.tier_filter} " if state.tier_filter else ""
            also = ", t for another tier" if state.tier_filter else ""
            return (
                f"No {tier}group has a file in a folder containing {state.folder_filter!r} "
                f"({n:,} hidden). Press [b]d[/b] and clear the folder filter{also}."
            )
        if n and state.tier_filter:
            return (
                f"No [b]{state.tier_filter}[/b] groups (the tier filter hides all {n:,}). "
                "Press [b]t[/b] to show another tier."
            )
        return "No groups yet — press [b]1[/b] to pick folders and [b]s[/b] to scan."

    @staticmethod
    def _strip(g: Any, keep: frozenset[str], selected: int) -> str:
        """Every file's keep/remove label on one line (the small layout shows one picture)."""
        parts = []
        for i, m in enumerate(g.members):
            mark = "▶" if i == selected else " "
            label = "[$success b]KEEP[/]" if m.path in keep else "[$error]remove[/]"
            parts.append(f"{mark}{i + 1} {label}")
        return "  ".join(parts)

    def _status_text(self) -> str:
        state = self.lk.review
        c = state.counts()
        n = state.live_more  # a first scan's groups past the first page
        more = f" · {n:,} more found (shown when the scan ends)" if n else ""
        matching = getattr(self.app, "matching", "")  # stored decisions not back yet
        head = f"{matching} · " if matching else ""
        return (
            f"{head}{c['shown']} groups shown · {c['decided']} decided · {c['not-dup']} not"
            f" duplicates · {len(state.marks)} marked · {len(state.favourites)} favourites{more}"
        )

    @work(thread=True, exclusive=True, group="thumbs")
    def _load_thumbs(
        self,
        group_id: int,
        box: tuple[int, int],
        bg: tuple[int, int, int],
        plan_for: Any,
        lines: bool,
    ) -> None:
        """Decode and letterbox this group's thumbnails (and draw them as half-cell lines),
        then the neighbours', off the event loop."""
        g = self.lk.review.by_id.get(group_id)
        if g is None:
            return
        for m in g.members:
            self.lk.thumbs.load_fitted(m.thumb, box, bg, lines)
        self.post_message(ThumbsReady(group_id))
        self._prefetch_now(plan_for, bg, lines)

    @work(thread=True, exclusive=True, group="prefetch")
    def _prefetch(self, plan_for: Any, bg: tuple[int, int, int], lines: bool) -> None:
        self._prefetch_now(plan_for, bg, lines)

    def _prefetch_now(self, plan_for: Any, bg: tuple[int, int, int], lines: bool = False) -> None:
        """Letterbox the neighbours' thumbnails for the tiles they will get (``plan_for``),
        and decode the next page of a paged review when the cursor nears its page's end."""
        state = self.lk.review
        try:
            state.prefetch()
        except LookupError:  # the stored review changed: the reload that follows reads it
            return
        pos = state.cursor
        for near in (pos + 1, pos + 2, pos - 1):
            if 0 <= near < len(state.view):
                members = state.by_id[state.view[near]].members
                box = plan_for(len(members))
                for m in members:
                    self.lk.thumbs.load_fitted(m.thumb, box, bg, lines)

    def on_thumbs_ready(self, message: ThumbsReady) -> None:
        g = self.lk.review.current
        if g is not None and g.id == message.group_id:
            self._grid.set_images(self.lk.thumbs)

    def on_tile_clicked(self, message: TileClicked) -> None:
        """A click on a tile selects that file, as l/h would."""
        if self.lk.review.move_member(message.index - self.lk.review.member):
            self.redraw(list_too=False)

    # -- actions -----------------------------------------------------------------------------
    def _changed(self, list_too: bool = True) -> None:
        for paths in self.lk.review.take_released():  # no longer "not a duplicate"
            self.lk.forget_not_duplicate(paths)
        self.lk.schedule_save()
        self.redraw(list_too)

    def _moved(self, old: int) -> None:
        """The cursor went to another group: the list repaints two lines, not all of them."""
        self._list.cursor_moved(old)
        self.redraw(list_too=False, grid_later=True)

    def action_member(self, delta: int) -> None:
        if self.lk.review.move_member(delta):
            self.redraw(list_too=False)

    def _decided(self) -> None:
        """A decision in the current group: of the list only its line changes (its mark)."""
        self._list.refresh_lines(self.lk.review.cursor)
        self._changed(list_too=False)

    def action_toggle_keep(self) -> None:
        error = self.lk.review.toggle_keep()
        if error:
            self.notify(error, severity="warning")
        self._decided()

    def action_choose(self) -> None:
        self.lk.review.set_keeper()
        self._decided()

    def action_accept(self) -> None:
        self.lk.review.accept()
        self.lk.review.next_undecided()
        self._changed()

    def action_accept_all(self) -> None:
        n = sum(1 for gid in self.lk.review.view if gid not in self.lk.review.decisions)

        def done(ok: bool | None) -> None:
            if ok:
                count = self.lk.review.accept_all_remaining()
                self.notify(f"Accepted the suggestion for {count} groups")
                self._changed()

        self.app.push_screen(
            ConfirmScreen(f"Accept the suggested keeper for all {n} undecided groups shown?"), done
        )

    def action_not_dup(self) -> None:
        paths = self.lk.review.not_duplicate()
        if paths:
            self.lk.remember_not_duplicate(paths)
            self.notify("Marked as not duplicates; later scans will keep them apart")
            self.lk.review.next_undecided()
        self._changed()

    def action_reset(self) -> None:
        self.lk.review.reset()
        self._decided()

    def action_next_undecided(self) -> None:
        old = self.lk.review.cursor
        self.lk.review.next_undecided()
        self._moved(old)

    def refresh_meta(self) -> None:
        if self.query("#group-title"):  # the catalog's marks can arrive before the compose
            self._changed(list_too=False)

    def action_favourite(self) -> None:
        member = self.lk.review.current_member
        on = self.lk.review.toggle_favourite()
        if member is not None:
            self.lk.set_favourite(member.path, on)
        self._changed(list_too=False)

    def action_find(self) -> None:
        def done(query: str | None) -> None:
            if query and not self.lk.review.find(query):
                self.notify(f"Nothing matches {query!r}", severity="warning")
            self._changed()

        self.app.push_screen(PromptScreen("Go to: file name part, or #index", "", "IMG_0042"), done)

    def action_full(self) -> None:
        from lookalike.ui.screens.fullview import FullView

        if self.lk.review.current_member is None:
            return
        if not self.app.is_screen_installed("fullview"):  # one instance: Enter only repaints
            self.app.install_screen(FullView(), "fullview")
        self.app.push_screen("fullview")  # coming back repaints once, in on_screen_resume

    def action_select(self) -> None:
        from lookalike.ui import select
        from lookalike.ui.screens.select import SelectScreen

        def done(selection: select.Selection | None) -> None:
            if selection is None:
                return
            self.lk.selections.apply(self.lk.review, selection)
            self.notify(
                f"Selected {selection.files:,} files ({human_bytes(selection.bytes)}) to remove "
                f"in {selection.groups:,} groups · U undoes"
            )
            self._changed()

        self.app.push_screen(SelectScreen(), done)

    def action_undo_select(self) -> None:
        n = self.lk.selections.undo_last(self.lk.review)
        if n is None:
            self.notify("No selection to undo", severity="warning")
            return
        self.notify(f"Selection undone in {n:,} groups")
        self._changed()

    def action_compare(self) -> None:
        from lookalike.ui.screens.compare import CompareScreen

        g = self.lk.review.current
        if g is None or len(g.members) < 2:
            self.notify("Nothing to compare here", severity="warning")
            return
        self.app.push_screen(CompareScreen())  # on_screen_resume repaints on the way back

    def action_slideshow(self) -> None:
        if self._slideshow is not None:
            self._slideshow.stop()
            self._slideshow = None
            self.notify("Slideshow stopped")
            return
        seconds = float(self.lk.setting("ui.slideshow_seconds", 2.0))
        self._slideshow = self.set_interval(seconds, self._slide)
        self.notify(f"Slideshow every {seconds:g} s; S stops it")

    def _slide(self) -> None:
        state = self.lk.review
        if not state.move_member(1) and not state.move(1):
            self.action_slideshow()
            return
        self.redraw()
