"""A first scan in the app holds only a page of its groups (issue 13): the real engine scans
real photos; while it runs the review shows the first ``LIVE_HELD`` groups found and counts
the rest, and when the scan ends the review reads the stored review a page at a time. The
engine's reload read is held at a gate so the test sees what the app holds in between."""

from __future__ import annotations

import gc
import shutil
import threading
from pathlib import Path

import pytest

from lookalike.engine.api import Engine
from lookalike.engine.records import Group
from lookalike.ui import state as state_mod
from lookalike.ui.app import make_app
from lookalike.ui.screens.review import ReviewScreen
from scan_wait import wait_scan_finished
from test_ui_aspect import wait_for

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


class GatedEngine(Engine):
    """The real engine; once ``hold`` is set, its view reads wait for ``gate`` (off the loop)."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.hold, self.gate, self.waiting = threading.Event(), threading.Event(), threading.Event()

    def group_columns(self, *a, **kw):
        if self.hold.is_set() and threading.current_thread() is not threading.main_thread():
            self.waiting.set()
            if not self.gate.wait(30):
                raise TimeoutError("the test never opened the gate")
        return super().group_columns(*a, **kw)


def held_groups(root: Path) -> int:
    """Group objects alive in this process with a member under ``root``."""
    gc.collect()
    prefix = str(root)
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, Group) and o.members and o.members[0].path.startswith(prefix)
    )


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Five real photos, each with a byte copy: five exact groups, no other pair."""
    from PIL import Image
    from skimage import data

    lib = tmp_path / "photos"
    lib.mkdir()
    for name in PHOTOS:
        Image.fromarray(getattr(data, name)()).convert("RGB").save(lib / f"{name}.jpg", quality=90)
        shutil.copyfile(lib / f"{name}.jpg", lib / f"{name}-copy.jpg")
    return lib


async def test_a_first_scan_holds_a_page_not_every_group(library, tmp_path, monkeypatch) -> None:
    for var in ("LOOKALIKE_CONFIG_DIR", "LOOKALIKE_CACHE_DIR", "LOOKALIKE_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setattr(state_mod, "LIVE_HELD", 2)  # a page of 200 stands for 2 here
    engine = GatedEngine(tmp_path / "catalog.sqlite", tmp_path / "thumbs")
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", roots=[library])
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)  # the start-up read of the (empty) catalog
            engine.hold.set()
            app.start_scan()
            await wait_scan_finished(pilot, app)
            await wait_for(pilot, engine.waiting.is_set)  # the reload waits at the gate
            review = app.review
            assert app.scan_model.groups == len(PHOTOS)
            assert len(review.groups) == 2 and review.live_more == len(PHOTOS) - 2
            assert held_groups(library) == 2  # the other three were never kept
            engine.gate.set()
            await wait_for(pilot, lambda: review.stored is not None)
            await wait_for(pilot, lambda: isinstance(app.screen, ReviewScreen))
            assert review.live_more == 0 and len(review.view) == len(PHOTOS)
            assert "more found" not in app.screen._status_text()
            want = engine.last_groups()
            assert [review.by_id[gid] for gid in review.view] == want
            assert {frozenset(m.path for m in g.members) for g in want} == {
                frozenset({str(library / f"{n}.jpg"), str(library / f"{n}-copy.jpg")})
                for n in PHOTOS
            }
    finally:
        engine.gate.set()
