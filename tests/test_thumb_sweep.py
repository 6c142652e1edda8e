"""The thumbnail cache's automatic sweep after ``lookalike scan`` (engine/thumb_sweep.py) on real
scans of skimage photos: two catalogs share the default cache; in a's library a member is
deleted and another re-saved. A due sweep after a's rescan removes those two old thumbnails
and nothing a or b still names; not due, opted out, locked, or with a catalog missing or
unreadable it removes nothing (a missing one is forgotten after ``MISSING_DAYS``); stdout (the
JSON results) is the same with and without it; the note goes to stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from skimage import data

from lookalike import config
from lookalike.cli import main
from lookalike.engine import thumb_pack, thumb_registry, thumb_sweep
from lookalike.engine.api import Engine
from lookalike.engine.scanlock import ScanLock
from lookalike.engine.thumb_refs import tail
from test_thumb_prune import PHOTOS, _cache_files, _library, _metas, _save, _scan

DAY = 86_400.0


@pytest.fixture(autouse=True)
def _close_packs():
    yield
    thumb_pack.close_all()


def _age(thumbs: Path, seconds: float = 3600) -> None:
    """Every cache file changed ``seconds`` ago: past the prune's 10-minute grace."""
    then = time.time() - seconds
    for p in thumbs.rglob("*"):
        if p.is_file():
            os.utime(p, (then, then))


def _stamp(thumbs: Path, **stamp: object) -> None:
    (thumbs / thumb_sweep.STAMP).write_text(json.dumps(stamp))


def _settings(**keys: float) -> None:
    config.save_config({"cache": keys})


def _cli_scan(db: Path, lib: Path, *extra: str):  # noqa: ANN202 - a click Result
    r = CliRunner().invoke(
        main, ["scan", "--no-ui", "--db", str(db), "--format", "json", "--workers", "2", *extra,
               str(lib)],
    )  # fmt: skip
    thumb_pack.close_all()
    assert r.exit_code == 0, r.output
    return r


def _groups(r) -> dict:  # noqa: ANN001
    doc = json.loads(r.stdout)  # one JSON document: nothing else on stdout
    assert doc["groups"]
    return {k: v for k, v in doc.items() if k != "stats"}  # timings aside


@pytest.fixture()
def shared(tmp_path: Path) -> tuple[Path, Path, Path, Path, set[str]]:
    """a.db and b.db in the default cache, a's library then changed (one member deleted, one
    re-saved); the cache aged past the grace: (thumbs, a, b, a's library, its two dead files)."""
    thumbs = config.thumbnail_dir()
    lib_a = _library(tmp_path, "a", {k: PHOTOS[k] for k in ("cat", "cup", "man")})
    lib_b = _library(tmp_path, "b", {"rocket": PHOTOS["rocket"], "camera": data.camera})
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _scan(a, thumbs, lib_a)
    _scan(b, thumbs, lib_b)
    changed = ("cup-small.jpg", "man-small.jpg")
    members = [m for g in Engine(a, thumbs).last_groups() for m in g.members]
    dead = {tail(m.thumb) for m in members if Path(m.path).name in changed}
    assert len(dead) == 2 and dead <= _cache_files(thumbs)
    (lib_a / "cup-small.jpg").unlink()
    _save(lib_a, "man-small.jpg", data.astronaut(), half=True, q=75)  # re-saved: a new stat
    _age(thumbs)
    return thumbs, a, b, lib_a, dead


def _live(db: Path, thumbs: Path) -> set[str]:
    names = {tail(m["thumb"]) for m in _metas(db)}
    return {n for n in _cache_files(thumbs) if n in names}


def test_a_due_sweep_after_a_scan_removes_only_what_no_catalog_names(shared):
    thumbs, a, b, lib_a, dead = shared
    b_files = _cache_files(thumbs) - dead
    _stamp(thumbs, time=time.time() - 8 * DAY)  # the last sweep a week and a day ago
    kept = _cli_scan(a, lib_a, "--no-cache-sweep")  # opted out: the same scan, nothing swept
    assert dead <= _cache_files(thumbs) and "swept" not in kept.stderr
    assert json.loads((thumbs / thumb_sweep.STAMP).read_text())["time"] < time.time() - 7 * DAY
    _age(thumbs)
    status = CliRunner().invoke(main, ["cache", "status"])
    assert "due: the last sweep was 8 days ago (the next scan sweeps)" in status.stdout
    r = _cli_scan(a, lib_a)
    assert _groups(r) == _groups(kept)  # stdout: the results alone, the same
    files = _cache_files(thumbs)
    assert not files & dead and b_files <= files  # b's and a's live thumbnails stay
    assert _live(b, thumbs) and _live(a, thumbs)
    assert "lookalike: cache swept: removed 2 thumbnail files" in r.stderr
    assert "`lookalike cache prune --dry-run`" in r.stderr
    stamp = json.loads((thumbs / thumb_sweep.STAMP).read_text())
    assert stamp["removed"] == 2 and stamp["time"] > time.time() - 600
    again = _cli_scan(a, lib_a)  # swept now: not due
    assert "swept" not in again.stderr and _cache_files(thumbs) == files
    status = CliRunner().invoke(main, ["cache", "status"])
    assert status.exit_code == 0 and "last sweep" in status.stdout
    assert "removed 2 files" in status.stdout and "cap 2.0 GB, every 7 days" in status.stdout


def test_not_due_or_turned_off_nothing_is_removed(shared, monkeypatch):
    thumbs, a, _, lib_a, dead = shared
    assert not (thumbs / thumb_sweep.STAMP).exists()
    _settings(thumbs_mb=0.01)  # over the cap, but no stamp: the clock starts, nothing swept
    r = _cli_scan(a, lib_a)
    assert dead <= _cache_files(thumbs) and "swept" not in r.stderr
    first = json.loads((thumbs / thumb_sweep.STAMP).read_text())
    assert abs(first["time"] - time.time()) < 600 and first["bytes"] > 10_000
    _settings()
    _stamp(thumbs, time=time.time() - 6 * DAY)  # not a week yet
    _age(thumbs)
    assert "swept" not in _cli_scan(a, lib_a).stderr and dead <= _cache_files(thumbs)
    _stamp(thumbs, time=time.time() - 8 * DAY)
    monkeypatch.setenv("LOOKALIKE_NO_CACHE_SWEEP", "1")
    assert "swept" not in _cli_scan(a, lib_a).stderr and dead <= _cache_files(thumbs)
    monkeypatch.delenv("LOOKALIKE_NO_CACHE_SWEEP")
    _settings(thumbs_mb=0, sweep_days=0)
    assert "swept" not in _cli_scan(a, lib_a).stderr and dead <= _cache_files(thumbs)
    _settings(thumbs_mb=-1)
    assert "cache.thumbs_mb = -1" in _cli_scan(a, lib_a).stderr  # said; the scan still exits 0
    assert dead <= _cache_files(thumbs)


def test_over_the_cap_it_sweeps_and_not_again_until_it_grows(shared):
    thumbs, a, _, lib_a, dead = shared
    _scan(a, thumbs, lib_a)
    _age(thumbs)
    _settings(thumbs_mb=0.01, sweep_days=0)  # 10 kB: the live thumbnails alone are over it
    policy = thumb_sweep.Policy.from_settings()
    assert policy.cap == 10_000 and policy.days == 0
    assert thumb_sweep.due(thumbs, policy, {}, time.time()) is None  # no stamp: never due
    _stamp(thumbs, time=time.time())  # a sweep a minute ago, nothing measured
    stamp = thumb_sweep.read_stamp(thumbs)
    assert thumb_sweep.due(thumbs, policy, stamp, time.time()).startswith("the cache is ≈")
    swept = thumb_sweep.after_scan(thumbs, None)
    assert swept is not None and swept.outcome.removed["file no catalog uses"][0] == 2
    assert not _cache_files(thumbs) & dead
    stamp = thumb_sweep.read_stamp(thumbs)
    assert stamp["bytes"] > policy.cap and stamp["files"] == len(_cache_files(thumbs))
    assert thumb_sweep.due(thumbs, policy, stamp, time.time()) is None  # not grown since
    assert thumb_sweep.after_scan(thumbs, None) is None
    _stamp(thumbs, time="x", files="many", file_bytes=None, bytes=[], blocked=1, tried="y")
    assert thumb_sweep.after_scan(thumbs, None) is None  # a stamp of another shape: a new one
    assert thumb_sweep.read_stamp(thumbs)["bytes"] > policy.cap
    _stamp(thumbs, time=time.time(), files="many", file_bytes=None, bytes=[], missing=[1])
    assert thumb_sweep.due(thumbs, policy, thumb_sweep.read_stamp(thumbs), time.time())
    assert thumb_sweep.after_scan(thumbs, None).outcome.removed == {}  # swept, nothing left


def test_a_held_lock_or_a_running_scan_skips_it(shared):
    thumbs, a, b, lib_a, dead = shared
    _scan(a, thumbs, lib_a)
    _age(thumbs)
    _stamp(thumbs, time=time.time() - 8 * DAY)
    with thumb_registry.CacheLock(thumbs) as lock:  # a scan of some catalog holds it shared
        assert lock.try_acquire(exclusive=False)
        assert thumb_sweep.after_scan(thumbs, None) is None
    with ScanLock(b) as busy:  # a scan of b running (an older lookalike: no cache lock)
        assert busy.try_acquire()
        swept = thumb_sweep.after_scan(thumbs, None)
    assert swept is not None and swept.outcome is None and swept.note() is None
    assert dead <= _cache_files(thumbs)
    assert thumb_sweep.read_stamp(thumbs)["time"] < time.time() - 7 * DAY  # still due
    assert thumb_sweep.after_scan(thumbs, None).outcome.removed


def test_a_missing_catalog_blocks_it_until_forgotten_and_an_unreadable_one_blocks_it(
    shared, monkeypatch
):
    thumbs, a, b, lib_a, dead = shared
    b_files = _live(b, thumbs)
    hidden = b.with_name("b-unplugged.db")
    b.rename(hidden)  # as on a disk not plugged in
    _stamp(thumbs, time=time.time() - 8 * DAY)
    r = _cli_scan(a, lib_a)
    assert f"lookalike: cache not swept: the catalog {b} is missing" in r.stderr
    assert dead <= _cache_files(thumbs) and b_files <= _cache_files(thumbs)
    assert "is missing" not in _cli_scan(a, lib_a).stderr  # said once
    assert "not swept since: the catalog" in CliRunner().invoke(main, ["cache", "status"]).stdout
    later = time.time() + thumb_sweep.MISSING_DAYS * DAY + 60
    _age(thumbs)
    swept = thumb_sweep.after_scan(thumbs, a, now=later)  # missing a month: forgotten
    assert swept.outcome.forgotten == [str(b)] and "forgot 1 catalog(s)" in swept.note()
    assert not _cache_files(thumbs) & (dead | b_files)
    assert [p for _, p in thumb_registry.registered(thumbs)] == [a]

    hidden.rename(b)
    b.write_bytes(b"not a catalog")  # there, but unreadable: what it names is unknown
    thumb_registry.register(thumbs, b)
    _stamp(thumbs, time=0)
    files = _cache_files(thumbs)
    swept = thumb_sweep.after_scan(thumbs, a)
    assert swept.outcome is None and f"cannot read the catalog {b}" in swept.note()
    assert thumb_sweep.after_scan(thumbs, a) is None  # blocked a moment ago: a day's rest
    _stamp(thumbs, time=0)
    real_stat = os.stat

    def denied(path, *args, **kw):  # noqa: ANN001, ANN202 - os.stat's
        if Path(path) == b:  # as a catalog in a folder this user may not enter
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kw)

    monkeypatch.setattr(os, "stat", denied)
    swept = thumb_sweep.after_scan(thumbs, a)
    assert swept.outcome is None and "(Permission denied)" in swept.blocked
    assert _cache_files(thumbs) == files


def test_a_prune_by_hand_forgets_a_missing_catalog_at_once_and_restarts_the_clock(shared):
    thumbs, a, b, _, _ = shared
    b_files = _live(b, thumbs)
    b.rename(b.with_name("gone.db"))
    assert thumb_sweep.after_scan(thumbs, a, now=time.time() + 8 * DAY) is None  # no stamp yet
    _stamp(thumbs, time=time.time() - 8 * DAY)
    assert thumb_sweep.after_scan(thumbs, a).blocked  # the sweep waits for b to come back
    r = CliRunner().invoke(main, ["cache", "prune", "--min-age", "0", "--format", "json"])
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["forgotten"] == [str(b)]
    assert b_files and not _cache_files(thumbs) & b_files
    stamp = thumb_sweep.read_stamp(thumbs)  # the automatic sweep counts from this prune
    assert stamp["due"] == "cache prune" and stamp["time"] > time.time() - 600
    assert "blocked" not in stamp and stamp["removed"] == sum(n for n, _ in out["removed"].values())
    assert thumb_sweep.after_scan(thumbs, a) is None
    assert "due:" not in CliRunner().invoke(main, ["cache", "status"]).stdout


def _feed(fifo: Path, within: float = 30.0) -> bool:
    """Write to ``fifo`` once a reader has it open (True), or give up after ``within`` s."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader yet
            time.sleep(0.05)
            continue
        os.write(fd, b"not a catalog")
        os.close(fd)
        return True
    return False


def test_a_pipe_reader_sees_the_results_end_before_the_sweep(shared, tmp_path):
    """``lookalike scan --no-ui … | jq``: stdout is let go once the results are written, so
    the reader is not kept waiting by a sweep. Here the sweep is held (a registered catalog
    that is a FIFO: reading it waits for a writer) while the reader has already seen the
    whole JSON; a thread feeds the FIFO after 20 s, so a stdout held to the end fails the
    test instead of hanging it."""
    thumbs, a, _, lib_a, _ = shared
    fifo = tmp_path / "held.db"
    os.mkfifo(fifo)
    thumb_registry.register(thumbs, fifo)
    _stamp(thumbs, time=time.time() - 8 * DAY)
    late = threading.Timer(20, _feed, (fifo,))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "scan", "--no-ui", "--db", str(a), "--format",
         "json", "--workers", "1", str(lib_a)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    late.start()
    try:
        doc = json.loads(proc.stdout.read())  # to its end
        assert doc["groups"] and proc.poll() is None  # while the sweep waits on the FIFO
        late.cancel()
        assert _feed(fifo)
        assert proc.wait(timeout=60) == 0
    finally:
        late.cancel()
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read().decode()
    assert f"cache not swept: cannot read the catalog {fifo}" in err and "Exception" not in err
