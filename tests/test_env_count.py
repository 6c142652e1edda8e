"""The environment counts behind the on-disk thresholds: one rule for every variable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookalike.engine.env_count import NEVER, count_problem, count_threshold

NAME = "LOOKALIKE_TEST_COUNT"


@given(st.integers(min_value=0, max_value=10**12))
def test_a_count_is_read(n: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NAME, f" {n} ")
        assert count_threshold(NAME, 7) == (n or NEVER)
        assert count_problem(NAME, 7, "files", "them") is None


@pytest.mark.parametrize("raw", ["-1", "1e6", "lots", "٣", "1_000", "0x10"])
def test_not_a_count_falls_back_and_says_so(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(NAME, raw)
    assert count_threshold(NAME, 7) == 7
    msg = count_problem(NAME, 7, "files", "the columns")
    assert (
        msg is not None and repr(raw) in msg and "using 7" in msg and "0 keeps the columns" in msg
    )


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_unset_or_blank_is_the_default(monkeypatch: pytest.MonkeyPatch, raw: str | None) -> None:
    if raw is None:
        monkeypatch.delenv(NAME, raising=False)
    else:
        monkeypatch.setenv(NAME, raw)
    assert count_threshold(NAME, 7) == 7
    assert count_problem(NAME, 7, "files", "them") is None
