"""The per-install plan key and signatures: the key is private (0600), made once, and a
signature covers every byte of the plan, odd file names included."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

from click.testing import CliRunner

from lookalike.cli import main
from lookalike.commands import act
from lookalike.engine import actions as A
from lookalike.engine.actions import signing
from lookalike.engine.catalog import Catalog
from lookalike.engine.records import Group, Member


def _group(root: Path, name: bytes = b"copy.jpg") -> Group:
    root.mkdir(parents=True, exist_ok=True)
    keep, dup = root / "keep.jpg", Path(os.fsdecode(os.fsencode(root) + b"/" + name))
    keep.write_bytes(b"same bytes" * 50)
    dup.write_bytes(b"same bytes" * 50)
    members = tuple(
        Member(str(p), p.stat().st_size, 1, 1, "JPEG", 1.0, mtime_ns=p.stat().st_mtime_ns)
        for p in (keep, dup)
    )
    return Group(1, "exact", str(keep), "test", members)


def test_key_is_private_made_once_and_repaired() -> None:
    key = signing.install_key()
    path = signing.key_path()
    st = path.stat()
    assert len(key) == 32 and stat.S_IMODE(st.st_mode) == 0o600
    assert signing.install_key() == key
    os.chmod(path, 0o644)
    assert signing.install_key() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_signature_covers_every_field_and_odd_names_round_trip(tmp_path: Path) -> None:
    plan = A.build_plan([_group(tmp_path / "t", b"caf\xe9\nname.jpg")], "trash")
    A.save_plan(plan, tmp_path / "p.json")
    text = (tmp_path / "p.json").read_text(encoding="ascii")  # surrogates are escaped
    again = A.load_plan(tmp_path / "p.json")
    assert again.signed and again == plan
    assert os.fsencode(again.items[0].source).endswith(b"caf\xe9\nname.jpg")
    doc = json.loads(text)
    for edit in (
        lambda d: d["items"][0].update(size=d["items"][0]["size"] + 1),
        lambda d: d.update(roots=["/"]),
        lambda d: d["catalog"].update(id="x"),
        lambda d: d.update(created=d["created"] + 1),
    ):
        bad = json.loads(text)
        edit(bad)
        assert not signing.is_signed_here(bad)
    assert signing.is_signed_here(doc)
    os.unlink(signing.key_path())  # another install: same plan, other key
    assert not A.load_plan(tmp_path / "p.json").signed


def test_dry_run_json_is_a_signed_plan_and_apply_never_re_signs(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = act.run_action_for_groups(
        [_group(tmp_path / "t")],
        "trash",
        dry_run=True,
        yes=False,
        permanently=False,
        plan_out=None,
        fmt="json",
        stdout=out,
        stderr=err,
    )
    assert code == 0
    (tmp_path / "p.json").write_text(out.getvalue())
    assert A.load_plan(tmp_path / "p.json").signed
    r = CliRunner().invoke(main, ["apply", str(tmp_path / "p.json"), "--yes"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "t" / "copy.jpg").exists()

    # an unsigned plan shown with --force-unsigned --dry-run comes out unsigned
    g = _group(tmp_path / "u")
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as cat:  # the catalog the plan names, holding the group
        scan = cat.start_scan([str(tmp_path / "u")])
        for m in g.members:
            st = os.stat(m.path)
            cat.add_file(m.path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, scan)
        cat.finish_scan(scan, {}, [g])
    plan = A.build_plan([g], "trash", catalog=db)
    doc = plan.to_json()
    (tmp_path / "u.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(
        main,
        ["apply", str(tmp_path / "u.json"), "--dry-run", "--force-unsigned", "--format", "json"],
    )
    assert r.exit_code == 0, r.output
    assert signing.SIGNATURE_FIELD not in json.loads(r.stdout)
