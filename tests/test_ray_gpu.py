"""``--executor ray --model`` on a GPU: the embedding actor gets the GPU (``plan_actors``: one
actor a GPU, ``num_gpus=1``) and its vectors and groups are the local scan's.

Runs only where CUDA is (``pytest -m gpu``; skipped elsewhere) and the ``ray`` and ``ml``
extras are installed. On real photos and their edited copies (tests/corpus.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.catalog import Catalog, str_path
from lookalike.engine.events import ItemError, Notice, ScanFinished
from lookalike.engine.options import MLOptions

pytestmark = pytest.mark.gpu

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera"]
TRANSFORMS = ["exact_copy", "jpeg_q30", "scale_25", "to_png", "rot90", "mirror", "border"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from corpus import make_corpus

    out = tmp_path_factory.mktemp("ray_gpu_corpus")
    make_corpus(out, photos=PHOTOS, transforms=TRANSFORMS, seed=7)
    return out / "images"


@pytest.fixture(scope="module")
def ray_gpu():
    ray = pytest.importorskip("ray")
    pytest.importorskip("timm")
    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _scan(root: Path, db: Path, **kw) -> tuple[ScanFinished, list]:
    opts = ScanOptions(roots=(root,), thumbnails=False, **kw)
    events = list(Engine(db, db.parent / "thumbs").scan_sync(opts))
    fin = events[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    assert not [e for e in events if isinstance(e, ItemError)]
    return fin, events


def _vectors(db: Path) -> dict[str, np.ndarray]:
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


def _said(events: list) -> list[str]:
    return [e.message for e in events if isinstance(e, Notice)]


def test_the_gpu_actor_embeds_on_cuda_with_the_local_scans_vectors_and_groups(
    corpus, ray_gpu, tmp_path
) -> None:
    """The Ray scan's actor runs on the GPU (the driver loads no model); its vectors equal the
    driver's own CUDA embedding, and within fp16/bf16 rounding the CPU's; the groups match."""
    ml = MLOptions(model="effnet-lite0", similar=True, quality=False)
    cuda = MLOptions(model="effnet-lite0", similar=True, quality=False, device="cuda")
    cpu = MLOptions(model="effnet-lite0", similar=True, quality=False, device="cpu")
    local, _ = _scan(corpus, tmp_path / "cuda" / "cat.db", workers=2, ml=cuda)
    on_cpu, _ = _scan(corpus, tmp_path / "cpu" / "cat.db", workers=2, ml=cpu)
    ray, events = _scan(corpus, tmp_path / "ray" / "cat.db", workers=2, ml=ml, executor="ray")
    said = _said(events)
    assert not [m for m in said if "Ray pipeline failed" in m], said
    on_actor = [m for m in said if m.startswith("embedding model effnet-lite0 on cuda")]
    assert on_actor and on_actor[0].endswith("(Ray actors)"), said
    assert not [m for m in said if "loaded in" in m]  # the driver never loaded the model
    a = _vectors(tmp_path / "cuda" / "cat.db")
    b = _vectors(tmp_path / "ray" / "cat.db")
    c = _vectors(tmp_path / "cpu" / "cat.db")
    assert sorted(a) == sorted(b) == sorted(c) and len(a) >= len(PHOTOS) * 2
    for path, va in a.items():
        assert float(va @ b[path]) > 0.999, path  # the same model on the same card
        assert float(c[path] @ b[path]) > 0.99, path  # the GPU's precision against the CPU's
    assert _groups(ray) == _groups(local)
    assert len(ray.groups) >= len(PHOTOS)  # the copies do group
    assert _groups(on_cpu) == _groups(ray)


def test_the_actor_plan_takes_the_clusters_gpu() -> None:
    """With a GPU in the cluster the embedding is one actor a GPU, batched for the GPU."""
    from lookalike.engine.embedders import resolve
    from lookalike.engine.ray_embed import GPU_ROWS, EmbedJob, plan_actors

    ray = pytest.importorskip("ray")
    del ray
    job = EmbedJob(resolve("effnet-lite0"), "auto", None, False, "auto", slot=0)
    plan = plan_actors(job, cpus=16, gpus=1)
    assert (plan.concurrency, plan.num_gpus, plan.batch_size) == (1, 1, GPU_ROWS)
