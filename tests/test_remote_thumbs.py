"""The ``--server`` app's thumbnail cache is bounded (remote_thumbs.py): a real RemotePort on a
real ``lookalike serve`` fetches each thumbnail once, a hit refreshes its use, a trim removes
the least recently used first down to the cap (never one used within the grace, never a
symlink, an odd name or anything outside its folder), a trimmed thumbnail is fetched again,
dead fetches' temporary files go, a dry run removes nothing, the port trims at its start and
every N fetches, and ``lookalike cache prune`` reports it apart."""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from lookalike import config, remote_thumbs  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.ui.remote_port import RemotePort  # noqa: E402
from serve_helpers import Server, counted, make_library  # noqa: E402

DEAD_PID = 2**22 + 12345  # above Linux's pid_max: never a running process


def urls_of(port: RemotePort) -> dict[str, str]:
    """Each stored member's thumbnail URL by key, read as the app reads a page (fetching)."""
    doc = port._call("GET", "/review/groups", offset=0, limit=500)
    urls = [f["thumb_url"] for g in doc["groups"] for f in g["files"] if f.get("thumb_url")]
    return {u.rsplit("/", 1)[-1]: u for u in urls}


def age(files: list[Path], oldest: float = 7200.0) -> None:
    """Make these files' last use old, the first the oldest (a distinct minute each)."""
    now = time.time()
    for i, f in enumerate(files):
        os.utime(f, (now - oldest + 60 * i, now - oldest + 60 * i))


def test_a_real_port_keeps_its_cache_under_the_cap(tmp_path: Path, monkeypatch) -> None:
    lib = make_library(tmp_path)
    server = Server(tmp_path, lib)
    folder = tmp_path / "remote-thumbs"
    try:
        port = RemotePort(server.url, cache=folder)
        asyncio.run(_drain(port.scan(ScanOptions(roots=(lib,), workers=1))))
        asked = counted(port)
        urls = urls_of(port)
        local = {k: Path(port.thumb(u)) for k, u in urls.items()}
        assert len(local) >= 3 and asked == dict.fromkeys(urls, 1)  # each fetched once
        assert {k: Path(port.thumb(u)) for k, u in urls.items()} == local
        assert asked == dict.fromkeys(urls, 1)  # read again: hits, nothing asked
        assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" and p.parent.parent == folder
                   for p in local.values())  # fmt: skip
        keys = sorted(local)
        order = [local[k] for k in keys]
        age(order)
        asked.clear()
        assert port.thumb(urls[keys[0]]) == str(order[0]) and sum(asked.values()) == 0
        assert order[0].stat().st_mtime > time.time() - 60  # the hit refreshed its use
        sizes = {k: local[k].stat().st_size for k in keys}
        cap = sum(sizes.values()) - sizes[keys[1]]  # room for all but one: the oldest used
        out = remote_thumbs.trim(folder, cap, dry_run=True)
        assert out.removed == [1, sizes[keys[1]]] and all(p.exists() for p in order)
        out = remote_thumbs.trim(folder, cap)
        assert out.removed == [1, sizes[keys[1]]] and out.failed == []
        assert not order[1].exists() and all(p.exists() for p in order if p != order[1])
        before = {k: local[k].read_bytes() for k in keys if k != keys[1]}
        assert port.thumb(urls[keys[1]]) == str(order[1]) and asked[keys[1]] == 1  # again
        assert order[1].read_bytes()[:3] == b"\xff\xd8\xff"
        assert {k: local[k].read_bytes() for k in before} == before  # the rest untouched
        _odd_names_temps_and_grace(folder, keys, local)
        _trims_at_start_and_every_fetch(server, folder, urls, monkeypatch)
    finally:
        server.stop()


async def _drain(stream) -> list:
    return [ev async for ev in stream]


def _odd_names_temps_and_grace(folder: Path, keys: list[str], local: dict[str, Path]) -> None:
    """A cap of 0: every known file not used within the grace goes, and nothing else."""
    outside = folder.parent / "outside.jpg"
    outside.write_bytes(local[keys[0]].read_bytes())
    sub = local[keys[0]].parent
    odd = [
        sub / "0123456789abcdef.jpg.bak",
        sub / "notes.txt",
        sub / "0123456789ABCDEF.jpg",  # upper case: not a key of ours
        folder / "0123456789abcdef.jpg",  # not in an <xx> folder
        folder / "zz" / "0123456789abcdef.jpg",
        sub / f"{keys[0]}.jpg.{os.getpid()}-7.tmp",  # a live writer's
    ]
    link = sub / "fedcba9876543210.jpg"
    link.symlink_to(outside)
    top = folder / next(f"{i:02x}" for i in range(256) if not (folder / f"{i:02x}").exists())
    top.symlink_to(folder.parent, target_is_directory=True)  # an <xx> folder: not followed
    dead = sub / f"{keys[0]}.jpg.{DEAD_PID}-3.tmp"
    for p in [*odd, dead]:
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"x" * 100)
    age([*local.values(), *odd, dead, outside])
    os.utime(link, (1, 1), follow_symlinks=False)
    os.utime(local[keys[2]])  # used just now: kept over the cap
    dry = remote_thumbs.trim(folder, 0, dry_run=True)
    assert dry.temps == [1, 100] and dry.recent[0] == 1 and dead.exists()
    out = remote_thumbs.trim(folder, 0)
    assert out.to_json() == {**dry.to_json(), "dry_run": False}
    assert out.removed[0] == len(local) - 1 and out.kept == [0, 0] and not dead.exists()
    assert [p.exists() for p in local.values()] == [k == keys[2] for k in local]
    assert all(p.exists() for p in [*odd, outside]) and link.is_symlink()
    assert top.is_symlink() and outside.read_bytes()[:3] == b"\xff\xd8\xff"
    for p in [*odd, link, top]:
        p.unlink()


def _trims_at_start_and_every_fetch(server, folder: Path, urls, monkeypatch) -> None:
    """With ``ui.remote_thumbs_mb`` 0, a port trims at its start (old files gone) and after a
    fetch (every=1 here); what it just fetched is within the grace and stays."""
    port = RemotePort(server.url, cache=folder)
    for u in urls.values():
        port.thumb(u)  # fetched again: the default cap keeps them all
    port.thumbs.wait()
    assert len(list(folder.glob("??/*.jpg"))) == len(urls)
    config.update_config(lambda d: config.set_key(d, remote_thumbs.CONFIG_KEY, 0))
    age(list(folder.glob("??/*.jpg")))
    monkeypatch.setattr(remote_thumbs, "TRIM_EVERY", 1)
    port = RemotePort(server.url, cache=folder)
    port.thumbs.wait()
    assert port.thumbs.cap == 0 and list(folder.glob("??/*.jpg")) == []
    keys = sorted(urls)
    for k in keys[:2]:
        port.thumb(urls[k])
    port.thumbs.wait()
    age([port.thumbs.path(keys[0], ".jpg")])  # now old: the next fetch's trim removes it
    port.thumb(urls[keys[2]])
    port.thumbs.wait()
    assert sorted(p.stem for p in folder.glob("??/*.jpg")) == keys[1:3]


def _jpeg(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_cache_prune_trims_the_remote_cache_and_reports_it_apart(tmp_path: Path) -> None:
    from lookalike.cli import main

    folder = config.remote_thumbnail_dir()
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    files = []
    for i, arr in enumerate(photos):
        key = f"{i:02x}" + "0" * 13 + "a"
        (folder / key[:2]).mkdir(parents=True, exist_ok=True)
        files.append(folder / key[:2] / f"{key}.jpg")
        files[-1].write_bytes(_jpeg(arr))
    age(files)
    sizes = [f.stat().st_size for f in files]
    run = CliRunner().invoke
    cap_mb = (sum(sizes) - sizes[0] - sizes[1] + 1) / 1e6  # the two oldest must go
    r = run(main, ["cache", "prune", "--remote", "--dry-run", "--remote-mb", str(cap_mb)])
    assert r.exit_code == 0, r.output
    assert f"remote thumbnails {folder}" in r.output
    assert "would remove 2 × least recently used" in r.output and all(f.exists() for f in files)
    config.update_config(lambda d: config.set_key(d, remote_thumbs.CONFIG_KEY, cap_mb))
    r = run(main, ["cache", "prune", "--remote", "--format", "json"])
    out = json.loads(r.output)["remote"]
    assert r.exit_code == 0 and out["removed"] == [2, sizes[0] + sizes[1]] == [2, out["freed"]]
    assert out["kept"] == [2, sizes[2] + sizes[3]] and out["cap"] == int(cap_mb * 1e6)
    assert [f.exists() for f in files] == [False, False, True, True]
    trim_all = ["cache", "prune", "--min-age", "0", "--remote-mb", "0"]
    r = run(main, [*trim_all, "--dry-run"])  # a laptop with no thumbs/: both reported
    assert r.exit_code == 0 and f"cache {config.thumbnail_dir()}\n" in r.output
    assert "would remove 2 × least recently used" in r.output.split("remote thumbnails")[1]
    config.thumbnail_dir().mkdir()
    r = run(main, trim_all)  # a thumbs/ no known catalog uses: refused, a hint
    assert r.exit_code == 3 and "lookalike cache prune --remote" in r.output
    assert all(f.exists() for f in files[2:])  # refused: nothing removed
    r = run(main, [*trim_all, "--remote", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)["remote"]["removed"][0] == 2
    assert not any(f.exists() for f in files)
    config.update_config(lambda d: config.set_key(d, remote_thumbs.CONFIG_KEY, "lots"))
    r = run(main, ["cache", "prune", "--remote"])
    assert r.exit_code == 2 and "ui.remote_thumbs_mb = 'lots'" in r.output


def test_a_thumbnail_used_while_a_trim_runs_stays(tmp_path: Path, monkeypatch) -> None:
    """The port's hit lands after the trim listed the files: the file is looked at again just
    before it would go, and stays; the other old one goes."""
    folder = tmp_path / "remote-thumbs"
    files = []
    for i, arr in enumerate([data.astronaut(), data.coffee()]):
        key = f"{i:02x}" + "1" * 14
        (folder / key[:2]).mkdir(parents=True)
        files.append(folder / key[:2] / f"{key}.jpg")
        files[-1].write_bytes(_jpeg(arr))
    age(files)
    listed = remote_thumbs._entries

    def list_then_hit(where: Path):
        out = listed(where)
        assert remote_thumbs.ThumbCache(folder, None).find(files[0].stem) == files[0]
        return out

    monkeypatch.setattr(remote_thumbs, "_entries", list_then_hit)
    out = remote_thumbs.trim(folder, 0)
    assert out.recent[0] == 1 and out.removed[0] == 1
    assert files[0].exists() and not files[1].exists()


def test_a_port_under_its_cap_lists_nothing_after_a_fetch(tmp_path: Path) -> None:
    """Every N fetches a trim runs only while the folder may be over the cap (its size as of
    the last trim plus the bytes fetched since)."""
    folder = tmp_path / "remote-thumbs"
    cache = remote_thumbs.ThumbCache(folder, 10**9, every=1)
    cache.wait()
    first = cache.last
    assert first is not None and first.kept == [0, 0]
    blob = _jpeg(data.camera())
    cache.store("ab" + "2" * 14, blob, webp=False)
    cache.wait()
    assert cache.last is first  # far under the cap: no trim
    cache.cap = len(blob)  # the next fetch goes over it
    cache.store("cd" + "3" * 14, blob, webp=False)
    cache.wait()
    assert cache.last is not first and cache.last.kept[0] + cache.last.recent[0] == 2


def test_a_file_gone_while_a_trim_lists_the_cache_is_skipped(tmp_path: Path, monkeypatch) -> None:
    """Another app's trim (or a hand) removes a file between the listing and its stat: the
    trim goes on with the rest instead of stopping (a background trim) or failing (prune)."""
    keys = [f"{n:016x}" for n in range(1, 5)]
    for n, key in enumerate(keys):
        p = tmp_path / key[:2] / f"{key}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * 1000)
        os.utime(p, (1_000_000 + n, 1_000_000 + n))  # oldest first: keys[0]
    real_scandir = os.scandir

    class Vanishing:
        def __init__(self, entry) -> None:
            self.entry, self.name, self.path = entry, entry.name, entry.path

        def is_file(self, follow_symlinks: bool = True) -> bool:
            return self.entry.is_file(follow_symlinks=follow_symlinks)

        def is_dir(self, follow_symlinks: bool = True) -> bool:
            return self.entry.is_dir(follow_symlinks=follow_symlinks)

        def stat(self, follow_symlinks: bool = True):
            if self.name.startswith(keys[1]):
                os.unlink(self.path)  # gone between the listing and the stat
                raise FileNotFoundError(self.path)
            return self.entry.stat(follow_symlinks=follow_symlinks)

    class Listing:
        def __init__(self, path) -> None:
            self.it = real_scandir(path)

        def __enter__(self):
            return (Vanishing(e) for e in self.it)

        def __exit__(self, *exc) -> None:
            self.it.close()

    monkeypatch.setattr(remote_thumbs.os, "scandir", Listing)
    out = remote_thumbs.trim(tmp_path, cap=2000, grace=0)
    assert out.failed == []
    assert out.removed == [1, 1000]  # keys[0]: the oldest of the three left, over the cap
    left = sorted(p.stem for p in tmp_path.rglob("*.jpg"))
    assert left == keys[2:]
