"""A plan file is untrusted input: hand-edited plans are refused AS A WHOLE and touch nothing.

One real scan (real photos, the real CLI) writes a signed plan; each test edits it the way an
attacker or a careless script would, then runs ``lookalike apply``. Every edit is tried twice:
re-signed with this install's key (so the item checks themselves must catch it) and unsigned
with ``--force-unsigned`` (which skips only the signature check). The checksum of every file
is compared before and after, and the journal must hold no batch.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data

from lookalike.cli import main
from lookalike.engine.actions import signing
from plan_helpers import checksums, dirs_env, lookalike


def make_library(base: Path) -> tuple[Path, Path]:
    """lib/: two groups of real photos (exact + resized copy; exact copy in a subfolder);
    outside/: a file with the same bytes as a keeper, never scanned."""
    lib, outside = base / "lib", base / "outside"
    (lib / "sub").mkdir(parents=True)
    outside.mkdir()
    cat = Image.fromarray(data.chelsea())
    cat.save(lib / "cat.jpg", quality=92)
    cat.resize((cat.width // 2, cat.height // 2)).save(lib / "cat-small.jpg", quality=80)
    shutil.copy2(lib / "cat.jpg", lib / "cat-copy.jpg")
    Image.fromarray(data.coffee()).save(lib / "cup.jpg", quality=90)
    shutil.copy2(lib / "cup.jpg", lib / "sub" / "cup-copy.jpg")
    shutil.copy2(lib / "cup.jpg", outside / "secret.jpg")
    return lib, outside


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("hostile")
    lib, outside = make_library(base)
    env = dirs_env(base)
    plan = base / "plan.json"
    r = lookalike(
        env, "scan", "--no-ui", str(lib), "--workers", "1", "--action", "trash",
        "--plan-out", str(plan), "--keep-rule", "resolution,shortest-path",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(plan.read_text())
    assert {Path(i["source"]).name for i in doc["items"]} == {
        "cat-copy.jpg",
        "cat-small.jpg",
        "cup-copy.jpg",
    }
    return {"base": base, "lib": lib, "outside": outside, "env": env, "plan": doc}


@pytest.fixture
def hostile(scanned: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    for k, v in scanned["env"].items():
        monkeypatch.setenv(k, v)
    return scanned


def _stat_fields(p: Path) -> dict:
    st = os.stat(p)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _keeper_fields(p: Path) -> dict:
    st = os.lstat(p)
    import xxhash

    return {
        "keeper": str(p),
        "keeper_size": st.st_size,
        "keeper_mtime_ns": st.st_mtime_ns,
        "keeper_hash": xxhash.xxh3_128(p.read_bytes()).hexdigest(),
        "keeper_dev": st.st_dev,
        "keeper_ino": st.st_ino,
    }


def _item(doc: dict, name: str) -> dict:
    return next(i for i in doc["items"] if i["source"].endswith("/" + name))


def op_differs(doc: dict, s: dict) -> None:
    _item(doc, "cat-copy.jpg")["op"] = "quarantine"


def delete_smuggled(doc: dict, s: dict) -> None:
    _item(doc, "cat-copy.jpg")["op"] = "delete"


def source_outside_roots(doc: dict, s: dict) -> None:
    it = _item(doc, "cup-copy.jpg")
    secret = s["outside"] / "secret.jpg"
    it.update(source=str(secret), **_stat_fields(secret))


def path_traversal(doc: dict, s: dict) -> None:
    it = _item(doc, "cup-copy.jpg")
    it["source"] = str(s["lib"]) + "/../outside/secret.jpg"


def keeper_listed_as_source(doc: dict, s: dict) -> None:
    it = copy.deepcopy(_item(doc, "cat-copy.jpg"))
    keep = s["lib"] / "cat.jpg"
    it.update(seq=len(doc["items"]), source=str(keep), **_stat_fields(keep))
    it.update({k: v for k, v in _keeper_fields(s["lib"] / "cat-copy.jpg").items()})
    doc["items"].append(it)


def every_file_of_a_group(doc: dict, s: dict) -> None:
    """Both cup files listed, each 'kept' by the cat keeper: no source is a keeper."""
    it = _item(doc, "cup-copy.jpg")
    cat = _keeper_fields(s["lib"] / "cat.jpg")
    it.update(cat)
    cup = s["lib"] / "cup.jpg"
    extra = {**copy.deepcopy(it), "seq": len(doc["items"]), "source": str(cup)}
    extra.update(_stat_fields(cup))
    doc["items"].append(extra)


def hash_blanked(doc: dict, s: dict) -> None:
    _item(doc, "cat-copy.jpg")["hash"] = ""


def mtime_zeroed(doc: dict, s: dict) -> None:
    _item(doc, "cat-copy.jpg")["mtime_ns"] = 0


def other_catalog(doc: dict, s: dict) -> None:
    doc["catalog"]["id"] = "0" * 32


def keeper_blanked(doc: dict, s: dict) -> None:
    it = _item(doc, "cat-copy.jpg")
    it.update(keeper_hash=None, keeper_dev=0, keeper_ino=0)


def tier_not_asked_for(doc: dict, s: dict) -> None:
    """The plan acts on exact groups only, but lists a file of a same group."""
    doc["tiers"] = ["exact"]


def dest_elsewhere(doc: dict, s: dict) -> None:
    """A trash plan turned into a move into a folder of the attacker's choice."""
    doc["action"] = f"move:{s['base'] / 'drop'}"
    for it in doc["items"]:
        it["op"] = "move"
        it["dest"] = str(s["base"] / "elsewhere" / Path(it["source"]).name)


EDITS: dict[str, Callable[[dict, dict], None]] = {
    f.__name__: f
    for f in (
        op_differs,
        delete_smuggled,
        source_outside_roots,
        path_traversal,
        keeper_listed_as_source,
        every_file_of_a_group,
        hash_blanked,
        mtime_zeroed,
        other_catalog,
        keeper_blanked,
        dest_elsewhere,
        tier_not_asked_for,
    )
}


REASONS = {  # the reason the refusal gives for each edit
    "op_differs": "cat-copy.jpg: its operation 'quarantine' is not the plan's action 'trash'",
    "delete_smuggled": "cat-copy.jpg: its operation 'delete' is not the plan's action 'trash'",
    "source_outside_roots": "secret.jpg: outside the scanned folders",
    "path_traversal": "secret.jpg: its source path is not a clean absolute path",
    "keeper_listed_as_source": "cat.jpg: it is the keeper",
    "every_file_of_a_group": "cup.jpg: it and its keeper",
    "hash_blanked": "cat-copy.jpg: no content hash recorded",
    "mtime_zeroed": "cat-copy.jpg: no modification time or size recorded",
    "other_catalog": "it was made from another catalog",
    "keeper_blanked": "cat-copy.jpg: its keeper's content hash or time is not recorded",
    "dest_elsewhere": "cat-copy.jpg: its destination",
    "tier_not_asked_for": "cat-small.jpg: its group is a same group, which this plan may not",
}


def _apply(plan_doc: dict, path: Path, *args: str) -> object:
    path.write_text(json.dumps(plan_doc))
    return CliRunner().invoke(main, ["apply", str(path), "--yes", *args])


def _assert_refused(r, before: dict, s: dict, *words: str) -> None:
    assert r.exit_code == 3, r.output
    assert "nothing was touched" in r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert "Traceback" not in r.output
    assert checksums(s["lib"], s["outside"]) == before
    r2 = CliRunner().invoke(main, ["history", "--format", "json"])
    assert json.loads(r2.stdout)["batches"] == []


@pytest.mark.parametrize("signed", [True, False], ids=["re-signed", "force-unsigned"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_hostile_plan_is_refused_and_touches_nothing(
    hostile: dict, tmp_path: Path, edit: str, signed: bool
) -> None:
    before = checksums(hostile["lib"], hostile["outside"])
    doc = copy.deepcopy(hostile["plan"])
    doc.pop(signing.SIGNATURE_FIELD)
    EDITS[edit](doc, hostile)
    if signed:
        doc[signing.SIGNATURE_FIELD] = signing.sign(doc)
    r = _apply(doc, tmp_path / "p.json", *(() if signed else ("--force-unsigned",)))
    _assert_refused(r, before, hostile, REASONS[edit])


def test_refusal_names_the_reason_per_item(hostile: dict, tmp_path: Path) -> None:
    before = checksums(hostile["lib"], hostile["outside"])
    doc = copy.deepcopy(hostile["plan"])
    doc.pop(signing.SIGNATURE_FIELD)
    delete_smuggled(doc, hostile)
    source_outside_roots(doc, hostile)
    r = _apply(doc, tmp_path / "p.json", "--force-unsigned")
    _assert_refused(
        r,
        before,
        hostile,
        "2 of 3 file(s) fail its checks",
        "cat-copy.jpg: its operation 'delete' is not the plan's action 'trash'",
        "secret.jpg: outside the scanned folders",
    )


def test_unsigned_plan_is_refused_without_force(hostile: dict, tmp_path: Path) -> None:
    before = checksums(hostile["lib"], hostile["outside"])
    doc = copy.deepcopy(hostile["plan"])
    doc["items"] = doc["items"][:1]  # an edit that would pass every other check
    r = _apply(doc, tmp_path / "p.json")
    _assert_refused(r, before, hostile, "not signed by this install", "--force-unsigned")
    doc.pop(signing.SIGNATURE_FIELD)
    r = _apply(doc, tmp_path / "p.json")
    _assert_refused(r, before, hostile, "not signed by this install")


def test_plan_applied_against_another_catalog_is_refused(hostile: dict, tmp_path: Path) -> None:
    before = checksums(hostile["lib"], hostile["outside"])
    other = tmp_path / "other.db"
    r = lookalike(hostile["env"], "scan", "--no-ui", str(hostile["lib"]), "--db", str(other))
    assert r.returncode == 0, r.stderr.decode()
    r = _apply(hostile["plan"], tmp_path / "p.json", "--db", str(other))
    _assert_refused(r, before, hostile, "made from another catalog")


def test_symlink_swapped_in_after_planning_is_refused(tmp_path: Path) -> None:
    lib, outside = make_library(tmp_path)
    env = dirs_env(tmp_path)
    plan = tmp_path / "plan.json"
    r = lookalike(env, "scan", "--no-ui", str(lib), "--action", "trash", "--plan-out", str(plan))
    assert r.returncode == 0, r.stderr.decode()
    # into the scanned folder: caught by lstat; out of it: caught by the real path
    shutil.copy2(lib / "cat-copy.jpg", lib / "moved-away.jpg")
    for target, why in (
        (lib / "moved-away.jpg", "cat-copy.jpg: no longer a regular file"),
        (outside / "secret.jpg", "cat-copy.jpg: outside the scanned folders"),
    ):
        (lib / "cat-copy.jpg").unlink()
        (lib / "cat-copy.jpg").symlink_to(target)
        before = checksums(lib, outside)
        r = lookalike(env, "apply", str(plan), "--yes")
        assert r.returncode == 3, r.stderr.decode()
        err = r.stderr.decode()
        assert why in err and "nothing was touched" in err, err
        assert checksums(lib, outside) == before
        assert target.is_file()


def test_the_untouched_plan_applies_and_an_edit_on_purpose_works_with_force(
    tmp_path: Path,
) -> None:
    """The checks refuse only what is wrong: the signed plan applies; a plan with an item
    removed by hand applies with --force-unsigned; the hint command of a bad plan works."""
    lib, outside = make_library(tmp_path)
    env = dirs_env(tmp_path)
    plan = tmp_path / "plan.json"
    r = lookalike(env, "scan", "--no-ui", str(lib), "--action", "trash", "--plan-out", str(plan))
    assert r.returncode == 0, r.stderr.decode()
    doc = json.loads(plan.read_text())
    edited = tmp_path / "edited.json"
    kept = next(i for i in doc["items"] if i["source"].endswith("cup-copy.jpg"))
    doc["items"] = [i for i in doc["items"] if i is not kept]
    edited.write_text(json.dumps(doc))
    r = lookalike(env, "apply", str(edited), "--yes", "--force-unsigned")
    assert r.returncode == 0, r.stderr.decode()
    assert not (lib / "cat-copy.jpg").exists() and (lib / "sub" / "cup-copy.jpg").exists()
    assert (lib / "cat.jpg").is_file() and (lib / "cup.jpg").is_file()
    r = lookalike(env, "undo", "--yes")
    assert r.returncode == 0 and (lib / "cat-copy.jpg").is_file()

    # a damaged plan: the hint names a command that writes a plan; run it as printed
    (tmp_path / "bad.json").write_text('{"groups": []}')
    r = lookalike(env, "apply", str(tmp_path / "bad.json"), "--yes")
    assert r.returncode == 2
    hint = r.stderr.decode().split("make one with: ")[1].strip()
    assert hint == "lookalike scan --no-ui PATH --action OP --plan-out PLAN.json"
    args = hint.split()[1:]
    fresh = tmp_path / "fresh.json"
    args = [{"PATH": str(lib), "OP": "trash", "PLAN.json": str(fresh)}.get(a, a) for a in args]
    r = lookalike(env, *args)
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(fresh.read_text())["lookalike_plan"] == 2
    r = lookalike(env, "apply", str(fresh), "--yes")
    assert r.returncode == 0, r.stderr.decode()
    assert not (lib / "cat-copy.jpg").exists() and not (lib / "sub" / "cup-copy.jpg").exists()
    assert (lib / "cat.jpg").is_file() and (lib / "cup.jpg").is_file()


def _mutations(doc: dict, rng, signed: bool) -> dict:  # type: ignore[no-untyped-def]
    """One random damage to a field that matters (meta, refused, created, references only
    inform or restrict): dropped, retyped or replaced."""
    bad = copy.deepcopy(doc)
    junk = [None, 0, -1, True, "", "x", [], {}, 1.5, "../../etc/passwd", 2**70]
    target, keys = bad, ["lookalike_plan", "action", "roots", "catalog", "items", "tiers"]
    if signed:  # a signed plan without a catalog is one this install made without one: valid
        keys.remove("catalog")
    if rng.random() < 0.7:  # an item: every field but its group label matters
        target = rng.choice(bad["items"])
        keys = sorted(set(target) - {"group_id"})
    key = rng.choice(keys)
    if rng.random() < 0.3:
        del target[key]
    else:
        target[key] = rng.choice(
            [j for j in junk if j != target[key] or type(j) is not type(target[key])]
        )
    return bad


def test_damaged_plans_are_refused_with_one_line(hostile: dict, tmp_path: Path) -> None:
    """40 random damages (seeded): each is refused (2: damaged, 3: refused) with one message,
    no traceback, nothing touched, re-signed or not (an emptied item list does nothing)."""
    import random

    rng = random.Random(20261125)
    before = checksums(hostile["lib"], hostile["outside"])
    base = copy.deepcopy(hostile["plan"])
    base.pop(signing.SIGNATURE_FIELD)
    for n in range(40):
        doc = _mutations(base, rng, signed=bool(n % 2))
        if n % 2:
            doc[signing.SIGNATURE_FIELD] = signing.sign(doc)
        r = _apply(doc, tmp_path / "p.json", *(() if n % 2 else ("--force-unsigned",)))
        if r.exit_code == 0:  # no items left: nothing to refuse
            assert not doc["items"] and r.stdout == "nothing to do\n", (n, r.output)
        else:
            assert r.exit_code in (2, 3), (n, r.output)
            assert r.stderr.startswith("lookalike: error: "), (n, r.output)
        assert "Traceback" not in r.output
        assert checksums(hostile["lib"], hostile["outside"]) == before, n
    r2 = CliRunner().invoke(main, ["history", "--format", "json"])
    assert json.loads(r2.stdout)["batches"] == []
