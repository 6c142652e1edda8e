"""The app's scan is followed by the thumbnail cache's automatic sweep when one is due
(engine/thumb_sweep.py, through EngineAdapter.sweep_cache, in a thread worker): a real scan of
skimage photos, a member re-saved since the last scan, the last sweep a week and a day ago —
after the app's rescan the old thumbnail is gone, the live ones stay and the app says what was
freed; with ``cache.sweep_days = 0`` nothing is removed."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from skimage import data

from lookalike import config
from lookalike.engine import thumb_pack, thumb_sweep
from lookalike.engine.api import Engine
from lookalike.engine.thumb_refs import tail
from lookalike.ui.app import make_app
from scan_wait import wait_scan_finished
from test_thumb_prune import PHOTOS, _cache_files, _library, _save, _scan
from test_thumb_sweep import _age, _stamp
from test_ui_aspect import wait_for


@pytest.fixture(autouse=True)
def _close_packs():
    yield
    thumb_pack.close_all()


@pytest.mark.parametrize("days", [7, 0])
async def test_the_apps_scan_sweeps_the_cache_when_due(tmp_path, monkeypatch, days) -> None:
    thumbs, db = tmp_path / "thumbs", tmp_path / "a.db"
    lib = _library(tmp_path, "a", {k: PHOTOS[k] for k in ("cat", "cup")})
    _scan(db, thumbs, lib)
    members = [m for g in Engine(db, thumbs).last_groups() for m in g.members]
    dead = {tail(m.thumb) for m in members if Path(m.path).name == "cup-small.jpg"}
    assert len(dead) == 1
    _save(lib, "cup-small.jpg", data.coffee(), half=True, q=75)  # re-saved: a new stat
    _age(thumbs)
    _stamp(thumbs, time=time.time() - 8 * 86_400)
    config.save_config({"cache": {"sweep_days": days, "thumbs_mb": 0 if not days else 2048}})
    done, real = threading.Event(), thumb_sweep.after_scan

    def after_scan(*args, **kw):  # noqa: ANN002, ANN003, ANN202 - the real one's
        try:
            return real(*args, **kw)
        finally:
            done.set()

    monkeypatch.setattr(thumb_sweep, "after_scan", after_scan)
    engine = Engine(db, thumbs)
    app = make_app({"scan": {"workers": 1}}, engine, graphics="none", roots=[lib])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        app.start_scan()
        await wait_scan_finished(pilot, app)
        await wait_for(pilot, done.is_set)  # the sweep's worker has run (or found it off)
        if days:
            assert not _cache_files(thumbs) & dead
            said = lambda: [str(n.message) for n in app._notifications]  # noqa: E731
            await wait_for(pilot, lambda: any("cache swept: removed 1" in m for m in said()))
        else:
            assert dead <= _cache_files(thumbs)
    live = {tail(m.thumb) for g in Engine(db, thumbs).last_groups() for m in g.members}
    assert len(live) == 4 and live <= _cache_files(thumbs)
    stamp = json.loads((thumbs / thumb_sweep.STAMP).read_text())
    assert ("removed" in stamp) == bool(days)
