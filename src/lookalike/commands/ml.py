"""ML commands: ``lookalike models`` and ``lookalike query``; the scan's ML options.

``ml_scan_options`` / ``build_ml_options`` are used by ``commands/scan.py`` so ``scan`` (and the
TUI launcher) accept ``--model``, ``--device``, ``--weights``, ``--allow-download``,
``--similar``, ``--similarity`` and ``--by``. torch is imported only when a model really runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

FORMATS = ("text", "json")


# -- scan options -------------------------------------------------------------------------
def ml_scan_options(f: Any) -> Any:
    """Click options of the ML stage, added to ``scan`` and the TUI launcher."""
    decorators = [
        click.option(
            "--model",
            "model",
            default=None,
            metavar="NAME",
            help="Embedding model for crop-proof matching and --similar: effnet-lite0 (offline, "
            "CPU-friendly), clip-vit-b-32, clip-vit-b-32-openai, siglip-vit-b-16, "
            "vit-h-14-laion, open_clip:ARCH/TAG, or 'auto' (on with a GPU). "
            "See `lookalike models`.",
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            metavar="auto|cpu|cuda[:N]",
            help="Where the embedding model runs.",
        ),
        click.option(
            "--weights",
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Load the model's weights from FILE (.safetensors or a PyTorch state dict).",
        ),
        click.option(
            "--allow-download",
            is_flag=True,
            default=None,
            help="Let open_clip download missing weights (config: models.allow_download).",
        ),
        click.option(
            "--similar",
            is_flag=True,
            help="Also group look-alike shots (bursts, same scene) in a 'similar' tier.",
        ),
        click.option(
            "--similarity",
            type=click.FloatRange(0.0, 1.0),
            default=None,
            help="Similar-tier threshold 0-1 (cosine; default tuned per model).",
        ),
        click.option(
            "--by",
            "by",
            type=click.Choice(["colour", "color", "faces"]),
            default=None,
            help="Similar tier by colour histogram, or only among pictures with as many faces.",
        ),
        click.option(
            "--prompt",
            default=None,
            metavar="TEXT",
            help="Aesthetic prompt blended into the quality score (CLIP-family models; "
            "default: 'a beautiful, sharp, well-composed, well-exposed photo').",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


ML_KEYS = ("model", "device", "weights", "allow_download", "similar", "similarity", "by", "prompt")


def build_ml_options(
    model: str | None = None,
    device: str = "auto",
    weights: str | None = None,
    allow_download: bool | None = None,
    similar: bool = False,
    similarity: float | None = None,
    by: str | None = None,
    prompt: str | None = None,
) -> Any:
    """MLOptions for ScanOptions.ml, or None when no ML option was given (stage off)."""
    from lookalike.engine.ml_stage import MLOptions

    by = "colour" if by == "color" else by
    asked = model or weights or similar or similarity is not None or by or allow_download
    if not asked and device == "auto":
        from lookalike.engine.ml_stage import gpu_present

        # With a GPU, embeddings are on by default (crop-proof "same"); on a CPU they are
        # opt-in: they cost ~10x a hash-only scan there (docs/models.md).
        return MLOptions(model="auto") if gpu_present() else None
    return MLOptions(
        model=model or ("auto" if device != "auto" and not weights else None),
        device=device,
        weights=weights,
        allow_download=allow_download,
        similar=similar or similarity is not None,
        similarity=similarity,
        by=by,
        prompt=prompt,
    )


# -- lookalike models ---------------------------------------------------------------------
def _model_rows() -> list[dict]:
    from lookalike.engine.embedders import REGISTRY, cached_weights

    try:
        import importlib.util

        has_torch = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        has_torch = False
    rows = []
    for spec in REGISTRY.values():
        path = cached_weights(spec)
        rows.append(
            {
                "name": spec.name,
                "arch": spec.arch + (f"/{spec.tag}" if spec.tag else ""),
                "dim": spec.dim,
                "size_mb": spec.size_mb,
                "devices": (["cpu", "cuda"] if has_torch else []),
                "text": spec.text,
                "weights": str(path) if path else None,
                "offline": spec.family == "effnet",
                "description": spec.description,
            }
        )
    return rows


@click.command("models")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def models_command(fmt: str) -> None:
    """List embedding models: dimension, size, devices, and whether weights are on this machine.

    \b
    A model whose weights are missing can be used with --weights FILE (air-gapped boxes) or
    --allow-download. Any other open_clip model: --model open_clip:ARCH/TAG.
    """
    rows = _model_rows()
    if fmt == "json":
        click.echo(json.dumps({"models": rows}, indent=1))
        return
    click.echo(f"{'NAME':22} {'DIM':>5} {'SIZE':>8}  {'DEVICES':9} {'TEXT':4}  WEIGHTS")
    for r in rows:
        devices = ",".join(r["devices"]) or "-"
        weights = "present" if r["weights"] else "missing"
        click.echo(
            f"{r['name']:22} {r['dim']:>5} {r['size_mb']:>6.0f}MB  {devices:9} "
            f"{'yes' if r['text'] else 'no':4}  {weights}"
        )
    if not any(r["devices"] for r in rows):
        click.echo("torch is not installed: pip install 'lookalike[ml]'", err=True)


# -- lookalike query ----------------------------------------------------------------------
def _load_image(path: Path, spec: Any) -> Any:
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


def _stored_versions(cat: Any) -> list[str]:
    rows = cat.db.execute(
        "SELECT name, COUNT(*) FROM features WHERE name LIKE 'emb:%' GROUP BY name "
        "ORDER BY COUNT(*) DESC"
    ).fetchall()
    return [r[0][4:] for r in rows]


def query(
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
    """Files in the catalog most like ``image`` (or described by ``text``), best first.

    For an image query the nearest candidates are also checked geometrically (the scan's
    verification): true copies (``"same": true``) come first, then the rest by cosine.
    """
    import numpy as np

    from lookalike.engine.catalog import Catalog
    from lookalike.engine.embedders import ModelUnavailable, resolve
    from lookalike.engine.features.embed import Embedder
    from lookalike.engine.vector_index import VectorIndex, index_path, load_meta

    if not db.exists():
        raise click.ClickException(
            f"no catalog at {db}; scan with a model first: "
            "lookalike scan --no-ui PATH --model effnet-lite0"
        )
    with Catalog(db) as cat:
        stored = _stored_versions(cat)
        if not stored:
            raise click.ClickException(
                f"{db} holds no embeddings; scan with --model NAME (e.g. effnet-lite0) first"
            )
        # default: the model most of the catalog was embedded with
        spec = resolve(model) if model else _spec_for_version(stored[0])
        emb = Embedder(spec, device=device, weights=weights, allow_download=allow_download)
        version = emb.version
        if version not in stored:
            raise click.ClickException(
                f"the catalog has no {spec.name} embeddings (version {version}); it has: "
                + ", ".join(stored)
                + f". Rescan with --model {spec.name}"
            )
        if text is not None:
            try:
                q = emb.embed_texts([text])
            except ModelUnavailable as exc:
                raise click.ClickException(str(exc)) from exc
        else:
            assert image is not None
            # Turned and mirrored copies embed far apart: ask with all 8 right-angle
            # turns/mirrors of the image and keep each file's best score.
            q = emb.embed_images(_dihedral(_load_image(image, spec)))
        ipath = index_path(db, version)
        index = None
        feats = cat.feature_versions("emb:" + version)
        if ipath.exists() and load_meta(ipath).get("count") == len(feats):
            index = VectorIndex.load(ipath)
        if index is None:
            raw = cat.load_features("emb:" + version, 1)
            ids = np.array(sorted(raw), dtype=np.int64)
            mat = np.stack([np.frombuffer(raw[i], np.float16).astype(np.float32) for i in ids])
            index = VectorIndex.build(ids, mat)
        pool = top + 1 if text is not None or not verify else max(3 * top, top + 30)
        scores, found = index.search(q, pool)
        best: dict[int, float] = {}
        for srow, irow in zip(scores.tolist(), found.tolist(), strict=True):
            for sc, i in zip(srow, irow, strict=True):
                if i >= 0 and sc > best.get(i, -2.0):
                    best[i] = sc
        rows = cat.files_by_ids(list(best))
        # Byte-identical copies share one embedding (the scan decodes one of them): add them.
        for i, row in list(rows.items()):
            if row.fullhash is None:
                continue
            for (cid,) in cat.db.execute(
                "SELECT id FROM files WHERE fullhash=? AND id<>?", (row.fullhash, i)
            ):
                if cid not in best:
                    best[cid] = best[i]
        rows = cat.files_by_ids(list(best))
    me = str(image.resolve()) if image is not None else None
    out = []
    for i, sc in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])):
        row = rows.get(int(i))
        if row is None or row.path == me:
            continue
        out.append({"path": row.path, "score": round(float(sc), 4)})
    if image is not None and verify:
        from lookalike.engine.features.verify import Verifier

        v = Verifier(cache_size=len(out) + 1)
        for r in out:
            r["same"] = bool(v.verify(image, r["path"]).same)
        out.sort(key=lambda r: (not r["same"], -r["score"], r["path"]))
    return out[:top]


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


def _spec_for_version(version: str) -> Any:
    """Map a stored version string back to a registry spec (``family:arch[/tag]:r..:s..``)."""
    from lookalike.engine.embedders import REGISTRY, resolve

    for spec in REGISTRY.values():
        if version == spec.version or version.startswith(spec.version + ":w"):
            return spec
    _family, _, rest = version.partition(":")
    arch_tag = rest.split(":")[0]
    return resolve("open_clip:" + arch_tag)


@click.command("query")
@click.argument(
    "image", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--text", default=None, help="Find photos by description (CLIP-family models).")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog file (default: in the platform cache dir).",
)
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help="Model to query with (default: the one the catalog was embedded with).",
)
@click.option("--top", "top", type=click.IntRange(1, 10_000), default=10, show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--allow-download", is_flag=True, default=None)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check the nearest files geometrically; true copies are listed first.",
)
def query_command(
    image, text, db, model, top, fmt, device, weights, allow_download, verify
) -> None:
    """Files most like IMAGE (which need not be in the catalog), or matching --text.

    \b
    Examples:
      lookalike query photo.jpg --top 5
      lookalike query --text "a dog on a beach" --model clip-vit-b-32
    Output: {"results": [{"path": ABS_PATH, "score": F, "same": B}, …]} best first: verified
    copies ("same": true) first, then by cosine score.
    """
    from lookalike import config
    from lookalike.engine.embedders import ModelUnavailable

    if (image is None) == (text is None):
        raise click.UsageError("give an IMAGE or --text (one of them)")
    db = Path(db) if db else config.default_catalog_path()
    t0 = time.monotonic()
    try:
        results = query(db, image, text, model, top, device, weights, allow_download, verify)
    except ModelUnavailable as exc:
        click.echo(f"lookalike: {exc}", err=True)
        sys.exit(4)
    if fmt == "json":
        click.echo(json.dumps({"results": results}, indent=1))
    else:
        for r in results:
            mark = "same " if r.get("same") else ""
            click.echo(f"{r['score']:.4f}  {mark}{r['path']}")
        click.echo(f"{len(results)} result(s) in {time.monotonic() - t0:.2f} s", err=True)


def register(main: click.Group) -> None:
    """Add this module's commands to ``main``."""
    main.add_command(models_command)
    main.add_command(query_command)
