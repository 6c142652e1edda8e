"""Shared fixtures: every test gets its own config/cache/data dirs, so no test touches the
user's catalog, journal or trash; the benchmark corpus builder is importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import settings

# `pytest --hypothesis-profile=thorough` runs every property test that does not fix its own
# count with 2000 random examples (CI runs the default 100, drawn afresh each run)
settings.register_profile("thorough", max_examples=2000)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    base = tmp_path_factory.mktemp("lookalike-home")
    for name in ("CONFIG", "CACHE", "DATA"):
        d = base / name.lower()
        d.mkdir()
        monkeypatch.setenv(f"LOOKALIKE_{name}_DIR", str(d))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "xdg-data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield base


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("gpu" in item.keywords for item in items) and not _has_cuda():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
