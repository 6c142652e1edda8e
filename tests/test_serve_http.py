"""``lookalike serve`` as a real uvicorn process on 127.0.0.1 (an ephemeral port): the round trip
over HTTP, the token, 50 clients at once with no failed request and no lost event, and a server
killed with SIGKILL that resumes its job when started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from lookalike.engine.scanlock import ScanLock  # noqa: E402
from serve_helpers import Server, make_library, snapshot, sse_events  # noqa: E402

CLIENTS = 50


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    return make_library(tmp_path)


@pytest.fixture
def server(tmp_path, lib):
    s = Server(tmp_path, lib)
    yield s
    s.stop()


def events_of(c: httpx.Client, job: str, after: int | None = None) -> list[tuple[int, dict]]:
    params = {"after": after} if after is not None else {}
    with c.stream("GET", f"/jobs/{job}/events", params=params) as r:
        assert r.status_code == 200
        return sse_events(r.iter_lines())


def test_round_trip_over_real_http(server, lib):
    before = snapshot(lib)
    with server.client() as c:
        r = c.post("/jobs", json={"paths": [str(lib)]})
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        events = events_of(c, job)
        assert events[-1][1]["event"] == "finished"
        doc = c.get(f"/jobs/{job}/groups").json()
        assert doc["total"] == 2
        assert c.get(doc["groups"][0]["files"][0]["thumb_url"]).status_code == 200
        plan = c.post("/plans", json={"job": job}).json()
        applied = c.post(
            f"/plans/{plan['id']}/apply", json={"plan": plan["id"], "confirm": plan["confirm"]}
        ).json()
        assert applied["done"] == 2, applied
        assert len(snapshot(lib)) == len(before) - 2
        batch = applied["batch"]
        undone = c.post(f"/batches/{batch}/undo", json={"confirm": f"undo {batch}"}).json()
        assert undone["done"] == 2, undone
    assert snapshot(lib) == before  # byte-identical restore


def test_token_file_is_required_and_checked(tmp_path, lib):
    token_file = tmp_path / "token"
    s = Server(tmp_path, lib, "--token-file", str(token_file))
    try:
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        with s.client() as c:
            r = c.get("/jobs")
            assert r.status_code == 401 and r.json()["error"] == "missing or wrong token"
            ok = c.get("/jobs", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and ok.json() == {"jobs": []}
    finally:
        s.stop()
    token_file.chmod(0o644)
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", "--root", str(lib), "--token-file",
         str(token_file)], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and f"chmod 600 {token_file}" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", "--root", str(lib), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "--token-file" in r.stderr


def test_fifty_clients_no_failed_request_no_lost_event(server, lib, tmp_path):
    """50 clients hold an event stream each while the scan runs (the scan waits on the
    catalog's lock until every stream is open), then page the groups."""
    results: dict[int, list] = {}
    failures: list[str] = []
    opened = threading.Barrier(CLIENTS + 1, timeout=120)

    def client(n: int, job: str) -> None:
        try:
            with server.client() as c:
                with c.stream("GET", f"/jobs/{job}/events") as r:
                    if r.status_code != 200:
                        failures.append(f"{n}: events {r.status_code}")
                    opened.wait()
                    results[n] = sse_events(r.iter_lines())
                for path in (f"/jobs/{job}", f"/jobs/{job}/groups", "/jobs"):
                    g = c.get(path)
                    if g.status_code != 200:
                        failures.append(f"{n}: {path} {g.status_code} {g.text}")
        except Exception as exc:  # any transport error is a failed request
            failures.append(f"{n}: {type(exc).__name__}: {exc}")

    with ScanLock(tmp_path / "cat.db") as held:
        assert held.try_acquire()
        with server.client() as c:
            job = c.post("/jobs", json={"paths": [str(lib)]}).json()["id"]
        threads = [threading.Thread(target=client, args=(n, job)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        opened.wait()  # every stream is open before the scan can start
    for t in threads:
        t.join(timeout=300)
    assert failures == []
    with server.client() as c:
        reference = events_of(c, job)
    assert reference[-1][1]["event"] == "finished"
    assert [i for i, _ in reference] == list(range(len(reference)))
    assert len(results) == CLIENTS
    for n, got in results.items():
        assert got == reference, f"client {n} saw {len(got)} of {len(reference)} events"


def test_sigkill_mid_scan_then_restart_resumes_the_job(tmp_path, lib):
    held = ScanLock(tmp_path / "cat.db")
    assert held.try_acquire()  # the job starts and waits for it: killed mid-job, always
    s = Server(tmp_path, lib)
    with s.client() as c:
        job = c.post("/jobs", json={"paths": [str(lib)]}).json()["id"]
        with c.stream("GET", f"/jobs/{job}/events") as r:
            first = next(line for line in r.iter_lines() if line.startswith("data: "))
        assert "waiting for it to finish" in first
        assert c.get(f"/jobs/{job}").json()["state"] == "running"
    s.stop(signal.SIGKILL)
    held.release()
    again = Server(tmp_path, lib)
    try:
        with again.client() as c:
            events = events_of(c, job)
            state = c.get(f"/jobs/{job}").json()
            assert state["state"] == "done" and state["attempts"] == 2, state
            notes = [e["message"] for _, e in events if e["event"] == "notice"]
            assert any("the server stopped during this scan; resuming" in m for m in notes)
            assert [e["event"] for _, e in events].count("finished") == 1
            assert c.get(f"/jobs/{job}/groups").json()["total"] == 2
    finally:
        again.stop()
    assert os.path.exists(tmp_path / "state" / "jobs.json")


def test_ctrl_c_with_a_stream_open_stops_and_the_job_resumes(tmp_path, lib):
    held = ScanLock(tmp_path / "cat.db")
    assert held.try_acquire()
    s = Server(tmp_path, lib)
    with s.client() as c:
        job = c.post("/jobs", json={"paths": [str(lib)]}).json()["id"]
        with c.stream("GET", f"/jobs/{job}/events") as r:
            next(line for line in r.iter_lines() if line.startswith("data: "))
            s.stop(signal.SIGINT)  # with this stream still open
    assert s.proc.returncode == 0
    held.release()
    again = Server(tmp_path, lib)
    try:
        with again.client() as c:
            events = events_of(c, job)
            assert [e["event"] for _, e in events].count("finished") == 2  # stopped, then done
            state = c.get(f"/jobs/{job}").json()
            assert state["state"] == "done" and state["attempts"] == 2
    finally:
        again.stop()
