"""The embedding stage of ``--executor ray``: a Ray Data actor (``EmbedActor``) that owns the
model on a worker, so the driver never loads it for photos or video frames.

Why an actor and not a task: loading a model costs seconds (and a GPU's memory); an actor
loads it once and then embeds every batch Ray Data hands it, ``batch_size`` rows at a time
(the embedder's own batch on a CPU, more on a GPU, where the embedder splits them again by
what its memory probe allows). The actor replaces each model input inside a decode result
by a :class:`RayVectors`, which the driver's ``Feeder`` (ml_stage.py) writes as it is.

Nothing here imports torch or Ray at import time: the actor imports the embedder when Ray
starts it on a worker.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

FLUSH_READY = 64  # vectors from Ray actors written per catalog transaction
CPU_ACTOR_CPUS = 4  # cores one CPU embedding actor uses, at most (torch threads)
GPU_ROWS = 256  # rows per actor call with a GPU; the embedder re-splits by its memory probe


@dataclass(frozen=True)
class RayVectors:
    """Vectors an actor made in place of the model inputs: ``(n, dim)`` float32 unit rows
    (one row for a photo's input), the device, and the seconds per row (for the rate)."""

    vectors: np.ndarray
    device: str
    seconds_each: float


@dataclass(frozen=True)
class EmbedJob:
    """What the actor needs to load the scan's model (picklable, sent once per actor) and
    where the model inputs sit in a decode result: ``result[slot]`` is either the ML extras
    tuple whose first item is one input (``kind="extra"``: photos) or a list of inputs
    (``kind="list"``: a video's frames)."""

    spec: Any  # embedders.ModelSpec
    device: str
    weights: str | None
    allow_download: bool
    precision: str
    slot: int
    kind: str = "extra"


@dataclass(frozen=True)
class ActorPlan:
    """How many actors, with which resources, and rows per call, for this cluster."""

    concurrency: int
    num_cpus: float
    num_gpus: float
    batch_size: int
    device: str


def plan_actors(job: EmbedJob, cpus: int, gpus: int) -> ActorPlan:
    """One actor per GPU when the cluster has GPUs; else CPU actors (about one per 8 cores,
    each on up to CPU_ACTOR_CPUS cores), leaving most cores to the decode tasks."""
    if gpus > 0:
        return ActorPlan(gpus, 1, 1, GPU_ROWS, job.device)
    from lookalike.engine.features.embed import CPU_BATCH

    device = "cpu" if job.device == "auto" else job.device  # an explicit cuda says it fails
    per = max(1, min(CPU_ACTOR_CPUS, cpus // 2))
    return ActorPlan(max(1, cpus // 8), per, 0, CPU_BATCH, device)


def job_for(feeder: Any, slot: int, kind: str, roots: Any) -> EmbedJob | None:
    """What an actor needs to load the scan's model, from the driver's ml_stage.Feeder (None
    without a model); a --weights path is mapped by ``roots`` (--remote-root) like the files.
    The feeder is marked remote: from now on it embeds only what the actors could not."""
    if feeder.spec is None:
        return None
    import os

    from lookalike.engine.features.embed import allow_download_default
    from lookalike.engine.ray_pool import map_path

    o = feeder.opts
    weights = None
    if o.weights:
        weights = map_path(os.path.abspath(os.path.expanduser(o.weights)), roots)
    allow = allow_download_default() if o.allow_download is None else o.allow_download
    feeder.remote = True
    return EmbedJob(feeder.spec, o.device, weights, allow, o.precision, slot, kind)


def take_vectors(feeder: Any, fid: int, got: RayVectors) -> None:
    """A photo's vector from an actor, into the feeder's state and (in batches) the catalog."""
    st = feeder.state
    st.embedded += len(got.vectors)
    st.embed_seconds += got.seconds_each * len(got.vectors)
    if st.device is None:
        st.device = f"{got.device} (Ray actors)"
        feeder.notices.append(
            (f"embedding model {feeder.spec.name} on {got.device} (Ray actors)", "info")
        )
    feeder.ready.append((fid, got.vectors[0]))
    if len(feeder.ready) >= FLUSH_READY:
        feeder._write(feeder.ready)


def _inputs(result: tuple, job: EmbedJob) -> list[np.ndarray] | None:
    """The model inputs a decode result carries (None: nothing to embed)."""
    if len(result) <= job.slot or result[job.slot] is None:
        return None
    held = result[job.slot]
    if job.kind == "extra":
        return [held[0]] if isinstance(held[0], np.ndarray) else None
    return list(held) if held and all(isinstance(a, np.ndarray) for a in held) else None


def _replaced(result: tuple, job: EmbedJob, vectors: RayVectors) -> tuple:
    out = list(result)
    held = out[job.slot]
    out[job.slot] = (vectors, *held[1:]) if job.kind == "extra" else vectors
    return tuple(out)


class EmbedActor:
    """Ray Data callable class: loads the model once, then embeds each batch's inputs.

    A model that cannot load here (no weights on this node) leaves the inputs in place: the
    driver's Feeder then embeds them itself, or says why it cannot."""

    def __init__(self, job: EmbedJob, device: str) -> None:
        from lookalike.engine.embedders import ModelUnavailable
        from lookalike.engine.features.embed import Embedder

        self.job = job
        self.embedder: Any = None
        try:
            self.embedder = Embedder(
                job.spec,
                device=device,
                weights=job.weights,
                allow_download=job.allow_download,
                precision=job.precision,
            )
        except ModelUnavailable:
            self.embedder = None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [pickle.loads(b) for b in batch["result"]]
        if self.embedder is not None:
            self._embed(results)
        blobs = np.array([pickle.dumps(r, protocol=5) for r in results], dtype=object)
        return {"i": batch["i"], "result": blobs}

    def _embed(self, results: list[tuple]) -> None:
        """All inputs of the batch in one call, then each result gets its rows back."""
        found = [(n, ins) for n, r in enumerate(results) if (ins := _inputs(r, self.job))]
        if not found:
            return
        t0 = time.monotonic()
        vecs = self.embedder.embed_arrays([a for _, ins in found for a in ins])
        each = (time.monotonic() - t0) / len(vecs)
        at = 0
        for n, ins in found:
            rows = RayVectors(vecs[at : at + len(ins)], self.embedder.device, each)
            results[n] = _replaced(results[n], self.job, rows)
            at += len(ins)
