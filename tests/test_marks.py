"""Marks, favourites and notes: kept in the catalog by file identity (moves followed)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from lookalike.engine import marks
from lookalike.engine.catalog import Catalog


def _photo(path: Path, which: str = "astronaut", quality: int = 90) -> Path:
    arr = getattr(data, which)()
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    Image.fromarray(arr).save(path, quality=quality)
    return path


@pytest.fixture
def cat(tmp_path: Path):
    with Catalog(tmp_path / "cat.db") as c:
        yield c


def test_mark_unmark_and_favourites_are_separate_sets(tmp_path: Path, cat: Catalog) -> None:
    a, b = _photo(tmp_path / "a.jpg"), _photo(tmp_path / "b.jpg", "coffee")
    marks.mark(cat, [str(a), str(b)])
    marks.set_favourite(cat, [str(b)], True)
    assert marks.marked(cat) == [str(a), str(b)]
    assert marks.favourites(cat) == [str(b)]
    marks.unmark(cat, [str(b)])
    assert marks.marked(cat) == [str(a)]
    assert cat.favourites() == {str(b)}  # the plan builder's view is the same table
    assert marks.clear(cat, "marked") == 1
    assert marks.marked(cat) == []
    with pytest.raises(marks.MarkError, match="unknown flag"):
        marks.clear(cat, "starred")


def test_mark_follows_a_renamed_file_through_the_catalog(tmp_path: Path, cat: Catalog) -> None:
    """A rescan records the file under its new name (same inode, size, mtime): the mark goes
    with it."""
    a = _photo(tmp_path / "a.jpg")
    marks.mark(cat, [str(a)])
    marks.set_note(cat, str(a), "the sharp one")
    moved = tmp_path / "sub"
    moved.mkdir()
    new = moved / "renamed.jpg"
    os.rename(a, new)
    st = os.stat(new)
    cat.add_file(str(new), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, 1)
    assert marks.marked(cat) == [str(new)]
    assert marks.notes(cat) == {str(new): "the sharp one"}
    # remembered: the row now names the new path
    raw = cat.db.execute("SELECT path FROM file_marks").fetchall()
    assert raw == [(os.fsencode(str(new)),)]


def test_mark_follows_same_content_copied_elsewhere_not_a_different_photo(
    tmp_path: Path, cat: Catalog
) -> None:
    """Copy + delete (a move across disks) keeps the content, not the inode: the content hash
    finds it; a different photo of the same size is never taken for it."""
    a = _photo(tmp_path / "a.jpg")
    blob = a.read_bytes()
    marks.mark(cat, [str(a)])
    decoy = tmp_path / "decoy.jpg"
    decoy.write_bytes(blob[:-64] + bytes(64))  # same size, different tail
    elsewhere = tmp_path / "other" / "a.jpg"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(blob)
    a.unlink()
    for p in (decoy, elsewhere):
        st = os.stat(p)
        cat.add_file(str(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, 1)
    assert marks.marked(cat) == [str(elsewhere)]


def test_a_lost_file_is_listed_missing_never_dropped(tmp_path: Path, cat: Catalog) -> None:
    a = _photo(tmp_path / "a.jpg")
    marks.mark(cat, [str(a)])
    blob = a.read_bytes()
    a.unlink()
    assert marks.marked(cat) == []
    (got,) = marks.entries(cat)
    assert got.missing and got.marked and got.path == str(a)
    a.write_bytes(blob)  # the disk came back
    assert marks.marked(cat) == [str(a)]


def test_folder_notes_and_empty_note_removes(tmp_path: Path, cat: Catalog) -> None:
    a = _photo(tmp_path / "a.jpg")
    marks.set_note(cat, str(tmp_path), "holiday 2019, phone backup")
    marks.set_note(cat, str(a), "keep")
    assert marks.folder_notes(cat) == {str(tmp_path): "holiday 2019, phone backup"}
    marks.set_note(cat, str(a), "  ")
    marks.set_note(cat, str(tmp_path), "")
    assert marks.notes(cat) == {} and marks.folder_notes(cat) == {}
    assert cat.db.execute("SELECT COUNT(*) FROM file_marks").fetchone() == (0,)


def test_non_utf8_names_are_kept_as_bytes(tmp_path: Path, cat: Catalog) -> None:
    odd = os.path.join(os.fsencode(tmp_path), b"caf\xe9\nx.jpg")
    _photo(Path(os.fsdecode(odd)))
    marks.mark(cat, [os.fsdecode(odd)])
    (got,) = marks.marked(cat)
    assert os.fsencode(got) == odd


def test_old_favourites_table_is_adopted(tmp_path: Path) -> None:
    """Catalogs written before marks.py kept favourites by path: they are not lost."""
    a = _photo(tmp_path / "a.jpg")
    db = tmp_path / "old.db"
    with Catalog(db) as c:
        pass
    con = sqlite3.connect(db)
    con.execute("INSERT INTO favourites VALUES (?, 0)", (os.fsencode(str(a)),))
    con.commit()
    con.close()
    with Catalog(db) as c:
        assert c.favourites() == {str(a)}
        assert marks.favourites(c) == [str(a)]


def test_listing_untouched_files_reads_no_content(
    tmp_path: Path, cat: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan builder lists favourites for every plan: one stat per file, no content read."""
    a = _photo(tmp_path / "a.jpg")
    marks.set_favourite(cat, [str(a)], True)

    def no_read(*_: object) -> bytes:
        raise AssertionError("content read for an untouched file")

    monkeypatch.setattr(marks, "headtail_hash", no_read)
    assert marks.favourites(cat) == [str(a)] and cat.favourites() == {str(a)}
