"""A check's verdicts are pinned: cutting its CPU (issue 13) must not change one.

tests/data/verify_verdicts.json holds, for each pair of tests/verdict_cases.py (real photos
turned by right angles, mirrored, cropped, rotated a few degrees, softened until only the
whole-frame fallback can align them, and bursts, stereo views, textures, screenshots of one
layout), what the check said before the cuts (main 751f23d): the verdict, its reason, mirrored,
the turn and block share of a whole-frame match, and the whole frames' refutation. Regenerate
it only for a change that means to change verdicts: ``python tests/verdict_cases.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lookalike.engine.features import photometric

pytest.importorskip("skimage.data")
import verdict_cases  # noqa: E402

PINNED = Path(__file__).parent / "data" / "verify_verdicts.json"


def test_verdicts_are_the_pinned_ones() -> None:
    want = json.loads(PINNED.read_text())
    got = {name: verdict_cases.verdict(a, b) for name, a, b in verdict_cases.pairs()}
    assert list(got) == list(want)
    differ = {k: (want[k], got[k]) for k in want if got[k] != want[k]}
    assert not differ, differ
    kinds = {v["reason"] for v in got.values()}
    assert {"same", "same (direct)", "too little texture", "part of the picture moved"} <= kinds
    assert any(v["same"] is False and v["mirrored"] for v in got.values())


def test_a_vote_stopped_early_is_the_full_vote_s_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a vote stops after every eighth row of blocks (the whole-frame fallback, the
    frames' refutation), the vote of every block says the same: above the share, with at least
    the detail counted so far; where it votes on, its numbers are the full vote's. And the
    refutation that stops early answers as the one that votes on every layout to the end."""
    from lookalike.engine.features.frame_check import frames_differ, frames_refute
    from lookalike.engine.features.verify import prepare

    full = photometric._block_votes
    seen = {"stopped": 0, "voted": 0}

    def checked(xa, xb, ga, gb, valid, strokes, **stop):  # type: ignore[no-untyped-def]
        got = full(xa, xb, ga, gb, valid, strokes, **stop)
        if stop:
            want = full(xa, xb, ga, gb, valid, strokes)
            if got != want:
                seen["stopped"] += 1
                assert got[0] == 1.0 and want[0] > stop["stop_above"], (got, want)
                assert stop["stop_detail"] <= got[1] <= want[1], (got, want)
            else:
                seen["voted"] += 1
        return got

    monkeypatch.setattr(photometric, "_block_votes", checked)
    refuted = 0
    for _name, a, b in verdict_cases.pairs():
        verdict_cases.verdict(a, b)
        pa, pb = prepare(a), prepare(b)
        refutes = frames_refute(pa, pb)
        assert refutes == (frames_differ(pa, pb) is not None), _name
        refuted += refutes
    assert seen["stopped"] >= 5 and seen["voted"] >= 5, seen
    assert refuted >= 5


def test_a_prepared_file_holds_no_empty_mask_and_its_mirror_shares_its_pixels() -> None:
    """The verify workers' cache is bounded in bytes: a photo without padding keeps no mask,
    and its mirror keeps only its own points. The mirror's padding, taken as the flipped mask,
    is the mask of the flipped pixels (a photo turned 7 degrees: black corners)."""
    import numpy as np
    from PIL import Image

    from lookalike.engine.features.verify import _fill_mask, _flipped, prepare

    photo = verdict_cases._photo("chelsea")
    plain = prepare(np.asarray(photo))
    assert not plain.fill.any() and 0 in plain.fill.strides
    turned = prepare(np.asarray(photo.rotate(7, resample=Image.Resampling.BICUBIC)))
    assert turned.fill.any() and turned.fill.nbytes == turned.work.nbytes
    for p in (plain, turned):
        mirror = _flipped(p)
        assert np.shares_memory(mirror.work, p.work)
        assert np.array_equal(mirror.work, p.work[:, ::-1])
        assert np.array_equal(mirror.fill, _fill_mask(np.ascontiguousarray(p.work[:, ::-1])))
        points = p.kps.nbytes + p.desc.nbytes
        assert p.nbytes == p.work.nbytes + (p.fill.nbytes if p is turned else 0) + 2 * points
