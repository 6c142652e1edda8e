"""The benchmark corpus builder makes what its labels say: the accuracy numbers rest on it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import corpus  # noqa: E402

PHOTOS = ["chelsea", "motorcycle_left", "motorcycle_right"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("corpus")
    labels = corpus.make_corpus(
        out,
        photos=PHOTOS,
        transforms=corpus.available_transforms(),
        seed=0,
        distractors=[("hubble", 2, 1)],
    )
    return out, labels


def _open(path: Path) -> Image.Image:
    im = Image.open(path)
    im.load()
    return im


def _sniff(data: bytes) -> str:
    """Container type from the magic bytes, independent of the file name."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIF"
    if data[:2] == b"BM":
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return "?"


def test_labels_cover_every_file(built: tuple[Path, dict]) -> None:
    out, labels = built
    on_disk = {p.relative_to(out).as_posix() for p in (out / "images").iterdir()}
    assert on_disk == {f["path"] for f in labels["files"]}
    assert (out / "labels.json").is_file()
    for f in labels["files"]:
        assert {"path", "source", "transform", "group", "near_pair", "distractor"} <= f.keys()


def test_each_source_has_original_and_every_transform(built: tuple[Path, dict]) -> None:
    _, labels = built
    names = set(corpus.available_transforms())
    for sid in PHOTOS:
        got = {f["transform"] for f in labels["files"] if f["source"] == sid}
        assert got >= names | {corpus.ORIGINAL}
        assert {f["group"] for f in labels["files"] if f["source"] == sid} == {sid}


def test_near_pairs_are_separate_groups_but_marked(built: tuple[Path, dict]) -> None:
    _, labels = built
    left = [f for f in labels["files"] if f["source"] == "motorcycle_left"]
    right = [f for f in labels["files"] if f["source"] == "motorcycle_right"]
    assert all(f["near_pair"] for f in left + right)
    assert {f["group"] for f in left}.isdisjoint({f["group"] for f in right})
    assert not any(f["near_pair"] for f in labels["files"] if f["source"] == "chelsea")


def test_distractors_are_unique_groups(built: tuple[Path, dict]) -> None:
    _, labels = built
    ds = [f for f in labels["files"] if f["distractor"]]
    assert len(ds) == 2
    assert len({f["group"] for f in ds}) == 2
    assert all(f["derived_from"] == "hubble" for f in ds)
    others = {f["group"] for f in labels["files"] if not f["distractor"]}
    assert others.isdisjoint({f["group"] for f in ds})


def test_every_file_decodes_as_its_expected_kind(built: tuple[Path, dict]) -> None:
    out, labels = built
    for f in labels["files"]:
        path = out / f["path"]
        data = path.read_bytes()
        expect = (
            corpus.TRANSFORMS[f["transform"]].expect_format
            if f["transform"] in corpus.TRANSFORMS
            else "JPEG"
        )
        assert _sniff(data) == expect, f["path"]
        im = _open(path)
        assert min(im.size) >= 16, f["path"]


def test_originals_are_realistic_size(built: tuple[Path, dict]) -> None:
    out, labels = built
    for f in labels["files"]:
        if f["transform"] in (corpus.ORIGINAL, corpus.DISTRACTOR):
            assert min(_open(out / f["path"]).size) >= corpus.MIN_SHORT_SIDE


def test_exact_copy_is_byte_identical(built: tuple[Path, dict]) -> None:
    out, _ = built
    a = (out / "images/chelsea__original.jpg").read_bytes()
    assert (out / "images/chelsea__exact_copy.jpg").read_bytes() == a


@pytest.mark.parametrize("name", ["exif_orient_3", "exif_orient_6", "exif_orient_8"])
def test_exif_only_copy_displays_like_the_original(built: tuple[Path, dict], name: str) -> None:
    out, _ = built
    orig = _open(out / "images/chelsea__original.jpg").convert("L")
    raw = _open(out / f"images/chelsea__{name}.jpg")
    assert raw.getexif().get(0x0112) == int(name[-1])
    shown = ImageOps.exif_transpose(raw).convert("L")
    assert shown.size == orig.size
    if name != "exif_orient_3":
        assert raw.size == orig.size[::-1]  # stored pixels really are rotated
    diff = np.abs(np.asarray(shown, float) - np.asarray(orig, float)).mean()
    assert diff < 3.0


def test_geometry_of_edits(built: tuple[Path, dict]) -> None:
    out, _ = built
    w, h = _open(out / "images/chelsea__original.jpg").size
    assert _open(out / "images/chelsea__rot90.jpg").size == (h, w)
    assert _open(out / "images/chelsea__scale_25.jpg").size == (round(w / 4), round(h / 4))
    cw, ch = _open(out / "images/chelsea__crop_20.jpg").size
    assert (cw, ch) == (round(w * 0.8), round(h * 0.8))
    lw, lh = _open(out / "images/chelsea__letterbox_16x9.jpg").size
    assert abs(lw / lh - 16 / 9) < 0.01
    rw, rh = _open(out / "images/chelsea__small_rot_10.jpg").size
    assert rw < w and rh < h
    assert _open(out / "images/chelsea__grayscale.jpg").mode == "L"


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    kw = {"photos": ["coffee"], "transforms": ["crop_10", "noise", "small_rot_3"], "seed": 7}
    a = corpus.make_corpus(tmp_path / "a", **kw)
    b = corpus.make_corpus(tmp_path / "b", **kw)
    for fa, fb in zip(a["files"], b["files"], strict=True):
        assert (tmp_path / "a" / fa["path"]).read_bytes() == (
            tmp_path / "b" / fb["path"]
        ).read_bytes()


def test_heldout_sources_are_disjoint() -> None:
    assert set(corpus.MAIN_PHOTOS).isdisjoint(corpus.HELDOUT_PHOTOS)
    main_parents = {p for p, _, _ in corpus.MAIN_DISTRACTOR_PARENTS}
    held_parents = {p for p, _, _ in corpus.HELDOUT_DISTRACTOR_PARENTS}
    assert main_parents.isdisjoint(corpus.MAIN_PHOTOS)
    assert held_parents.isdisjoint(corpus.HELDOUT_PHOTOS)


def test_unknown_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        corpus.make_corpus(tmp_path, photos=["nope"], transforms=[])
    with pytest.raises(ValueError):
        corpus.make_corpus(tmp_path, photos=["coffee"], transforms=["nope"])


def _group_result(labels: dict, root: Path, groups: list[list[str]], tier: str = "same") -> dict:
    return {
        "version": 1,
        "groups": [
            {"id": i, "tier": tier, "files": [{"path": str(root / p)} for p in g]}
            for i, g in enumerate(groups)
        ],
        "errors": [],
        "stats": {},
    }


def test_scorer_perfect_and_degraded(built: tuple[Path, dict]) -> None:
    """The accuracy scorer on hand-made results: perfect, a missed copy, a near-pair merge."""
    import accuracy

    out, labels = built
    by_group: dict[str, list[str]] = {}
    for f in labels["files"]:
        by_group.setdefault(f["group"], []).append(f["path"])
    perfect = [g for g in by_group.values() if len(g) > 1]
    s = accuracy.score(labels, _group_result(labels, out, perfect), out)
    assert (s["precision"], s["recall"], s["false_pairs"]) == (1.0, 1.0, 0)

    chelsea = [p for p in by_group["chelsea"] if "rot90" not in p]
    motor = by_group["motorcycle_left"] + by_group["motorcycle_right"][:1]
    s = accuracy.score(labels, _group_result(labels, out, [chelsea, motor]), out)
    # rot90 pairs: chelsea (dropped), motorcycle_left (kept), motorcycle_right (not grouped)
    assert (s["per_transform"]["rot90"]["found"], s["per_transform"]["rot90"]["pairs"]) == (1, 3)
    assert s["false_pairs_by_category"] == {"near_pair": len(by_group["motorcycle_left"])}
    assert s["precision"] < 1.0 and s["recall"] < 1.0

    # look-alike tier groups are reported apart, not scored as "same photo"
    s = accuracy.score(labels, _group_result(labels, out, [motor], tier="similar"), out)
    assert s["false_pairs"] == 0 and s["similar_tier"]["near_pair"] > 0

    # relative paths and a distractor merged into a group
    rel = [[*by_group["chelsea"], by_group["hubble.r00"][0]]]
    res = _group_result(labels, Path(""), rel)
    s = accuracy.score(labels, res, out)
    assert s["false_pairs_by_category"] == {"distractor": len(by_group["chelsea"])}
    assert s["unknown_paths"] == 0


def test_hard_negatives_are_singletons_and_never_cut_from_a_source(tmp_path: Path) -> None:
    labels = corpus.make_corpus(
        tmp_path, photos=["chelsea"], transforms=["jpeg_q50"], hard=["texture", "stereo"]
    )
    hard = [f for f in labels["files"] if f.get("hard")]
    assert {f["hard"] for f in hard} == {"texture", "stereo"} and len(hard) == 14
    assert all(f["distractor"] and f["kind"] == corpus.HARD for f in hard)
    groups = [f["group"] for f in labels["files"]]
    assert all(groups.count(f["group"]) == 1 for f in hard)  # each its own photo
    for f in hard:
        with Image.open(tmp_path / f["path"]) as im:
            assert min(im.size) >= corpus.MIN_SHORT_SIDE
    with pytest.raises(ValueError, match="must not be sources"):
        corpus.make_corpus(tmp_path / "x", photos=["brick"], transforms=[], hard=["texture"])
