"""Results are written as groups finish (issue 13): the rank stage yields each group as soon as
it is built, and the headless writers put it out then — byte for byte what the one-document
writers made from the whole list, on real photos and a real video."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from lookalike.engine.api import Engine
from lookalike.engine.events import GroupFound, ScanFinished
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import ScanStats
from lookalike.engine.stages import rank as rank_stage
from lookalike.headless import output
from lookalike.headless.runner import run_scan
from lookalike.headless.stream import ResultStream

VIDEO = Path(__file__).parent / "data" / "video" / "carphone_pristine.mp4"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four photo groups and one video group whose first path falls between them."""
    lib = tmp_path_factory.mktemp("lib")
    photos = (("a-cat", data.chelsea()), ("c-cup", data.coffee()), ("d-man", data.astronaut()))
    for name, arr in (*photos, ("e-rocket", data.rocket())):
        img = Image.fromarray(arr)
        img.save(lib / f"{name}.jpg", quality=92)
        img.resize((img.width // 2, img.height // 2)).save(lib / f"{name}-small.jpg", quality=80)
    shutil.copy(lib / "a-cat.jpg", lib / "a-cat-copy.jpg")
    odd = os.fsdecode(b"d-man-\xff\xfe copy.jpg")  # a name that is not UTF-8
    shutil.copy(lib / "d-man.jpg", os.path.join(lib, odd))
    shutil.copy(VIDEO, lib / "b-clip.mp4")
    shutil.copy(VIDEO, lib / "b-clip-copy.mp4")
    (lib / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    return lib


def _options(lib: Path) -> ScanOptions:
    return ScanOptions(roots=(lib,), workers=1, thumbnails=False)


@pytest.mark.parametrize("fmt", ["json", "csv", "text"])
def test_streamed_output_is_byte_identical_to_the_whole_list_writers(library, tmp_path, fmt):
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    out, links = io.StringIO(), tmp_path / "links"
    got = run_scan(engine, _options(library), fmt, out, links, progress="none", err=io.StringIO())
    assert got.code == 3  # broken.jpg
    fin = got.finished
    assert fin is not None and len(fin.groups) == 5
    assert any(m.path.endswith(".mp4") for m in fin.groups[1].members)  # merged in path order
    old = io.StringIO()
    if fmt == "json":
        output.write_json(old, list(fin.groups), list(fin.errors), fin.stats)
    elif fmt == "csv":
        output.write_csv(old, list(fin.groups))
    else:
        output.write_text(old, list(fin.groups), list(fin.errors), fin.stats)
    assert out.getvalue() == old.getvalue()
    made = sorted(p.name for p in links.iterdir())
    assert made == [f"group-{g.id:05d}-{g.tier}" for g in fin.groups]
    assert sum(len(list((links / d).iterdir())) for d in made) == sum(
        len(g.members) for g in fin.groups
    )


@pytest.mark.parametrize("fmt", ["json", "csv", "text"])
def test_no_groups_writes_the_same_document_as_before(fmt):
    stats = ScanStats(files_seen=2)
    new, old = io.StringIO(), io.StringIO()
    stream = ResultStream(fmt, new)
    stream.finish([], stats)
    if fmt == "json":
        output.write_json(old, [], [], stats)
    elif fmt == "csv":
        output.write_csv(old, [])
    else:
        output.write_text(old, [], [], stats)
    assert new.getvalue() == old.getvalue()


def test_the_first_group_is_out_before_the_last_is_built(library, tmp_path, monkeypatch):
    """Through the real engine: when the first GroupFound reaches the consumer, only the
    first photo group has been ranked; the rest are built after it was handed over."""
    built: list[str] = []
    real_build = rank_stage._Ranker.build

    def counting(self, tier, rep_ids, *judged):  # judged: by a worker (rank_pool.py)
        got = real_build(self, tier, rep_ids, *judged)  # the groups it is sent as
        built.append(got[0][3][0].path)
        return got

    monkeypatch.setattr(rank_stage._Ranker, "build", counting)
    engine = Engine(tmp_path / "c.db", tmp_path / "thumbs")
    seen: list[tuple[int, int]] = []  # (group id, photo groups built when it arrived)
    for ev in engine.scan_sync(_options(library)):
        if isinstance(ev, GroupFound):
            seen.append((ev.group.id, len(built)))
        elif isinstance(ev, ScanFinished):
            groups = ev.groups
    assert [g for g, _ in seen] == [1, 2, 3, 4, 5]
    assert seen[0][1] == 1  # group 1 went out with 3 photo groups still to build
    assert len(built) == 4
    assert built == [g.members[0].path for g in groups if not g.members[0].path.endswith(".mp4")]
