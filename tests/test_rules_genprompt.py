"""Generation prompts read from files we write: A1111 ``parameters`` and ComfyUI ``prompt`` in
PNG text chunks, A1111 text and ComfyUI JSON in EXIF UserComment; rules match them as words."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from PIL import Image, PngImagePlugin

from lookalike.engine.rules import genprompt
from lookalike.engine.rules.content import parse_rules
from lookalike.engine.rules.evaluate import RuleEngine

A1111 = (
    "a tabby Cat on a sofa, masterpiece, best quality\n"
    "Negative prompt: dog, blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64"
)
COMFY = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "A red Fox in snow", "clip": ["4", 1]},
    },
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["4", 1]}},
}


def _png(path: Path, **chunks: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    Image.new("RGB", (16, 16), (90, 120, 30)).save(path, pnginfo=info)
    return path


def _jpeg_comment(path: Path, text: str) -> Path:
    exif = Image.Exif()
    exif.get_ifd(genprompt.EXIF_IFD)[genprompt.USER_COMMENT] = b"UNICODE\0" + text.encode(
        "utf-16-be"
    )
    Image.new("RGB", (16, 16), (10, 20, 200)).save(path, exif=exif)
    return path


def test_a1111_parameters_positive_prompt_only(tmp_path: Path) -> None:
    text = genprompt.generation_text(_png(tmp_path / "a.png", parameters=A1111))
    assert "tabby cat on a sofa" in text
    assert "dog" not in text and "steps" not in text  # negative prompt and settings ignored


def test_comfyui_prompt_json_text_inputs(tmp_path: Path) -> None:
    text = genprompt.generation_text(_png(tmp_path / "c.png", prompt=json.dumps(COMFY)))
    assert "a red fox in snow" in text and "lowres" in text
    assert "ksampler" not in text


def test_exif_user_comment_a1111_and_comfy(tmp_path: Path) -> None:
    a = genprompt.generation_text(_jpeg_comment(tmp_path / "a.jpg", A1111))
    assert "tabby cat" in a and "blurry" not in a
    c = genprompt.generation_text(_jpeg_comment(tmp_path / "c.jpg", json.dumps(COMFY)))
    assert "red fox" in c
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (16, 16)).save(plain)
    assert genprompt.generation_text(plain) == ""


def test_generation_prompt_rules_and_within_a_list_or_across_any(tmp_path: Path) -> None:
    cat = _png(tmp_path / "cat.png", parameters=A1111)
    fox = _png(tmp_path / "fox.png", prompt=json.dumps(COMFY))
    neg = _png(tmp_path / "neg.png", parameters="a landscape\nNegative prompt: cat, masterpiece")
    plain = tmp_path / "plain.png"
    Image.new("RGB", (16, 16)).save(plain)
    rules = parse_rules(
        {
            "content_rules": [
                {"name": "both", "when": {"generation_prompt": ["CAT", "masterpiece"]}},
                {"name": "half", "when": {"generation_prompt": ["cat", "snow"]}},
                {
                    "name": "either",
                    "when": {
                        "any": [{"generation_prompt": ["fox"]}, {"generation_prompt": ["sofa"]}]
                    },
                    "unless": {"generation_prompt": ["tabby"]},
                },
            ]
        }
    )
    files = [str(p) for p in (cat, fox, neg, plain)]
    with RuleEngine(rules, store=tmp_path / "r.sqlite") as eng:
        fired, errors = eng.first_hits(files)
        assert eng.embedded == 0  # metadata only: no model, no pixel decode
        hits = {k: v.rule for k, v in fired.items()}
        assert hits == {str(cat): "both", str(fox): "either"}
        (vetoed,) = eng.evaluate(rules[2], [str(cat)])
        assert vetoed.vetoed and not vetoed.hit
    assert errors == []


def test_rules_run_quarantines_and_trashes_by_generation_prompt_then_undo(tmp_path: Path) -> None:
    """No model needed: metadata rules act through the journal (quarantine and trash), skip
    protects a file from later rules, and undo brings every file back byte for byte."""
    from click.testing import CliRunner

    from lookalike import config
    from lookalike.cli import main

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _png(inbox / "cat.png", parameters=A1111)
    _png(inbox / "fox.png", prompt=json.dumps(COMFY))
    _png(inbox / "kept-fox.png", parameters="a red fox, keep")
    Image.new("RGB", (16, 16)).save(inbox / "plain.png")
    odd = os.fsdecode(os.path.join(os.fsencode(inbox), b"odd-\xff\nname.png"))  # not UTF-8
    _png(Path(odd), parameters="a cat\nSteps: 1")
    before = {p.name: p.read_bytes() for p in inbox.iterdir()}
    config.save_config(
        {
            "content_rules": [
                {"name": "keep", "when": {"generation_prompt": ["keep"]}, "action": "skip"},
                {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "quarantine"},
                {"name": "foxes", "when": {"generation_prompt": ["fox"]}, "action": "trash"},
            ]
        }
    )
    r = CliRunner().invoke(main, ["rules", "run", str(inbox), "--yes", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    hits = {Path(x["path"]).name: x["rule"] for x in rows if "rule" in x}
    assert hits == {
        "cat.png": "cats",
        "fox.png": "foxes",
        "kept-fox.png": "keep",
        "odd-\\xff\\nname.png": "cats",  # shown escaped, one line; acted on by its bytes
    }
    assert not os.path.lexists(odd)  # the odd name was quarantined too
    assert sorted(p.name for p in inbox.iterdir()) == ["kept-fox.png", "plain.png"]
    for _ in range(2):  # two batches: quarantine and trash
        u = CliRunner().invoke(main, ["undo", "--yes"])
        assert u.exit_code == 0, u.output
    assert {p.name: p.read_bytes() for p in inbox.iterdir()} == before
    r = CliRunner().invoke(main, ["redo", "--yes"])  # the last undone batch, re-verified
    assert r.exit_code == 0 and "redone for" in r.stdout, r.output
    n = int(re.search(r"redone for (\d+) file", r.stdout).group(1))  # type: ignore[union-attr]
    assert n >= 1 and len(list(inbox.iterdir())) == len(before) - n  # they went again


def test_scan_with_rules_reports_on_stderr_and_acts_through_the_journal(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from lookalike import config
    from lookalike.cli import main

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _png(inbox / "cat.png", parameters=A1111)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(inbox / "plain.png")
    cat_bytes = (inbox / "cat.png").read_bytes()
    config.save_config(
        {
            "content_rules": [
                {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "quarantine"}
            ]
        }
    )
    db = tmp_path / "cat.sqlite"
    r = CliRunner().invoke(
        main,
        [
            "scan",
            "--no-ui",
            str(inbox),
            "--db",
            str(db),
            "--rules",
            "--dry-run",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "rule cats (1.0000): quarantine" in r.stderr
    json.loads(r.stdout)  # stdout stays the scan's results
    assert (inbox / "cat.png").exists()
    r = CliRunner().invoke(
        main, ["scan", "--no-ui", str(inbox), "--db", str(db), "--rules", "--yes"]
    )
    assert r.exit_code == 0, r.output
    assert not (inbox / "cat.png").exists() and "undo with: lookalike undo" in r.stderr
    assert CliRunner().invoke(main, ["undo", "--yes"]).exit_code == 0
    assert (inbox / "cat.png").read_bytes() == cat_bytes


def test_device_option_is_checked_only_when_a_model_is_needed(tmp_path: Path) -> None:
    """``--device`` reaches the model: a GPU that is not there is one message and exit 2 for a
    prototype rule; a generation-prompt rule needs no model, so it runs anyway."""
    from click.testing import CliRunner

    from lookalike import config
    from lookalike.cli import main

    cat = _png(tmp_path / "cat.png", parameters=A1111)
    (tmp_path / "samples").mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "samples" / "red.png")
    config.save_config(
        {
            "content_rules": [
                {"name": "cats", "when": {"generation_prompt": ["cat"]}, "action": "notify"},
                {"name": "reds", "when": {"prototype": str(tmp_path / "samples")}},
            ]
        }
    )
    r = CliRunner().invoke(main, ["rules", "test", "cats", str(cat), "--device", "cuda:7"])
    assert r.exit_code == 0 and "fires" in r.stdout, r.output
    r = CliRunner().invoke(main, ["rules", "test", "reds", str(cat), "--device", "cuda:7"])
    assert r.exit_code == 2, r.output
    assert "--device cuda:7" in r.stderr and r.stderr.count("\n") == 1
