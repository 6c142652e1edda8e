"""Grouping from columns (item_table.py): float16 DCT blocks as the catalog stores them give
the groups, candidates and matches of the float32 items, on real photos with copies, turned
copies, a letterboxed copy and look-alikes (burst frames)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from lookalike.engine.candidates import candidate_array
from lookalike.engine.features.extract import View, extract_file, pack_views, unpack_views
from lookalike.engine.grouping import Item, ViewSignatures, group_items
from lookalike.engine.item_table import ItemTable, TableBuilder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import corpus  # noqa: E402

data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[Item]:
    """Real photos: copies (resized, re-encoded, brighter, turned, letterboxed), burst frames
    (look-alikes that must stay apart) and unrelated photos; float32 views from extraction."""
    tmp = tmp_path_factory.mktemp("photos")
    cat = Image.fromarray(data.chelsea())
    boxed = Image.new("RGB", (640, 512))
    boxed.paste(cat.resize((400, 300)), (120, 106))
    imgs = {
        "cat": cat,
        "cat_half": cat.resize((cat.width // 2, cat.height // 2)),
        "cat_rot90": cat.transpose(Image.Transpose.ROTATE_90),
        "cat_mirror": cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "cat_boxed": boxed,
        "coffee": Image.fromarray(data.coffee()),
        "coffee_bright": ImageEnhance.Brightness(Image.fromarray(data.coffee())).enhance(1.2),
        "camera": Image.fromarray(data.camera()).convert("RGB"),
        "rocket": Image.fromarray(data.rocket()),
    }
    for n, frame in enumerate(corpus.burst_frames(Image.fromarray(data.astronaut()), seed=5)):
        imgs[f"burst{n}"] = frame  # as test_hard_negatives: look-alikes, not one photo
    out = []
    for n, (name, img) in enumerate(sorted(imgs.items())):
        path = tmp / f"{name}.jpg"
        img.save(path, quality=92)
        out.append(Item(n, str(path), extract_file(str(path), None, 10**9).views))
    assert any(len(it.views) == 2 for it in out), "the letterboxed copy should have two views"
    return out


def _table(items: list[Item]) -> ItemTable:
    build = TableBuilder(1)  # grows: more views than the capacity first allotted
    for it in items:
        build.add_packed(it.key, it.path, pack_views(it.views))
    return build.table()


def _rounded(items: list[Item]) -> list[Item]:
    """What the scan grouped before columns: the catalog's float16 unpacked to float32."""
    return [Item(it.key, it.path, unpack_views(pack_views(it.views))) for it in items]


def test_float16_table_gives_the_float32_groups(items: list[Item]) -> None:
    """Against the unrounded float32 blocks of extraction: the same groups and edges."""
    table = _table(items)
    assert table.dct.dtype == np.float16
    full, cols = group_items(items, 50), group_items(table, 50)  # pixel re-checks on
    assert cols.groups == full.groups
    assert cols.edges.keys() == full.edges.keys()
    for k, s in full.edges.items():
        assert abs(cols.edges[k] - s) < 2e-3, (k, s, cols.edges[k])
    names = [{Path(items[i].path).stem for i in g} for g in full.groups]
    assert {"cat", "cat_half", "cat_rot90", "cat_mirror", "cat_boxed"} in names
    assert {"coffee", "coffee_bright"} in names
    for g in names:  # burst frames are look-alikes, never one photo
        assert len({n for n in g if n.startswith("burst")}) <= 1, g


def test_table_matches_equal_the_catalogs_float32_copies(items: list[Item]) -> None:
    """Bit for bit: every signature computation upcasts, so float16 storage changes nothing
    against the float32 copies a scan grouped before (same candidates, same Match)."""
    table, rounded = _table(items), _rounded(items)
    a, b = ViewSignatures(table), ViewSignatures(rounded)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.keys, b.keys)
    assert np.array_equal(candidate_array(a), candidate_array(b))
    for i in range(len(items)):
        for j in range(len(items)):
            if i != j:
                assert a.match(i, j) == b.match(i, j), (i, j)
    assert (
        group_items(table, 50, recheck=None).groups == group_items(rounded, 50, recheck=None).groups
    )


def test_table_items_read_back_like_the_catalogs(items: list[Item]) -> None:
    table = _table(items)
    assert len(table) == len(items)
    for it, back in zip(items, table, strict=True):
        ref = unpack_views(pack_views(it.views))
        assert (back.key, back.path) == (it.key, it.path)
        assert len(back.views) == len(ref)
        for v, r in zip(back.views, ref, strict=True):
            assert np.array_equal(v.dct.astype(np.float32), r.dct)
            assert v.aspect == r.aspect and v.haar == b""
    assert table[-1].key == items[-1].key
    with pytest.raises(IndexError):
        table[len(items)]


def test_views_and_packed_rows_fill_the_same_columns(items: list[Item]) -> None:
    by_views = TableBuilder(len(items))
    for it in items:
        by_views.add_views(it.key, it.path, it.views)
    a, b = by_views.table(), _table(items)
    assert np.array_equal(a.dct, b.dct) and np.array_equal(a.first, b.first)
    assert np.array_equal(a.aspect, b.aspect) and a.paths == b.paths


def test_inconsistent_columns_are_refused() -> None:
    dct = np.zeros((2, 24, 24), np.float16)
    with pytest.raises(ValueError, match="first"):
        ItemTable(np.array([1]), ["a"], np.array([0, 1]), dct, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="number of items"):
        ItemTable(np.array([1, 2]), ["a"], np.array([0, 2]), dct, np.ones(2, np.float32))
    empty = TableBuilder(0).table()
    assert len(empty) == 0 and group_items(empty, 50, recheck=None).groups == []
    assert isinstance(View(dct[0], b"", 1.0).dct, np.ndarray)


def test_search_beside_other_work_gives_the_same_candidates(items: list[Item]) -> None:
    """The candidate search in a thread while the caller works (the group stage's stamps):
    the same pairs as searched alone, the work done on the caller's thread (the catalog's
    connection lives there), and its failure the caller's."""
    import threading

    from lookalike.engine.candidates import searched_beside

    alone = candidate_array(ViewSignatures(items))
    assert len(alone) > 0
    ran_on: list[threading.Thread] = []
    beside = searched_beside(
        ViewSignatures(items), False, lambda: ran_on.append(threading.current_thread())
    )
    assert np.array_equal(beside, alone)
    assert ran_on == [threading.current_thread()]
    assert np.array_equal(searched_beside(ViewSignatures(items), True, None), alone)

    def fails() -> None:
        raise OSError("the catalog went away")

    with pytest.raises(OSError, match="went away"):
        searched_beside(ViewSignatures(items), False, fails)


@pytest.mark.parametrize("on_disk", [False, True])
def test_packed_chunks_give_the_columns_of_one_item_at_a_time(items, tmp_path, on_disk) -> None:
    """``add_packed_many`` (the group stage's load, a chunk at a time) against ``add_packed``
    item by item: the same keys, paths, view offsets and bytes of every block and aspect, in
    memory and in the file column, across chunks (one empty) and a growing buffer; a blob
    that is not pack_views' layout goes through ``add_packed`` as it is."""
    blobs = [pack_views(it.views) for it in items]
    one = TableBuilder(1, tmp_path / "one.f16" if on_disk else None)
    for it, b in zip(items, blobs, strict=True):
        one.add_packed(it.key, it.path, b)
    many = TableBuilder(1, tmp_path / "many.f16" if on_disk else None)
    for lo, hi in ((0, 3), (3, 3), (3, len(items))):
        part = items[lo:hi]
        many.add_packed_many([it.key for it in part], [it.path for it in part], blobs[lo:hi])
    odd = blobs[0] + b"\0"  # a trailing byte: not pack_views' length
    one.add_packed(99, "odd.jpg", odd)
    many.add_packed_many([99], ["odd.jpg"], [odd])
    a, b = one.table(), many.table()
    assert a.keys.tolist() == b.keys.tolist() and a.paths == b.paths
    assert np.array_equal(a.first, b.first) and int(b.first[-1]) > len(items)  # 2-view items
    assert np.asarray(a.dct).tobytes() == np.asarray(b.dct).tobytes()
    assert a.aspect.tobytes() == b.aspect.tobytes()
    assert sorted(set(b.aspect.tolist())) != [1.0]  # real shapes, not a constant
