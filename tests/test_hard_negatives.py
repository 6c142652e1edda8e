"""Look-alikes that are not one photo (burst frames, screenshots of one layout) stay apart in
hash mode too, while real copies of them still group."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.features.extract import extract_file
from lookalike.engine.features.verify import verify_arrays
from lookalike.engine.grouping import Item, group_items

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

data = pytest.importorskip("skimage.data")


def _group(paths: list[Path]) -> list[set[str]]:
    items = [Item(n, str(p), extract_file(str(p), None, 10**9).views) for n, p in enumerate(paths)]
    res = group_items(items, 50)
    return [{paths[i].name for i in g} for g in res.groups]


def test_screenshots_of_one_layout_are_different_documents() -> None:
    rng = random.Random(3)
    a, b = corpus.screenshot(rng), corpus.screenshot(rng)
    res = verify_arrays(np.asarray(a), np.asarray(b))
    assert res.same is False, res
    half = a.resize((a.width // 2, a.height // 2), Image.Resampling.LANCZOS)
    assert verify_arrays(np.asarray(a), np.asarray(half)).same


def test_burst_frames_and_screenshots_never_group_by_hashes(tmp_path: Path) -> None:
    frames = corpus.burst_frames(Image.fromarray(data.astronaut()), seed=5)
    paths = []
    for n, f in enumerate(frames):
        paths.append(tmp_path / f"burst{n}.jpg")
        f.save(paths[-1], quality=92)
    copy = frames[0].resize((frames[0].width // 2, frames[0].height // 2))
    paths.append(tmp_path / "burst0_half.jpg")
    copy.save(paths[-1], quality=80)
    rng = random.Random(corpus._seed_for(0, "hard", "document"))  # the corpus's screenshots
    for n in range(3):
        paths.append(tmp_path / f"shot{n}.jpg")
        corpus.screenshot(rng).save(paths[-1], quality=92)
    groups = _group(paths)
    assert {"burst0.jpg", "burst0_half.jpg"} in groups  # a real copy still groups
    for g in groups:
        assert len({n for n in g if n.startswith("burst") and "half" not in n}) <= 1, g
        assert not any(n.startswith("shot") for n in g), g


def test_pixel_rechecks_are_remembered_by_a_rescan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst frame's uncertain edge is checked on the pixels once; a rescan of the unchanged
    files reads the verdict from the catalog (no decode) and builds the same groups."""
    from lookalike.engine import Engine, ScanOptions
    from lookalike.engine.events import ScanFinished
    from lookalike.engine.features import verify

    root = tmp_path / "photos"
    root.mkdir()
    frames = corpus.burst_frames(Image.fromarray(data.astronaut()), seed=5)
    for n, f in enumerate(frames):
        f.save(root / f"burst{n}.jpg", quality=92)
    frames[0].resize((frames[0].width // 2, frames[0].height // 2)).save(
        root / "burst0_half.jpg", quality=80
    )
    calls: list[tuple[str, str]] = []
    real = verify.Verifier.verify

    def counted(self, a, b, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return real(self, a, b, *args, **kwargs)

    monkeypatch.setattr(verify.Verifier, "verify", counted)
    db = tmp_path / "cat.db"

    def scan() -> list[set[str]]:
        events = list(
            Engine(db, tmp_path / "thumbs").scan_sync(ScanOptions(roots=(root,), workers=1))
        )
        fin = events[-1]
        assert isinstance(fin, ScanFinished)
        return sorted(({Path(m.path).name for m in g.members} for g in fin.groups), key=sorted)

    first = scan()
    assert calls, "the burst frames should need a pixel re-check"
    assert {"burst0.jpg", "burst0_half.jpg"} in first
    calls.clear()
    assert scan() == first
    assert calls == []


MOSAIC = Path(__file__).resolve().parent / "data" / "mosaic"  # see its README.md


def test_a_turned_copy_is_found_when_the_trim_bites_into_a_dark_patch() -> None:
    """The scale set's 0002525: its border trim cuts a few % off a near-plain dark patch (it is
    picture, not a border), by a different amount in the turned copy; the contents then miss
    the bar for a turned match, the whole frames line up exactly."""
    paths = [MOSAIC / "0002525.jpg", MOSAIC / "0002525_rot90.jpg"]
    items = [Item(n, str(p), extract_file(str(p), None, 10**9).views) for n, p in enumerate(paths)]
    assert [len(it.views) for it in items] == [2, 2], "both trimmed: contents + whole frame"
    assert _group(paths) == [{"0002525.jpg", "0002525_rot90.jpg"}]


def test_plain_fields_of_other_shapes_are_not_one_photo() -> None:
    """The scale set's 0002365 (3:4) and 0007699 (~9:16): a plain top over a brighter strip,
    split at the same height, matched once each was squeezed to one square (low 0.95, band
    0.76) and the pixel check could not align them to refute it. Beside them, the turned copy
    pair above still groups."""
    names = ["0002365.jpg", "0002525.jpg", "0002525_rot90.jpg", "0007699.jpg"]
    assert _group([MOSAIC / n for n in names]) == [{"0002525.jpg", "0002525_rot90.jpg"}]


def test_a_stretched_copy_still_groups_on_near_exact_signatures(tmp_path: Path) -> None:
    """Shape alone never splits a copy: the astronaut stretched 40 % wide keeps its signature
    (low and band cosines ≥ 0.9999), so it needs no pixel check and groups."""
    astro = Image.fromarray(data.astronaut())
    paths = [tmp_path / "astro.jpg", tmp_path / "astro_wide.jpg"]
    astro.save(paths[0], quality=92)
    astro.resize((720, 512), Image.Resampling.LANCZOS).save(paths[1], quality=90)
    assert _group(paths) == [{"astro.jpg", "astro_wide.jpg"}]
