"""What a decode worker runs for the extract stage, in a module of its own.

Why: a worker imports the module of the function it is sent. In stages/extract.py that pulled
the catalog, SQLite, the events and the scan context into every decode worker (78 modules,
≈ 55 ms of CPU and ≈ 2.7 MB of its own memory a worker start, twice a scan on 16 workers:
issue 13, docs/scale.md "Measured per-node rates"); here a worker imports the decode and the
features it uses, and the ML stage only when a task asks for it.
"""

from __future__ import annotations

from lookalike.engine.features.extract import extract_file, meta_of, pack_views
from lookalike.engine.media.decode import set_decode_budget, task_failure


def extract_task(task: tuple) -> tuple:
    """Runs in a decode worker: one decode, every perceptual feature, the thumbnail.
    ``task`` = (file id, path, thumbnail path, max pixels, decode budget[, ml job])."""
    file_id, path, thumb, max_pixels, budget, *ml_job = task
    set_decode_budget(budget)
    try:
        if ml_job:  # ml: the same decode also feeds the embedder, colour, faces, quality
            from lookalike.engine.ml_stage import extract_with_ml

            f, extra = extract_with_ml(path, thumb, max_pixels, ml_job[0])
            return file_id, meta_of(f), pack_views(f.views), None, extra
        f = extract_file(path, thumb, max_pixels)
        return file_id, meta_of(f), pack_views(f.views), None
    except Exception as exc:  # never let one file stop the scan
        return file_id, None, None, task_failure(exc)
