"""``--executor ray://HOST:PORT`` against a real Ray cluster reached through Ray Client.

A head node is started here with ``ray start --head --block`` (its own GCS and Ray Client
ports, 2 CPUs) and the scan connects to it at ``ray://127.0.0.1:PORT``, exactly as a driver
on a laptop reaches a cluster: it must give the local pool's groups on the same real photos.
Teardown ends the ``--block`` process, which stops the Ray processes it started (not
``ray stop``, which would stop every Ray on the machine, other people's included).
Skipped without the ``ray`` extra (Ray Client needs ``grpcio``, part of it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import ScanFinished

pytestmark = pytest.mark.slow

PHOTOS = ["astronaut", "coffee", "chelsea"]
TRANSFORMS = ["exact_copy", "jpeg_q30", "scale_25", "rot90", "mirror"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    cli = Path(sys.executable).with_name("ray")
    if cli.exists():
        return str(cli)
    found = shutil.which("ray")
    if not found:
        pytest.skip("the ray command is not installed")
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(address, environment for its drivers, the head's temp dir)."""
    pytest.importorskip("ray")
    pytest.importorskip("grpc")  # Ray Client
    client_port, gcs_port = _free_port(), _free_port()
    log = tmp_path_factory.mktemp("ray_head") / "head.log"
    # its own temp dir (short: Ray puts sockets there): `ray start` records its address in
    # <temp>/ray_current_cluster, and a plain ray.init() elsewhere on the machine would
    # otherwise try to join this head, or its ghost after teardown
    temp = tempfile.mkdtemp(prefix="lkray", dir="/tmp")
    cmd = [
        _ray_cli(), "start", "--head", "--block", "--num-cpus", "2", "--temp-dir", temp,
        "--node-ip-address", "127.0.0.1", "--port", str(gcs_port),
        "--ray-client-server-port", str(client_port),
        "--include-dashboard", "false", "--disable-usage-stats",
    ]  # fmt: skip
    # Ray ≥ 2.5x authenticates clients with a token: the head and its driver share one (not
    # ~/.ray/auth_token, which may belong to another Ray on the machine); set only in their
    # environments, since a Ray imported in this process reads the mode once
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    # Ray's proxy forks a server per client while its gRPC threads run, and on a busy box the
    # child dies at once (ray-project/ray#63202: 4 of 8 connects under load here, 0 of 8 with
    # this); the workaround docs/scale.md gives cluster operators, on the head only
    env_head = dict(env, GRPC_ENABLE_FORK_SUPPORT="false")
    with open(log, "wb") as out:
        head = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env_head)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if head.poll() is not None:
                pytest.fail(f"ray start exited {head.returncode}: {log.read_text()[-2000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", client_port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the Ray Client port never opened: {log.read_text()[-2000:]}")
        yield f"ray://127.0.0.1:{client_port}", env, Path(temp)
    finally:
        head.send_signal(signal.SIGTERM)  # --block: stops the head's own Ray processes
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from corpus import make_corpus

    out = tmp_path_factory.mktemp("ray_client_corpus")
    make_corpus(out, photos=PHOTOS, transforms=TRANSFORMS, seed=7)
    return out / "images"


def _scan(root: Path, db: Path, **kw) -> ScanFinished:
    opts = ScanOptions(roots=(root,), thumbnails=False, **kw)
    fin = list(Engine(db, db.parent / "thumbs").scan_sync(opts))[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return fin


def _groups(fin: ScanFinished) -> list[list]:
    return sorted([g.tier, g.keep, sorted(m.path for m in g.members)] for g in fin.groups)


DRIVER = """
import json, sys
from pathlib import Path
import ray
from test_ray_client import _groups
from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import Notice
db = Path(sys.argv[2])
opts = ScanOptions(roots=(Path(sys.argv[1]),), thumbnails=False, workers=2, executor=sys.argv[3])
events = list(Engine(db, db.parent / "thumbs").scan_sync(opts))
fin = events[-1]
print(json.dumps({"decoded": fin.stats.images_decoded, "groups": _groups(fin),
                  "connected_after": ray.is_initialized(),
                  "notices": [e.message for e in events if isinstance(e, Notice)]}))
"""


def _client_server_logs(temp: Path) -> str:
    """The head's Ray Client logs: why a per-client server did not start is only there."""
    logs = sorted((temp / "session_latest" / "logs").glob("ray_client_server*"))
    return "".join(f"\n== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def test_a_ray_client_scan_gives_the_local_pools_groups(corpus, cluster, tmp_path) -> None:
    """The driver runs in its own process, as on a laptop: the token and Ray Client state
    never touch this test process (nor the local-Ray tests after it)."""
    address, env, temp = cluster
    local = _scan(corpus, tmp_path / "a" / "cat.db", workers=2)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    args = [sys.executable, "-c", DRIVER, str(corpus), str(tmp_path / "b" / "cat.db"), address]
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:] + _client_server_logs(temp)
    remote = json.loads(run.stdout.strip().splitlines()[-1])
    assert not remote["connected_after"]  # the scan disconnected its client
    assert remote["decoded"] == local.stats.images_decoded > 0
    assert not [m for m in remote["notices"] if "Ray pipeline failed" in m]  # Ray Data ran it
    assert len(local.groups) >= len(PHOTOS)  # the copies do group
    assert remote["groups"] == _groups(local)
