"""The eight turned low-band vectors of a DCT signature, by one gather.

Why: the rank stage's orientation check (rules/evidence.best_turn) turns one file of every
group eight ways, and ``dct_vector(transform_dct(sig, t))`` eight times over was a tenth of
the stage (issue 13). A turn only moves terms and flips their signs, so the eight vectors are
one indexed read of the signature; their norms are taken as ``perceptual._unit`` takes them,
so every bit (and so every cosine and tie the ranker compares) is the same.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lookalike.engine.features.perceptual import DCT_STORE, _bands, transform_dct


@lru_cache(maxsize=1)
def _turned_low_terms() -> tuple[np.ndarray, np.ndarray]:
    """(8, 255) flat positions and signs: ``transform_dct(sig, t)[low]`` is
    ``sig.ravel()[at[t]] * sign[t]``."""
    low, _ = _bands()
    n = DCT_STORE
    where = np.arange(1, n * n + 1, dtype=np.float64).reshape(n, n)
    at = np.stack([np.abs(transform_dct(where, t)[low]).astype(np.intp) - 1 for t in range(8)])
    ones = np.ones((n, n), dtype=np.float64)
    sign = np.stack([transform_dct(ones, t)[low] for t in range(8)]).astype(np.float32)
    return at, sign


def turned_dct_vectors(sig: np.ndarray) -> list[np.ndarray]:
    """``[dct_vector(transform_dct(sig, t)) for t in range(8)]``, the same bits."""
    at, sign = _turned_low_terms()
    turned = sig.ravel()[at].astype(np.float32) * sign
    norms = np.array([np.sqrt(row.dot(row)) for row in turned], dtype=np.float32)  # as _unit
    norms[~(norms > 0)] = 1.0  # _unit leaves a zero vector as it is
    return list(turned / norms[:, None])
