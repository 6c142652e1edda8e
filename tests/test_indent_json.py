"""The streamed JSON writer's encoder writes ``json.dumps(..., ensure_ascii=True, indent=1)``'s
text, character for character (headless/indent_json.py), on any JSON-shaped value."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.headless.indent_json import dumps_indent1

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
KEYS = st.text() | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4) | st.tuples(kids, kids) | st.dictionaries(KEYS, kids, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_same_text_as_the_json_module(value):
    assert dumps_indent1(value) == json.dumps(value, ensure_ascii=True, indent=1)


@settings(max_examples=100, deadline=None)
@given(VALUES)
def test_the_margin_follows_every_line_break(value):
    want = "\n".join("  " + line for line in json.dumps(value, indent=1).split("\n"))
    assert dumps_indent1(value, "  ") == want


def test_edge_values_as_json_writes_them():
    doc = {
        "nan": math.nan,
        "inf": [math.inf, -math.inf],
        "names": ["caf\u00e9", "\ud83d\udcf7", 'a "quoted"\nline', b"\xff".decode("latin-1")],
        1.5: {},
        True: [],
        None: [[], {}, ()],
        7: -0.0,
    }
    assert dumps_indent1(doc) == json.dumps(doc, ensure_ascii=True, indent=1)


def test_what_json_cannot_write_is_an_error_here_too():
    with pytest.raises(TypeError):
        dumps_indent1({"a": {1, 2}})
    with pytest.raises(TypeError):
        dumps_indent1({(1, 2): "tuple key"})
