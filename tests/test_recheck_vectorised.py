"""Hot spots of grouping, vectorised for speed (issue 13), decide exactly as the straightforward
code did: the pixel re-check's block votes over all blocks at once equal the per-block loop,
faiss's Hamming k-NN equals OpenCV's BFMatcher on ORB descriptors of real photos, and a
candidate pair's match over the 8 transforms equals one transform at a time."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402
from lookalike.engine.features import photometric  # noqa: E402
from lookalike.engine.features.photometric import BLOCK, DETAIL_STD  # noqa: E402
from lookalike.engine.features.verify import prepare, verify_arrays  # noqa: E402
from lookalike.engine.index import hamming_knn  # noqa: E402

data = pytest.importorskip("skimage.data")


def _votes_loop(xa, xb, ga, gb, valid, strokes):  # type: ignore[no-untyped-def]
    """The per-block reference (the code before vectorising, unchanged)."""
    ha, wa = ga.shape
    clipped = (ga >= 250) | (ga <= 5) | (gb >= 250) | (gb <= 5)
    bad = total = detail = 0
    clip_bad = clip_total = clip_detail = 0
    for y in range(0, ha - BLOCK + 1, BLOCK):
        for x in range(0, wa - BLOCK + 1, BLOCK):
            vm = valid[y : y + BLOCK, x : x + BLOCK]
            if vm.mean() < 0.9:
                continue
            pa = xa[y : y + BLOCK, x : x + BLOCK][vm]
            pb = xb[y : y + BLOCK, x : x + BLOCK][vm]
            if clipped[y : y + BLOCK, x : x + BLOCK].mean() > 0.3:
                clip_total += 1
                ca, cb = float(pa.std()), float(pb.std())
                clip_detail += max(ca, cb) >= DETAIL_STD
                differs = abs(float(pa.mean() - pb.mean())) > 40.0
                if not differs and min(ca, cb) >= DETAIL_STD:
                    qa, qb = pa - pa.mean(), pb - pb.mean()
                    differs = float((qa * qb).mean() / (ca * cb + 1e-6)) < 0.55
                clip_bad += differs
                if strokes and min(ca, cb) >= DETAIL_STD:
                    total += 1
                    detail += 1
                    bad += differs
                continue
            da, db = pa - pa.mean(), pb - pb.mean()
            sda, sdb = float(da.std()), float(db.std())
            total += 1
            if sda < 3.0 and sdb < 3.0:
                bad += abs(float(pa.mean() - pb.mean())) > 18.0
                continue
            detail += max(sda, sdb) >= DETAIL_STD
            ncc = float((da * db).mean() / (sda * sdb + 1e-6))
            if ncc < 0.55 or min(sda, sdb) / max(sda, sdb) < 0.3:
                bad += 1
    if total < 8:
        bad, total, detail = bad + clip_bad, total + clip_total, detail + clip_detail
    if total == 0:
        return 1.0, 0
    return bad / total, detail


def _pairs() -> list[tuple[Image.Image, Image.Image]]:
    """Copies, edits, burst frames (hard negatives), pages and screenshots (clipped blocks,
    the strokes pass), from the real photos the tests ship."""
    astro = Image.fromarray(data.astronaut())
    cam = Image.fromarray(data.camera()).convert("RGB")
    page = Image.fromarray(data.page()).convert("RGB")
    bright = ImageEnhance.Brightness(astro).enhance(1.4)
    half = astro.resize((256, 256), Image.Resampling.LANCZOS)
    burst = corpus.burst_frames(Image.fromarray(data.coffee()), seed=5)
    rng = random.Random(3)
    shot_a, shot_b = corpus.screenshot(rng), corpus.screenshot(rng)
    return [
        (astro, bright),
        (astro, half),
        (burst[0], burst[1]),
        (cam, cam.rotate(3, expand=False)),
        (page, page.resize((page.width // 2, page.height // 2))),
        (shot_a, shot_b),
        (shot_a, shot_a.resize((shot_a.width // 2, shot_a.height // 2))),
    ]


def test_block_votes_equal_the_per_block_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = photometric._block_votes
    seen: list[tuple[bool, int]] = []

    def both(xa, xb, ga, gb, valid, strokes, **stop):  # type: ignore[no-untyped-def]
        for fine in (False, True):  # both passes on every pair's blocks
            got = fast(xa, xb, ga, gb, valid, fine)
            want = _votes_loop(xa, xb, ga, gb, valid, fine)
            assert got[1] == want[1] and got[0] == pytest.approx(want[0], abs=1e-12)
        clipped = (ga >= 250) | (ga <= 5) | (gb >= 250) | (gb <= 5)
        seen.append((strokes, int(clipped.sum())))
        return fast(xa, xb, ga, gb, valid, strokes, **stop)

    monkeypatch.setattr(photometric, "_block_votes", both)
    verdicts = [verify_arrays(np.asarray(a), np.asarray(b)).same for a, b in _pairs()]
    assert verdicts[1] and not verdicts[2], verdicts  # a downscale is a copy, a burst is not
    assert len(seen) >= len(verdicts)
    assert any(c > 1000 for _, c in seen), "no clipped blocks were exercised"


def test_hamming_knn_equals_the_opencv_matcher() -> None:
    imgs = [data.astronaut(), data.coffee(), data.chelsea(), data.camera()]
    descs = [prepare(np.asarray(Image.fromarray(i).convert("L"))).desc for i in imgs]
    bf = cv2.BFMatcher(cv2.NORM_HAMMING)
    for a, b in zip(descs, descs[1:] + descs[:1], strict=True):
        dist, ids = hamming_knn(b, a, 2)
        for row, (m, n) in enumerate(bf.knnMatch(a, b, k=2)):
            assert (ids[row, 0], ids[row, 1]) == (m.trainIdx, n.trainIdx)
            assert (dist[row, 0], dist[row, 1]) == (m.distance, n.distance)


def _match_loop(prep, i, j):  # type: ignore[no-untyped-def]
    """The one-transform-at-a-time reference (the code before vectorising)."""
    from lookalike.engine import grouping as g
    from lookalike.engine.features import perceptual as pc

    best = g.NO_MATCH
    vi, vj = prep.views_of(i), prep.views_of(j)
    for t in range(8):
        sign = -1 if pc.DIHEDRAL[t][0] else 1
        pairs = [(va, vb) for va in vi for vb in vj]
        two = len(vi) == 2 and len(vj) == 2
        if two and abs(prep.log_aspect[vi[1]] * sign - prep.log_aspect[vj[1]]) < g.SAME_FRAME:
            pairs = [(vi[1], vj[1])]
            contents = pc.transform_dct(prep.sigs[vi[1]], t)
            if pc.dct_vector(contents) @ pc.dct_vector(prep.sigs[vj[1]]) >= g.CONTENTS_AGREE:
                pairs.append((vi[0], vj[0]))
        for va, vb in pairs:
            shape = abs(float(prep.log_aspect[va]) * sign - float(prep.log_aspect[vb]))
            if shape > g.MAX_ASPECT_LOG:
                continue
            turned = pc.transform_dct(prep.sigs[va], t)
            low = float(pc.dct_vector(turned) @ pc.dct_vector(prep.sigs[vb]))
            if low > best.low:
                band = float(pc.band_vector(turned) @ pc.band_vector(prep.sigs[vb]))
                best = g.Match(low, band, t, shape)
    return best


def test_match_equals_one_transform_at_a_time(tmp_path: Path) -> None:
    from lookalike.engine.features.extract import extract_file
    from lookalike.engine.grouping import Item, ViewSignatures

    astro = Image.fromarray(data.astronaut())
    boxed = Image.new("RGB", (640, 512))
    boxed.paste(astro.resize((400, 400)), (120, 56))  # letterboxed: two framings
    imgs = {
        "astro": astro,
        "rot90": astro.transpose(Image.Transpose.ROTATE_90),
        "mirror": astro.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "flip": ImageEnhance.Brightness(astro.transpose(Image.Transpose.FLIP_TOP_BOTTOM)).enhance(
            1.2
        ),
        "boxed": boxed,
        "coffee": Image.fromarray(data.coffee()),
        "cat": Image.fromarray(data.chelsea()),
        "camera": Image.fromarray(data.camera()).convert("RGB"),
    }
    items = []
    for n, (name, img) in enumerate(imgs.items()):
        path = tmp_path / f"{name}.jpg"
        img.save(path, quality=90)
        items.append(Item(n, str(path), extract_file(str(path), None, 10**9).views))
    assert max(len(it.views) for it in items) == 2, "the letterboxed copy should have two views"
    prep = ViewSignatures(items)
    for i in range(len(items)):
        for j in range(len(items)):
            if i != j:
                assert prep.match(i, j) == _match_loop(prep, i, j), (i, j)
    turned = prep.match(0, 1)
    assert turned.transform != 0 and turned.low > 0.95  # the rotated copy is found turned
