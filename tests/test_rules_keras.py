"""Keras classifier rules: a tiny Keras model trained here on real photos, saved as .keras and
.h5, drives a rule with its probabilities and threshold; a Lambda layer is refused unread."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.rules.classifier import parse_classifiers
from lookalike.engine.rules.content import RuleError, parse_rules
from lookalike.engine.rules.evaluate import RuleEngine

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")
data = pytest.importorskip("skimage.data")

CLASSES = ["scene", "texture"]
SIZE = 32


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _crops(img: Image.Image) -> list[Image.Image]:
    w, h = img.size
    out = []
    for f in (0.5, 0.7, 0.9):
        for flip in (False, True):
            v = img.crop((0, 0, int(w * f), int(h * f)))
            out.append(v.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else v)
    return out


def _table(file: Path, **extra: object) -> dict:
    return {"file": str(file), "classes": CLASSES, "mean": [0, 0, 0], "std": [1, 1, 1], **extra}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("keras")
    keras.utils.set_random_seed(0)
    from lookalike.engine.rules.classifier import preprocess

    xs, ys = [], []
    for label, names in ((0, ["astronaut", "coffee"]), (1, ["brick", "grass"])):
        for n in names:
            for v in _crops(_photo(n)):
                xs.append(preprocess(v, SIZE))
                ys.append(label)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(np.stack(xs), np.array(ys), epochs=60, batch_size=12, verbose=0)
    model.save(base / "m.keras")
    model.save(base / "m.h5")
    inbox = base / "inbox"
    inbox.mkdir()
    for n in ("brick", "grass", "astronaut", "coffee"):
        img = _photo(n)
        w, h = img.size
        img.crop((int(w * 0.2), int(h * 0.2), int(w * 0.8), int(h * 0.8))).resize((96, 96)).save(
            inbox / f"{n}.jpg", quality=92
        )
    return {"base": base, "inbox": inbox, "model": model}


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_model_drives_a_rule_with_its_probabilities_and_threshold(
    trained: dict[str, Any], suffix: str, tmp_path: Path
) -> None:
    from lookalike.engine.rules.evaluate import load_rgb
    from lookalike.engine.rules.keras_model import KerasClassifier

    spec = parse_classifiers({"classifiers": {"k": _table(trained["base"] / f"m{suffix}")}})["k"]
    clf = KerasClassifier(spec)
    assert clf.input_size == SIZE  # from the model's own input
    files = sorted(str(p) for p in trained["inbox"].iterdir())
    got = clf.probabilities([load_rgb(f, SIZE) for f in files])
    want = trained["model"].predict(
        np.stack([clf.preprocess(load_rgb(f, SIZE)) for f in files]), verbose=0
    )
    assert np.allclose(got, want, atol=1e-5)  # softmax output taken as is, not softmaxed again
    texture = {Path(f).stem: float(p[1]) for f, p in zip(files, got, strict=True)}
    assert min(texture["brick"], texture["grass"]) > max(texture["astronaut"], texture["coffee"])

    def hits(min_probability: float) -> set[str]:
        cfg = {
            "classifiers": {"k": _table(trained["base"] / f"m{suffix}")},
            "content_rules": [
                {
                    "name": "textures",
                    "when": {
                        "classifier": "k",
                        "classes": ["texture"],
                        "min_probability": min_probability,
                    },
                }
            ],
        }
        rules = parse_rules(cfg)
        with RuleEngine(
            rules, classifiers=parse_classifiers(cfg), store=tmp_path / f"{min_probability}.db"
        ) as eng:
            return {Path(r.path).stem for r in eng.evaluate(rules[0], files) if r.hit}

    assert hits(0.5) == {"brick", "grass"}, texture
    strict = (texture["brick"] + texture["grass"]) / 2  # between the two texture scores
    assert hits(strict) == {max(("brick", "grass"), key=texture.__getitem__)}


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_lambda_layer_is_refused_before_keras_reads_the_file(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "ran"

    def touch(x: Any) -> Any:
        marker.write_text("code in the model file ran")
        return x

    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Lambda(touch, name="sneaky")(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inp, out).save(tmp_path / f"l{suffix}")
    marker.unlink()  # building the model called it once, here, on purpose
    from lookalike.engine.rules.keras_model import KerasClassifier

    spec = parse_classifiers({"classifiers": {"k": _table(tmp_path / f"l{suffix}")}})["k"]
    with pytest.raises(RuleError, match="Lambda layer.*sneaky.*allow_lambda = true"):
        KerasClassifier(spec)
    assert not marker.exists()


def test_keras_table_and_file_errors_are_clear(trained: dict[str, Any], tmp_path: Path) -> None:
    from lookalike.engine.rules.keras_model import KerasClassifier

    with pytest.raises(RuleError, match="remove arch"):
        parse_classifiers({"classifiers": {"k": _table(tmp_path / "m.keras", arch="resnet18")}})
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    spec = parse_classifiers({"classifiers": {"k": _table(tmp_path / "junk.keras")}})["k"]
    with pytest.raises(RuleError, match="is not a Keras model file"):
        KerasClassifier(spec)
    three = {**_table(trained["base"] / "m.keras"), "classes": ["a", "b", "c"]}
    spec = parse_classifiers({"classifiers": {"k": three}})["k"]
    with pytest.raises(RuleError, match="2 output.*classes lists 3"):
        KerasClassifier(spec)
