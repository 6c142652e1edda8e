"""CLI of the action layer: data on stdout, diagnostics on stderr, documented exit codes, no
tracebacks; the scan hook (``action_options`` + ``run_action_for_groups``)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lookalike.commands import act, batches, common, export, quarantine
from lookalike.engine import actions as A
from lookalike.engine.actions import journal as jn
from lookalike.engine.records import Group, Member


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOKALIKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOOKALIKE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOOKALIKE_NO_FSYNC", "1")
    return tmp_path


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def main() -> None:
        pass

    for module in (batches, export, quarantine):
        module.register(main)
    return main


def member(p: Path) -> Member:
    st = p.stat()
    return Member(str(p), st.st_size, 1, 1, "JPEG", 1.0, mtime_ns=st.st_mtime_ns)


def make_groups(root: Path, n: int = 2) -> list[Group]:
    groups = []
    for i in range(n):
        d = root / f"g{i}"
        d.mkdir(parents=True)
        k, x = d / "keep.jpg", d / "copy.jpg"
        k.write_bytes(b"photo %d" % i)
        x.write_bytes(b"photo %d" % i)
        groups.append(Group(i, "exact", str(k), "biggest", (member(k), member(x))))
    return groups


def call(groups: list[Group], action: str, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = {"dry_run": False, "yes": True, "permanently": False, "plan_out": None, "fmt": "text"}
    args.update(kw)
    code = act.run_action_for_groups(groups, action, stdout=out, stderr=err, **args)
    return code, out.getvalue(), err.getvalue()


def test_dry_run_prints_plan_and_touches_nothing(env: Path) -> None:
    groups = make_groups(env / "t")
    code, out, err = call(groups, f"move:{env / 'm'}", dry_run=True)
    assert code == 0
    assert f"move       {env / 't' / 'g0' / 'copy.jpg'} → {env / 'm' / 'g0' / 'copy.jpg'}" in out
    assert "# 2 file(s)" in out
    assert (env / "t" / "g0" / "copy.jpg").exists() and not (env / "m").exists()
    assert not A.history()


def test_plan_out_then_apply_history_undo(env: Path, cli: click.Group) -> None:
    groups = make_groups(env / "t")
    plan = env / "plan.json"
    code, out, err = call(groups, "trash", dry_run=True, fmt="json", plan_out=plan)
    assert code == 0 and json.loads(out)["action"] == "trash"
    assert "lookalike apply" in err
    assert (env / "t" / "g0" / "copy.jpg").exists()

    r = CliRunner().invoke(cli, ["apply", str(plan), "--yes"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("batch ") and "trash applied for 2 file(s)" in r.stdout
    assert "undo with: lookalike undo" in r.stderr
    assert not (env / "t" / "g0" / "copy.jpg").exists()
    assert (env / "t" / "g0" / "keep.jpg").exists()

    r = CliRunner().invoke(cli, ["history", "--format", "json"])
    data = json.loads(r.stdout)
    assert data["batches"][0]["action"] == "trash" and data["batches"][0]["counts"] == {"done": 2}
    batch = data["batches"][0]["id"]
    r = CliRunner().invoke(cli, ["history", batch])
    assert r.stdout.count("done") == 2

    r = CliRunner().invoke(cli, ["undo", "--yes", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["done"] == 2
    assert (env / "t" / "g0" / "copy.jpg").read_bytes() == b"photo 0"
    r = CliRunner().invoke(cli, ["undo", "--yes"])
    assert r.exit_code == common.EXIT_NOTHING and "nothing to undo" in r.stderr
    assert "Traceback" not in r.output

    r = CliRunner().invoke(cli, ["redo", "--yes"])
    assert r.exit_code == 0 and "redone for 2 file(s)" in r.stdout
    r = CliRunner().invoke(cli, ["stats", "--format", "json"])
    assert json.loads(r.stdout)["total"]["files"] == 2


def test_no_confirmation_without_a_terminal_refuses(env: Path, cli: click.Group) -> None:
    groups = make_groups(env / "t")
    code, out, err = call(groups, "trash", yes=False)
    assert code == common.EXIT_REFUSED and "--yes" in err
    assert (env / "t" / "g0" / "copy.jpg").exists()
    call(groups, "trash")
    r = CliRunner().invoke(cli, ["undo"])
    assert r.exit_code == common.EXIT_REFUSED and "--yes" in r.stderr
    assert not (env / "t" / "g0" / "copy.jpg").exists()


def test_delete_needs_permanently_and_typed_confirmation(env: Path) -> None:
    groups = make_groups(env / "t")
    copy = env / "t" / "g0" / "copy.jpg"
    code, _, err = call(groups, "delete")
    assert code == common.EXIT_REFUSED and "--permanently" in err and copy.exists()
    asked: list[str] = []

    def wrong(prompt: str) -> str:
        asked.append(prompt)
        return "yes"

    code, _, err = call(groups, "delete", permanently=True, confirm=wrong)
    assert code == common.EXIT_REFUSED and "did not match" in err and copy.exists()
    assert "Type 'delete 2 files'" in asked[0]
    code, out, _ = call(groups, "delete", permanently=True, confirm=lambda p: "delete 2 files")
    assert code == 0 and not copy.exists()
    assert (env / "t" / "g0" / "keep.jpg").exists()


def test_delete_via_apply_reads_the_terminal(
    env: Path, cli: click.Group, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = make_groups(env / "t", 1)
    plan = env / "p.json"
    call(groups, "delete", plan_out=plan)
    r = CliRunner().invoke(cli, ["apply", str(plan), "--yes"])
    assert r.exit_code == common.EXIT_REFUSED and "--permanently" in r.stderr
    monkeypatch.setattr(common, "read_typed_confirmation", lambda p: "delete 1 files")
    r = CliRunner().invoke(cli, ["apply", str(plan), "--yes", "--permanently"])
    assert r.exit_code == 0, r.output
    assert not (env / "t" / "g0" / "copy.jpg").exists()


def test_bad_input_gives_one_line_and_exit_code(env: Path, cli: click.Group) -> None:
    groups = make_groups(env / "t")
    code, _, err = call(groups, "shred")
    assert code == common.EXIT_USAGE and err.startswith("lookalike: error: unknown action")
    code, _, err = call(groups, "move")
    assert code == common.EXIT_USAGE and "move:DIR" in err
    bad = Group(9, "exact", "/nowhere.jpg", "", groups[0].members)
    code, _, err = call([bad], "trash")
    assert code == common.EXIT_REFUSED and "every copy" in err
    (env / "junk.json").write_text("not json")
    r = CliRunner().invoke(cli, ["apply", str(env / "junk.json"), "--yes"])
    assert r.exit_code == common.EXIT_USAGE and "not valid JSON" in r.stderr
    r = CliRunner().invoke(cli, ["history", "nope"])
    assert r.exit_code == common.EXIT_NOTHING and "no batch nope" in r.stderr
    assert "Traceback" not in r.output


def test_changed_file_makes_exit_1(env: Path) -> None:
    groups = make_groups(env / "t")
    (env / "t" / "g1" / "copy.jpg").write_bytes(b"edited after the scan!")
    code, out, err = call(groups, "trash", fmt="json")
    assert code == common.EXIT_PARTIAL
    assert "changed since the scan" in err
    data = json.loads(out)
    assert data["done"] == 1 and data["problems"][0]["path"].endswith("g1/copy.jpg")


def test_interrupted_batch_is_reported_on_start(env: Path, cli: click.Group) -> None:
    groups = make_groups(env / "t")
    plan = A.build_plan(groups, "trash")
    with A.Journal() as j:  # what a killed process leaves behind
        j.begin_batch(plan.id, "trash", [i.to_json() for i in plan.items])
    r = CliRunner().invoke(cli, ["history"])
    assert f"batch {plan.id} (trash) was interrupted" in r.stderr
    assert "not done" in r.stderr and "lookalike undo" in r.stderr
    assert r.exit_code == 0
    # the next acting command settles it; nothing is redone
    r = CliRunner().invoke(cli, ["undo", "--yes"])
    assert r.exit_code == common.EXIT_NOTHING
    assert (env / "t" / "g0" / "copy.jpg").exists()
    states = {b.id: b.state for b in A.history()}
    assert states[plan.id] == jn.INTERRUPTED


def test_journal_busy_exit_5(env: Path) -> None:
    from lookalike.engine.actions.journal import journal_lock

    groups = make_groups(env / "t")
    with journal_lock():
        code, _, err = call(groups, "trash")
    assert code == common.EXIT_BUSY and "another lookalike process" in err


def test_action_options_for_scan(env: Path) -> None:
    groups = make_groups(env / "t")
    seen: dict = {}

    @click.command()
    @click.option("--format", "fmt", default="text")
    @act.action_options
    def scan(fmt: str, **kwargs) -> None:
        args = act.action_args_from(kwargs)
        seen["rest"] = kwargs
        if args is None:
            return
        seen["args"] = args
        out, err = sys.stdout, sys.stderr
        raise SystemExit(
            act.run_action_for_groups(
                groups,
                args.action,
                dry_run=args.dry_run,
                yes=args.yes,
                permanently=args.permanently,
                plan_out=args.plan_out,
                fmt=fmt,
                stdout=out,
                stderr=err,
                shrink=args.shrink,
            )
        )

    r = CliRunner().invoke(scan, ["--action", "quarantine", "--yes"])
    assert r.exit_code == 0, r.output
    assert seen["rest"] == {} and not (env / "t" / "g0" / "copy.jpg").exists()
    r = CliRunner().invoke(
        scan, ["--action", "shrink", "--max-size", "20x10", "--quality", "40", "--dry-run"]
    )
    assert r.exit_code == 0
    assert seen["args"].shrink == A.ShrinkOptions(quality=40, max_size=(20, 10))
    r = CliRunner().invoke(scan, [])
    assert r.exit_code == 0 and seen["rest"] == {}


def test_export_and_quarantine_commands(
    env: Path, cli: click.Group, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups = make_groups(env / "t")
    gfile = env / "groups.json"
    data = {"groups": [g.to_json() for g in groups]}
    data["groups"][0]["picks"] = [groups[0].keep]
    gfile.write_text(json.dumps(data))
    r = CliRunner().invoke(cli, ["export", str(env / "out"), "--groups", str(gfile)])
    assert r.exit_code == 0, r.output
    assert "exported 3 file(s)" in r.stdout
    assert sorted(str(p.relative_to(env / "out")) for p in (env / "out").rglob("*.jpg")) == [
        "g0/keep.jpg",
        "g1/copy.jpg",
        "g1/keep.jpg",
    ]

    call(groups, "quarantine")
    r = CliRunner().invoke(cli, ["quarantine", "list", "--format", "json"])
    assert len(json.loads(r.stdout)) == 2
    monkeypatch.setattr(common, "read_typed_confirmation", lambda p: "wrong")
    r = CliRunner().invoke(cli, ["quarantine", "empty"])
    assert r.exit_code == common.EXIT_REFUSED and len(A.quarantine_contents()) == 2
    monkeypatch.setattr(common, "read_typed_confirmation", lambda p: "empty 2 files")
    r = CliRunner().invoke(cli, ["quarantine", "empty"])
    assert r.exit_code == 0 and "deleted 2 file(s)" in r.stdout
    assert A.quarantine_contents() == []


def test_passphrase_lock(env: Path, cli: click.Group, monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.engine.actions import lock

    lock.set_passphrase("sesame")
    assert lock.configured() and not lock.unlocked()
    groups = make_groups(env / "t", 1)
    code, _, err = call(groups, "delete", permanently=True, confirm=lambda p: "wrong")
    assert code == common.EXIT_REFUSED and "wrong passphrase" in err
    answers = iter(["sesame", "delete 1 files"])
    code, _, _ = call(groups, "delete", permanently=True, confirm=lambda p: next(answers))
    assert code == 0 and lock.unlocked()  # a session is open now
    lock.lock()
    monkeypatch.setattr(common, "read_secret", lambda p: "sesame")
    r = CliRunner().invoke(cli, ["lock", "clear"])
    assert r.exit_code == 0 and lock.configured() is None


def test_engine_actions_never_import_the_ui() -> None:
    import subprocess

    code = (
        "import sys, lookalike.commands.act, lookalike.commands.batches\n"
        "from lookalike.engine.actions import *  # every lazily imported name\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_image')"
        " or m.startswith('lookalike.ui')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_async_events_for_the_tui(env: Path) -> None:
    groups = make_groups(env / "t")
    plan = A.build_plan(groups, "trash")
    evs = [ev async for ev in A.async_events(lambda: A.apply_plan(plan))]
    assert isinstance(evs[0], A.BatchStarted) and isinstance(evs[-1], A.BatchFinished)
    assert evs[-1].done == 2
    with pytest.raises(A.NothingToDo):
        async for _ in A.async_events(lambda: A.redo()):
            pass


def test_any_command_reports_an_interrupted_batch(env: Path) -> None:
    from lookalike.cli import main

    groups = make_groups(env / "t")
    plan = A.build_plan(groups, "quarantine")
    with A.Journal() as j:
        j.begin_batch(plan.id, "quarantine", [i.to_json() for i in plan.items])
    r = CliRunner().invoke(main, ["stats"])
    assert r.exit_code == 0
    assert r.stderr.count(f"batch {plan.id} (quarantine) was interrupted") == 1
