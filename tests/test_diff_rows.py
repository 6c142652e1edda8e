"""The catalog stage's rows: a first scan numbers its files as SQLite would (1, 2, … in walk
order) and every feature lands on its own file's row; a rescan stamps every file it saw, keeps
a moved file's row (and what was read of it) and forgets what a changed file had.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
from pathlib import Path

from lookalike.engine import Engine, ScanOptions
from lookalike.engine.events import ScanFinished


def _jpeg(img, size: tuple[int, int], quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).convert("RGB").resize(size).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _scan(root: Path, tmp: Path) -> ScanFinished:
    engine = Engine(tmp / "catalog.db", tmp / "thumbs")
    fin = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))[-1]
    assert isinstance(fin, ScanFinished) and not fin.cancelled
    return fin


def _catalog(tmp: Path) -> dict[str, dict]:
    """Each file's row by name, with the width and height its stored metadata says."""
    with sqlite3.connect(tmp / "catalog.db") as db:
        meta = dict(db.execute("SELECT file_id, data FROM features WHERE name='meta'"))
        out = {}
        for fid, path, inode, size, kind, seen in db.execute(
            "SELECT id, path, inode, size, kind, seen_scan FROM files"
        ):
            m = json.loads(meta[fid]) if fid in meta else {}
            out[Path(os.fsdecode(path)).name] = {
                "id": fid, "path": os.fsdecode(path), "inode": inode, "size": size,
                "kind": kind, "seen": seen, "dims": (m.get("width"), m.get("height")),
            }  # fmt: skip
        return out


def test_first_scan_ids_and_a_rescans_rows(tmp_path):
    from skimage import data

    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    photos = {"a.jpg": (data.astronaut(), (300, 200)), "b.jpg": (data.coffee(), (240, 320))}
    photos["sub/c.jpg"] = (data.chelsea(), (256, 256))
    photos["a_small.jpg"] = (data.astronaut(), (150, 100))  # a's look-alike: one group
    for name, (img, size) in photos.items():
        (root / name).write_bytes(_jpeg(img, size))
    (root / "notes.txt").write_text("not a photo")
    _scan(root, tmp_path)
    rows = _catalog(tmp_path)
    # walk order: a folder's entries by name, files as met; ids 1..n as SQLite numbers them
    order = ("a.jpg", "a_small.jpg", "b.jpg", "notes.txt", "c.jpg")
    assert [rows[n]["id"] for n in order] == [1, 2, 3, 4, 5]
    for name, (_img, size) in photos.items():
        r, st = rows[Path(name).name], (root / name).stat()
        assert (r["inode"], r["size"], r["kind"], r["seen"]) == (st.st_ino, st.st_size, "image", 1)
        assert r["dims"] == size  # the features on this id are this file's
    assert rows["notes.txt"]["kind"] == "other" and rows["notes.txt"]["dims"] == (None, None)

    os.rename(root / "a.jpg", root / "sub" / "moved.jpg")
    (root / "b.jpg").write_bytes(_jpeg(data.coffee(), (200, 150), 70))  # changed in place
    (root / "d.jpg").write_bytes(_jpeg(data.rocket(), (180, 120)))
    fin = _scan(root, tmp_path)
    assert (fin.stats.files_moved, fin.stats.files_changed, fin.stats.files_new) == (1, 1, 1)
    assert fin.stats.images_decoded == 2  # the changed and the new file; the moved one kept
    after = _catalog(tmp_path)
    assert set(after) == {"moved.jpg", "a_small.jpg", "b.jpg", "notes.txt", "c.jpg", "d.jpg"}
    assert after["moved.jpg"]["id"] == 1 and after["moved.jpg"]["dims"] == (300, 200)
    assert after["moved.jpg"]["path"] == str(root / "sub" / "moved.jpg")
    members = [{m.path for m in g.members} for g in fin.groups]
    assert {str(root / "sub" / "moved.jpg"), str(root / "a_small.jpg")} in members
    assert after["b.jpg"]["id"] == 3 and after["b.jpg"]["dims"] == (200, 150)
    assert after["d.jpg"]["id"] == 6 and after["d.jpg"]["dims"] == (180, 120)
    assert all(r["seen"] == 2 for r in after.values())  # unchanged ones stamped too


def _catalog_ticks(root: Path, tmp: Path, monkeypatch) -> list[tuple[int, int | None]]:
    """(done, total) of every "catalog" progress event of one scan, none rate-limited away."""
    from lookalike.engine.events import StageProgress
    from lookalike.engine.stages import context

    monkeypatch.setattr(context, "PROGRESS_EVERY", 0.0)
    engine = Engine(tmp / "catalog.db", tmp / "thumbs")
    events = list(engine.scan_sync(ScanOptions(roots=(root,), workers=1)))
    return [
        (e.done, e.total) for e in events if isinstance(e, StageProgress) and e.stage == "catalog"
    ]


def test_catalog_progress_goes_on_through_the_sniff(tmp_path, monkeypatch):
    """The sniff is most of the catalog stage on a cold disk: the bar moves through it, never
    backwards, and ends at its total — a first scan counts the files sniffed; a rescan the
    files matched, then the new ones sniffed."""
    from skimage import data

    root = tmp_path / "lib"
    root.mkdir()
    for n in range(6):
        (root / f"p{n}.jpg").write_bytes(_jpeg(data.astronaut()[n * 20 :], (160 + n, 120)))
    first = _catalog_ticks(root, tmp_path, monkeypatch)
    assert [d for d, _ in first] == list(range(1, 7))  # one a file sniffed
    assert {t for _, t in first} == {6}
    for n in range(3):
        (root / f"new{n}.jpg").write_bytes(_jpeg(data.coffee()[n * 20 :], (150 + n, 100)))
    again = _catalog_ticks(root, tmp_path, monkeypatch)
    done = [d for d, _ in again]
    assert done == sorted(done) and done[-1] == 9 + 3  # 9 matched, then 3 new ones sniffed
    assert again[-1][1] == 12


def _rows_by_path(tmp: Path) -> dict[str, tuple]:
    with sqlite3.connect(tmp / "catalog.db") as db:
        return {
            os.fsdecode(p): (fid, size, seen)
            for fid, p, size, seen in db.execute("SELECT id, path, size, seen_scan FROM files")
        }


def test_a_rescans_rows_read_in_one_pass_are_the_rows_of_each_path(tmp_path):
    """The rows under the roots are read in one pass (known_files.py): overlapping roots, a
    listed file outside them and a file changed in place each get their own row, every file
    seen is stamped, a file outside the scan is not."""
    from skimage import data

    root, other = tmp_path / "lib", tmp_path / "elsewhere"
    (root / "sub").mkdir(parents=True)
    other.mkdir()
    (root / "a.jpg").write_bytes(_jpeg(data.astronaut(), (300, 200)))
    (root / "sub" / "c.jpg").write_bytes(_jpeg(data.chelsea(), (256, 256)))
    (other / "o.jpg").write_bytes(_jpeg(data.coffee(), (240, 160)))
    (other / "left.jpg").write_bytes(_jpeg(data.rocket(), (200, 120)))
    engine = Engine(tmp_path / "catalog.db", tmp_path / "thumbs")
    opts = ScanOptions(roots=(root, other), workers=1)
    assert isinstance(list(engine.scan_sync(opts))[-1], ScanFinished)
    first = _rows_by_path(tmp_path)
    (root / "sub" / "c.jpg").write_bytes(_jpeg(data.chelsea(), (200, 200)))  # changed in place
    again = ScanOptions(roots=(root, root / "sub"), files_from=(other / "o.jpg",), workers=1)
    fin = list(engine.scan_sync(again))[-1]
    assert (fin.stats.files_unchanged, fin.stats.files_changed, fin.stats.files_new) == (2, 1, 0)
    after = _rows_by_path(tmp_path)
    assert {p: r[0] for p, r in after.items()} == {p: r[0] for p, r in first.items()}
    c = str(root / "sub" / "c.jpg")
    assert after[c][1] == (root / "sub" / "c.jpg").stat().st_size != first[c][1]
    seen = {p for p, r in after.items() if r[2] == 2}
    assert seen == {str(root / "a.jpg"), c, str(other / "o.jpg")}  # not elsewhere/left.jpg


def test_a_moved_file_whose_old_path_went_after_the_walk(tmp_path, monkeypatch):
    """A file renamed to a.jpg while a new z.jpg took its old name, and that z.jpg gone
    again between the walk and the catalog stage: a.jpg keeps the moved row (and its
    features), z.jpg is a new file reported vanished — the moved row is not given to z.jpg
    as "changed in place" (its stat and features would be lost)."""
    from skimage import data

    from lookalike.engine import pipeline

    root = tmp_path / "lib"
    root.mkdir()
    (root / "z.jpg").write_bytes(_jpeg(data.astronaut(), (300, 200)))
    (root / "b.jpg").write_bytes(_jpeg(data.coffee(), (240, 320)))
    _scan(root, tmp_path)
    z_id = _rows_by_path(tmp_path)[str(root / "z.jpg")][0]
    os.rename(root / "z.jpg", root / "a.jpg")
    (root / "z.jpg").write_bytes(_jpeg(data.chelsea(), (256, 256)))
    walk = pipeline.discover

    def walk_then_remove(ctx):
        found = yield from walk(ctx)
        (root / "z.jpg").unlink()
        return found

    monkeypatch.setattr(pipeline, "discover", walk_then_remove)
    fin = _scan(root, tmp_path)
    assert (fin.stats.files_moved, fin.stats.files_new, fin.stats.files_changed) == (1, 1, 0)
    assert fin.stats.images_decoded == 0  # the moved file's features kept
    rows = _rows_by_path(tmp_path)
    assert rows[str(root / "a.jpg")][0] == z_id
    assert rows[str(root / "z.jpg")][0] != z_id
    assert [e.path for e in fin.errors] == [str(root / "z.jpg")]
