"""A ``lookalike serve`` job's scan is followed by the thumbnail cache's automatic sweep when one
is due (serve/jobs.py → engine/thumb_sweep.py, off the event loop, after the job is done): real
photos, a member re-saved since the last scan, the last sweep a week and a day ago — after the
job the old thumbnail is gone, the live ones stay, the server's log says so."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from lookalike.engine import thumb_pack  # noqa: E402
from lookalike.engine.api import Engine  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.engine.thumb_refs import tail  # noqa: E402
from lookalike.serve.app import make_app  # noqa: E402
from serve_helpers import make_library  # noqa: E402
from test_serve_api import LOCAL, run_job, settings  # noqa: E402
from test_thumb_prune import _cache_files  # noqa: E402
from test_thumb_sweep import _age, _stamp  # noqa: E402


def test_a_done_job_sweeps_the_cache_when_due(tmp_path: Path, capsys) -> None:
    lib = make_library(tmp_path)
    thumbs, db = tmp_path / "thumbs", tmp_path / "cat.db"
    list(Engine(db, thumbs).scan_sync(ScanOptions(roots=(lib,), workers=1)))
    thumb_pack.close_all()
    members = [m for g in Engine(db, thumbs).last_groups() for m in g.members]
    dead = {tail(m.thumb) for m in members if Path(m.path).name == "cup-small.jpg"}
    assert len(dead) == 1
    Image.open(lib / "cup.jpg").resize((200, 150)).save(lib / "cup-small.jpg", quality=70)
    _age(thumbs)
    _stamp(thumbs, time=time.time() - 8 * 86_400)
    with TestClient(make_app(settings(tmp_path, lib)), base_url=LOCAL) as client:
        job, _ = run_job(client, {"paths": [str(lib)]})
        assert client.get(f"/jobs/{job}").json()["state"] == "done"
        end = time.monotonic() + 30
        while _cache_files(thumbs) & dead and time.monotonic() < end:
            time.sleep(0.05)
    thumb_pack.close_all()
    assert not _cache_files(thumbs) & dead
    live = {tail(m.thumb) for g in Engine(db, thumbs).last_groups() for m in g.members}
    assert len(live) >= 3 and live <= _cache_files(thumbs)  # the exact copies may share one
    assert "lookalike: cache swept: removed 1 thumbnail files" in capsys.readouterr().err
