"""Classifier rules: a small timm model trained here on real photos, saved as .safetensors and
as a .pt state dict, drives a rule; a .pt whose pickle would run code never runs it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from lookalike.engine.rules.classifier import Classifier, parse_classifiers
from lookalike.engine.rules.content import RuleError, parse_rules
from lookalike.engine.rules.evaluate import RuleEngine

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
data = pytest.importorskip("skimage.data")

ARCH = "mobilenetv3_small_050"
CLASSES = ["scene", "texture"]
SIZE = 64


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _variants(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    out = []
    for f in (0.6, 0.75, 0.9):
        for flip in (False, True):
            v = img.crop((0, 0, int(w * f), int(h * f)))
            out.append(v.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else v)
    out.append(ImageEnhance.Brightness(img).enhance(1.2))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Train on crops of two textures and two scenes; save both ways."""
    base = tmp_path_factory.mktemp("clf")
    torch.manual_seed(0)
    spec = parse_classifiers(
        {
            "classifiers": {
                "kind": {
                    "file": str(base / "m.safetensors"),
                    "arch": ARCH,
                    "classes": CLASSES,
                    "input_size": SIZE,
                }
            }
        }
    )["kind"]
    model = timm.create_model(ARCH, pretrained=False, num_classes=2)
    prep = Classifier.preprocess.__get__(type("P", (), {"spec": spec})())
    xs, ys = [], []
    for label, names in ((0, ["astronaut", "coffee"]), (1, ["brick", "grass"])):
        for n in names:
            for v in _variants(_photo(n)):
                xs.append(prep(v))
                ys.append(label)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    x = (torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2) - mean) / std
    y = torch.tensor(ys)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(base / "m.safetensors"))
    torch.save(state, base / "m.pt")
    inbox = base / "inbox"
    inbox.mkdir()
    for n in ("brick", "grass", "astronaut", "coffee"):
        img = _photo(n)
        w, h = img.size
        img.crop((int(w * 0.1), int(h * 0.1), int(w * 0.8), int(h * 0.8))).resize((96, 96)).save(
            inbox / f"{n}.jpg", quality=92
        )
    return {"base": base, "inbox": inbox}


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_trained_classifier_drives_a_rule(
    trained: dict[str, Any], suffix: str, tmp_path: Path
) -> None:
    cfg = {
        "classifiers": {
            "kind": {
                "file": str(trained["base"] / f"m{suffix}"),
                "arch": ARCH,
                "classes": CLASSES,
                "input_size": SIZE,
            }
        },
        "content_rules": [
            {
                "name": "textures",
                "when": {"classifier": "kind", "classes": ["texture"], "min_probability": 0.7},
            }
        ],
    }
    rules = parse_rules(cfg)
    files = sorted(str(p) for p in trained["inbox"].iterdir())
    with RuleEngine(rules, classifiers=parse_classifiers(cfg), store=tmp_path / "r.sqlite") as eng:
        res = {Path(r.path).stem: r for r in eng.evaluate(rules[0], files)}
    assert {n for n, r in res.items() if r.hit} == {"brick", "grass"}, {
        n: r.score for n, r in res.items()
    }
    assert all(0.0 <= r.score <= 1.0 for r in res.values())


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_never_executes(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"conv_stem.weight": _Evil(marker)}, evil)
    spec = parse_classifiers(
        {"classifiers": {"x": {"file": str(evil), "arch": ARCH, "classes": CLASSES}}}
    )["x"]
    with pytest.raises(RuleError, match="plain state dicts"):
        Classifier(spec)
    assert not marker.exists()  # weights_only=True refused it; nothing ran, no unsafe retry


def test_classifier_config_errors_are_clear(trained: dict[str, Any], tmp_path: Path) -> None:
    good = {"file": str(trained["base"] / "m.pt"), "arch": ARCH, "classes": CLASSES}
    for change, needle in (
        ({"file": "/x/m.h5"}, "holds its architecture; remove arch"),
        ({"allow_lambda": True}, "allow_lambda is for Keras"),
        ({"file": "/x/m.safetensors", "trust_pickle": True}, "trust_pickle is for .pt"),
        ({"output": "softmax"}, "output must be one of"),
        ({"file": "/x/m.onnx"}, "expected one of"),
        ({"arch": None}, "arch"),
        ({"classes": ["one"]}, "2 or more"),
        ({"mean": [1, 2]}, "three numbers"),
    ):
        table = {k: v for k, v in {**good, **change}.items() if v is not None}
        with pytest.raises(RuleError, match=needle):
            parse_classifiers({"classifiers": {"k": table}})
    wrong = parse_classifiers({"classifiers": {"k": {**good, "classes": ["a", "b", "c"]}}})["k"]
    with pytest.raises(RuleError, match="does not fit"):
        Classifier(wrong)
    with pytest.raises(RuleError, match="has no class"):
        parse_rules(
            {
                "classifiers": {"k": good},
                "content_rules": [{"name": "r", "when": {"classifier": "k", "classes": ["cat"]}}],
            }
        )


def test_torchvision_architecture_by_name_loads_a_state_dict(tmp_path: Path) -> None:
    """``torchvision:NAME`` builds the torchvision model with one output per class; the rule's
    probabilities are the model's own softmax on the same input."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.get_model("squeezenet1_1", weights=None, num_classes=2).eval()
    torch.save(model.state_dict(), tmp_path / "tv.pt")
    spec = parse_classifiers(
        {
            "classifiers": {
                "tv": {
                    "file": str(tmp_path / "tv.pt"),
                    "arch": "torchvision:squeezenet1_1",
                    "classes": CLASSES,
                    "input_size": SIZE,
                }
            }
        }
    )["tv"]
    clf = Classifier(spec)
    img = _photo("coffee")
    got = clf.probabilities([img])[0]
    x = torch.from_numpy(clf.preprocess(img)[None]).permute(0, 3, 1, 2)
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = torch.softmax(model(x), dim=-1)[0].numpy()
    assert np.allclose(got, want, atol=1e-5) and abs(float(got.sum()) - 1) < 1e-5
    bad = parse_classifiers(
        {
            "classifiers": {
                "b": {
                    "file": str(tmp_path / "tv.pt"),
                    "arch": "torchvision:nope",
                    "classes": CLASSES,
                }
            }
        }
    )["b"]
    with pytest.raises(RuleError, match="is not a torchvision model"):
        Classifier(bad)


def test_a_whole_pickled_model_loads_only_when_trusted_and_says_so(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    model = timm.create_model(ARCH, pretrained=False, num_classes=2)
    model.load_state_dict(torch.load(trained["base"] / "m.pt", weights_only=True))
    torch.save(model, tmp_path / "whole.pt")  # the whole module: a pickle with code references
    table = {
        "file": str(tmp_path / "whole.pt"),
        "arch": ARCH,
        "classes": CLASSES,
        "input_size": SIZE,
    }
    with pytest.raises(RuleError, match="trust_pickle = true"):
        Classifier(parse_classifiers({"classifiers": {"w": table}})["w"])
    trusted = parse_classifiers({"classifiers": {"w": {**table, "trust_pickle": True}}})["w"]
    clf = Classifier(trusted)
    assert clf.notes and "full pickle" in clf.notes[0] and "code in the file ran" in clf.notes[0]
    safe = Classifier(
        parse_classifiers({"classifiers": {"s": {**table, "file": str(trained["base"] / "m.pt")}}})[
            "s"
        ]
    )
    assert safe.notes == []
    brick = Image.open(trained["inbox"] / "brick.jpg").convert("RGB")
    assert np.allclose(clf.probabilities([brick]), safe.probabilities([brick]), atol=1e-6)
