"""What may be acted on is decided in ONE place, the plan builder: reference files, favourites
and look-alike (``similar``) groups are never in a plan unless asked for — from ``scan
--action``, from ``apply`` and from the terminal app (real engine, real photos)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from lookalike import config
from lookalike.engine.api import Engine
from lookalike.engine.catalog import Catalog
from plan_helpers import checksums, copy, dirs_env, lookalike, save_photo


def _crops(folder: Path) -> list[Path]:
    """One photo and its two halves: different pictures that look alike (a colour group)."""
    full = save_photo(folder / "cat.jpg")
    img = Image.open(full)
    w, h = img.size
    left, right = folder / "cat-left.jpg", folder / "cat-right.jpg"
    img.crop((0, 0, w // 2, h)).save(left, quality=92)
    img.crop((w // 2, 0, w, h)).save(right, quality=92)
    return [full, left, right]


def test_scan_action_leaves_similar_groups_alone_unless_asked(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shots = _crops(lib)
    env = dirs_env(tmp_path)
    before = checksums(lib)
    scan = ["scan", "--no-ui", str(lib), "--by", "colour", "--workers", "1"]
    r = lookalike(env, *scan, "--format", "json")
    assert [g["tier"] for g in json.loads(r.stdout)["groups"]] == ["similar"]

    r = lookalike(env, *scan, "--action", "trash", "--yes")
    err = r.stderr.decode()
    assert r.returncode == 0, err  # two files left out by the tier rule: not a problem
    assert err.count("pass --tier similar to act on it") == 2
    assert checksums(lib) == before

    r = lookalike(env, *scan, "--action", "trash", "--yes", "--tier", "exact,same,similar")
    assert r.returncode == 0, r.stderr.decode()
    assert [p.exists() for p in shots] == [True, False, False]
    r = lookalike(env, "undo", "--yes")
    assert r.returncode == 0 and checksums(lib) == before

    r = lookalike(env, *scan, "--action", "trash", "--tier", "similarish")
    assert r.returncode == 2 and b"unknown tier similarish" in r.stderr


def test_favourites_and_references_are_never_acted_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = tmp_path / "lib"
    keep = save_photo(lib / "a.jpg", "astronaut")
    fav = copy(keep, lib / "fav" / "astronaut-copy.jpg")
    ref = copy(keep, lib / "other" / "astronaut-copy.jpg")
    env = dirs_env(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    scan = ["scan", "--no-ui", str(lib), "--keep-rule", "shortest-path", "--workers", "1"]
    r = lookalike(env, *scan, "--action", "trash", "--plan-out", str(tmp_path / "plan.json"))
    assert r.returncode == 0, r.stderr.decode()
    assert len(json.loads((tmp_path / "plan.json").read_text())["items"]) == 2

    # a favourite (the catalog's favourites table), added after the plan was made
    with Catalog(config.default_catalog_path()) as cat:
        cat.add_favourites([str(fav)])
        assert cat.favourites() == {str(fav)}
    before = checksums(lib)
    r = lookalike(env, "apply", str(tmp_path / "plan.json"), "--yes")
    assert r.returncode == 3, r.stderr.decode()
    assert "astronaut-copy.jpg: a favourite; favourites are never acted on" in r.stderr.decode()
    assert checksums(lib) == before

    # a reference folder added to the config after the plan was made
    with Catalog(config.default_catalog_path()) as cat:
        cat.remove_favourites([str(fav)])
    config.save_config({"rules": {"reference": [str(lib / "other")]}})
    r = lookalike(env, "apply", str(tmp_path / "plan.json"), "--yes")
    err = r.stderr.decode()
    assert r.returncode == 3 and "reference files are never acted on" in err, err
    assert checksums(lib) == before

    # scan --action: the favourite (catalog) is left out; the reference file (config) is the
    # keeper now, so only a.jpg goes
    with Catalog(config.default_catalog_path()) as cat:
        cat.add_favourites([str(fav)])
    r = lookalike(env, *scan, "--action", "trash", "--yes")
    err = r.stderr.decode()
    assert r.returncode == 0, err  # a favourite left out is not a problem
    assert "a favourite; favourites are never acted on" in err
    after = checksums(lib)
    assert after == {p: h for p, h in before.items() if p != str(keep)}
    assert fav.is_file() and ref.is_file() and not keep.exists()


def test_the_app_plans_through_the_same_builder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accept-all in the terminal app with the real engine: reference files, favourites and the
    similar group stay out of the plan."""
    from lookalike.ui.app import make_app

    root = tmp_path / "root"
    cup = save_photo(root / "photos" / "cup.jpg", "coffee")
    cup_copy = copy(cup, root / "photos" / "cup-copy.jpg")
    ref_a = save_photo(root / "ref" / "cup-small.jpg", "coffee", scale=0.5)
    ref_b = copy(ref_a, root / "ref" / "cup-small-copy.jpg")
    astro = save_photo(root / "photos" / "astro.jpg", "astronaut")
    fav = copy(astro, root / "photos" / "astro-copy-fav.jpg")
    shots = _crops(root / "shots")
    env = dirs_env(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    r = lookalike(env, "scan", "--no-ui", str(root), "--by", "colour", "--workers", "1",
                  "--reference", str(root / "ref"), "--format", "json")  # fmt: skip
    groups = json.loads(r.stdout)["groups"]
    assert sorted(g["tier"] for g in groups) == ["exact", "same", "similar"], groups
    engine = Engine(config.default_catalog_path())
    settings = {"rules": {"reference": [str(root / "ref")]}}
    app = make_app(settings, engine, graphics="none")

    async def run() -> None:
        async with app.run_test(size=(130, 40)) as pilot:
            for _ in range(500):
                if len(app.review.groups) == 3:
                    break
                await pilot.pause(0.02)
            app.set_favourite(str(fav), True)  # what f does: into the catalog's table
            await app.workers.wait_for_complete()
            await pilot.press("A", "y")  # accept all, confirmed
            await pilot.pause(0.1)
            assert len(app.review.removals()) == 3
            await pilot.press("4")
            await wait_plan()
            plans.append(app.plan)
            # similar groups need their own confirmation on the Apply screen
            await pilot.press("S", "n")
            assert not app.act_on_similar
            await pilot.press("S", "y")
            await wait_plan()
            plans.append(app.plan)

    async def wait_plan() -> None:
        for _ in range(500):
            if app.plan is not None:
                return
            await asyncio.sleep(0.02)

    plans: list = []
    asyncio.run(run())
    assert len(plans) == 2 and plans[0] is not None, app.plan_error
    planned = {i.source for i in plans[0].items}
    assert planned == {str(cup), str(cup_copy)}  # the reference file ref_a is the keeper
    refused = "\n".join(plans[0].refused)
    assert f"{ref_b}: in reference folder" in refused
    assert f"{fav}: a favourite" in refused
    for shot in shots[1:]:
        assert f"{shot}: a similar group" in refused
    assert os.path.samefile(plans[0].native.catalog, config.default_catalog_path())
    # after S + y: the look-alike shots are in, references and favourites still out
    assert {i.source for i in plans[1].items} == {str(cup), str(cup_copy), *map(str, shots[1:])}
    assert all(p.is_file() for p in (cup, cup_copy, ref_a, ref_b, astro, fav, *shots))


def test_reference_given_to_scan_reaches_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lookalike scan PATH --reference DIR`` on a terminal opens the app: the references it
    passes to the plan builder are those of the command line."""
    import lookalike.ui.app as ui_app
    from lookalike.commands import ui as ui_commands
    from lookalike.engine.options import ScanOptions

    apps: list = []
    real_make_app = ui_app.make_app

    def capture(settings, engine, **kw):
        app = real_make_app(settings, engine, graphics="none", **kw)
        app.run = lambda *a, **k: None  # type: ignore[method-assign]
        apps.append(app)
        return app

    monkeypatch.setattr(ui_app, "make_app", capture)
    options = ScanOptions(roots=(tmp_path,), reference=(tmp_path / "ref",))
    ui_commands.launch_ui(options=options, db=tmp_path / "c.db")
    assert apps and apps[0].reference == [str(tmp_path / "ref")]


async def test_favourite_key_saves_to_the_engine() -> None:
    from lookalike.ui.app import make_app
    from lookalike.ui.fake import FakeEngine, make_groups

    engine = FakeEngine(make_groups(3))
    app = make_app({}, engine, graphics="none")
    async with app.run_test(size=(130, 40)) as pilot:
        for _ in range(500):
            if len(app.review.groups) == 3:
                break
            await pilot.pause(0.02)
        member = app.review.current_member
        assert member is not None
        await pilot.press("f")
        await app.workers.wait_for_complete()
        assert engine.favourites == {member.path: True}
        await pilot.press("f")
        await app.workers.wait_for_complete()
        assert engine.favourites == {member.path: False}


def test_the_app_adapter_deletes_after_the_screen_confirmed(tmp_path: Path) -> None:
    """The Apply screen gates delete behind its typed confirmation; the real engine then
    carries it out (the reference file stays)."""
    from lookalike.ui.engine_port import as_port

    lib = tmp_path / "lib"
    keep = save_photo(lib / "a.jpg", "rocket")
    dup = copy(keep, lib / "b-copy.jpg")
    ref = copy(keep, lib / "ref" / "c.jpg")
    env = dirs_env(tmp_path)
    r = lookalike(env, "scan", "--no-ui", str(lib), "--keep-rule", "shortest-path", "--db",
                  str(tmp_path / "c.db"))  # fmt: skip
    group = json.loads(r.stdout)["groups"][0]
    port = as_port(Engine(tmp_path / "c.db"))
    groups = Engine(tmp_path / "c.db").last_groups()
    plan = port.plan(
        groups, {group["id"]: [str(dup), str(ref)]}, "delete", references=[str(lib / "ref")]
    )
    assert [i.source for i in plan.items] == [str(dup)]
    result = port.apply(plan, lambda p: None)
    assert result.done == 1 and not dup.exists() and keep.is_file() and ref.is_file()
    again = port.apply(plan, lambda p: None)  # the same plan again: its file is gone
    assert again.done == 0 and again.skipped == 1 and keep.is_file() and ref.is_file()
