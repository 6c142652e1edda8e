"""``--executor ray``: the scan's decode + features, and with ``--model`` its embeddings, as
a Ray Data pipeline (engine/ray_pool.py, engine/ray_embed.py).

On real photos: a local Ray (``ray.init(num_cpus=2)``, one per module) gives the same groups
as the local process pool, and with ``--model`` the same vectors, made by a Ray Data actor
(the driver loads no model); a worker killed mid-batch loses no file (Ray re-runs its batch,
not the driver); a stopped scan resumes from the catalog; without Ray the CLI says how to
install it. Ray tests skip cleanly when the ``ray`` extra is absent.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.catalog import Catalog, str_path
from lookalike.engine.events import ItemError, Notice, ScanFinished
from lookalike.engine.options import MLOptions
from lookalike.engine.ray_pool import INSTALL_HINT, RayPool, map_path, parse_remote_root

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]
TRANSFORMS = ["exact_copy", "jpeg_q30", "scale_25", "to_png", "rot90", "mirror", "border"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from corpus import make_corpus

    out = tmp_path_factory.mktemp("ray_corpus")
    make_corpus(out, photos=PHOTOS, transforms=TRANSFORMS, seed=5)
    return out / "images"


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _scan(root: Path, db: Path, **kw) -> tuple[ScanFinished, list[ItemError]]:
    fin, events = _scan_events(root, db, **kw)
    return fin, [e for e in events if isinstance(e, ItemError)]


def _scan_events(root: Path, db: Path, **kw) -> tuple[ScanFinished, list]:
    opts = ScanOptions(roots=(root,), thumbnails=False, **kw)
    events = list(Engine(db, db.parent / "thumbs").scan_sync(opts))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return fin, events


def _vectors(db: Path) -> dict[str, np.ndarray]:
    """The stored embedding of every file, by path."""
    cat = Catalog(db)
    try:
        rows = cat.db.execute(
            "SELECT f.path, d.data FROM features d JOIN files f ON f.id = d.file_id "
            "WHERE d.name LIKE 'emb:%'"
        ).fetchall()
    finally:
        cat.close()
    return {str_path(p): np.frombuffer(v, np.float16).astype(np.float32) for p, v in rows}


def _groups(fin: ScanFinished) -> list[tuple]:
    return sorted((g.tier, g.keep, tuple(sorted(m.path for m in g.members))) for g in fin.groups)


def test_ray_scan_gives_the_local_pools_groups(corpus, ray_local, tmp_path) -> None:
    local, local_errs = _scan(corpus, tmp_path / "a" / "cat.db", workers=2)
    ray, events = _scan_events(corpus, tmp_path / "b" / "cat.db", workers=2, executor="ray")
    ray_errs = [e for e in events if isinstance(e, ItemError)]
    said = [e.message for e in events if isinstance(e, Notice)]
    assert not [m for m in said if "Ray pipeline failed" in m]  # Ray Data did the work
    assert local.stats.images_decoded == ray.stats.images_decoded > 0
    assert len(local.groups) >= len(PHOTOS)  # the copies do group
    assert _groups(ray) == _groups(local)
    assert [e.error.path for e in ray_errs] == [e.error.path for e in local_errs] == []


def test_ray_workers_write_thumbnail_files_not_packs(corpus, ray_local, tmp_path) -> None:
    """A node may not share the thumbnail cache, and a pack a remote worker holds open need not
    be readable by the driver before it is closed: Ray's workers write a file a thumbnail
    (stages/extract_worker.PACK_THUMBS), and every member's is there."""
    opts = ScanOptions(roots=(corpus,), workers=2, executor="ray")
    events = list(Engine(tmp_path / "cat.db", tmp_path / "thumbs").scan_sync(opts))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    said = [e.message for e in events if isinstance(e, Notice)]
    assert not [m for m in said if "Ray pipeline failed" in m]  # Ray's workers did the work
    assert not (tmp_path / "thumbs" / "packs").exists()
    files = list((tmp_path / "thumbs").glob("??/*.jpg"))
    assert len(files) == fin.stats.images_decoded > 0  # a file a photo, in groups or not
    assert all(os.path.isfile(m.thumb) for g in fin.groups for m in g.members)


def test_model_vectors_come_from_a_ray_actor_and_match_the_local_ones(
    corpus, ray_local, tmp_path
) -> None:
    """--model on Ray: the Ray Data actor embeds (the driver loads no model), the vectors
    equal the local path's within float16 rounding, and the groups (similar tier too) match."""
    ml = MLOptions(model="effnet-lite0", similar=True, quality=False)
    local, local_ev = _scan_events(corpus, tmp_path / "a" / "cat.db", workers=2, ml=ml)
    ray, ray_ev = _scan_events(corpus, tmp_path / "b" / "cat.db", workers=2, ml=ml, executor="ray")
    said = [e.message for e in ray_ev if isinstance(e, Notice)]
    assert "embedding model effnet-lite0 on cpu (Ray actors)" in said
    assert not [m for m in said if "loaded in" in m]  # the driver never loaded the model
    a, b = _vectors(tmp_path / "a" / "cat.db"), _vectors(tmp_path / "b" / "cat.db")
    n_images = sum(1 for p in corpus.rglob("*") if p.is_file())
    assert sorted(a) == sorted(b) and len(a) >= len(PHOTOS) * 2  # every representative
    for path, va in a.items():
        assert np.allclose(va, b[path], atol=2e-3), path
    assert _groups(ray) == _groups(local)
    assert len(PHOTOS) <= len(local.groups) <= n_images  # the copies do group


def _die_once(marker: str, real, task):
    """Decodes, except the second task a worker runs before ``marker`` exists: that one kills
    its worker process mid-batch (as the OOM killer or a lost node would)."""
    started = marker + ".started"
    if os.path.exists(started) and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    Path(started).touch()
    return real(task)


def test_a_worker_killed_mid_batch_loses_no_file(corpus, ray_local, tmp_path, monkeypatch):
    from lookalike.engine.stages import extract

    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = str(tmp_path / "died")
    monkeypatch.setattr(extract, "extract_task", partial(_die_once, marker, extract.extract_task))
    fin, errs = _scan(corpus, tmp_path / "cat.db", workers=2, executor="ray")
    assert os.path.exists(marker), "no worker was killed: the test did not test anything"
    n_images = sum(1 for p in corpus.rglob("*") if p.is_file())
    assert fin.stats.images_decoded > 0 and not errs
    # every file has its features: a rescan decodes nothing
    again, _ = _scan(corpus, tmp_path / "cat.db", workers=1)
    assert again.stats.images_decoded == 0
    assert sum(len(g.members) for g in again.groups) <= n_images
    assert _groups(again) == _groups(fin)


def _die_first(marker: str, x: int) -> int:
    """Doubles ``x``; the first call anywhere kills its worker process instead."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return 2 * x


def test_ray_re_runs_a_lost_workers_batch_not_the_driver(ray_local, tmp_path) -> None:
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = str(tmp_path / "died")
    pool = RayPool("ray", 2)
    out = sorted(pool.map(partial(_die_first, marker), list(range(40)), lambda: False))
    assert os.path.exists(marker), "no worker was killed: the test did not test anything"
    assert out == [2 * x for x in range(40)]
    assert pool.driver_runs == 0  # Ray Data re-ran the batch on a worker
    pool.close()  # Ray was started by the fixture: it stays up for the next tests
    assert ray_local.is_initialized()


def _die_on_workers(driver: int, x: int) -> int:
    """Doubles ``x``; on a Ray worker, 3 kills its process every time (a poison file)."""
    if x == 3 and os.getpid() != driver:
        os._exit(1)
    return 2 * x


def test_a_batch_that_keeps_killing_workers_ends_on_the_driver(ray_local) -> None:
    """Bounded retries: the pipeline gives up on that batch (not Ray Data's forever), the
    driver does what did not come back, and the pool says why (the scan's warning)."""
    ray_local.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    pool = RayPool("ray", 2)
    out = list(pool.map(partial(_die_on_workers, os.getpid()), list(range(24)), lambda: False))
    assert sorted(out) == [2 * x for x in range(24)]  # every task once: nothing lost or doubled
    # results of other batches still queued when the pipeline failed are run again here
    assert pool.failure and "WorkerCrashedError" in pool.failure and pool.driver_runs >= 1


def test_a_stopped_ray_scan_resumes_from_the_catalog(corpus, ray_local, tmp_path) -> None:
    """The driver stops after the first decoded file (as a killed driver would, minus the
    kill): what was committed stays, the next scan decodes only the rest, same groups."""
    import threading

    from lookalike.engine.events import StageProgress

    db = tmp_path / "cat.db"
    cancel = threading.Event()
    opts = ScanOptions(roots=(corpus,), thumbnails=False, workers=2, executor="ray")
    for ev in Engine(db, tmp_path / "thumbs").scan_sync(opts, cancel):
        if isinstance(ev, StageProgress) and ev.stage == "extract" and ev.done:
            cancel.set()
        last = ev
    assert isinstance(last, ScanFinished) and last.cancelled
    first = last.stats.images_decoded
    rest, errs = _scan(corpus, db, workers=2, executor="ray")
    local, _ = _scan(corpus, tmp_path / "local" / "cat.db", workers=2)
    assert 0 < first < local.stats.images_decoded
    assert first + rest.stats.images_decoded == local.stats.images_decoded and not errs
    assert _groups(rest) == _groups(local)


def test_executor_ray_without_the_extra_says_how_to_install(tmp_path, monkeypatch) -> None:
    from lookalike.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    res = CliRunner().invoke(main, ["scan", "--no-ui", "--executor", "ray", str(tmp_path)])
    assert res.exit_code == 2
    assert INSTALL_HINT in res.output and "needs Ray" in res.output


def test_remote_root_maps_paths_for_the_workers(tmp_path) -> None:
    local, remote = parse_remote_root(f"{tmp_path}/photos/=/data/photos")
    assert (local, remote) == (f"{tmp_path}/photos", "/data/photos")
    roots = [(local, remote), (f"{tmp_path}/photos/raw", "/raw")]
    assert map_path(f"{tmp_path}/photos/a/b.jpg", roots) == "/data/photos/a/b.jpg"
    assert map_path(f"{tmp_path}/photos/raw/c.dng", roots) == "/raw/c.dng"  # longest prefix
    assert map_path(f"{tmp_path}/photos-2/d.jpg", roots) == f"{tmp_path}/photos-2/d.jpg"
    pool = RayPool("ray", 1, roots)
    assert pool._mapped((1, f"{tmp_path}/photos/x.jpg", None, 5)) == (
        1,
        "/data/photos/x.jpg",
        None,
        5,
    )
    with pytest.raises(ValueError, match="LOCAL=REMOTE"):
        parse_remote_root("/only/local")


def test_video_frames_are_embedded_by_the_ray_actor(ray_local, tmp_path) -> None:
    """Videos go through the same pipeline: their frames are embedded by the actor (the
    driver loads no model), and the crop the frame hashes miss is found, as locally
    (tests/test_video_embed.py)."""
    pytest.importorskip("av")
    from video_helpers import DATA, variant

    d = tmp_path / "videos"
    d.mkdir()
    base = variant(DATA / "bigbuckbunny.mp4", d / "bunny.mp4", scale=0.5)
    variant(base, d / "bunny-crop25.mp4", crop=0.25)
    variant(DATA / "bikes.mp4", d / "bikes.mp4", scale=0.5, trim=(0.0, 0.5))
    ml = MLOptions(model="effnet-lite0", quality=False)
    fin, events = _scan_events(d, tmp_path / "c.db", workers=2, ml=ml, executor="ray")
    said = [e.message for e in events if isinstance(e, Notice)]
    assert not [m for m in said if "loaded in" in m or "Ray pipeline failed" in m]
    groups = [(g.tier, sorted(Path(m.path).name for m in g.members)) for g in fin.groups]
    assert groups == [("same", ["bunny-crop25.mp4", "bunny.mp4"])]
