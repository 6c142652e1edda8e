"""``lookalike merge-backups list|remove``: the ``.NAME.lookalike-BATCH-N.orig`` an in-file
metadata merge keeps beside the keeper is listed and removed for good on request — never
silently, never a changed file, crash-safe — and the merge is then reported as not undoable."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image
from skimage import data

from lookalike.engine.actions import journal as jn
from lookalike.engine.actions import merge_backups as mb
from lookalike.engine.actions import metawrite
from lookalike.engine.actions.recovery import settle_pending
from lookalike.engine.actions.undo import undo
from lookalike.engine.metadata import exiv

pytest.importorskip("pyexiv2")

GPS = {
    "Exif.GPSInfo.GPSLatitudeRef": "N",
    "Exif.GPSInfo.GPSLatitude": "48/1 51/1 2400/100",
    "Exif.GPSInfo.GPSLongitudeRef": "E",
    "Exif.GPSInfo.GPSLongitude": "2/1 21/1 300/100",
}


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOOKALIKE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    monkeypatch.delenv("LOOKALIKE_JOURNAL", raising=False)


def _photos(d: Path) -> tuple[Path, Path]:
    """A camera original without GPS and a messenger copy (re-encoded) that has GPS + keywords."""
    d.mkdir(parents=True)
    orig, sent = d / "IMG_0001.jpg", d / "sent.jpg"
    Image.fromarray(data.astronaut()).save(orig, quality=95)
    Image.fromarray(data.astronaut()).save(sent, quality=70)
    sent.write_bytes(exiv.rewrite(sent.read_bytes(), exif=GPS, xmp={"Xmp.dc.subject": ["nasa"]}))
    return orig, sent


def _merged_by_scan(tmp_path: Path) -> tuple[dict[str, str], Path, Path, str]:
    """The real CLI: scan, merge into the keeper's own file, trash the copy."""
    from plan_helpers import dirs_env, lookalike

    env = dirs_env(tmp_path)
    orig, sent = _photos(tmp_path / "p")
    r = lookalike(
        env, "scan", "--no-ui", str(orig.parent), "--action", "trash", "--merge-metadata",
        "--merge-into-file", "--yes",
    )  # fmt: skip
    err = r.stderr.decode()
    assert r.returncode == 0, err
    batch = err.split("undo with: lookalike undo ")[1].split()[0]
    return env, orig, sent, batch


def _backups(d: Path) -> list[Path]:
    return sorted(d.glob(".*.lookalike-*.orig"))


def test_cli_list_remove_and_history(tmp_path: Path) -> None:
    from plan_helpers import lookalike

    env, orig, sent, batch = _merged_by_scan(tmp_path)
    [backup] = _backups(orig.parent)
    assert backup.name == f".IMG_0001.jpg.lookalike-{batch}-0.orig"
    merged = orig.read_bytes()

    r = lookalike(env, "merge-backups", "list", "--format", "json")
    assert r.returncode == 0, r.stderr.decode()
    [row] = json.loads(r.stdout)
    assert (row["batch"], row["backup"], row["target"]) == (batch, str(backup), str(orig))
    r = lookalike(env, "merge-backups", "list", "--older-than", "1")
    assert r.returncode == 0 and r.stdout == b"" and b"0 merge backup(s)" in r.stderr

    # no terminal, no --yes: refused with advice, nothing removed
    r = lookalike(env, "merge-backups", "remove")
    assert r.returncode == 3 and b"add --yes" in r.stderr and backup.exists()
    r = lookalike(env, "merge-backups", "remove", "--dry-run")
    assert r.returncode == 0 and backup.exists()
    assert str(backup).encode() in r.stdout and b"no longer be possible" in r.stderr
    r = lookalike(env, "merge-backups", "remove", batch, "--older-than", "1", "--yes")
    assert r.returncode == 6 and backup.exists()  # the batch is not a day old

    r = lookalike(env, "merge-backups", "remove", "--yes")
    assert r.returncode == 0, r.stderr.decode()
    assert f"undo of the metadata merge will no longer be possible for batch(es) {batch}" in (
        r.stderr.decode()
    )
    assert b"removed 1 merge backup(s)" in r.stdout
    assert not backup.exists() and orig.read_bytes() == merged

    r = lookalike(env, "history")
    line = next(x for x in r.stdout.decode().splitlines() if x.startswith(batch))
    assert "1 purged" in line and "merge backups removed" in line and "not undoable" in line
    r = lookalike(env, "history", batch)
    assert b"purged" in r.stdout and b"can no longer be undone" in r.stdout
    r = lookalike(env, "undo", batch, "--yes")
    assert r.returncode == 6 and b"merge backups removed" in r.stderr
    assert orig.read_bytes() == merged  # the keeper keeps what the copy knew
    r = lookalike(env, "merge-backups", "remove", "--yes")
    assert r.returncode == 6 and b"no merge backups to remove" in r.stderr
    # the trash batch is still undoable: the copy comes back
    assert lookalike(env, "undo", "--yes").returncode == 0 and sent.exists()


def test_typed_confirmation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import click
    from click.testing import CliRunner

    from lookalike.commands import common, quarantine

    orig, sent = _photos(tmp_path / "p")
    got = _merge(orig, sent)
    [backup] = _backups(orig.parent)

    @click.group()
    def cli() -> None:
        pass

    quarantine.register(cli)
    prompts: list[str] = []
    monkeypatch.setattr(common, "read_typed_confirmation", lambda p: prompts.append(p) or "no")
    r = CliRunner().invoke(cli, ["merge-backups", "remove"])
    assert r.exit_code == common.EXIT_REFUSED and backup.exists()
    assert f"no longer be possible for batch(es) {got.batch_id}" in prompts[0]
    assert "Type 'remove 1 backups'" in prompts[0]
    monkeypatch.setattr(common, "read_typed_confirmation", lambda p: "remove 1 backups")
    r = CliRunner().invoke(cli, ["merge-backups", "remove"])
    assert r.exit_code == 0 and not backup.exists()


def _merge(orig: Path, sent: Path) -> metawrite.MergeOutcome:
    from lookalike.engine.metadata.merge import plan_merges

    planned = plan_merges([("trash", str(sent), str(orig))], into_file=True)
    got = metawrite.apply_merges(planned.jobs)
    assert got.done == [str(orig)]
    return got


def test_older_than_and_a_changed_backup_is_kept(tmp_path: Path) -> None:
    orig, sent = _photos(tmp_path / "p")
    before = orig.read_bytes()
    _merge(orig, sent)
    [backup] = _backups(orig.parent)
    assert mb.merge_backups(older_than_days=2) == []
    later = time.time() + 3 * mb.DAY
    assert [b.backup for b in mb.merge_backups(older_than_days=2, now=later)] == [str(backup)]
    # someone replaced the backup: it is not the keeper's old bytes, so it is left alone
    backup.unlink()
    backup.write_bytes(b"not the original")
    res = mb.remove_merge_backups(now=later, older_than_days=2)
    assert res.files == 0 and res.skipped == ((str(backup), "its content changed since the merge"),)
    assert backup.read_bytes() == b"not the original"
    backup.write_bytes(before)  # the right bytes again (a new inode): removable
    assert mb.remove_merge_backups(only=[]).files == 0  # only what was listed and confirmed
    res = mb.remove_merge_backups(only=mb.merge_backups())
    assert (res.files, res.bytes, res.skipped) == (1, len(before), ())
    assert not backup.exists()


@pytest.mark.parametrize("unlinked", [False, True])
def test_crash_mid_remove_is_settled(tmp_path: Path, unlinked: bool) -> None:
    """Killed between the ``purging`` intent and the result: recovery reads the disk."""
    orig, sent = _photos(tmp_path / "p")
    before = orig.read_bytes()
    got = _merge(orig, sent)
    [backup] = _backups(orig.parent)
    with jn.Journal() as j:
        j.set_item(got.batch_id, 0, jn.PURGING)
    if unlinked:
        backup.unlink()
    settle_pending()
    with jn.Journal() as j:
        [rec] = j.items(got.batch_id)
    if unlinked:
        assert rec.state == jn.PURGED and "no longer be undone" in (rec.error or "")
        assert mb.merge_backups() == []
    else:
        assert rec.state == jn.ITEM_DONE  # the backup is there: undo works again
        list(undo(got.batch_id))
        assert orig.read_bytes() == before and not os.path.lexists(backup)


def test_app_history_says_why_the_merge_cannot_be_undone(tmp_path: Path) -> None:
    """The app's History screen (real engine adapter) shows the purged row with its reason."""
    from lookalike.engine.api import Engine
    from lookalike.ui.engine_port import EngineAdapter

    orig, sent = _photos(tmp_path / "p")
    got = _merge(orig, sent)
    assert mb.remove_merge_backups().files == 1
    port = EngineAdapter(Engine(catalog_path=tmp_path / "cat.db"))
    [batch] = [b for b in port.history() if b.batch_id == got.batch_id]
    assert batch.details == (f"purged: {orig} → {orig} ({mb.REMOVED})",)
