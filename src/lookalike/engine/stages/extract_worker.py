"""What a decode worker runs for the extract stage, in a module of its own.

Why: a worker imports the module of the function it is sent. In stages/extract.py that pulled
the catalog, SQLite, the events and the scan context into every decode worker (78 modules,
≈ 55 ms of CPU and ≈ 2.7 MB of its own memory a worker start, twice a scan on 16 workers:
issue 13, docs/scale.md "Measured per-node rates"); here a worker imports the decode and the
features it uses, and the ML stage only when a task asks for it.
"""

from __future__ import annotations

import json

from lookalike.engine.features.extract import ImageFeatures, extract_file, meta_of, pack_views
from lookalike.engine.media.decode import set_decode_budget, task_failure

# Thumbnails go to this process's pack (engine/thumb_pack.py), their files made for group
# members only. Ray's workers write files (ray_pool._run_batch clears this): a node may not
# share the cache, and on a shared (network) cache a pack held open by a remote worker need
# not be readable by the driver before it is closed, while a file is complete once closed.
PACK_THUMBS = True


def meta_row(f: ImageFeatures) -> bytes:
    """The catalog's meta row of ``f``, as the worker sends it: JSON bytes, not a dict.

    Why here: the driver only stores it, and two nested dicts cost more to pickle and unpickle
    than their bytes (≈ 1.6 against 0.3 µs a photo), and their ``json.dumps`` on the driver's
    one thread (≈ 9 µs a photo, 0.9 s of a 100k scan's extract) now runs on the workers."""
    return json.dumps(meta_of(f)).encode()


def extract_task(task: tuple) -> tuple:
    """Runs in a decode worker: one decode, every perceptual feature, the thumbnail.
    ``task`` = (file id, path, thumbnail path, max pixels, decode budget[, ml job]); returns
    (file id, the meta row's bytes, the packed views, None[, ml extra]) or (file id, None,
    None, why it failed)."""
    file_id, path, thumb, max_pixels, budget, *ml_job = task
    set_decode_budget(budget)
    try:
        if ml_job:  # ml: the same decode also feeds the embedder, colour, faces, quality
            from lookalike.engine.ml_stage import extract_with_ml

            f, extra = extract_with_ml(path, thumb, max_pixels, ml_job[0], PACK_THUMBS)
            return file_id, meta_row(f), pack_views(f.views), None, extra
        f = extract_file(path, thumb, max_pixels, PACK_THUMBS)
        return file_id, meta_row(f), pack_views(f.views), None
    except Exception as exc:  # never let one file stop the scan
        return file_id, None, None, task_failure(exc)
