"""Stored review decisions paired with the stored groups on the server (issue 13).

Why: the app over ``lookalike --server`` fetched every stored decision and matched them all in
Python — at 100,000 decided groups tens of seconds and hundreds of MB in the app, plus the
transfer. The server now runs the same SQL pairing the local app runs
(``Engine.pair_stored_decisions``, engine/stored_match.py ``pair_stored_rows``) and streams
what the app's ``match_left`` needs: each paired row's decision (key, group ord, status,
batch, kept and undecided paths) and only the other rows' records, for the rule. A paired
row whose group has a file outside the roots is sent as a record instead (its paths are not
the client's to read; the rule then finds no shown group for it, as the app would).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lookalike.serve.errors import ApiError, AsciiJSON
from lookalike.serve.routes import body_of, room

KEYS_MAX = 1000  # decision keys per POST /review/decisions/of-keys (≈ 36 kB of body)
LINES_A_CHUNK = 1000  # NDJSON lines sent at a time


def _hidden(request: Request) -> bool:
    return request.query_params.get("hidden", "") in ("1", "true")


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def pair_doc(p: Any) -> dict[str, Any]:
    """A ``RowPair`` as a line of the paired stream (paths as surrogate-escaped text)."""
    return {
        "key": p.key,
        "ord": p.ord,
        "status": p.status,
        "batch": p.batch,
        "kept": [os.fsdecode(b) for b in p.kept],
        "undecided": [os.fsdecode(b) for b in p.undecided],
    }


def paired_lines(engine: Any, outside: set[int], show_hidden: bool) -> Iterator[str]:
    """The head line, then one line per paired row (by ord), then one per other row (as
    stored). Pairing and reading run before the first line: an error is an error status."""
    got = engine.pair_stored_decisions(show_hidden)
    if got is None:  # a row the rule must read itself: every row goes to the rule
        pairs, rows = [], engine.load_decisions()
    else:
        pairs = [p for p in got[0] if p.ord not in outside]
        rest = got[1] + [p.key for p in got[0] if p.ord in outside]
        rows = engine.load_decisions(rest) if rest else []
    head = {"paired": len(pairs), "rows": len(rows), "sql": got is not None}

    def lines() -> Iterator[str]:
        yield _dumps(head) + "\n"
        for i in range(0, len(pairs), LINES_A_CHUNK):
            yield "".join(_dumps(pair_doc(p)) + "\n" for p in pairs[i : i + LINES_A_CHUNK])
        for i in range(0, len(rows), LINES_A_CHUNK):
            yield "".join(_dumps(r) + "\n" for r in rows[i : i + LINES_A_CHUNK])

    return lines()


async def paired(request: Request) -> Response:
    """``GET /review/decisions/paired[?hidden=1]``: the stored decisions paired in SQL and the
    records of the rest, as NDJSON (docs/api.md)."""
    r = room(request)
    show_hidden = _hidden(request)

    def work() -> Iterator[str]:
        outside = set(r.review.outside().tolist())
        return paired_lines(r.engine, outside, show_hidden)

    lines = await asyncio.to_thread(work)
    return StreamingResponse(lines, media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store"})  # fmt: skip


async def of_keys(request: Request) -> Response:
    """``POST /review/decisions/of-keys`` ``{"keys": [...]}``: the stored decisions of these
    keys, in the order stored (a key not stored is left out)."""
    r = room(request)
    body = await body_of(request)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ApiError(422, '"keys" must be a list of decision keys',
                       "take them from GET /review/decisions/paired")  # fmt: skip
    if len(keys) > KEYS_MAX:
        raise ApiError(422, f"at most {KEYS_MAX} keys a request", "ask chunk by chunk")
    rows = await asyncio.to_thread(r.engine.load_decisions, keys) if keys else []
    return AsciiJSON({"decisions": rows})


ROUTES = [
    Route("/review/decisions/paired", paired),
    Route("/review/decisions/of-keys", of_keys, methods=["POST"]),
]
