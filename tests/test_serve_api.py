"""The job API through the ASGI test client: launch → events → groups → plan → apply → undo on
real photos, the security bounds (token, roots, Host, size, rate) and readable JSON errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from lookalike.engine.api import Engine  # noqa: E402
from lookalike.engine.options import ScanOptions  # noqa: E402
from lookalike.engine.scanlock import ScanLock  # noqa: E402
from lookalike.serve.app import ServeSettings, make_app  # noqa: E402
from serve_helpers import make_library, snapshot, sse_events  # noqa: E402

LOCAL = "http://127.0.0.1"


def settings(tmp_path: Path, lib: Path, **kw) -> ServeSettings:
    base = {
        "roots": (str(lib.resolve()),),
        "catalog": tmp_path / "cat.db",
        "thumb_dir": tmp_path / "thumbs",
        "state_dir": tmp_path / "state",
        "workers": 1,
    }
    return ServeSettings(**{**base, **kw})


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    return make_library(tmp_path)


@pytest.fixture
def client(tmp_path, lib):
    with TestClient(make_app(settings(tmp_path, lib)), base_url=LOCAL) as c:
        yield c


def run_job(client, body: dict) -> tuple[str, list[tuple[int, dict]]]:
    r = client.post("/jobs", json=body)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    with client.stream("GET", f"/jobs/{job}/events") as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        events = sse_events(s.iter_lines())
    return job, events


def test_round_trip_launch_events_groups_plan_apply_undo(client, lib):
    before = snapshot(lib)
    job, events = run_job(client, {"paths": [str(lib)], "options": {"workers": 1}})
    kinds = [e["event"] for _, e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert [i for i, _ in events] == list(range(len(events)))  # numbered, none lost
    assert "progress" in kinds and "group" in kinds
    state = client.get(f"/jobs/{job}").json()
    assert state["state"] == "done" and state["groups"] == 2

    page = client.get(f"/jobs/{job}/groups", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["groups"]) == 1 and page["next"] == 1
    rest = client.get(f"/jobs/{job}/groups", params={"offset": 1}).json()
    groups = page["groups"] + rest["groups"]
    members = sorted(sorted(Path(f["path"]).name for f in g["files"]) for g in groups)
    assert members == [["cat-copy.jpg", "cat.jpg"], ["cup-small.jpg", "cup.jpg"]]
    assert not any("moto" in f["path"] for g in groups for f in g["files"])  # look-alikes apart
    thumb = client.get(groups[0]["files"][0]["thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    # a thumbnail an older scan wrote as WebP is still served, as WebP
    key = groups[0]["files"][0]["thumb_url"].rsplit("/", 1)[1]
    jpeg = Path(groups[0]["files"][0]["thumb"])
    Image.open(jpeg).save(jpeg.with_suffix(".webp"), "WEBP")
    jpeg.unlink()
    old = client.get(f"/thumbs/{key}")
    assert old.status_code == 200 and old.headers["content-type"] == "image/webp"
    assert old.content[8:12] == b"WEBP"

    plan = client.post("/plans", json={"job": job, "action": "trash"})
    assert plan.status_code == 201, plan.text
    plan = plan.json()
    gone = sorted(Path(i["source"]).name for i in plan["items"])
    assert gone == ["cat-copy.jpg", "cup-small.jpg"]
    assert plan["confirm"] == "trash 2 files"
    wrong = client.post(f"/plans/{plan['id']}/apply", json={"plan": plan["id"], "confirm": "yes"})
    assert wrong.status_code == 422 and "trash 2 files" in wrong.json()["error"]
    assert snapshot(lib) == before  # nothing touched without the confirmation
    done = client.post(
        f"/plans/{plan['id']}/apply", json={"plan": plan["id"], "confirm": plan["confirm"]}
    )
    assert done.status_code == 200, done.text
    batch = done.json()
    assert batch["done"] == 2 and batch["state"] == "done" and batch["problems"] == []
    assert sorted(snapshot(lib)) == sorted(set(before) - {os.fsencode(n) for n in gone})
    assert [b["id"] for b in client.get("/batches").json()["batches"]] == [batch["batch"]]

    undo = client.post(f"/batches/{batch['batch']}/undo", json={"confirm": "undo nope"})
    assert undo.status_code == 422
    undo = client.post(
        f"/batches/{batch['batch']}/undo", json={"confirm": f"undo {batch['batch']}"}
    )
    assert undo.status_code == 200, undo.text
    assert undo.json()["done"] == 2
    assert snapshot(lib) == before  # byte-identical restore


def test_a_file_name_that_is_not_utf8_goes_out_and_back(client, lib):
    odd = os.path.join(os.fsencode(lib), b"caf\xe9-copy.jpg")  # Latin-1 bytes, not UTF-8
    shutil.copy(lib / "cat.jpg", odd)
    before = snapshot(lib)
    job, events = run_job(client, {"paths": [str(lib)], "options": {"exact_only": True}})
    assert events[-1][1]["event"] == "finished"
    doc = client.get(f"/jobs/{job}/groups").json()
    paths = [f["path"] for g in doc["groups"] for f in g["files"]]
    assert os.fsdecode(odd) in paths  # the same str: surrogate escapes survive JSON
    plan = client.post("/plans", json={"job": job}).json()
    assert os.fsdecode(odd) in [i["source"] for i in plan["items"]]
    done = client.post(
        f"/plans/{plan['id']}/apply", json={"plan": plan["id"], "confirm": plan["confirm"]}
    ).json()
    assert not os.path.lexists(odd)
    client.post(f"/batches/{done['batch']}/undo", json={"confirm": f"undo {done['batch']}"})
    assert snapshot(lib) == before and os.path.exists(odd)


def test_groups_and_thumbnails_outside_the_roots_are_not_served(tmp_path, lib):
    """The catalog also holds a scan someone ran on the box outside the roots."""
    outside = tmp_path / "private"
    outside.mkdir()
    shutil.copy(lib / "man.jpg", outside / "a.jpg")
    shutil.copy(lib / "man.jpg", outside / "b.jpg")
    opts = ScanOptions(roots=(outside,), workers=1)
    fin = list(Engine(tmp_path / "cat.db", tmp_path / "thumbs").scan_sync(opts))[-1]
    private = [m.thumb for g in fin.groups for m in g.members]
    assert private and all(Path(t).is_file() for t in private)
    with TestClient(make_app(settings(tmp_path, lib)), base_url=LOCAL) as c:
        assert c.get("/review/groups").json()["total"] == 0
        for t in private:
            assert c.get(f"/thumbs/{Path(t).stem}").status_code == 404
        job, _ = run_job(c, {"paths": [str(lib)]})
        review = c.get("/review/groups").json()
        assert review["total"] == 2  # the catalog's review now: this scan's groups only
        urls = [f["thumb_url"] for g in review["groups"] for f in g["files"]]
        assert all(c.get(u).status_code == 200 for u in urls)
        assert all(c.get(f"/thumbs/{Path(t).stem}").status_code == 404 for t in private)
        assert c.get(f"/thumbs/{'f' * 16}").status_code == 404  # well formed, nobody's
        # the gate: one sorted uint64 array of exactly the served keys (issue 13), no str set
        gate = c.app.state.room.thumbs.keys
        served = sorted({int(u.rsplit("/", 1)[-1], 16) for u in urls})
        assert gate.dtype == np.uint64 and gate.tolist() == served


def test_old_jobs_are_read_from_disk_then_pruned(tmp_path, lib, monkeypatch):
    from lookalike.serve import jobs as jobs_module

    monkeypatch.setattr(jobs_module, "EVENTS_IN_MEMORY", 0)
    monkeypatch.setattr(jobs_module, "KEEP_JOBS", 1)
    with TestClient(make_app(settings(tmp_path, lib)), base_url=LOCAL) as c:
        first, live = run_job(c, {"paths": [str(lib)], "options": {"exact_only": True}})
        assert c.app.state.room.jobs.jobs[first].events is None  # ended: on disk only
        with c.stream("GET", f"/jobs/{first}/events", params={"after": 0}) as s:
            assert sse_events(s.iter_lines()) == live[1:]
        second, _ = run_job(c, {"paths": [str(lib)], "options": {"exact_only": True}})
        assert c.get(f"/jobs/{first}").status_code == 404  # the oldest ended job left
        assert [j["id"] for j in c.get("/jobs").json()["jobs"]] == [second]
    assert not list((tmp_path / "state" / "jobs").glob(f"{first}.*"))


def test_second_scan_of_the_catalog_is_409(client, lib):
    first = client.post("/jobs", json={"paths": [str(lib)]})
    assert first.status_code == 202
    second = client.post("/jobs", json={"paths": [str(lib)]})
    assert second.status_code == 409
    err = second.json()
    assert first.json()["id"] in err["error"] and "DELETE" in err["hint"]
    with client.stream("GET", f"/jobs/{first.json()['id']}/events") as s:
        sse_events(s.iter_lines())
    assert client.post("/jobs", json={"paths": [str(lib)]}).status_code == 202  # free again


def test_paths_outside_the_roots_are_refused(client, lib, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    (lib / "escape").symlink_to(other)
    for path in (str(other), str(lib / "escape"), "/etc", str(lib / ".." / "elsewhere")):
        r = client.post("/jobs", json={"paths": [path]})
        assert r.status_code == 403, (path, r.text)
        assert "outside the server's roots" in r.json()["error"]
    for key in ("reference", "weights"):
        r = client.post("/jobs", json={"paths": [str(lib)], "options": {key: [str(other)]}})
        assert r.status_code == 403, (key, r.text)
    assert client.get("/jobs").json()["jobs"] == []


def test_options_are_validated_by_the_scan_command(client, lib):
    cases = {
        "min_size": ("lots", "not a size"),
        "sensitivity": (500, "0<=x<=100"),
        "keep_rule": ("tallest", "unknown rule"),
        "frobnicate": (1, "unknown option"),
        "db": ("/tmp/x.db", "cannot be set over HTTP"),
        "hidden": ("yes", "switch"),
    }
    for key, (value, words) in cases.items():
        r = client.post("/jobs", json={"paths": [str(lib)], "options": {key: value}})
        assert r.status_code == 422, (key, r.text)
        assert words in r.json()["error"], (key, r.json())
        assert r.json()["hint"]
    r = client.post("/jobs", json={"paths": ["relative/dir"]})
    assert r.status_code == 422 and "absolute" in r.json()["error"]


def test_token_required_on_a_non_local_bind(tmp_path, lib):
    app = make_app(settings(tmp_path, lib, host="0.0.0.0", token="s3cret-token-0123456789"))
    with TestClient(app, base_url="http://box.example:8765") as c:
        r = c.get("/jobs")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in r.json()["hint"]
        assert c.get("/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/jobs", headers={"Authorization": "Bearer s3cret-token-0123456789"})
        assert ok.status_code == 200


def test_local_bind_refuses_foreign_host_and_form_posts(client, lib):
    r = client.get("/jobs", headers={"Host": "evil.example"})
    assert r.status_code == 421 and "127.0.0.1" in r.json()["hint"]
    r = client.post(
        "/jobs",
        content=json.dumps({"paths": [str(lib)]}),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415


def test_body_size_and_rate_are_bounded(tmp_path, lib):
    app = make_app(settings(tmp_path, lib, max_body=1000, rate=1.0, burst=3))
    with TestClient(app, base_url=LOCAL) as c:
        big = c.post("/jobs", json={"paths": ["/" + "x" * 2000]})
        assert big.status_code == 413 and "over 1000 bytes" in big.json()["error"]
        codes = [c.get("/jobs").status_code for _ in range(5)]
        assert codes[:2] == [200, 200] and codes[-1] == 429  # the big one took a token too
        r = c.get("/jobs")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_cancel_keeps_the_job_resumable(client, lib, tmp_path):
    # another process (a CLI scan) holds the catalog: the job waits for it, as with --wait
    with ScanLock(tmp_path / "cat.db") as held:
        assert held.try_acquire()
        job = client.post("/jobs", json={"paths": [str(lib)]}).json()["id"]
        assert client.delete(f"/jobs/{job}").status_code == 202
        with client.stream("GET", f"/jobs/{job}/events") as s:
            events = sse_events(s.iter_lines())
    assert "waiting for it to finish" in events[0][1]["message"]
    assert events[-1][1]["event"] == "finished" and events[-1][1]["cancelled"] is True
    state = client.get(f"/jobs/{job}").json()
    assert state["state"] == "cancelled" and f"/jobs/{job}/resume" in state["message"]
    assert client.get(f"/jobs/{job}/groups").status_code == 409
    assert client.delete(f"/jobs/{job}").status_code == 409  # nothing left to cancel
    assert client.post(f"/jobs/{job}/resume").status_code == 202
    with client.stream("GET", f"/jobs/{job}/events", params={"after": events[-1][0]}) as s:
        more = sse_events(s.iter_lines())
    assert more[0][0] == events[-1][0] + 1 and more[-1][1]["cancelled"] is False
    state = client.get(f"/jobs/{job}").json()
    assert state["state"] == "done" and state["attempts"] == 2
    assert client.get(f"/jobs/{job}/groups").json()["total"] == 2


def test_errors_are_json_a_person_reads(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["hint"] == "GET /openapi.json lists the routes"
    assert client.get("/jobs/nope").json() == {
        "error": "no job nope",
        "hint": "GET /jobs lists the jobs",
        "status": 404,
    }
    r = client.post("/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    assert client.delete("/plans").status_code == 405
    assert client.get("/thumbs/..%2f..%2fetc").status_code == 404
    r = client.post("/plans", json={"job": "nope"})
    assert r.status_code == 404
