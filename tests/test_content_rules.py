"""Content rules on real photos: parsing with clear messages, prototype rules with the offline
effnet-lite0 separating two sample folders, the prototype and result caches, and
``lookalike rules run`` moving hits through the journal so ``lookalike undo`` restores them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageEnhance

from lookalike.engine.rules.content import RuleError, parse_rules

data = pytest.importorskip("skimage.data")

TEXTURES = ["brick", "grass"]  # the "reject" samples
SCENES = ["astronaut", "coffee"]  # the "keep" samples
HELD_OUT_TEXTURE = "gravel"
HELD_OUT_SCENES = ["chelsea", "rocket", "camera", "coins"]


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _small(img: Image.Image, width: int = 160) -> Image.Image:
    return img.resize((width, max(1, round(width * img.size[1] / img.size[0]))))


def _variants(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    return [
        img.crop((0, 0, int(w * 0.8), int(h * 0.8))),
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ImageEnhance.Brightness(img).enhance(1.3),
    ]


def _save(folder: Path, name: str, img: Image.Image) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    _small(img).save(p, quality=90)
    return p


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rules-photos")
    for names, folder in ((TEXTURES, "reject"), (SCENES, "keep")):
        for n in names:
            for i, v in enumerate(_variants(_photo(n))):
                _save(base / folder, f"{n}{i}.jpg", v)
    for n in [HELD_OUT_TEXTURE, *HELD_OUT_SCENES, "brick"]:
        _save(base / "inbox", f"{n}.jpg", _photo(n).rotate(3))
    return base


@pytest.fixture(scope="module")
def effnet() -> Any:
    pytest.importorskip("torch")
    from lookalike.engine.embedders import cached_weights, resolve
    from lookalike.engine.features.embed import Embedder

    if cached_weights(resolve("effnet-lite0")) is None:
        pytest.skip("effnet-lite0 weights package not installed")
    return Embedder("effnet-lite0", device="cpu")


def _rule(tmp: Path, **when: object) -> dict:
    return {"name": "textures", "when": when, "action": f"move:{tmp / 'sorted'}"}


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"name": "x", "when": {"prototype": "/s"}, "action": "delete"}, "delete is never"),
        ({"name": "x", "when": {"prototype": "/s"}, "action": "move"}, "move:DIR"),
        ({"name": "x", "when": {"prototype": "/s"}, "action": "mark:/d"}, "takes no folder"),
        ({"name": "x", "when": {"prototype": "/s", "treshold": 1}}, "unknown field(s) treshold"),
        ({"name": "x", "when": {"prompts": []}}, "prompts is empty"),
        ({"name": "x", "when": {"not_prompts": ["a"]}}, "not_prompts needs prompts"),
        ({"name": "x", "when": {"prompts": ["a"], "prototype": "/s"}}, "exactly one of"),
        ({"name": "x", "when": {"prototype": "/s", "lambda": 0.5}}, "give that folder too"),
        ({"name": "x", "when": {"prototype": "/s", "threshold": "high"}}, "must be a number"),
        ({"name": "x", "when": {"classifier": "c", "classes": ["a"]}}, "no [classifiers.c] table"),
        ({"name": "x", "when": {"prototype": "/s", "classes": ["a"]}}, "go with classifier"),
        ({"name": "x", "when": {"any": []}}, "non-empty list"),
        ({"when": {"prototype": "/s"}}, "give it a name"),
        ({"name": "x", "action": "trash"}, "`when` is missing"),
    ],
)
def test_bad_rules_say_which_rule_and_field(entry: dict, needle: str) -> None:
    with pytest.raises(RuleError) as exc:
        parse_rules({"content_rules": [entry]})
    assert needle in str(exc.value)
    if "name" in entry:
        assert repr(entry["name"]) in str(exc.value)


def test_rules_parse_defaults_any_all_and_unless(tmp_path: Path) -> None:
    (r,) = parse_rules(
        {
            "content_rules": [
                {
                    "name": "mixed",
                    "folders": ["~/Pictures"],
                    "when": {
                        "any": [
                            {"prototype": str(tmp_path / "a"), "negative_prototype": "/b"},
                            {"generation_prompt": ["masterpiece"]},
                        ]
                    },
                    "unless": {"generation_prompt": "keep me"},
                    "action": "quarantine",
                }
            ]
        }
    )
    assert r.when.mode == "any" and len(r.when.conditions) == 2
    proto = r.when.conditions[0]
    assert proto.threshold == 0.0 and proto.lam == 1.0  # defaults with a negative folder
    assert r.folders == (os.path.realpath(os.path.expanduser("~/Pictures")),)
    assert r.unless is not None and r.unless.conditions[0].substrings == ("keep me",)
    assert str(r.action) == "quarantine" and not r.needs_text
    with pytest.raises(RuleError, match="used twice"):
        parse_rules({"content_rules": [{"name": "a", "when": {"prototype": "/s"}}] * 2})


def test_prompt_rule_on_a_model_without_text_tower_says_which_models_have_one(
    tmp_path: Path,
) -> None:
    from lookalike.engine.rules.evaluate import RuleEngine

    rules = parse_rules({"content_rules": [{"name": "shots", "when": {"prompts": ["a phone"]}}]})
    with pytest.raises(RuleError, match="text tower.*clip-vit-b-32"):
        RuleEngine(rules, model="effnet-lite0", store=tmp_path / "r.sqlite")


# -- prototypes on real photos -------------------------------------------------------------------
def test_prototype_rule_separates_two_sample_folders(
    photos: Path, effnet: Any, tmp_path: Path
) -> None:
    from lookalike.engine.rules.evaluate import RuleEngine

    cfg = _rule(
        tmp_path,
        prototype=str(photos / "reject"),
        negative_prototype=str(photos / "keep"),
        threshold=0.15,
    )
    (rule,) = parse_rules({"content_rules": [cfg]})
    inbox = sorted(str(p) for p in (photos / "inbox").iterdir())
    with RuleEngine([rule], embedder=effnet, store=tmp_path / "r.sqlite") as eng:
        results = {Path(r.path).stem: r for r in eng.evaluate(rule, inbox)}
        assert {n for n, r in results.items() if r.hit} == {HELD_OUT_TEXTURE, "brick"}
        lowest_texture = min(results[n].score for n in (HELD_OUT_TEXTURE, "brick"))
        assert all(results[n].score < lowest_texture - 0.1 for n in HELD_OUT_SCENES)
        assert eng.embedded == 12 + len(inbox)  # samples once, each query once
        # same rule again: every result comes from the cache, nothing decoded
        again = eng.evaluate(rule, inbox)
        assert eng.embedded == 12 + len(inbox)
        assert [r.score for r in again] == [r.score for r in results.values()]


def test_prototype_is_rebuilt_when_a_sample_changes_and_only_then(
    photos: Path, effnet: Any, tmp_path: Path
) -> None:
    import shutil

    from lookalike.engine.rules.evaluate import RuleEngine

    samples = tmp_path / "samples"
    shutil.copytree(photos / "reject", samples)
    (rule,) = parse_rules({"content_rules": [_rule(tmp_path, prototype=str(samples))]})
    query = str(photos / "inbox" / "gravel.jpg")
    store = tmp_path / "r.sqlite"
    with RuleEngine([rule], embedder=effnet, store=store) as eng:
        (first,) = eng.evaluate(rule, [query])
        assert eng.built == [str(samples)]
    with RuleEngine([rule], embedder=effnet, store=store) as eng:  # nothing changed
        (same,) = eng.evaluate(rule, [query])
        assert eng.built == [] and eng.embedded == 0 and same.score == first.score
    _save(samples, "coffee-by-mistake.jpg", _photo("coffee"))  # a sample added
    with RuleEngine([rule], embedder=effnet, store=store) as eng:
        (after,) = eng.evaluate(rule, [query])
        assert eng.built == [str(samples)] and eng.embedded == 1  # only the new sample
        assert abs(after.score - first.score) > 1e-4  # the new prototype, not the old one
    (samples / "coffee-by-mistake.jpg").unlink()  # back as it was: the first key again
    with RuleEngine([rule], embedder=effnet, store=store) as eng:
        (back,) = eng.evaluate(rule, [query])
        assert eng.built == [] and eng.embedded == 0 and back.score == first.score


def test_unless_guard_vetoes_a_hit(photos: Path, effnet: Any, tmp_path: Path) -> None:
    from lookalike.engine.rules.evaluate import RuleEngine

    cfg = _rule(tmp_path, prototype=str(photos / "reject"))
    cfg["unless"] = {"prototype": str(photos / "reject"), "threshold": 0.6}
    (rule,) = parse_rules({"content_rules": [cfg]})
    with RuleEngine([rule], embedder=effnet, store=tmp_path / "r.sqlite") as eng:
        res = {
            Path(r.path).stem: r
            for r in eng.evaluate(rule, sorted(str(p) for p in (photos / "inbox").iterdir()))
        }
    assert res["gravel"].hit and not res["gravel"].vetoed  # 0.4 <= score < 0.6
    assert res["brick"].vetoed and not res["brick"].hit  # the near-copy is above the guard


# -- the command: run moves the hits, undo brings them back ---------------------------------------
def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_rules_run_moves_hits_through_the_journal_and_undo_restores(
    photos: Path, effnet: Any, tmp_path: Path
) -> None:
    import shutil

    from lookalike import config
    from lookalike.cli import main

    inbox = tmp_path / "inbox"
    shutil.copytree(photos / "inbox", inbox)
    (inbox / "notes.jpg").write_bytes(b"not an image")  # one clear message, the run goes on
    samples = inbox / "samples"  # sample images inside the folder run over: never acted on
    shutil.copytree(photos / "reject", samples)
    before = {p.name: _digest(p) for p in inbox.iterdir() if p.is_file()}
    n_samples = len(list(samples.iterdir()))
    sorted_dir = tmp_path / "sorted"
    cfg = {
        "content_rules": [
            {
                "name": "textures",
                "folders": [str(inbox)],
                "when": {
                    "prototype": str(samples),
                    "negative_prototype": str(photos / "keep"),
                    "threshold": 0.15,
                },
                "action": f"move:{sorted_dir}",
            }
        ]
    }
    config.save_config(cfg)
    runner = CliRunner()
    r = runner.invoke(main, ["rules", "list"])
    assert r.exit_code == 0 and "1. textures: prototype" in r.stdout

    r = runner.invoke(main, ["rules", "test", "textures", str(inbox / "gravel.jpg")])
    assert r.exit_code == 0 and "fires" in r.stdout, r.output

    r = runner.invoke(main, ["rules", "run", str(inbox), "--dry-run"])
    assert r.exit_code == 3, r.output  # the unreadable file is reported, not fatal
    assert "notes.jpg: cannot decode" in r.stderr
    lines = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert sorted(Path(ln[3]).name for ln in lines) == ["brick.jpg", "gravel.jpg"]
    assert all(ln[0] == "textures" and float(ln[1]) >= 0.15 for ln in lines)
    assert {p.name for p in inbox.iterdir() if p.is_file()} == set(before)  # nothing touched

    r = runner.invoke(main, ["rules", "run", "textures", str(inbox), "--yes"])
    assert "applied for 2 file(s)" in r.stdout and "0 skipped, 0 failed" in r.stdout, r.output
    assert "undo with: lookalike undo" in r.stderr
    assert sorted(p.name for p in sorted_dir.iterdir()) == ["brick.jpg", "gravel.jpg"]
    assert not (inbox / "gravel.jpg").exists()

    r = runner.invoke(main, ["undo", "--yes"])
    assert r.exit_code == 0, r.output
    assert {p.name: _digest(p) for p in inbox.iterdir() if p.is_file()} == before
    assert not any(sorted_dir.iterdir())
    assert len(list(samples.iterdir())) == n_samples


def test_rule_plans_never_come_from_a_plan_file(tmp_path: Path) -> None:
    """A keeperless item is allowed only in a plan made in this process: a plan file that
    drops its keepers is refused as a whole."""
    from lookalike.engine.actions.plan import Plan
    from lookalike.engine.actions.plan_files import build_file_plan
    from lookalike.engine.actions.plancheck import PlanRejected, check_plan

    f = tmp_path / "a.jpg"
    _save(tmp_path, "a.jpg", _photo("coffee"))
    plan = build_file_plan([f], "trash", roots=[tmp_path])
    assert len(plan.items) == 1 and plan.items[0].keeper == ""
    check_plan(plan, fresh=True)  # in-process: fine
    loaded = Plan.from_json(plan.to_json())
    with pytest.raises(PlanRejected, match="names no keeper"):
        check_plan(loaded, fresh=True)
    from lookalike.engine.actions.errors import UsageError

    for bad in ("delete", "hardlink", "shrink"):
        with pytest.raises(UsageError, match="cannot"):
            build_file_plan([f], bad, roots=[tmp_path])
    outside = build_file_plan([f], "trash", roots=[tmp_path / "elsewhere"])
    assert not outside.items and "outside" in outside.refused[0].reason


# -- prompt rules on a CLIP-family model (tiny, random weights from a local file) -----------------
def test_prompt_rule_score_is_mean_pos_minus_mean_neg(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    open_clip = pytest.importorskip("open_clip")
    from lookalike.engine.features.embed import Embedder
    from lookalike.engine.rules.evaluate import RuleEngine

    name = "lookalike-rules-tiny"
    open_clip.factory._MODEL_CONFIGS[name] = {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 64,
            "heads": 2,
            "layers": 2,
        },
    }
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None)
    weights = tmp_path / "tiny.pt"
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    emb = Embedder(f"open_clip:{name}", device="cpu", weights=weights)
    img = _save(tmp_path, "coffee.jpg", _photo("coffee"))
    pos, neg = ["a cup of coffee", "a drink"], ["an astronaut"]
    rules = parse_rules(
        {
            "content_rules": [
                {"name": "both", "when": {"prompts": pos, "not_prompts": neg, "threshold": -2}},
                {"name": "pos", "when": {"prompts": pos, "threshold": 2}},
                {"name": "cancel", "when": {"prompts": pos, "not_prompts": pos}},
            ]
        }
    )
    q = emb.embed_images([Image.open(img).convert("RGB")])[0]
    tp, tn = emb.embed_texts(pos), emb.embed_texts(neg)
    with RuleEngine(rules, embedder=emb, store=tmp_path / "r.sqlite") as eng:
        (both,) = eng.evaluate(rules[0], [str(img)])
        (only,) = eng.evaluate(rules[1], [str(img)])
        (cancel,) = eng.evaluate(rules[2], [str(img)])
    assert both.score == pytest.approx(float(np.mean(tp @ q) - np.mean(tn @ q)), abs=1e-5)
    assert both.hit  # threshold -2: anything fires
    assert only.score == pytest.approx(float(np.mean(tp @ q)), abs=1e-5) and not only.hit
    # the same prompts as negatives cancel exactly: the score falls with the negatives
    assert cancel.score == pytest.approx(0.0, abs=1e-6) and not cancel.hit  # default 0.02


def test_threshold_preview_agrees_with_evaluating_at_each_threshold(
    photos: Path, effnet: Any, tmp_path: Path
) -> None:
    """The Rules screen's live preview: scored once, any threshold is a comparison — and it
    must say exactly what evaluating the rule at that threshold says, guard included."""
    from lookalike.engine.rules.evaluate import RuleEngine
    from lookalike.engine.rules.preview import first_hits, preview, with_threshold

    entry = _rule(
        tmp_path,
        prototype=str(photos / "reject"),
        negative_prototype=str(photos / "keep"),
        threshold=0.1,
    )
    entry["unless"] = {"prototype": str(photos / "keep"), "threshold": 0.6}
    (rule,) = parse_rules({"content_rules": [entry]})
    files = sorted(str(p) for p in (photos / "inbox").iterdir())
    with RuleEngine([rule], embedder=effnet, store=tmp_path / "r.sqlite") as eng:
        pv = preview(eng, rule, files)
        assert pv.threshold == 0.1 and len(pv.scored) == len(files)
        scores = [s.score for s in pv.scored]
        assert scores == sorted(scores, reverse=True)
        counts = []
        for t in (-1.0, -0.1, 0.0, 0.1, 0.2, 1.5):
            want = {r.path for r in eng.evaluate(with_threshold(rule, t), files) if r.hit}
            assert {s.path for s in pv.hits(t)} == want, t
            counts.append(pv.count(t))
        assert counts == sorted(counts, reverse=True) and counts[-1] == 0
        assert {s.path for s in pv.hits()} == {r.path for r in eng.evaluate(rule, files) if r.hit}
        assert {Path(p).name for p in first_hits([pv])} == {"brick.jpg", "gravel.jpg"}


def test_embed_limit_refuses_a_large_embedding_job_with_the_command_that_does_it(
    photos: Path, effnet: Any, tmp_path: Path
) -> None:
    """The app's preview never starts hours of decoding: past its limit it says what to run;
    vectors kept by an earlier run do not count."""
    from lookalike.engine.rules.evaluate import RuleEngine

    a, b = sorted(str(p) for p in (photos / "inbox").iterdir())[:2]
    (rule,) = parse_rules({"content_rules": [_rule(tmp_path, prototype=str(photos / "reject"))]})
    with RuleEngine([rule], embedder=effnet, store=tmp_path / "r.sqlite") as eng:
        eng.embed_limit = 1
        with pytest.raises(RuleError, match="2 image.*lookalike rules run FOLDER --dry-run"):
            eng.vectors([a, b])
        assert eng.embedded == 0
        eng.vectors([a])
        assert set(eng.vectors([a, b])) == {a, b} and eng.embedded == 2
