"""The evidence's group medians (luma, contrast, chroma, detail, noise, content share) are
numpy's medians without numpy's per-call cost: the same value for any few numbers, so every
"brighter", "blurrier", "noisier" or border verdict stays as it was."""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.engine.rules.evidence import _median

NUMBERS = st.floats(allow_nan=False, allow_infinity=True) | st.integers(-(2**40), 2**40)


@settings(max_examples=2000, deadline=None)
@given(st.lists(NUMBERS, min_size=1, max_size=12))
def test_the_median_numpy_takes(xs):
    with np.errstate(all="ignore"):  # inf - inf or an overflowing sum: the same either way
        want = float(np.median(xs))
    got = _median(xs)
    assert got == want or (math.isnan(got) and math.isnan(want))


def test_nan_and_empty_are_numpys_answer():
    assert math.isnan(_median([3.0, math.nan, 1.0]))
    with warnings.catch_warnings():  # numpy's "mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        assert math.isnan(_median([]))
