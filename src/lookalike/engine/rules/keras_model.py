"""Keras classifiers (``.keras`` and legacy ``.h5``) for content rules: the ``keras`` extra.

Keras 3 runs on the PyTorch backend the ``ml`` extra already installs (``KERAS_BACKEND=torch``
unless the user chose another), so no TensorFlow is needed. Model files are untrusted input:
they load in Keras safe mode, and before Keras sees the file its architecture is read here
(``config.json`` inside a ``.keras`` zip, the ``model_config`` attribute of an ``.h5``) so a
Lambda layer — Python code that would run on load — is refused with a message, whatever the
Keras version's own safe mode covers. ``allow_lambda = true`` lets a trusted file through.
This is the only module that imports keras.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from lookalike.engine.rules.classifier import ClassifierSpec, preprocess, to_probabilities
from lookalike.engine.rules.content import RuleError

PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")


def architecture(path: str) -> dict:
    """The model's config as saved, read without Keras (and without running anything)."""
    if path.lower().endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        raise ValueError("no model_config in the file (weights only?); save the whole model")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def lambda_layers(config: Any) -> list[str]:
    """Names of every Lambda layer anywhere in a saved config (nested models included)."""
    found: list[str] = []
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            found.append(str((config.get("config") or {}).get("name", "lambda")))
        for v in config.values():
            found += lambda_layers(v)
    elif isinstance(config, list):
        for v in config:
            found += lambda_layers(v)
    return found


class KerasClassifier:
    """A loaded Keras classifier: ``probabilities(rgb_images)`` → (n, classes) rows."""

    def __init__(self, spec: ClassifierSpec) -> None:
        where = f"classifier {spec.name!r}"
        if not os.path.isfile(spec.file):
            raise RuleError(f"{where}: model file {spec.file} does not exist")
        os.environ.setdefault("KERAS_BACKEND", "torch")
        try:
            import keras
        except ImportError:
            raise RuleError(
                f"{where}: Keras models need the keras extra: pip install 'lookalike[keras]'"
            ) from None
        try:
            lambdas = lambda_layers(architecture(spec.file))
        except Exception as exc:  # not a zip / not HDF5 / no config
            raise RuleError(f"{where}: {spec.file} is not a Keras model file ({exc})") from None
        if lambdas and not spec.allow_lambda:
            raise RuleError(
                f"{where}: {spec.file} has Lambda layer(s) {', '.join(lambdas)}, which hold "
                "Python code that would run on load; refused. Rebuild the model without them, "
                "or, for a file you trust completely, set allow_lambda = true"
            )
        self.spec = spec
        self.notes: list[str] = []
        if lambdas:
            self.notes.append(f"{where}: Lambda layers loaded because allow_lambda = true")
        try:
            model = keras.models.load_model(
                spec.file, compile=False, safe_mode=not spec.allow_lambda
            )
        except Exception as exc:
            raise RuleError(f"{where}: Keras cannot load {spec.file} ({exc})") from None
        self.model = model
        shape = tuple(model.input_shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise RuleError(
                f"{where}: the model takes input {shape}; a classifier rule needs "
                "(batch, height, width, 3) RGB images"
            )
        if shape[1] and shape[2] and shape[1] != shape[2]:
            raise RuleError(
                f"{where}: the model takes {shape[1]}x{shape[2]} images; classifier rules feed "
                "square centre crops, so it needs a square (or any-size) input"
            )
        self.input_size = spec.input_size or int(shape[1] or 224)
        n_out = int(model.output_shape[-1])
        n = len(spec.classes)
        if n_out != n and not (n_out == 1 and n == 2):
            raise RuleError(
                f"{where}: the model has {n_out} output(s) but classes lists {n}; "
                "list one class per output, in order"
            )
        last = getattr(model.layers[-1], "activation", None)
        self._probabilities_out = getattr(last, "__name__", "") in PROBABILITY_ACTIVATIONS

    def preprocess(self, image: Any) -> np.ndarray:
        x = preprocess(image, self.input_size)
        return (x - np.array(self.spec.mean, np.float32)) / np.array(self.spec.std, np.float32)

    def probabilities(self, images: list[Any]) -> np.ndarray:
        if not images:
            return np.zeros((0, len(self.spec.classes)), np.float32)
        x = np.stack([self.preprocess(im) for im in images]).astype(np.float32)
        out = np.asarray(self.model.predict(x, verbose=0))
        return to_probabilities(out, self.spec, softmax_default=not self._probabilities_out)
