"""The re-check's cheaper paths (issue 13, session 14) answer as the slow ones, on real photos,
their edited copies (turned, mirrored, cropped, rotated, watermarked, softened) and the hard
negatives (bursts, stereo views, night skies, textures, screenshots of one layout):

- the block vote takes the eighths of its rows in batches where one at a time could not
  have stopped, counts blocks' valid and clipped pixels from summed-area tables and a block's
  covariance from its deviations: the same numbers as the session-13 vote, one eighth at a
  time, for every share and detail it may be asked to stop at;
- the re-check reads only a check's verdict, so its block vote stops once the share that
  differs is above MAX_BAD_BLOCKS: the same verdicts and reasons, and ``Verifier.refutes``
  answers as the full check followed by the whole frames' full refutation;
- ``b``'s picture mask made once for all the maps it is laid by (``photometric.source``), the
  keypoints' positions read by ``cv2.KeyPoint_convert``, and no flood for a padding mask when no
  corner is black or white: the same numbers."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lookalike.engine.features import photometric
from lookalike.engine.features import verify as V
from lookalike.engine.features.frame_check import frames_differ
from lookalike.engine.features.photometric import DETAIL_STD, _blocks

pytest.importorskip("skimage.data")
import corpus  # noqa: E402  (on sys.path through verdict_cases)
import verdict_cases  # noqa: E402


def _votes(pa, pb, w, clip):  # type: ignore[no-untyped-def]
    """The block counts of main 2d81e5e, unchanged: the reference."""
    n = w.sum(axis=1)
    ma = (pa * w).sum(axis=1) / n
    dev = (pa - ma[:, None]) * w
    sa = np.sqrt((dev * dev).sum(axis=1) / n)
    mb = (pb * w).sum(axis=1) / n
    dev = (pb - mb[:, None]) * w
    sb = np.sqrt((dev * dev).sum(axis=1) / n)
    cov = ((pa - ma[:, None]) * (pb - mb[:, None]) * w).sum(axis=1) / n
    ncc = cov / (sa * sb + 1e-6)
    hi, lo = np.maximum(sa, sb), np.minimum(sa, sb)
    c_differs = (np.abs(ma - mb) > 40.0) | ((lo >= DETAIL_STD) & (ncc < 0.55))
    body = ~clip
    flat = body & (sa < 3.0) & (sb < 3.0)
    tex = body & ~flat
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), 0.0)
    fine = clip & (lo >= DETAIL_STD)
    return np.array(
        [
            (flat & (np.abs(ma - mb) > 18.0)).sum() + (tex & ((ncc < 0.55) | (ratio < 0.3))).sum(),
            body.sum(),
            (tex & (hi >= DETAIL_STD)).sum(),
            (c_differs & clip).sum(),
            clip.sum(),
            (clip & (hi >= DETAIL_STD)).sum(),
            fine.sum(),
            (fine & c_differs).sum(),
        ],
        np.int64,
    )


def _staged_votes(xa, xb, ga, gb, valid, strokes, stop_above=None, stop_detail=0):  # type: ignore[no-untyped-def]
    """The vote one eighth at a time and its counts (main 2d81e5e, unchanged): the reference."""
    ha, wa = ga.shape
    ny, nx = ha // 16, wa // 16
    if ny == 0 or nx == 0:
        return 1.0, 0
    clipped = (ga >= 250) | (ga <= 5) | (gb >= 250) | (gb <= 5)
    w_all = _blocks(valid, ny, nx)
    used = (w_all.mean(axis=1) >= 0.9).reshape(ny, nx)
    n_used = int(used.sum())
    every = np.arange(ny)
    spread = [every[r::8] for r in (0, 4, 2, 6, 1, 5, 3, 7) if r < ny]
    stages = [every] if stop_above is None or strokes else spread
    counts = np.zeros(8, np.int64)
    for rows in stages:
        keep = used[rows].ravel()
        w = w_all.reshape(ny, nx, -1)[rows].reshape(-1, 256)[keep]
        clip = _blocks(clipped, ny, nx, rows)[keep].mean(axis=1) > 0.3
        pa, pb = _blocks(xa, ny, nx, rows)[keep], _blocks(xb, ny, nx, rows)[keep]
        counts += _votes(pa, pb, w, clip)
        over = len(stages) > 1 and n_used and int(counts[0]) / n_used > stop_above
        if over and int(counts[2]) >= stop_detail:
            return 1.0, int(counts[2])
    bad, total, detail, c_bad, c_total, c_detail, f_total, f_bad = (int(x) for x in counts)
    if strokes:
        total += f_total
        detail += f_total
        bad += f_bad
    if total < 8:
        bad, total, detail = bad + c_bad, total + c_total, detail + c_detail
    if total == 0:
        return 1.0, 0
    return bad / total, detail


def _pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """verdict_cases' pairs, watermarked copies, collages (a strip of another photo pasted in)
    and night-sky frames (hard negatives)."""
    out = list(verdict_cases.pairs())
    photo = verdict_cases._photo("chelsea")
    rng = random.Random(7)
    for where in ("corner", "centre"):
        made = corpus.t_watermark(where)(photo, b"", rng)
        marked = cv2.imdecode(np.frombuffer(made.data, np.uint8), cv2.IMREAD_COLOR)
        out.append((f"watermark/{where}", np.asarray(photo), marked[..., ::-1]))
    for name, frac in (("chelsea", 0.25), ("astronaut", 0.12), ("coffee", 0.5)):
        img = verdict_cases._photo(name)
        edited = img.copy()  # a strip pasted from another photo: aligns, content differs
        strip = verdict_cases._photo("rocket").resize(img.size)
        edited.paste(strip.crop((0, 0, round(img.width * frac), img.height)), (0, 0))
        out.append((f"collage/{name}", np.asarray(img), np.asarray(edited)))
    sky = corpus._sky(11)
    frames = [
        corpus.render_exposure(sky, (300, 300), 1),
        corpus.render_exposure(sky, (300, 300), 2),  # another exposure of one framing
        corpus.render_exposure(sky, (300, 300), 3, rot=8.0),
        corpus.render_exposure(corpus._sky(12), (300, 300), 4),
    ]
    for i, other in enumerate(frames[1:], 1):
        out.append((f"sky/{i}", np.asarray(frames[0]), np.asarray(other)))
    return out


def _flooded(g: np.ndarray) -> np.ndarray:
    """verify._fill_mask of main 2d81e5e, unchanged: every black or white corner flooded."""
    h, w = g.shape
    mask = np.zeros((h + 2, w + 2), np.uint8)
    work = g.copy()
    for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        v = int(g[y, x])
        if (v <= 4 or v >= 251) and mask[y + 1, x + 1] == 0:
            cv2.floodFill(work, mask, (x, y), 0, 2, 2, flags=4 | (1 << 8) | cv2.FLOODFILL_MASK_ONLY)
    fill = mask[1:-1, 1:-1].astype(bool)
    return fill if fill.mean() < 0.25 else np.zeros_like(fill)


@pytest.fixture(scope="module")
def prepared() -> list[tuple[str, V._Prepared, V._Prepared]]:
    return [(name, V.prepare(a), V.prepare(b)) for name, a, b in _pairs()]


def test_votes_in_batches_equal_one_eighth_at_a_time(
    prepared: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = photometric._block_votes
    asked = {"votes": 0, "stopped": 0}
    shares = (0.0, 0.02, V.MAX_BAD_BLOCKS, 0.25, 0.5, 0.9)

    def both(xa, xb, ga, gb, valid, strokes, **stop):  # type: ignore[no-untyped-def]
        assert fast(xa, xb, ga, gb, valid, strokes, **stop) == _staged_votes(
            xa, xb, ga, gb, valid, strokes, **stop
        )
        for share in shares:
            for detail in (0, 1, 12, 40):
                want = _staged_votes(xa, xb, ga, gb, valid, False, share, detail)
                assert fast(xa, xb, ga, gb, valid, False, share, detail) == want
                asked["stopped"] += want[0] == 1.0
        asked["votes"] += 1
        return fast(xa, xb, ga, gb, valid, strokes, **stop)

    monkeypatch.setattr(photometric, "_block_votes", both)
    for _name, pa, pb in prepared[::3]:
        V.verify_prepared(pa, pb, verdict_only=True)
        frames_differ(pa, pb)
    assert asked["votes"] >= 40 and asked["stopped"] >= 100, asked


def test_a_verdict_only_check_gives_the_full_check_s_verdict(prepared: list) -> None:
    stopped = 0
    for name, pa, pb in prepared:
        for a, b in ((pa, pb), (pb, pa)):
            full, quick = V.verify_prepared(a, b), V.verify_prepared(a, b, verdict_only=True)
            assert (quick.same, quick.reason, quick.mirrored) == (
                full.same,
                full.reason,
                full.mirrored,
            ), name
            assert (quick.inliers, quick.matches, quick.angle) == (
                full.inliers,
                full.matches,
                full.angle,
            ), name
            assert quick.score == full.score, name  # what the verify stage keeps
            if quick.bad_blocks != full.bad_blocks:  # the vote stopped: it differs above
                assert quick.bad_blocks == 1.0 and full.bad_blocks > V.MAX_BAD_BLOCKS, name
                assert quick.reason == V.R_DIFFERS, name
                stopped += 1
    assert stopped >= 5, stopped


def test_refutes_answers_as_the_full_check_and_refutation(prepared: list, tmp_path: Path) -> None:
    """Verifier.refutes (the re-check, on files) against the slow composition: the full check
    contradicts, or it gave no verdict either way and the whole frames differ everywhere."""
    verifier = V.Verifier()
    refuted = kept = 0
    for n, (name, a, b) in enumerate(_pairs()):
        paths = []
        for side, img in (("a", a), ("b", b)):
            path = tmp_path / f"{n}{side}.png"
            Image.fromarray(np.ascontiguousarray(img)).save(path)
            paths.append(path)
        pa, pb = verifier._get(paths[0]), verifier._get(paths[1])
        assert pa is not None and pb is not None
        full = V.verify_prepared(pa, pb)
        slow = full.contradicts or (not full.same and frames_differ(pa, pb) is not None)
        assert verifier.refutes(*paths) == slow, name
        refuted += slow
        kept += not slow
    assert refuted >= 10 and kept >= 10, (refuted, kept)


def test_a_source_made_once_and_keypoint_convert_give_the_same_numbers(prepared: list) -> None:
    from lookalike.engine.features.frame_check import _layouts

    laid = 0
    for _name, pa, pb in prepared[::4]:
        for fa, fb, m in list(_layouts(pa, pb))[:6]:
            src = photometric.source(fb)
            got = photometric.compare_blocks(fa, fb, m, src=src)
            valid_b = np.ones(fb.work.shape, np.uint8)
            valid_b[fb.fill] = 0
            assert np.array_equal(src.valid, valid_b) and src.area == float((~fb.fill).sum())
            assert got == photometric.compare_blocks(fa, fb, m)
            laid += 1
    assert laid >= 20
    floods = 0
    for _name, a, b in _pairs()[::5]:  # the padding mask: its flood, unless no corner can be
        for img in (a, b):
            g = V._as_gray(img)
            want, got = _flooded(g), V._fill_mask(g)
            assert got.shape == want.shape and np.array_equal(got, want), _name
            floods += 0 not in got.strides
    assert floods >= 3, floods
    gray = cv2.cvtColor(np.asarray(verdict_cases._photo("coffee")), cv2.COLOR_RGB2GRAY)
    kps, _ = V._orb().detectAndCompute(V.fit_side(gray, V.WORK_SIDE), None)
    want = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    got = V.prepare(gray).kps
    assert len(want) > 500 and got.dtype == want.dtype and np.array_equal(got, want)
