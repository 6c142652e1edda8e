"""One settings object: the engine finds its files and the user's choices through
engine/settings.py, so a client can hand it other ones (and the environment is honoured)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.engine import settings
from lookalike.engine.settings import EngineSettings


@pytest.fixture
def configured(tmp_path: Path):
    s = EngineSettings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        journal_path=tmp_path / "data" / "my-journal.sqlite",
        catalog_path=tmp_path / "cache" / "my-catalog.db",
        thumbnail_dir=tmp_path / "cache" / "thumbs",
        allow_download=True,
        session_minutes=1,
    )
    settings.configure(s)
    yield s
    settings.configure(None)


def test_a_client_hands_the_engine_its_settings(configured: EngineSettings) -> None:
    from lookalike.engine.actions import history
    from lookalike.engine.actions.journal import Journal
    from lookalike.engine.api import Engine
    from lookalike.engine.features.embed import allow_download_default

    with Journal() as j:
        assert j.path == configured.journal_path
    assert configured.journal_path.exists() and history() == []
    engine = Engine()
    assert engine.catalog_path == configured.catalog_path
    assert engine.thumb_dir == configured.thumbnail_dir
    assert allow_download_default() is True and settings.session_minutes() == 1


def test_without_settings_the_environment_decides_at_each_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.configure(None)
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "one"))
    first = settings.current().journal_path
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "two"))
    assert first.is_relative_to(tmp_path / "one")
    assert settings.current().journal_path.is_relative_to(tmp_path / "two")


def test_a_broken_config_file_costs_only_the_download_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.configure(None)
    monkeypatch.setenv("LOOKALIKE_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    cfg = tmp_path / "cfg" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("this is [not toml\n")
    assert settings.allow_download() is False  # the safe answer
    assert settings.current().journal_path.is_relative_to(tmp_path / "data")
