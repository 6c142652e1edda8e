"""Decode workers keep their heap's pages from one photo to the next (engine/pool.py
``keep_heap``): glibc's default sliding thresholds gave a freed photo's arrays back to the
kernel after every photo, which then faulted and zeroed the same pages again for the next
(issue 13: ≈ 400 page faults and 0.6 ms of system CPU a small photo). The features must not
change by a bit."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import resource

import pytest
from PIL import Image
from skimage import data

from lookalike.engine import pool as pool_mod
from lookalike.engine.features.extract import extract_file, meta_of, pack_views

PIXELS = 250_000_000


def _faults_a_photo(path: str) -> tuple[float, str]:
    """In a worker: minor page faults a decode over 20 decodes (after 5 to warm up), and a
    digest of the photo's features."""
    for _ in range(5):
        extract_file(path, None, PIXELS)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        f = extract_file(path, None, PIXELS)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20
    digest = hashlib.sha256(pack_views(f.views) + json.dumps(meta_of(f)).encode()).hexdigest()
    return faults, digest


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).resize((400, 400)).save(path, quality=90)
    return str(path)


def test_workers_keep_their_heap_and_the_features_do_not_change(photo):
    if not pool_mod.keep_heap():  # also sets it in this process; the checks run in children
        pytest.skip("no glibc mallopt here")
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as plain:  # a process with glibc's default thresholds
        default_faults, default_digest = plain.apply(_faults_a_photo, (photo,))
    with pool_mod.DecodePool(2) as pool:  # the scan's pool: its workers call keep_heap
        pool.start()  # else two tasks would run in this process
        got = list(pool.map(_faults_a_photo, [photo] * 4, lambda: False, chunksize=1))
    assert default_faults > 50  # the waste is there by default (else the test proves nothing)
    for faults, digest in got:
        assert faults < default_faults / 4
        assert digest == default_digest
