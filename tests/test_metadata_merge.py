"""--merge-metadata on real photos: a copy's GPS, keywords, date and rating reach a keeper that
lacks them (sidecar by default, in the file on request with the pixels untouched), conflicts
follow the stated rule, undo restores every byte, and a SIGKILL anywhere in the write loses
nothing."""

from __future__ import annotations

import os
import signal
import traceback
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from lookalike.engine import actions as A
from lookalike.engine.actions import fsutil, metawrite
from lookalike.engine.actions import journal as jn
from lookalike.engine.metadata import exiv, fields
from lookalike.engine.metadata.merge import plan_merges, sidecar_path
from lookalike.engine.records import Group, Member

pyexiv2 = pytest.importorskip("pyexiv2")

GPS = {
    "Exif.GPSInfo.GPSLatitudeRef": "N",
    "Exif.GPSInfo.GPSLatitude": "48/1 51/1 2400/100",
    "Exif.GPSInfo.GPSLongitudeRef": "E",
    "Exif.GPSInfo.GPSLongitude": "2/1 21/1 300/100",
}


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LOOKALIKE_JOURNAL", raising=False)


def _tag(path: Path, exif: dict | None = None, xmp: dict | None = None) -> None:
    path.write_bytes(exiv.rewrite(path.read_bytes(), exif=exif or {}, xmp=xmp or {}))


def _pair(tmp: Path) -> tuple[Path, Path]:
    """The keeper (astronaut, quality 95, no metadata) and a re-encoded copy that knows GPS,
    keywords, a capture date and a rating."""
    tmp.mkdir(parents=True, exist_ok=True)
    keeper, copy = tmp / "keeper.jpg", tmp / "copy.jpg"
    Image.fromarray(data.astronaut()).save(keeper, quality=95)
    Image.fromarray(data.astronaut()).save(copy, quality=70)
    _tag(
        copy,
        {**GPS, "Exif.Photo.DateTimeOriginal": "2019:06:01 10:00:00"},
        {"Xmp.dc.subject": ["space", "nasa"], "Xmp.xmp.Rating": "4"},
    )
    return keeper, copy


def _plan(keeper: Path, copy: Path, op: str = "trash") -> A.Plan:
    members = tuple(
        Member(str(p), p.stat().st_size, 512, 512, "JPEG", 1.0, mtime_ns=p.stat().st_mtime_ns)
        for p in (keeper, copy)
    )
    plan = A.build_plan([Group(1, "same", str(keeper), "", members)], op, roots=[keeper.parent])
    assert [i.source for i in plan.items] == [str(copy)]
    return plan


def _scan_data(jpeg: bytes) -> bytes:
    """The entropy-coded image data (from the first SOS marker): the pixels as stored."""
    return jpeg[jpeg.index(b"\xff\xda") :]


def _known(path: Path) -> fields.Known:
    raws = [exiv.read(path.read_bytes())]
    if os.path.exists(sidecar_path(str(path))):
        raws.append(exiv.read(Path(sidecar_path(str(path))).read_bytes()))
    return fields.known(*raws)


def test_sidecar_merge_then_undo(tmp_path: Path) -> None:
    keeper, copy = _pair(tmp_path / "p")
    before = keeper.read_bytes()
    plan = _plan(keeper, copy)
    plan2, planned, got = metawrite.merge_for_plan(plan, into_file=False)
    assert plan2 is plan  # a sidecar leaves the keeper as it was
    assert got.done == [sidecar_path(str(keeper))] and not got.failed
    k = _known(keeper)
    assert k.gps and (round(k.gps.lat, 4), round(k.gps.lon, 4)) == (48.8567, 2.3508)
    assert k.keywords == ["space", "nasa"] and k.rating == 4 and k.date == "2019-06-01T10:00:00"
    assert keeper.read_bytes() == before
    # the copy goes; undo of that batch, then of the merge, restores everything
    events = list(A.apply_plan(plan2))
    assert events[-1].done == 1 and not copy.exists()
    list(A.undo())
    assert copy.exists()
    list(A.undo(got.batch_id))
    assert not os.path.exists(sidecar_path(str(keeper))) and keeper.read_bytes() == before


def test_in_file_merge_keeps_pixels_and_undo_restores_bytes(tmp_path: Path) -> None:
    keeper, copy = _pair(tmp_path / "p")
    before = keeper.read_bytes()
    plan = _plan(keeper, copy)
    plan2, _, got = metawrite.merge_for_plan(plan, into_file=True)
    after = keeper.read_bytes()
    assert after != before and _scan_data(after) == _scan_data(before)
    assert np.array_equal(
        np.asarray(Image.open(keeper)), np.asarray(Image.open(tmp_path / "p" / "keeper.jpg"))
    )
    raw = exiv.read(after)
    assert raw.exif["Exif.GPSInfo.GPSLatitude"] == GPS["Exif.GPSInfo.GPSLatitude"]
    assert raw.xmp["Xmp.dc.subject"] == ["space", "nasa"]
    assert not os.path.exists(sidecar_path(str(keeper)))
    # the plan now names the rewritten keeper: the copy still goes (keeper check passes)
    assert plan2.items[0].keeper_hash == fsutil.hash_file(keeper)
    assert list(A.apply_plan(plan2))[-1].done == 1
    list(A.undo(got.batch_id))
    assert keeper.read_bytes() == before


def test_conflicts_follow_the_rule(tmp_path: Path) -> None:
    """Earliest date wins, the more precise fix wins, keywords are united, the keeper's rating
    stays; each disagreement is listed."""
    keeper, copy = _pair(tmp_path / "p")
    _tag(
        keeper,
        {
            "Exif.Photo.DateTimeOriginal": "2020:01:01 00:00:00",
            "Exif.GPSInfo.GPSLatitudeRef": "N",
            "Exif.GPSInfo.GPSLatitude": "48/1 51/1 0/1",
            "Exif.GPSInfo.GPSLongitudeRef": "E",
            "Exif.GPSInfo.GPSLongitude": "2/1 21/1 0/1",
        },
        {"Xmp.dc.subject": ["astronaut"], "Xmp.xmp.Rating": "2"},
    )
    (job,) = plan_merges([("trash", str(copy), str(keeper))], into_file=False).jobs
    assert job.xmp["Xmp.exif.DateTimeOriginal"] == "2019-06-01T10:00:00"
    assert job.xmp["Xmp.dc.subject"] == ["astronaut", "space", "nasa"]
    assert job.xmp["Xmp.exif.GPSLatitude"].startswith("48,51.4")
    assert "Xmp.xmp.Rating" not in job.xmp
    text = "\n".join(job.conflicts)
    assert "capture date" in text and "earliest kept" in text
    assert "GPS" in text and "most precise kept" in text
    assert "rating: keeper 2" in text


def test_nothing_to_merge_means_no_batch(tmp_path: Path) -> None:
    keeper, copy = _pair(tmp_path / "p")
    Image.fromarray(data.astronaut()).save(copy, quality=70)  # a copy that knows nothing
    plan = _plan(keeper, copy)
    _, planned, got = metawrite.merge_for_plan(plan, into_file=False)
    assert planned.jobs == [] and got.batch_id is None


# -- SIGKILL anywhere in the write ---------------------------------------------------------
HOOKS = [(os, "link"), (os, "replace"), (fsutil, "rename_noclobber"), (os, "fsync"),
         (jn.Journal, "set_item")]  # fmt: skip


def _killed_at(work, target: object, name: str, skip: int) -> bool:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            real = getattr(target, name)
            left = skip

            def trip(*a, **kw):
                nonlocal left
                if left == 0:
                    os.kill(os.getpid(), signal.SIGKILL)
                left -= 1
                return real(*a, **kw)

            setattr(target, name, trip)
            work()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        assert os.WEXITSTATUS(status) == 0, "the worker failed (traceback above)"
        return False
    return os.WTERMSIG(status) == signal.SIGKILL


@pytest.mark.parametrize("mode", ["new-sidecar", "old-sidecar", "in-file"])
def test_sigkill_mid_merge_loses_nothing(tmp_path: Path, mode: str) -> None:
    """Kill at every call of every hook in turn: the target's bytes always exist (at its path
    or its backup), settling leaves it either as it was or merged, with no temp file, and
    undo brings back the original byte for byte."""
    kills = 0
    into_file = mode == "in-file"
    for target, name in HOOKS:
        for skip in range(4):
            d = tmp_path / f"{name}-{skip}"
            keeper, copy = _pair(d)
            if mode == "old-sidecar":  # darktable already wrote one: it is extended, kept
                Path(sidecar_path(str(keeper))).write_bytes(
                    exiv.sidecar(None, {"Xmp.dc.title": {'lang="x-default"': "Moon walk"}})
                )
            Image.fromarray(data.coffee()).save(d / "other.jpg")  # an unrelated bystander
            before = {p.name: p.read_bytes() for p in d.iterdir()}
            plan = _plan(keeper, copy)
            jobs = plan_merges(
                [(i.op, i.source, i.keeper) for i in plan.items], into_file=into_file
            ).jobs
            died = _killed_at(lambda j=jobs: metawrite.apply_merges(j), target, name, skip)
            kills += died
            on_disk = [p.read_bytes() for p in d.iterdir() if p.is_file()]
            assert all(b in on_disk for b in before.values())  # nothing lost, before recovery
            A.settle_pending()
            assert fsutil.TMP_MARK not in "".join(os.listdir(d)) or _merged(keeper, into_file)
            state = {p.name: p.read_bytes() for p in d.iterdir() if fsutil.TMP_MARK not in p.name}
            for name2 in ("copy.jpg", "other.jpg"):
                assert state[name2] == before[name2]
            merged = _merged(keeper, into_file)
            if not merged:
                assert state == before  # not done: exactly as it was, no temp left
                assert not any(fsutil.TMP_MARK in n for n in os.listdir(d))
            else:
                list(A.undo())
                assert {p.name: p.read_bytes() for p in d.iterdir()} == before
            for b in A.history():
                assert b.state in (jn.DONE, jn.INTERRUPTED, jn.UNDONE)
    assert kills >= 5  # the write path was really cut at several points


def _merged(keeper: Path, into_file: bool) -> bool:
    target = keeper if into_file else Path(sidecar_path(str(keeper)))
    return target.exists() and bool(exiv.read(target.read_bytes()).xmp.get("Xmp.dc.subject"))


def test_cli_scan_action_merges_then_undo_twice(tmp_path: Path) -> None:
    """The real CLI: the camera original is kept, the messenger copy's GPS and keywords land in
    the keeper's sidecar before the copy is trashed; ``info`` reads the sidecar; two undos put
    everything back; a redo of the merge alone is refused with advice."""
    from plan_helpers import dirs_env, lookalike

    env = dirs_env(tmp_path)
    d = tmp_path / "p"
    d.mkdir()
    orig, sent = d / "IMG_0001.jpg", d / "sent.jpg"
    Image.fromarray(data.astronaut()).save(orig, quality=95)
    _tag(orig, {"Exif.Image.Make": "Canon", "Exif.Photo.DateTimeOriginal": "2019:06:01 10:00:00"})
    Image.fromarray(data.astronaut()).save(sent, quality=70)
    _tag(sent, GPS, {"Xmp.dc.subject": ["space", "nasa"]})
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    r = lookalike(env, "scan", "--no-ui", str(d), "--action", "trash", "--merge-metadata", "--yes")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "metadata → " in err and "gps from" in err and "keywords from" in err
    assert not sent.exists()
    r = lookalike(env, "info", "--format", "json", sidecar_path(str(orig)))
    import json

    xmp = json.loads(r.stdout)["xmp"]
    assert xmp["Xmp.dc.subject"] == ["space", "nasa"] and xmp["Xmp.exif.GPSLatitude"]
    for _ in range(2):
        assert lookalike(env, "undo", "--yes").returncode == 0
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    merge_batch = err.split("metadata merged into 1 keeper(s); undo with: lookalike undo ")[
        1
    ].split()[0]
    r = lookalike(env, "redo", merge_batch, "--yes")
    assert r.returncode == 6 and b"run the file operation again with --merge-metadata" in r.stderr


def test_cli_apply_plan_file_with_merge_into_file(tmp_path: Path) -> None:
    """``apply PLAN --merge-metadata --merge-into-file``: a signed plan from a scan; the keeper is
    rewritten in place (image data untouched), the copy still goes, and undo restores both."""
    from plan_helpers import dirs_env, lookalike

    env = dirs_env(tmp_path)
    d = tmp_path / "p"
    d.mkdir()
    orig, sent = d / "IMG_0001.jpg", d / "sent.jpg"
    Image.fromarray(data.astronaut()).save(orig, quality=95)
    _tag(orig, {"Exif.Image.Make": "Canon", "Exif.Photo.DateTimeOriginal": "2019:06:01 10:00:00"})
    Image.fromarray(data.astronaut()).save(sent, quality=70)
    _tag(sent, GPS, {"Xmp.dc.subject": ["space", "nasa"]})
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    plan = tmp_path / "plan.json"
    r = lookalike(env, "scan", "--no-ui", str(d), "--action", "trash", "--plan-out", str(plan))
    assert r.returncode == 0, r.stderr.decode()
    r = lookalike(env, "apply", str(plan), "--yes", "--merge-metadata", "--merge-into-file")
    assert r.returncode == 0, r.stderr.decode()
    assert not sent.exists() and not os.path.exists(sidecar_path(str(orig)))
    after = orig.read_bytes()
    assert _scan_data(after) == _scan_data(before["IMG_0001.jpg"])
    raw = exiv.read(after)
    assert raw.exif["Exif.GPSInfo.GPSLatitude"] == GPS["Exif.GPSInfo.GPSLatitude"]
    assert raw.xmp["Xmp.dc.subject"] == ["space", "nasa"]
    for _ in range(2):
        assert lookalike(env, "undo", "--yes").returncode == 0
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before


def test_heic_keeper_gets_a_sidecar_even_with_merge_into_file(tmp_path: Path) -> None:
    """exiv2 reads HEIC but cannot write it: the merge says so and uses the sidecar."""
    pytest.importorskip("pillow_heif").register_heif_opener()
    keeper, copy = _pair(tmp_path / "p")
    heic = keeper.with_suffix(".heic")
    Image.fromarray(data.astronaut()).save(heic, quality=80)
    merged = plan_merges([("trash", str(copy), str(heic))], into_file=True)
    (job,) = merged.jobs
    assert not job.into_file and job.target == sidecar_path(str(heic))
    assert any("cannot write into HEIF" in n for n in merged.notes)
    got = metawrite.apply_merges(merged.jobs)
    assert got.done == [job.target]
    assert exiv.read(Path(job.target).read_bytes()).xmp["Xmp.dc.subject"] == ["space", "nasa"]


def test_a_failed_merge_keeps_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If what a copy knows cannot be written to its keeper, the copy is not removed."""
    keeper, copy = _pair(tmp_path / "p")

    def refuse(*_: object, **__: object) -> bytes:
        raise exiv.MetadataError("exiv2 refused the new metadata (test)")

    monkeypatch.setattr(metawrite, "sidecar", refuse)
    plan2, _, got = metawrite.merge_for_plan(_plan(keeper, copy), into_file=False)
    assert got.failed and plan2.items == ()
    assert "could not be merged" in plan2.refused[-1].reason
    assert not os.path.exists(sidecar_path(str(keeper))) and copy.exists()


def test_damaged_values_are_ignored_not_merged() -> None:
    """Cameras write placeholders (0000:00:00 dates, 0/0 rationals): never taken as facts."""
    raw = exiv.Raw(
        exif={
            "Exif.Photo.DateTimeOriginal": "0000:00:00 00:00:00",
            "Exif.GPSInfo.GPSLatitude": "0/0 0/0 0/0",
            "Exif.GPSInfo.GPSLatitudeRef": "N",
            "Exif.GPSInfo.GPSLongitude": "junk",
            "Exif.Image.Rating": "0",
        },
        xmp={"Xmp.exif.GPSLatitude": "north-ish"},
    )
    k = fields.known(raw)
    assert (k.date, k.gps, k.rating) == (None, None, None)
    assert not fields.merge(fields.Known(), [("copy.jpg", k)])
