"""Image classifiers for content rules: a user's PyTorch weights on a timm architecture.

Model files are untrusted input. ``.safetensors`` holds tensors only; ``.pt``/``.pth``/``.bin``
are read with ``torch.load(weights_only=True)``, which refuses any pickle that would run code —
and there is no fallback to an unsafe load, ever: a file that is not a plain state dict is
refused with a message saying how to re-save it. The architecture is named, never unpickled:
``arch`` (a timm model name) with ``num_classes = len(classes)``.

``[classifiers.NAME]`` in config.toml::

    [classifiers.coherence]
    file = "~/models/coherence.safetensors"
    arch = "mobilenetv3_small_050"
    classes = ["coherent", "incoherent", "semi-incoherent"]
    input_size = 224                     # default 224
    mean = [0.485, 0.456, 0.406]         # default: ImageNet
    std = [0.229, 0.224, 0.225]
    min_probability = 0.5                # default for rules that do not set their own
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.engine.rules.content import RuleError

SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_KEYS = {"file", "arch", "classes", "input_size", "mean", "std", "min_probability"}


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    file: str
    arch: str
    classes: tuple[str, ...]
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_probability: float = 0.5

    def key(self) -> str:
        """Identity of what it computes: the table and the weights file's identity and head."""
        try:
            st = os.stat(self.file)
            ident = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        except OSError:
            ident = "missing"
        doc = repr((self.arch, self.classes, self.input_size, self.mean, self.std, ident))
        return hashlib.sha256(doc.encode()).hexdigest()[:20]


def parse_classifiers(config: dict[str, Any]) -> dict[str, ClassifierSpec]:
    raw = config.get("classifiers", {})
    if not isinstance(raw, dict):
        raise RuleError("classifiers must be tables: write each as [classifiers.NAME]")
    return {name: _parse(name, table) for name, table in raw.items()}


def _parse(name: str, t: Any) -> ClassifierSpec:
    where = f"classifier {name!r}"
    if not isinstance(t, dict):
        raise RuleError(f"{where}: write it as a [classifiers.{name}] table")
    unknown = set(t) - _KEYS
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    file = t.get("file")
    if not isinstance(file, str) or not file:
        raise RuleError(f'{where}: file = "PATH" (a .safetensors or .pt state dict) is missing')
    file = os.path.abspath(os.path.expanduser(file))
    if os.path.splitext(file)[1].lower() in (".h5", ".keras"):
        raise RuleError(
            f"{where}: Keras models are not supported in this version; export the weights as "
            ".safetensors with a timm architecture"
        )
    if os.path.splitext(file)[1].lower() not in SUFFIXES:
        raise RuleError(f"{where}: {file}: expected one of {', '.join(SUFFIXES)}")
    arch = t.get("arch")
    if not isinstance(arch, str) or not arch:
        raise RuleError(f'{where}: arch = "TIMM_MODEL_NAME" is missing (e.g. resnet18)')
    classes = t.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise RuleError(f"{where}: classes must list the model's outputs in order (2 or more)")
    size = t.get("input_size", 224)
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024:
        raise RuleError(f"{where}: input_size must be a whole number 16-1024")

    def triple(key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
        v = t.get(key, list(default))
        if not isinstance(v, list) or len(v) != 3 or not all(isinstance(x, int | float) for x in v):
            raise RuleError(f"{where}: {key} must be three numbers (R, G, B)")
        if key == "std" and min(v) <= 0:
            raise RuleError(f"{where}: std must be positive")
        return (float(v[0]), float(v[1]), float(v[2]))

    mp = t.get("min_probability", 0.5)
    if isinstance(mp, bool) or not isinstance(mp, int | float) or not 0 <= mp <= 1:
        raise RuleError(f"{where}: min_probability must be between 0 and 1")
    return ClassifierSpec(
        name,
        file,
        arch,
        tuple(classes),
        size,
        triple("mean", IMAGENET_MEAN),
        triple("std", IMAGENET_STD),
        float(mp),
    )


class Classifier:
    """A loaded classifier: ``probabilities(rgb_images)`` → (n, classes) softmax rows."""

    def __init__(self, spec: ClassifierSpec, device: str = "cpu") -> None:
        try:
            import timm
            import torch
        except ImportError as exc:
            raise RuleError(
                f"classifier {spec.name!r} needs torch and timm; pip install 'lookalike[ml]'"
            ) from exc
        from lookalike.engine.embedders import ModelUnavailable
        from lookalike.engine.features.embed import load_state_file

        self.spec = spec
        where = f"classifier {spec.name!r}"
        if not os.path.isfile(spec.file):
            raise RuleError(f"{where}: weights file {spec.file} does not exist")
        try:
            state = load_state_file(spec.file)  # safetensors or weights_only=True; no fallback
        except ModelUnavailable as exc:
            raise RuleError(
                f"{where}: {exc}. Only plain state dicts load (never pickled code); re-save with "
                "torch.save(model.state_dict(), PATH) or safetensors.torch.save_file"
            ) from None
        try:
            model = timm.create_model(spec.arch, pretrained=False, num_classes=len(spec.classes))
        except Exception as exc:
            raise RuleError(f"{where}: {spec.arch!r} is not a timm model ({exc})") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise RuleError(
                f"{where}: {spec.file} does not fit {spec.arch} with {len(spec.classes)} "
                f"classes ({str(exc)[:300]})"
            ) from None
        self.model = model.eval().to(device)
        self.device = device
        self._torch = torch
        self._mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std).view(1, 3, 1, 1)

    def preprocess(self, image: Any) -> np.ndarray:
        """RGB PIL image → float32 HxWx3 in 0..1, short side resized then centre-cropped."""
        from PIL import Image

        s = self.spec.input_size
        w, h = image.size
        scale = s / min(w, h)
        image = image.resize(
            (max(s, round(w * scale)), max(s, round(h * scale))), Image.Resampling.BICUBIC
        )
        w, h = image.size
        left, top = (w - s) // 2, (h - s) // 2
        image = image.crop((left, top, left + s, top + s))
        return np.asarray(image, dtype=np.float32) / 255.0

    def probabilities(self, images: list[Any]) -> np.ndarray:
        torch = self._torch
        if not images:
            return np.zeros((0, len(self.spec.classes)), np.float32)
        x = torch.from_numpy(np.stack([self.preprocess(im) for im in images]))
        x = (x.permute(0, 3, 1, 2) - self._mean) / self._std
        with torch.inference_mode():
            logits = self.model(x.to(self.device)).float()
        return torch.softmax(logits, dim=-1).cpu().numpy()
