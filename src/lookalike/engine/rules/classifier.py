"""Image classifiers for content rules: a user's PyTorch or Keras model.

Model files are untrusted input. ``.safetensors`` holds tensors only; ``.pt``/``.pth``/``.bin``
are read with ``torch.load(weights_only=True)``, which refuses any pickle that would run code.
There is no silent fallback to an unsafe load: only ``trust_pickle = true`` in the table allows
a full pickle, and the run then says that it used one. The architecture is named, never
unpickled: ``arch`` is a timm model name or ``torchvision:NAME``, built with
``num_classes = len(classes)``. Keras ``.keras``/``.h5`` files load in Keras safe mode
(keras_model.py); a Lambda layer (Python code in the file) is refused unless
``allow_lambda = true``.

``[classifiers.NAME]`` in config.toml::

    [classifiers.coherence]
    file = "~/models/coherence.safetensors"
    arch = "mobilenetv3_small_050"       # or "torchvision:resnet18"; none for Keras files
    classes = ["coherent", "incoherent", "semi-incoherent"]
    input_size = 224                     # default 224 (Keras: the model's own input size)
    mean = [0.485, 0.456, 0.406]         # default: ImageNet
    std = [0.229, 0.224, 0.225]
    output = "auto"                      # logits | probabilities | auto
    min_probability = 0.5                # default for rules that do not set their own
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.engine.rules.content import RuleError

TORCH_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")
KERAS_SUFFIXES = (".keras", ".h5")
SUFFIXES = TORCH_SUFFIXES + KERAS_SUFFIXES
OUTPUTS = ("auto", "logits", "probabilities")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_KEYS = {
    "file",
    "arch",
    "classes",
    "input_size",
    "mean",
    "std",
    "min_probability",
    "output",
    "allow_lambda",
    "trust_pickle",
}


@dataclass(frozen=True)
class ClassifierSpec:
    name: str
    file: str
    arch: str  # "" for a Keras file (its architecture is in the file)
    classes: tuple[str, ...]
    input_size: int | None = None  # None: 224, or a Keras model's own input size
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_probability: float = 0.5
    output: str = "auto"  # auto: softmax over PyTorch outputs; Keras by its last activation
    allow_lambda: bool = False  # Keras: let Lambda layers (code in the file) load
    trust_pickle: bool = False  # PyTorch .pt: allow a full (code-running) pickle, said aloud

    @property
    def keras(self) -> bool:
        return os.path.splitext(self.file)[1].lower() in KERAS_SUFFIXES

    def key(self) -> str:
        """Identity of what it computes: the table and the weights file's identity and head."""
        try:
            st = os.stat(self.file)
            ident = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
        except OSError:
            ident = "missing"
        doc = repr(
            (self.arch, self.classes, self.input_size, self.mean, self.std, self.output, ident)
        )
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
    suffix = os.path.splitext(file)[1].lower()
    if suffix not in SUFFIXES:
        raise RuleError(f"{where}: {file}: expected one of {', '.join(SUFFIXES)}")
    arch = t.get("arch", "")
    if suffix in KERAS_SUFFIXES:
        if arch:
            raise RuleError(f"{where}: a Keras file holds its architecture; remove arch")
        if t.get("trust_pickle"):
            raise RuleError(f"{where}: trust_pickle is for PyTorch .pt files; remove it")
    else:
        if not isinstance(arch, str) or not arch:
            raise RuleError(
                f'{where}: arch = "TIMM_MODEL_NAME" (e.g. resnet18) or "torchvision:NAME" '
                "is missing"
            )
        if t.get("allow_lambda"):
            raise RuleError(f"{where}: allow_lambda is for Keras files; remove it")
        if t.get("trust_pickle") and suffix not in PICKLE_SUFFIXES:
            raise RuleError(f"{where}: trust_pickle is for .pt/.pth/.bin files; remove it")
    flags = {}
    for key in ("allow_lambda", "trust_pickle"):
        flags[key] = t.get(key, False)
        if not isinstance(flags[key], bool):
            raise RuleError(f"{where}: {key} must be true or false")
    output = t.get("output", "auto")
    if output not in OUTPUTS:
        raise RuleError(f"{where}: output must be one of {', '.join(OUTPUTS)} (got {output!r})")
    classes = t.get("classes")
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise RuleError(f"{where}: classes must list the model's outputs in order (2 or more)")
    size = t.get("input_size")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 1024
    ):
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
        output,
        flags["allow_lambda"],
        flags["trust_pickle"],
    )


def load_classifier(spec: ClassifierSpec, device: str = "cpu") -> Any:
    """The loaded classifier for a table: Keras (keras_model.py) or PyTorch (:class:`Classifier`).
    Both have ``spec``, ``input_size``, ``notes`` and ``probabilities(images)``."""
    if spec.keras:
        from lookalike.engine.rules.keras_model import KerasClassifier

        return KerasClassifier(spec)
    return Classifier(spec, device)


def preprocess(image: Any, size: int) -> np.ndarray:
    """RGB PIL image → float32 HxWx3 in 0..1, short side resized then centre-cropped."""
    from PIL import Image

    w, h = image.size
    scale = size / min(w, h)
    image = image.resize(
        (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC
    )
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.float32) / 255.0


def to_probabilities(out: np.ndarray, spec: ClassifierSpec, softmax_default: bool) -> np.ndarray:
    """Model outputs → one probability per class. A single sigmoid unit with two classes
    reads as P(second class)."""
    out = np.asarray(out, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    as_logits = spec.output == "logits" or (spec.output == "auto" and softmax_default)
    if out.shape[1] == 1 and len(spec.classes) == 2:
        p = 1.0 / (1.0 + np.exp(-out[:, 0])) if as_logits else out[:, 0]
        return np.stack([1.0 - p, p], axis=1).astype(np.float32)
    if as_logits:
        e = np.exp(out - out.max(axis=1, keepdims=True))
        out = e / e.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


class Classifier:
    """A loaded PyTorch classifier: ``probabilities(rgb_images)`` → (n, classes) rows."""

    def __init__(self, spec: ClassifierSpec, device: str = "cpu") -> None:
        try:
            import torch
        except ImportError as exc:
            raise RuleError(
                f"classifier {spec.name!r} needs torch; pip install 'lookalike[ml]'"
            ) from exc
        self.spec = spec
        self.input_size = spec.input_size or 224
        self.notes: list[str] = []  # said to the user once per run (an unsafe load, …)
        where = f"classifier {spec.name!r}"
        if not os.path.isfile(spec.file):
            raise RuleError(f"{where}: weights file {spec.file} does not exist")
        state = self._state(where)
        model = state if isinstance(state, torch.nn.Module) else self._build(where, state)
        self.model = model.eval().to(device)
        self.device = device
        self._torch = torch
        self._mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(spec.std).view(1, 3, 1, 1)

    def _state(self, where: str) -> Any:
        """The state dict, read safely; a full pickle only with ``trust_pickle`` (and said)."""
        import torch

        from lookalike.engine.embedders import ModelUnavailable
        from lookalike.engine.features.embed import load_state_file

        try:
            return load_state_file(self.spec.file)  # safetensors or weights_only=True
        except ModelUnavailable as exc:
            if not self.spec.trust_pickle:
                raise RuleError(
                    f"{where}: {exc}. Only plain state dicts load (never pickled code); re-save "
                    "with torch.save(model.state_dict(), PATH) or safetensors.torch.save_file "
                    "— or, for a file you trust completely, set trust_pickle = true"
                ) from None
        self.notes.append(
            f"{where}: {self.spec.file} is not a plain state dict; loaded it as a full pickle "
            "because trust_pickle = true (code in the file ran)"
        )
        try:
            state = torch.load(self.spec.file, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise RuleError(f"{where}: cannot load {self.spec.file} ({exc})") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict | torch.nn.Module):
            raise RuleError(f"{where}: {self.spec.file} holds neither a model nor a state dict")
        return state

    def _build(self, where: str, state: dict) -> Any:
        """``arch`` with one output per class, then the weights (strict: every tensor fits)."""
        n = len(self.spec.classes)
        arch = self.spec.arch
        try:
            if arch.startswith("torchvision:"):
                import torchvision

                model = torchvision.models.get_model(
                    arch.split(":", 1)[1], weights=None, num_classes=n
                )
            else:
                import timm

                model = timm.create_model(arch, pretrained=False, num_classes=n)
        except ImportError as exc:
            raise RuleError(
                f"{where}: {arch} needs {exc.name}; pip install 'lookalike[ml]'"
            ) from None
        except Exception as exc:
            kind = "torchvision model" if arch.startswith("torchvision:") else "timm model"
            raise RuleError(f"{where}: {arch!r} is not a {kind} ({exc})") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise RuleError(
                f"{where}: {self.spec.file} does not fit {arch} with {n} classes ({str(exc)[:300]})"
            ) from None
        return model

    def preprocess(self, image: Any) -> np.ndarray:
        return preprocess(image, self.spec.input_size or 224)

    def probabilities(self, images: list[Any]) -> np.ndarray:
        torch = self._torch
        if not images:
            return np.zeros((0, len(self.spec.classes)), np.float32)
        x = torch.from_numpy(np.stack([self.preprocess(im) for im in images]))
        x = (x.permute(0, 3, 1, 2) - self._mean) / self._std
        with torch.inference_mode():
            out = self.model(x.to(self.device)).float().cpu().numpy()
        return to_probabilities(out, self.spec, softmax_default=True)
