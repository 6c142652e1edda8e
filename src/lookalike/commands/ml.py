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
            "vit-h-14-laion, open_clip:ARCH/TAG, 'auto' (on with a GPU) or 'none' (a hash-only "
            "scan, also on a GPU box). See `lookalike models`.",
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
    from lookalike.engine.options import MLOptions

    by = "colour" if by == "color" else by
    if model is not None and model.lower() in NO_MODEL:
        return _without_model(weights, similar, similarity, by, prompt, device)
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


NO_MODEL = ("none", "off")  # --model none: no embeddings, also where a GPU would turn them on


def _without_model(
    weights: str | None,
    similar: bool,
    similarity: float | None,
    by: str | None,
    prompt: str | None,
    device: str,
) -> Any:
    """``--model none``: the stage's options without a model (None when nothing else asks for
    the stage), or a usage error naming the option that needs one. Why an option: with a GPU the
    embeddings are on by default, and a hash-only scan (faster, no model load) had no switch."""
    needs = [
        name
        for name, given in (
            ("--weights", weights),
            ("--prompt", prompt),
            ("--similarity", similarity is not None and by is None),
            ("--similar (without --by colour|faces)", similar and by is None),
            (f"--device {device}", device != "auto"),
        )
        if given
    ]
    if needs:
        raise click.UsageError(
            f"--model none turns the embedding model off, but {', '.join(needs)} needs one: "
            "drop --model none, or drop " + ("that option" if len(needs) == 1 else "those options")
        )
    if not (similar or by):
        return None
    from lookalike.engine.options import MLOptions

    return MLOptions(model=None, similar=similar, similarity=similarity, by=by)


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
    from lookalike.engine.embedding_query import QueryError, query_catalog

    if (image is None) == (text is None):
        raise click.UsageError("give an IMAGE or --text (one of them)")
    db = Path(db) if db else config.default_catalog_path()
    t0 = time.monotonic()
    try:
        results = query_catalog(
            db, image, text, model, top, device, weights, allow_download, verify
        )
    except QueryError as exc:
        raise click.ClickException(str(exc)) from exc
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
