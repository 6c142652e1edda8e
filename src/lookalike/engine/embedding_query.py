"""``lookalike query``: the files of a catalog most like an image (which need not be in the
catalog) or a text, by stored embeddings; true copies (geometric verification) first.

An engine operation, so the command line only parses options and prints: the catalog is read
through :class:`Catalog` methods, never SQL here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lookalike.engine.catalog import Catalog
from lookalike.engine.embedders import REGISTRY, ModelSpec, ModelUnavailable, resolve

EMB_PREFIX = "emb:"


class QueryError(ValueError):
    """The catalog cannot answer (missing, no embeddings, wrong model); the message says what to
    do."""


def query_catalog(
    db: Path,
    image: Path | None,
    text: str | None,
    model: str | None,
    top: int,
    device: str = "auto",
    weights: str | None = None,
    allow_download: bool | None = None,
    verify: bool = True,
) -> list[dict]:
    """Files in the catalog most like ``image`` (or described by ``text``), best first:
    ``{"path", "score"}`` plus ``"same"`` (a verified copy) for an image query with ``verify``.
    Raises :class:`QueryError`, or :class:`ModelUnavailable` for a model that cannot load."""
    from lookalike.engine.features.embed import Embedder

    if not db.exists():
        raise QueryError(
            f"no catalog at {db}; scan with a model first: "
            "lookalike scan --no-ui PATH --model effnet-lite0"
        )
    with Catalog(db) as cat:
        stored = [name[len(EMB_PREFIX) :] for name in cat.feature_names(EMB_PREFIX)]
        if not stored:
            raise QueryError(
                f"{db} holds no embeddings; scan with --model NAME (e.g. effnet-lite0) first"
            )
        # default: the model most of the catalog was embedded with
        spec = resolve(model) if model else _spec_for_version(stored[0])
        emb = Embedder(spec, device=device, weights=weights, allow_download=allow_download)
        if emb.version not in stored:
            raise QueryError(
                f"the catalog has no {spec.name} embeddings (version {emb.version}); it has: "
                + ", ".join(stored)
                + f". Rescan with --model {spec.name}"
            )
        if text is not None:
            try:
                q = emb.embed_texts([text])
            except ModelUnavailable as exc:  # a model without a text tower: a usage problem
                raise QueryError(str(exc)) from exc
        else:
            assert image is not None
            # Turned and mirrored copies embed far apart: ask with all 8 right-angle
            # turns/mirrors of the image and keep each file's best score.
            q = emb.embed_images(_dihedral(_load_image(image, spec)))
        pool = top + 1 if text is not None or not verify else max(3 * top, top + 30)
        best = _nearest(cat, db, emb.version, q, pool)
        rows = cat.files_by_ids(list(best))
    me = str(image.resolve()) if image is not None else None
    out = [
        {"path": rows[i].path, "score": round(float(sc), 4)}
        for i, sc in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        if i in rows and rows[i].path != me
    ]
    if image is not None and verify:
        _mark_verified(image, out)
    return out[:top]


def _nearest(cat: Catalog, db: Path, version: str, q: np.ndarray, pool: int) -> dict[int, float]:
    """File id → best cosine over the query vectors, for the ``pool`` nearest per vector; a
    byte-identical copy of a hit (one embedding per content) gets the hit's score."""
    from lookalike.engine.vector_index import VectorIndex, index_path, load_meta

    ipath = index_path(db, version)
    index = None
    if ipath.exists() and load_meta(ipath).get("count") == len(
        cat.feature_versions(EMB_PREFIX + version)
    ):
        index = VectorIndex.load(ipath)
    if index is None:
        raw = cat.load_features(EMB_PREFIX + version, 1)
        ids = np.array(sorted(raw), dtype=np.int64)
        mat = np.stack([np.frombuffer(raw[i], np.float16).astype(np.float32) for i in ids])
        index = VectorIndex.build(ids, mat)
    scores, found = index.search(q, pool)
    best: dict[int, float] = {}
    for srow, irow in zip(scores.tolist(), found.tolist(), strict=True):
        for sc, i in zip(srow, irow, strict=True):
            if i >= 0 and sc > best.get(i, -2.0):
                best[i] = sc
    for i, row in cat.files_by_ids(list(best)).items():
        if row.fullhash is not None:
            for cid in cat.ids_with_fullhash(row.fullhash):
                best.setdefault(cid, best[i])
    return best


def _mark_verified(image: Path, out: list[dict]) -> None:
    """Check each hit geometrically against the query; true copies first, then by score."""
    from lookalike.engine.features.verify import Verifier

    v = Verifier(cache_size=len(out) + 1)
    for r in out:
        r["same"] = bool(v.verify(image, r["path"]).same)
    out.sort(key=lambda r: (not r["same"], -r["score"], r["path"]))


def _load_image(path: Path, spec: ModelSpec) -> Any:
    from PIL import Image, ImageOps

    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:
        pass
    with Image.open(path) as im:
        try:
            im.draft("RGB", (spec.input_size * 2, spec.input_size * 2))
        except Exception:
            pass
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return im.convert("RGB")


def _dihedral(img: Any) -> list[Any]:
    """The image under the 8 right-angle turns and mirrors (the first is the image itself)."""
    from PIL import Image

    t = Image.Transpose
    ops = [
        None,
        t.ROTATE_90,
        t.ROTATE_180,
        t.ROTATE_270,
        t.FLIP_LEFT_RIGHT,
        t.FLIP_TOP_BOTTOM,
        t.TRANSPOSE,
        t.TRANSVERSE,
    ]
    return [img if op is None else img.transpose(op) for op in ops]


def _spec_for_version(version: str) -> ModelSpec:
    """Map a stored version string back to a registry spec (``family:arch[/tag]:r..:s..``)."""
    for spec in REGISTRY.values():
        if version == spec.version or version.startswith(spec.version + ":w"):
            return spec
    _family, _, rest = version.partition(":")
    arch_tag = rest.split(":")[0]
    return resolve("open_clip:" + arch_tag)
