"""Ray Client connects: a server-side start failure is tried again, anything else is not.

The real cluster path is ``test_ray_client.py``; here a stand-in ``ray`` module records the
calls, since a proxy that fails to start its per-client server cannot be provoked on demand.
"""

from __future__ import annotations

import pytest

from lookalike.engine import ray_pool

SERVER_FAILED = (
    "Initialization failure from server:\nRuntimeError: Starting Ray client server failed. "
    "See ray_client_server_23000.err for detailed logs."
)


class FakeRay:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def init(self, address: str, **kw: object) -> None:
        self.calls.append(f"init {address}")
        if self.failures:
            raise self.failures.pop(0)

    def shutdown(self) -> None:
        self.calls.append("shutdown")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(ray_pool.time, "sleep", waits.append)
    return waits


def test_a_server_start_failure_is_tried_again_and_then_connects(no_sleep) -> None:
    ray = FakeRay([ConnectionAbortedError(SERVER_FAILED)])
    ray_pool._connect_client(ray, "ray://head:10001")
    assert ray.calls == ["init ray://head:10001", "shutdown", "init ray://head:10001"]
    assert no_sleep == [ray_pool.CLIENT_BACKOFF_S]


def test_a_server_that_never_starts_fails_after_the_last_try(no_sleep) -> None:
    ray = FakeRay([ConnectionAbortedError(SERVER_FAILED)] * 5)
    with pytest.raises(ConnectionAbortedError, match="Starting Ray client server failed"):
        ray_pool._connect_client(ray, "ray://head:10001")
    assert ray.calls.count("init ray://head:10001") == ray_pool.CLIENT_TRIES
    assert no_sleep == [ray_pool.CLIENT_BACKOFF_S * 2**i for i in range(ray_pool.CLIENT_TRIES - 1)]


@pytest.mark.parametrize(
    "error",
    [ConnectionError("ray client connection timeout"), ValueError("bad address"),
     ConnectionAbortedError("Invalid authentication token"),
     ConnectionAbortedError("Initialization failure from server: runtime_env setup failed")],
)  # fmt: skip
def test_other_failures_are_not_tried_again(error, no_sleep) -> None:
    ray = FakeRay([error])
    with pytest.raises(type(error)):
        ray_pool._connect_client(ray, "ray://head:10001")
    assert ray.calls == ["init ray://head:10001"] and not no_sleep


def test_the_pool_says_what_to_check_when_the_cluster_cannot_be_reached(monkeypatch) -> None:
    ray = FakeRay([ConnectionAbortedError(SERVER_FAILED)] * 5)
    ray.is_initialized = lambda: False
    monkeypatch.setattr(ray_pool, "import_ray", lambda: ray)
    pool = ray_pool.RayPool("ray://head:10001", workers=2)
    with pytest.raises(ray_pool.RayUnavailable) as err:
        pool.start()
    assert "GRPC_ENABLE_FORK_SUPPORT=false" in str(err.value)  # what the operator can do
    assert "--executor local" in str(err.value)  # and what works now


def test_other_connect_failures_name_the_address_version_and_token(monkeypatch) -> None:
    ray = FakeRay([ConnectionError("ray client connection timeout")])
    ray.is_initialized = lambda: False
    monkeypatch.setattr(ray_pool, "import_ray", lambda: ray)
    with pytest.raises(ray_pool.RayUnavailable) as err:
        ray_pool.RayPool("ray://head:10001", workers=2).start()
    assert "RAY_AUTH_TOKEN" in str(err.value) and "connection timeout" in str(err.value)
