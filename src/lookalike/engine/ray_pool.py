"""The Ray executor (``--executor ray``): the scan's decode + feature tasks, and with
``--model`` its embeddings, as a Ray Data pipeline on a local Ray or a cluster.

Flow, per window of at most WINDOW tasks (so neither the driver nor the object store ever
holds the whole task list twice)::

    ray.data.from_items([(index, pickled task)])      one block = one batch of BATCH tasks
      .map_batches(_run_batch, num_cpus=1)            CPU tasks: decode, hashes, thumbnail
      .map_batches(EmbedActor, concurrency=…,         --model only (ray_embed.py): one actor
                   num_gpus=1 | CPU, batch_size=…)    per GPU, or CPU actors without GPUs
      .iter_batches()                                 the driver, in completion order

The driver commits each result to the ONE catalog at the scan's own cadence (stages/
context.Writes), exactly as with the local pool: Ray Data's streaming executor keeps a
bounded amount in flight (OBJECT_STORE_BUDGET), so memory does not grow with the collection.

Guarantees: a worker that dies mid-batch (OOM kill, lost node) has its batch re-run by Ray
(MAX_RETRIES; an embedding actor is restarted and its batch retried); when the pipeline
still fails, the tasks whose results did not come back are run on the driver, so no file is
lost. A killed driver resumes from the catalog like a local scan (features are committed in
batches). Files are read by the workers at the same path, or under the prefix
``--remote-root LOCAL=REMOTE`` maps it to (every node mounts the collection there).

Over Ray Client (``ray://``) the driver cannot run Ray Data's executor (a client process has
no core worker), so each window's pipeline runs in a ``ClientWindow`` actor on the cluster
that hands the batches over one call at a time.

Cost: Ray Data's start-up (its import, the first tasks' workers) adds seconds to a local
run; docs/scale.md has the figures. The process pool stays the default.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from lookalike.engine.pool import keep_heap

if TYPE_CHECKING:
    from lookalike.engine.ray_embed import EmbedJob

T = TypeVar("T")
INSTALL_HINT = "pip install 'lookalike[ray]'"
MAX_RETRIES = 3  # re-runs of a batch whose worker died
BATCH = 8  # tasks per Ray Data block (one task): amortises scheduling, cheap to re-run
WINDOW = 20_000  # tasks per Ray Data pipeline: bounds the task list's object-store copy
OBJECT_STORE_BUDGET = 512 * 2**20  # object store the scan's pipeline may fill, bytes
CLIENT_TRIES = 3  # Ray Client connects: the cluster's per-client server may fail to start
CLIENT_BACKOFF_S = 2.0  # wait before the second try; doubled before each later one


class RayUnavailable(RuntimeError):
    """``--executor ray`` without Ray installed, or a cluster that cannot be reached."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(
            f"--executor ray needs Ray, which is not installed; install it with: {INSTALL_HINT}"
        ) from exc
    return ray


def parse_remote_root(spec: str) -> tuple[str, str]:
    """``LOCAL=REMOTE`` → (absolute local prefix, remote prefix)."""
    local, sep, remote = spec.partition("=")
    if not sep or not local or not remote:
        raise ValueError(f"--remote-root {spec!r}: expected LOCAL=REMOTE, e.g. /mnt/photos=/data")
    return os.path.abspath(local).rstrip("/") or "/", remote.rstrip("/") or "/"


def map_path(path: str, roots: Sequence[tuple[str, str]]) -> str:
    """``path`` as the workers see it: the longest matching local prefix replaced."""
    for local, remote in sorted(roots, key=lambda lr: -len(lr[0])):
        if path == local or path.startswith(local.rstrip("/") + "/"):
            return remote + path[len(local) :] if local != "/" else remote + path
    return path


def _run_batch(batch: dict[str, np.ndarray], fn: Callable[[Any], Any]) -> dict[str, np.ndarray]:
    """Runs in a Ray Data task: the same task function the local pool runs, over one batch
    (tasks and results travel pickled, so any tuple the scan uses fits in a column). The
    worker keeps its heap's pages from one photo to the next, as the local pool's do."""
    from lookalike.engine.stages import extract_worker

    keep_heap()  # a mallopt call: nothing to pay again on the worker's next batch
    extract_worker.PACK_THUMBS = False  # thumbnail files: a node may not share the cache
    out = [pickle.dumps(fn(pickle.loads(t)), protocol=5) for t in batch["task"]]
    return {"i": batch["i"], "result": np.array(out, dtype=object)}


def _task_args() -> dict[str, Any]:
    return {"max_retries": MAX_RETRIES}


def _retry_args(ds: Any) -> dict[str, Any]:
    """Bounded re-runs of a lost batch (Ray Data's own default re-runs it forever, so a file
    that kills its decoder every time would stall the scan). Ray Data marks the way to say so
    deprecated and plans to drop it; without it its default applies."""
    import inspect
    import warnings

    if "ray_remote_args_fn" not in inspect.signature(ds.map_batches).parameters:
        return {}
    warnings.filterwarnings("ignore", message="`ray_remote_args_fn` is deprecated")
    return {"ray_remote_args_fn": _task_args}


def _quiet_ray_data() -> None:
    """Ray Data on the driver: no progress bars on the terminal (the scan reports its own
    progress) and a bounded object store share; its notice about the bars is dropped."""
    import logging

    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no "Dataset … finished" lines
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    opts = ctx.execution_options
    opts.resource_limits = opts.resource_limits.copy(object_store_memory=OBJECT_STORE_BUDGET)


def _server_start_failed(exc: Exception) -> bool:
    """The head's Ray Client proxy could not start the server it runs for this client (Ray
    issue #63202): the one connect failure worth trying again, and its own advice."""
    return "Starting Ray client server failed" in str(exc)


def _unreachable(address: str, exc: Exception) -> str:
    """What to tell a user whose Ray did not start or connect, and what to do."""
    if _server_start_failed(exc):
        return (
            f"--executor {address}: the cluster's Ray Client proxy failed {CLIENT_TRIES} times "
            "to start a server for this scan (Ray issue #63202, a busy head); restart the "
            "cluster's head with GRPC_ENABLE_FORK_SUPPORT=false in its environment, or scan "
            "with --executor local"
        )
    return (
        f"--executor {address}: Ray could not start or connect ({exc}); check the address, "
        "that the cluster runs the same Ray version and, for ray:// on a cluster with token "
        "authentication, that RAY_AUTH_MODE=token and the cluster's token (RAY_AUTH_TOKEN) are "
        "set here; or scan with --executor local"
    )


def _connect_client(ray: Any, address: str) -> None:
    """``ray.init("ray://…")``, tried again when the cluster's Ray Client proxy could not start
    the server it runs for each client ("Starting Ray client server failed"): that server
    is a fresh process on the head, and a busy head fails to start one now and then. Any other
    failure (wrong address, version, token) is raised at once."""
    wait = CLIENT_BACKOFF_S
    for attempt in range(1, CLIENT_TRIES + 1):
        try:
            ray.init(address, log_to_driver=False)
            return
        except ConnectionError as exc:
            if attempt == CLIENT_TRIES or not _server_start_failed(exc):
                raise
            ray.shutdown()  # a failed client connect leaves its context half set up
            time.sleep(wait)
            wait *= 2


class RayPool:
    """Same interface as ``DecodePool`` (start / map / release / close), backed by Ray Data.

    ``address`` is ``"ray"`` for a local Ray (started with ``workers`` CPUs unless one is
    already running in this process) or ``"ray://HOST:PORT"`` for a cluster.
    """

    remote_embed = True  # map(embed=…) embeds on the cluster (ray_embed.py)

    def __init__(
        self, address: str, workers: int, remote_roots: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.address = address
        self.workers = workers
        self.remote_roots = tuple(remote_roots)
        self._ray: Any = None
        self._started_here = False
        self.driver_runs = 0  # tasks the driver ran because the pipeline failed for good
        self.failure: str | None = None  # why it failed (the scan says so once: extract.py)
        self._window_actor: Any = None  # ClientWindow as a Ray actor class (ray:// only)

    def start(self) -> None:
        if self._ray is not None:
            return
        ray = import_ray()
        if not ray.is_initialized():
            try:
                if self.address.startswith("ray://"):
                    _connect_client(ray, self.address)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            except Exception as exc:
                raise RayUnavailable(_unreachable(self.address, exc)) from exc
            self._started_here = True
        _quiet_ray_data()
        self._ray = ray

    def release(self) -> None:
        """Between stages: Ray keeps its workers (a later stage's re-checks reuse them;
        restarting a local Ray costs seconds); ``close`` at the end of the scan stops it."""

    def close(self) -> None:
        if self._ray is not None and self._started_here:
            self._ray.shutdown()
        self._ray = None
        self._started_here = False

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _mapped(self, task: Any) -> Any:
        if not self.remote_roots or not isinstance(task, tuple):
            return task
        return tuple(map_path(x, self.remote_roots) if isinstance(x, str) else x for x in task)

    def _resources(self) -> tuple[int, int]:
        res = self._ray.cluster_resources()
        return max(1, int(res.get("CPU", self.workers))), int(res.get("GPU", 0))

    def map(
        self,
        fn: Callable[[Any], T],
        tasks: Iterable[Any],
        cancelled: Callable[[], bool],
        chunksize: int | None = None,
        embed: EmbedJob | None = None,
    ) -> Iterator[T]:
        """Results of ``fn`` over ``tasks`` in completion order; stops early when cancelled.
        With ``embed``, the model inputs in each result come back as ``RayVectors``."""
        tasks = list(tasks)
        if not tasks:
            return
        self.start()
        size = BATCH if chunksize is None else max(1, min(BATCH, chunksize * 2))
        done = bytearray(len(tasks))
        try:
            for lo in range(0, len(tasks), WINDOW):
                hi = min(len(tasks), lo + WINDOW)
                for k, result in self._window(fn, tasks, lo, hi, size, embed):
                    done[k] = 1
                    yield result
                    if cancelled():
                        return
        except Exception as exc:  # noqa: BLE001 - a batch failed past its retries, or Ray left
            self.failure = f"{type(exc).__name__}: {exc}"[:500]
        for k, task in enumerate(tasks):  # whatever did not come back: the driver does it
            if not done[k]:
                if cancelled():
                    return
                self.driver_runs += 1
                yield fn(task)

    def _window(
        self, fn: Callable[[Any], Any], tasks: list, lo: int, hi: int, size: int, embed: Any
    ) -> Iterator[tuple[int, Any]]:
        """(task index, result) of tasks[lo:hi] from one Ray Data pipeline."""
        items = [
            {"i": k, "task": pickle.dumps(self._mapped(tasks[k]), protocol=5)}
            for k in range(lo, hi)
        ]
        res = self._resources() if embed is not None else (0, 0)
        if self.address.startswith("ray://"):
            rows: Iterator[tuple[list, list]] = self._via_actor(fn, items, size, embed, res)
        else:
            rows = _rows(_batches(fn, items, size, embed, res))
        for ids, blobs in rows:
            for k, blob in zip(ids, blobs, strict=True):
                yield int(k), pickle.loads(blob)

    def _via_actor(
        self, fn: Callable, items: list, size: int, embed: Any, res: tuple[int, int]
    ) -> Iterator[tuple[list, list]]:
        """Ray Client: the pipeline runs in an actor on the cluster, a batch per call."""
        if self._window_actor is None:
            self._window_actor = self._ray.remote(num_cpus=0, max_restarts=0)(ClientWindow)
        actor = self._window_actor.remote(fn, items, size, embed, res)
        try:
            while (got := self._ray.get(actor.next.remote())) is not None:
                yield got
        finally:
            self._ray.kill(actor)  # a stopped scan stops the pipeline too


def _batches(
    fn: Callable, items: list, size: int, embed: Any, res: tuple[int, int]
) -> Iterator[dict[str, np.ndarray]]:
    """The window's Ray Data pipeline: decode tasks, then (--model) the embedding actors;
    batches of results in completion order. Closing it stops the pipeline."""
    import ray.data

    ds = ray.data.from_items(items, override_num_blocks=-(-len(items) // size))
    ds = ds.map_batches(
        _run_batch,
        fn_kwargs={"fn": fn},
        batch_size=None,  # a block is a batch: a lost worker re-runs just that
        batch_format="numpy",
        num_cpus=1,
        **_retry_args(ds),
    )
    if embed is not None:
        from lookalike.engine.ray_embed import EmbedActor, plan_actors

        plan = plan_actors(embed, *res)
        ds = ds.map_batches(
            EmbedActor,
            fn_constructor_args=(embed, plan.device),
            batch_size=plan.batch_size,
            batch_format="numpy",
            concurrency=plan.concurrency,
            num_cpus=plan.num_cpus,
            num_gpus=plan.num_gpus,
        )
    it = iter(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
    try:
        yield from it
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _rows(batches: Iterator[dict[str, np.ndarray]]) -> Iterator[tuple[list, list]]:
    with closing(batches):
        for b in batches:
            yield b["i"].tolist(), b["result"].tolist()


class ClientWindow:
    """Ray Client drivers cannot run Ray Data's executor (it needs a core worker, which a
    client process has not), so this actor runs a window's pipeline on the cluster and hands
    its batches to the driver one call at a time."""

    def __init__(self, fn: Callable, items: list, size: int, embed: Any, res: tuple) -> None:
        _quiet_ray_data()
        self.rows = _rows(_batches(fn, items, size, embed, res))

    def next(self) -> tuple[list, list] | None:
        return next(self.rows, None)
