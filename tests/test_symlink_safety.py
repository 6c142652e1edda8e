"""No file loses its last regular copy through symlinks.

The keeper is checked with ``lstat`` (a regular file with the recorded dev, inode, size, mtime
and hash) at apply and redo; a symlink keeper from ``--follow-symlinks`` is resolved to the
real file; ``--reference`` and the scan roots are compared by real path. Real photos, the real
CLI and the real engine; the copies are ``cp -p`` copies (same size and mtime), the case a
``stat`` that follows links cannot tell apart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from lookalike.cli import main
from lookalike.engine import actions as A
from lookalike.engine.actions.plancheck import PlanRejected
from lookalike.engine.api import Engine
from plan_helpers import checksums, copy, dirs_env, is_real_copy, lookalike, save_photo

OPS = ["trash", "quarantine", "move:{out}", "copy:{out}", "hardlink", "symlink", "shrink", "delete"]


PHOTOS = ["astronaut", "chelsea", "coffee", "camera", "rocket", "moon", "coins", "page"]


def _library(base: Path) -> tuple[Path, Path, Path]:
    lib = base / "lib"
    keep = save_photo(lib / "a.jpg")  # shortest path: the keeper
    dup = copy(keep, lib / "copy-b.jpg")
    return lib, keep, dup


def _swap_for_link(keep: Path, dup: Path) -> None:
    """The keeper replaced by a symlink to its own duplicate (after planning)."""
    keep.unlink()
    keep.symlink_to(dup.name)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real scan of one folder per operation (a different photo in each, kept as a.jpg,
    with a cp -p copy), then one signed plan per operation — what ``scan --plan-out`` writes."""
    base = tmp_path_factory.mktemp("swap")
    env = dirs_env(base)
    for op, photo in zip(OPS, PHOTOS, strict=True):
        folder = base / "lib" / op.split(":")[0]
        save_photo(folder / "a.jpg", photo)
        copy(folder / "a.jpg", folder / "copy-b.jpg")
    r = lookalike(env, "scan", "--no-ui", str(base / "lib"), "--keep-rule", "shortest-path",
                  "--format", "json")  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    catalog = Path(env["LOOKALIKE_CACHE_DIR"]) / "catalog.sqlite"
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        groups = Engine(catalog).last_groups()
        assert len(groups) == len(OPS)
        for op in OPS:
            folder = base / "lib" / op.split(":")[0]
            mine = [g for g in groups if Path(g.keep).parent == folder]
            plan = A.build_plan(mine, op.format(out=base / "out"), catalog=catalog)
            assert [i.source for i in plan.items] == [str(folder / "copy-b.jpg")]
            A.save_plan(plan, base / f"{op.split(':')[0]}.json")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {"base": base, "env": env, "catalog": catalog}


@pytest.mark.parametrize("op", OPS)
def test_keeper_swapped_for_a_symlink_after_planning(
    planned: dict, op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in planned["env"].items():
        monkeypatch.setenv(k, v)
    name = op.split(":")[0]
    folder = planned["base"] / "lib" / name
    keep, dup = folder / "a.jpg", folder / "copy-b.jpg"
    content = dup.read_bytes()
    _swap_for_link(keep, dup)
    before = checksums(folder)

    # a plan file: refused as a whole before any question is asked
    r = CliRunner().invoke(
        main, ["apply", str(planned["base"] / f"{name}.json"), "--yes", "--permanently"]
    )
    assert r.exit_code == 3, r.output
    assert "is now this same file (a symlink to it?)" in r.stderr
    assert "nothing was touched" in r.stderr
    assert checksums(folder) == before
    assert is_real_copy(dup, content)

    # the engine's own path (a plan object made in-process): refused as a whole too when the
    # keeper now resolves to the source; a keeper turned into a link to any other file is
    # caught by the lstat check right before acting
    keep.unlink()
    copy(dup, keep)
    third = copy(dup, folder / "later" / "third.jpg")  # not scanned, not planned
    groups = [g for g in Engine(planned["catalog"]).last_groups() if Path(g.keep) == keep]
    native = A.build_plan(groups, op.format(out=planned["base"] / "out"))
    assert [i.source for i in native.items] == [str(dup)]
    _swap_for_link(keep, dup)
    with pytest.raises(PlanRejected, match="is now this same file"):
        list(A.apply_plan(native, allow_permanent=True))
    keep.unlink()
    keep.symlink_to(third)
    events = list(A.apply_plan(native, allow_permanent=True))
    outcome = [e for e in events if isinstance(e, A.ItemOutcome)]
    if name in ("copy", "shrink"):  # the source stays: nothing to protect
        assert [e.outcome for e in outcome] == ["done"]
    else:
        assert [e.outcome for e in outcome] == ["skipped"]
        assert "no longer a regular file" in outcome[0].message
    assert is_real_copy(dup, content) and is_real_copy(third, content)


def test_follow_symlinks_with_a_symlink_keeper(tmp_path: Path) -> None:
    """A symlink chosen as keeper is replaced by the real file it points to; if that file is
    outside the scanned folders the group is left alone."""
    lib = tmp_path / "lib"
    real = save_photo(lib / "zz" / "the-original-photo.jpg")
    dup = copy(real, lib / "dup" / "copy-of-the-photo.jpg")
    (lib / "l.jpg").symlink_to("zz/the-original-photo.jpg")
    content = real.read_bytes()
    outside = save_photo(tmp_path / "outside" / "elsewhere.jpg", "coffee")
    other = copy(outside, lib / "dup" / "coffee-copy-somewhere.jpg")
    (lib / "c.jpg").symlink_to(outside)
    env = dirs_env(tmp_path)
    common = ["scan", "--no-ui", str(lib), "--follow-symlinks", "--keep-rule", "shortest-path"]
    r = lookalike(env, *common, "--format", "json")
    groups = json.loads(r.stdout)["groups"]
    assert sorted(Path(g["keep"]).name for g in groups) == ["c.jpg", "l.jpg"]  # both symlinks

    for op in ("symlink", "hardlink"):
        r = lookalike(env, *common, "--action", op, "--yes")
        err = r.stderr.decode()
        assert r.returncode in (0, 1), err
        assert "a symlink to a file outside the scanned folders; group left alone" in err
        assert is_real_copy(real, content), op
        assert is_real_copy(outside, outside.read_bytes()) and is_real_copy(
            other, outside.read_bytes()
        )
        if op == "symlink":
            assert dup.is_symlink() and os.readlink(dup) == str(real)  # the real file
        if op == "hardlink":
            assert dup.samefile(real) and not dup.is_symlink()
        r = lookalike(env, "undo", "--yes")
        assert r.returncode == 0, r.stderr.decode()
        assert is_real_copy(dup, content)


def test_reference_through_a_symlinked_root(tmp_path: Path) -> None:
    """Scanning through a symlinked path (or naming the reference through one) never acts on
    the reference folder's files: they are compared by real path."""
    photos = tmp_path / "real" / "photos"
    big = save_photo(photos / "copies" / "cat.jpg")
    ref_small = save_photo(photos / "ref" / "cat-small.jpg", scale=0.5)
    ref_copy = copy(big, photos / "ref" / "cat-same.jpg")
    (tmp_path / "link").symlink_to(photos)
    env = dirs_env(tmp_path)
    for root, ref in (
        (tmp_path / "link", photos / "ref"),
        (photos, tmp_path / "link" / "ref"),
    ):
        before = checksums(photos / "ref")
        r = lookalike(env, "scan", "--no-ui", str(root), "--reference", str(ref),
                      "--keep-rule", "resolution,shortest-path", "--action", "trash", "--yes")  # fmt: skip
        err = r.stderr.decode()
        assert r.returncode == 0, err  # left out by the reference rule: not a problem
        assert "reference files are never acted on" in err
        assert checksums(photos / "ref") == before
        assert ref_small.is_file() and ref_copy.is_file()
        # the reference copy wins the keeper choice, so the other copy goes; undo brings it back
        assert not big.exists()
        r = lookalike(env, "undo", "--yes")
        assert r.returncode == 0 and big.is_file(), r.stderr.decode()


@pytest.mark.parametrize("change", ["symlink", "overwritten"])
def test_redo_after_the_keeper_changed(tmp_path: Path, change: str) -> None:
    lib, keep, dup = _library(tmp_path)
    content = dup.read_bytes()
    env = dirs_env(tmp_path)
    r = lookalike(env, "scan", "--no-ui", str(lib), "--keep-rule", "shortest-path",
                  "--action", "trash", "--yes")  # fmt: skip
    assert r.returncode == 0 and not dup.exists(), r.stderr.decode()
    r = lookalike(env, "undo", "--yes")
    assert r.returncode == 0 and is_real_copy(dup, content)
    if change == "symlink":
        _swap_for_link(keep, dup)
    else:
        save_photo(keep, "coffee")  # another photo now under the keeper's name
    r = lookalike(env, "redo", "--yes")
    err = r.stderr.decode()
    if change == "symlink":  # the keeper now resolves to the file: the redo is refused
        assert r.returncode == 3 and "is now this same file" in err, err
    else:  # the keeper's identity no longer matches: the file is skipped
        assert r.returncode == 1 and "keeper" in err and "changed since the scan" in err, err
    assert is_real_copy(dup, content)
