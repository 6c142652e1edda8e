"""config.toml: atomic 0600 writes, no lost updates from concurrent savers, and a passphrase
lock that `config set` cannot switch off."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from lookalike import config
from lookalike.engine.actions import lock as passlock


def test_config_written_atomically_with_private_mode():
    path = config.save_config({"ui": {"theme": "lookalike-dark"}})
    assert path.stat().st_mode & 0o777 == 0o600
    assert config.load_config() == {"ui": {"theme": "lookalike-dark"}}
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp left


def test_concurrent_updates_are_not_lost():
    def writer(t: int) -> None:
        for n in range(15):
            config.update_config(lambda d, t=t, n=n: config.set_key(d, f"t{t}.k{n}", n))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    data = config.load_config()
    assert all(data[f"t{t}"][f"k{n}"] == n for t in range(6) for n in range(15))


def test_concurrent_updates_from_two_processes_are_not_lost():
    script = (
        "import sys; from lookalike import config\n"
        "for n in range(25): config.update_config("
        "lambda d, n=n: config.set_key(d, f'p{sys.argv[1]}.k{n}', n))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)]) for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    data = config.load_config()
    assert all(data[f"p{i}"][f"k{n}"] == n for i in range(2) for n in range(25))


def test_config_set_cannot_switch_the_lock_off():
    passlock.set_passphrase("open sesame")
    before = config.config_path().read_bytes()
    for key, value in (
        ("actions.passphrase", "off"),
        ("actions", "{}"),
        ("actions.passphrase", '""'),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "lookalike", "config", "set", key, value],
            capture_output=True,
            env=os.environ.copy(),
            timeout=60,
        )
        assert r.returncode == 1
        assert b"lookalike lock clear" in r.stderr
        assert config.config_path().read_bytes() == before
    assert passlock.configured() is not None
    # other keys still work, and keep the lock
    r = subprocess.run(
        [sys.executable, "-m", "lookalike", "config", "set", "actions.session_minutes", "5"],
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert passlock.configured() is not None and passlock.check("open sesame")
