"""Browse: pick folders (or a file list) and scan options, see what is known of a folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DirectoryTree, OptionList, Static
from textual.widgets.option_list import Option

from lookalike.ui.screens.base import PromptScreen
from lookalike.ui.screens.browse_meta import BrowseMetaKeys
from lookalike.ui.widgets.grouplist import human_bytes
from lookalike.ui.widgets.marktree import MarkedTree


class DirCounted(Message):
    def __init__(self, path: str, files: int, dirs: int, groups: int) -> None:
        super().__init__()
        self.path, self.files, self.dirs, self.groups = path, files, dirs, groups


class FileShown(Message):
    """The highlighted entry is a file: its size (read off the event loop)."""

    def __init__(self, path: str, size: int) -> None:
        super().__init__()
        self.path, self.size = path, size


class BrowseScreen(BrowseMetaKeys):
    MODE = "browse"
    HELP = """
Choose what to scan. Move in the folder tree, press a to add the highlighted folder to the roots
(d drops it again), or f to use a file that lists paths (one per line). Recent folders are in the
list under the roots: Tab moves there, Enter adds one. [ and ] change the sensitivity, t turns
the same-photo tier off (exact copies only), e turns on the look-alike tier (an embedding model;
slow on a CPU). s starts the scan and shows its progress (2). i shows the raw metadata of the
highlighted file, N gives the highlighted folder (or file) a note, F lists the favourites.
In the tree, ● marks a marked file, ★ a favourite, ✎ a file or folder with a note.
"""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("a", "add_root", "Add folder", id="browse.add_root"),
        Binding("d", "drop_root", "Drop folder", id="browse.drop_root"),
        Binding("s", "scan", "Start scan", id="browse.scan"),
        Binding("f", "files_from", "File list", id="browse.files_from"),
        Binding(
            "left_square_bracket",
            "sensitivity(-5)",
            "Less strict",
            show=False,
            id="browse.sensitivity_down",
        ),
        Binding(
            "right_square_bracket",
            "sensitivity(5)",
            "Stricter",
            show=False,
            id="browse.sensitivity_up",
        ),
        Binding("t", "toggle_same", "Same-photo tier", show=False, id="browse.toggle_same"),
        Binding("e", "toggle_similar", "Look-alike tier", show=False, id="browse.toggle_similar"),
        Binding("j", "tree('cursor_down')", "Down", show=False, id="browse.down"),
        Binding("k", "tree('cursor_up')", "Up", show=False, id="browse.up"),
        Binding("l", "tree('toggle_node')", "Open", show=False, id="browse.open"),
        Binding("h", "tree('cursor_parent')", "Parent", show=False, id="browse.parent"),
    ]

    def compose_body(self) -> ComposeResult:
        start = self.lk.browse_start
        with Horizontal(id="browse-body"):
            yield MarkedTree(str(start), id="tree")
            with Vertical(id="browse-side"):
                yield Static("", id="roots")
                yield Static("[b]Recent folders[/b] (Tab, Enter adds)", classes="side-title")
                yield OptionList(id="recent")
                yield Static("", id="dirinfo")
                yield Static("", id="options")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(DirectoryTree).show_root = True
        self.refresh_side()
        self.query_one(DirectoryTree).focus()
        # What is known of the starting folder shows at once, not only once the cursor moves.
        self._info_path = str(self.lk.browse_start)
        self._count(self._info_path)

    def on_screen_resume(self) -> None:
        self.refresh_side()
        self._load_notes()  # marks/favourites/notes set in Review meanwhile

    def on_app_changed(self, what: str) -> None:
        if what in ("roots", "groups", "recent") and self.is_attached:
            self.refresh_side()
            if what in ("groups", "recent"):  # a scan finished or results loaded: recount
                self._count(self._info_path)

    def refresh_side(self) -> None:
        lk = self.lk
        roots = "\n".join(f"  • {r}" for r in lk.roots) or "  (none yet: press a on a folder)"
        if lk.files_from:
            roots += f"\n  file list: {lk.files_from}"
        self.query_one("#roots", Static).update(f"[b]Roots to scan[/b]\n{roots}")
        recent = self.query_one("#recent", OptionList)
        recent.clear_options()
        recent.add_options([Option(p, id=p) for p in lk.recent[:10]])
        o = lk.scan_settings
        self.query_one("#options", Static).update(
            f"[b]Options[/b]  sensitivity {o['sensitivity']} ([ ]) · same-photo tier "
            f"{'on' if o['same'] else 'off'} (t) · look-alike tier (embeddings) "
            f"{'on' if o.get('similar') else 'off'} (e) · workers {o['workers']}"
        )
        self.say(f"{len(lk.roots)} root(s) chosen · s starts the scan")

    def _highlighted(self) -> Path | None:
        tree = self.query_one(DirectoryTree)
        node = tree.cursor_node
        if node is None or node.data is None:
            return None
        path = Path(node.data.path)
        return path if path.is_dir() else path.parent

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self._info_path = str(event.path)
        self._count(self._info_path)

    def on_tree_node_highlighted(self, event: DirectoryTree.NodeHighlighted) -> None:  # type: ignore[name-defined]
        data = getattr(event.node, "data", None)
        if data is not None and getattr(data, "path", None) is not None:
            self._info_path = str(data.path)
            self._count(self._info_path)

    @work(thread=True, exclusive=True, group="dircount")
    def _count(self, path: str) -> None:
        files = dirs = 0
        try:
            st = os.stat(path)
        except OSError:
            return
        if not os.path.isdir(path):
            self.post_message(FileShown(path, st.st_size))
            return
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            dirs += 1
                        elif entry.is_file(follow_symlinks=False):
                            files += 1
                    except OSError:
                        continue
        except OSError:
            return
        groups = self.lk.groups_under(path)  # O(all files): here, not on the event loop
        self.post_message(DirCounted(path, files, dirs, groups))

    def on_dir_counted(self, message: DirCounted) -> None:
        groups = message.groups
        last = self._last_scan(message.path)
        self.query_one("#dirinfo", Static).update(
            f"[b]{message.path}[/b]\n  {message.files:,} files, {message.dirs:,} folders here"
            f"\n  last scan: {last} · groups with files here: {groups:,}"
            + self.note_line(message.path)
        )

    def on_file_shown(self, message: FileShown) -> None:
        self.query_one("#dirinfo", Static).update(
            f"[b]{message.path}[/b]\n  {human_bytes(message.size)}" + self.note_line(message.path)
        )

    def notes_changed(self) -> None:
        self._count(self._info_path)

    def _last_scan(self, path: str) -> str:
        """When this folder, or the scanned folder that holds it, was last scanned."""
        best = ""
        for root in self.lk.dir_info:
            if (path == root or path.startswith(root.rstrip(os.sep) + os.sep)) and len(root) > len(
                best
            ):
                best = root
        if not best:
            return "never"
        stamp = str(self.lk.dir_info[best].get("last_scan", "never"))
        return stamp if best == path else f"{stamp} (with {best})"

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.lk.toggle_root(Path(event.option.id))

    def action_tree(self, action: str) -> None:
        tree = self.query_one(DirectoryTree)
        if action == "cursor_parent":
            node = tree.cursor_node
            if node is not None and node.parent is not None:
                tree.move_cursor(node.parent)
            return
        getattr(tree, f"action_{action}")()

    def action_add_root(self) -> None:
        path = self._highlighted()
        if path is not None:
            self.lk.add_root(path)

    def action_drop_root(self) -> None:
        path = self._highlighted()
        if path is not None and path.resolve() in self.lk.roots:
            self.lk.toggle_root(path)
        elif self.lk.roots:
            self.lk.toggle_root(self.lk.roots[-1])

    def action_sensitivity(self, delta: int) -> None:
        o = self.lk.scan_settings
        o["sensitivity"] = max(0, min(100, o["sensitivity"] + delta))
        self.refresh_side()

    def action_toggle_same(self) -> None:
        o = self.lk.scan_settings
        o["same"] = not o["same"]
        self.refresh_side()

    def action_toggle_similar(self) -> None:
        o = self.lk.scan_settings
        o["similar"] = not o.get("similar")
        self.refresh_side()

    def action_files_from(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            p = Path(text.strip()).expanduser() if text.strip() else None
            if p is not None and not p.is_file():
                self.notify(f"{p} is not a file", severity="error")
                return
            self.lk.use_files_from(p)
            self.refresh_side()

        self.app.push_screen(PromptScreen("File with one path per line (empty = none):"), done)

    def action_scan(self) -> None:
        if not self.lk.roots and not self.lk.files_from:
            path = self._highlighted()
            if path is None:
                self.notify("Pick a folder first (a adds it)", severity="warning")
                return
            self.lk.add_root(path)
        self.lk.start_scan()
