"""The Ray executor: the scan's decode + feature tasks as Ray tasks (``--executor ray``).

Why plain Ray tasks and not Ray Data ``map_batches``: Ray Data needs ``ray[data]`` (pandas and
pyarrow, a few hundred MB more) and runs its own streaming executor, while the scan needs the
results back one by one, in completion order, to commit them to the ONE catalog on the driver
at its own cadence. Batches of tasks submitted with ``ray.remote`` and collected with
``ray.wait`` give the same streaming with a bounded number of batches in flight.

Guarantees: a worker that dies mid-batch (OOM kill, lost node) has its batch re-run by Ray
(``MAX_RETRIES``); a batch that still fails is run on the driver, so no file is lost. A killed
driver resumes from the catalog like a local scan (features are committed in batches).
Files are read by the workers at the same path, or under the prefix ``--remote-root
LOCAL=REMOTE`` maps it to (every node mounts the collection there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
INSTALL_HINT = "pip install 'lookalike[ray]'"
MAX_RETRIES = 3  # re-runs of a batch whose worker died
BATCH = 8  # tasks per Ray task: enough to amortise scheduling, small enough to re-run
IN_FLIGHT_PER_CPU = 2  # batches queued per CPU: bounded memory, no idle workers


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


def _run_batch(fn: Callable[[Any], Any], tasks: list) -> list:
    """Runs on a Ray worker: the same task function the local pool runs, over one batch."""
    return [fn(t) for t in tasks]


class RayPool:
    """Same interface as ``DecodePool`` (start / map / close), backed by a Ray cluster.

    ``address`` is ``"ray"`` for a local Ray (started with ``workers`` CPUs unless one is
    already running in this process) or ``"ray://HOST:PORT"`` for a cluster.
    """

    def __init__(
        self, address: str, workers: int, remote_roots: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.address = address
        self.workers = workers
        self.remote_roots = tuple(remote_roots)
        self._ray: Any = None
        self._started_here = False
        self._remote: Any = None

    def start(self) -> None:
        if self._ray is not None:
            return
        ray = import_ray()
        if not ray.is_initialized():
            try:
                if self.address.startswith("ray://"):
                    ray.init(self.address, log_to_driver=False)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            except Exception as exc:
                raise RayUnavailable(
                    f"--executor {self.address}: Ray could not start or connect ({exc}); "
                    "check the address, that the cluster runs the same Ray version and, for "
                    "ray:// on a cluster with token authentication, that RAY_AUTH_MODE=token "
                    "and the cluster's token (RAY_AUTH_TOKEN) are set here; or scan with "
                    "--executor local"
                ) from exc
            self._started_here = True
        self._ray = ray
        self._remote = ray.remote(max_retries=MAX_RETRIES)(_run_batch)

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

    def _cpus(self) -> int:
        return max(1, int(self._ray.cluster_resources().get("CPU", self.workers)))

    def map(
        self,
        fn: Callable[[Any], T],
        tasks: Iterable[Any],
        cancelled: Callable[[], bool],
        chunksize: int = BATCH,
    ) -> Iterator[T]:
        """Results of ``fn`` over ``tasks`` in completion order; stops early when cancelled."""
        tasks = list(tasks)
        if not tasks:
            return
        self.start()
        ray = self._ray
        size = max(1, min(BATCH, chunksize * 2))
        batches = [tasks[i : i + size] for i in range(0, len(tasks), size)]
        limit = IN_FLIGHT_PER_CPU * self._cpus()
        pending: dict[Any, list] = {}
        nxt = 0
        while nxt < len(batches) or pending:
            while nxt < len(batches) and len(pending) < limit:
                batch = batches[nxt]
                pending[self._remote.remote(fn, [self._mapped(t) for t in batch])] = batch
                nxt += 1
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            batch = pending.pop(ref)
            yield from self._results(ref, fn, batch)
            if cancelled():
                for r in pending:
                    ray.cancel(r, force=True)
                return

    def _results(self, ref: Any, fn: Callable[[Any], T], batch: list) -> list[T]:
        """A batch's results; one that failed past its retries is run here instead."""
        try:
            return self._ray.get(ref)
        except Exception:  # noqa: BLE001 - worker lost for good: the driver does the batch
            return [fn(t) for t in batch]
