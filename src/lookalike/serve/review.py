"""Routes the terminal app needs to review on a server (``lookalike --server URL``): the
catalog's stored groups, review state and decisions, "not a duplicate", favourites, redo and the
journal's interrupted batches. Each is one call of the same engine method the local app uses;
paths a client names must be files of the catalog's groups under the server's roots."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lookalike.engine.actions import ActionError, pending_recovery, redo
from lookalike.serve.errors import ApiError, AsciiJSON
from lookalike.serve.jobs import with_file_ids
from lookalike.serve.plans import run_batch
from lookalike.serve.routes import body_of, page_of, room, view_of, with_thumb_urls
from lookalike.serve.scanargs import under_roots

STATE_KEY_MAX = 200
FACTS_MAX = 5000  # ords per /review/groups/facts request (≈ 40 kB of JSON body)
LOOKUP_MAX = 2000  # file ids + paths per /review/groups/of-files request


def _paths(body: object, key: str, roots: tuple[str, ...]) -> list[str]:
    paths = body.get(key) if isinstance(body, dict) else None
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ApiError(422, f'"{key}" must be a list of paths')
    outside = [p for p in paths if not under_roots(p, roots)]
    if outside:
        raise ApiError(403, f"outside the server's roots: {', '.join(outside[:3])}")
    return paths


def _hidden(request: Request) -> bool:
    return request.query_params.get("hidden", "") in ("1", "true")


async def groups(request: Request) -> Response:
    """The catalog's stored review (what ``Engine.last_groups`` returns), paged, through
    the engine's columns: only the page asked for is decoded. ``tier``, ``folder`` and
    ``sort`` give the app's views (``Engine.group_columns``)."""
    r = room(request)
    offset, limit = page_of(request, r.page_max)
    flt, sort = view_of(request)

    def work() -> dict[str, Any]:
        ords = r.review.ords(flt, sort)
        page = r.review.page(ords[offset : offset + limit].tolist())
        nxt = offset + limit if offset + limit < len(ords) else None
        return {"total": len(ords), "offset": offset, "next": nxt,
                "groups": [with_file_ids(with_thumb_urls(g), g) for g in page]}  # fmt: skip

    return AsciiJSON(await asyncio.to_thread(work))


async def group_count(request: Request) -> Response:
    """``Engine.group_count``: how many groups the unfiltered review shows."""
    r = room(request)
    ords = await asyncio.to_thread(r.review.ords, None, "order", _hidden(request))
    return AsciiJSON({"count": len(ords)})


async def group_columns(request: Request) -> Response:
    """``Engine.group_columns``: the view's group ords (``?tier=&folder=&sort=&hidden=1``)
    as little-endian int32, 4 bytes a group, not JSON: a million groups are 4 MB."""
    r = room(request)
    flt, sort = view_of(request)
    ords = await asyncio.to_thread(r.review.ords, flt, sort, _hidden(request))
    return Response(
        ords.astype("<i4").tobytes(),
        media_type="application/octet-stream",
        headers={"X-Count": str(len(ords))},
    )


async def group_page(request: Request) -> Response:
    """``Engine.group_page``: ``?ords=3,4,5`` (at most a page) → those groups, in that order."""
    r = room(request)
    raw = request.query_params.get("ords", "")
    try:
        ords = [int(o) for o in raw.split(",")] if raw else []
    except ValueError:
        raise ApiError(422, "ords must be whole numbers separated by commas",
                       "take them from GET /review/groups/columns") from None  # fmt: skip
    if len(ords) > r.page_max or any(o < 0 for o in ords):
        raise ApiError(422, f"at most {r.page_max} ords, each ≥ 0", "ask page by page")
    page = await asyncio.to_thread(r.review.page, ords, _hidden(request))
    return AsciiJSON({"groups": [with_file_ids(with_thumb_urls(g), g) for g in page]})


def _ords_of(body: object, most: int) -> list[int]:
    ords = body.get("ords") if isinstance(body, dict) else None
    if not isinstance(ords, list) or not all(type(o) is int and o >= 0 for o in ords):
        raise ApiError(422, '"ords" must be a list of whole numbers ≥ 0',
                       "take them from GET /review/groups/columns")  # fmt: skip
    if len(ords) > most:
        raise ApiError(422, f"at most {most} ords a request", "ask chunk by chunk")
    return ords


async def group_facts(request: Request) -> Response:
    """``Engine.group_facts``: ``{"ords": [...]}`` (at most ``FACTS_MAX``) → those groups from
    the member columns, no JSON row decoded (select by criteria, "accept all", folder counts
    over every group); a group with a file outside the roots is left out as in the pages."""
    r = room(request)
    ords = _ords_of(await body_of(request), FACTS_MAX)

    def work() -> list[dict[str, Any]]:
        out = set(r.review.outside().tolist())
        facts = r.engine.group_facts([o for o in ords if o not in out], _hidden(request))
        return [with_file_ids(g.to_json(), g) for g in facts]

    return AsciiJSON({"groups": await asyncio.to_thread(work)})


async def group_ords_of_files(request: Request) -> Response:
    """``Engine.group_ords_of_files``: ``{"file_ids": [...], "paths": [...]}`` → the ords of
    the visible stored groups holding any of these files, ascending: where stored decisions
    go back to after a rescan, without the client reading every page."""
    r = room(request)
    body = await body_of(request)
    ids = body.get("file_ids", []) if isinstance(body, dict) else None
    paths = body.get("paths", []) if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(type(i) is int for i in ids):
        raise ApiError(422, '"file_ids" must be a list of whole numbers')
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise ApiError(422, '"paths" must be a list of paths')
    if len(ids) + len(paths) > LOOKUP_MAX:
        raise ApiError(422, f"at most {LOOKUP_MAX} file ids and paths a request",
                       "ask chunk by chunk")  # fmt: skip

    def work() -> list[int]:
        out = set(r.review.outside().tolist())
        fit = [i for i in ids if -(2**63) <= i < 2**63]  # no file has another (SQLite's range)
        return [o for o in r.engine.group_ords_of_files(fit, paths) if o not in out]

    return AsciiJSON({"ords": await asyncio.to_thread(work)})


async def state(request: Request) -> Response:
    r = room(request)
    key = request.path_params["key"]
    if len(key) > STATE_KEY_MAX:
        raise ApiError(422, f"a state key is at most {STATE_KEY_MAX} characters")
    if request.method == "PUT":
        body = await body_of(request)
        if not isinstance(body, dict) or "value" not in body:
            raise ApiError(422, 'send {"value": ...}')
        await asyncio.to_thread(r.engine.save_state, key, body["value"])
    value = await asyncio.to_thread(r.engine.load_state, key, None)
    return AsciiJSON({"key": key, "value": value})


async def decisions(request: Request) -> Response:
    r = room(request)
    if request.method == "PUT":
        body = await body_of(request)
        ups, dels = (
            (body.get("upserts"), body.get("deletes"))
            if isinstance(body, dict)
            else (
                None,
                None,
            )
        )
        if not isinstance(ups, list) or not isinstance(dels, list):
            raise ApiError(422, 'send {"upserts": [...], "deletes": [...]}')
        await asyncio.to_thread(r.engine.save_decisions, ups, dels)
    return AsciiJSON({"decisions": await asyncio.to_thread(r.engine.load_decisions)})


async def not_duplicates(request: Request) -> Response:
    """``{"paths": [...], "on": true}``: these files are not duplicates of each other."""
    r = room(request)
    body = await body_of(request)
    paths = _paths(body, "paths", r.jobs.roots)
    call = r.engine.mark_not_duplicate if body.get("on", True) else r.engine.forget_not_duplicate
    await asyncio.to_thread(call, paths)
    return AsciiJSON({"paths": paths, "on": bool(body.get("on", True))})


async def favourites(request: Request) -> Response:
    """``{"paths": [path], "on": true}``: plans never act on a favourite."""
    r = room(request)
    body = await body_of(request)
    for path in _paths(body, "paths", r.jobs.roots):
        await asyncio.to_thread(r.engine.set_favourite, path, bool(body.get("on", True)))
    return AsciiJSON({"paths": body["paths"], "on": bool(body.get("on", True))})


async def marks(request: Request) -> Response:
    """GET: marked files, favourites and notes under the roots; POST ``{"paths", "on"}``."""
    r = room(request)
    if request.method == "POST":
        body = await body_of(request)
        for path in _paths(body, "paths", r.jobs.roots):
            await asyncio.to_thread(r.engine.set_mark, path, bool(body.get("on", True)))
    got = await asyncio.to_thread(r.engine.catalog_marks)
    inside = lambda p: under_roots(p, r.jobs.roots)  # noqa: E731
    return AsciiJSON(
        {
            "marked": [p for p in got["marked"] if inside(p)],
            "favourites": [p for p in got["favourites"] if inside(p)],
            "notes": {p: t for p, t in got["notes"].items() if inside(p)},
            "folder_notes": {p: t for p, t in got["folder_notes"].items() if inside(p)},
        }
    )


async def note(request: Request) -> Response:
    """``{"path": P, "text": T}``: a note on a file or folder ("" removes it)."""
    r = room(request)
    body = await body_of(request)
    (path,) = _paths({"paths": [body.get("path")]} if isinstance(body, dict) else {}, "paths",
                     r.jobs.roots)  # fmt: skip
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(422, '"text" must be a string ("" removes the note)')
    await asyncio.to_thread(r.engine.set_note, path, text)
    return AsciiJSON({"path": path, "text": text})


async def info(request: Request) -> Response:
    """``?path=P``: the file's raw metadata (``lookalike info``)."""
    from lookalike.engine.metadata.info import InfoError

    r = room(request)
    (path,) = _paths({"paths": [request.query_params.get("path")]}, "paths", r.jobs.roots)
    try:
        return AsciiJSON(await asyncio.to_thread(r.engine.file_info, path))
    except InfoError as exc:
        raise ApiError(422, str(exc)) from None


async def pdf(request: Request) -> Response:
    """``{"paths": [...]}``: ``lookalike pdf`` of these files, sent back as the PDF itself."""
    import tempfile

    from lookalike.engine.pdf import PdfError, make_pdf

    r = room(request)
    paths = _paths(await body_of(request), "paths", r.jobs.roots)

    def work() -> tuple[bytes, str]:
        with tempfile.TemporaryDirectory() as d:
            out = f"{d}/photos.pdf"
            try:
                res = make_pdf(paths, out)
            except PdfError as exc:
                raise ApiError(422, str(exc)) from None
            with open(out, "rb") as fh:
                left = f"; {len(res.skipped)} left out" if res.skipped else ""
                return fh.read(), f"{res.pages} page(s), {res.embedded} JPEG(s) embedded{left}"

    data, summary = await asyncio.to_thread(work)
    return Response(data, media_type="application/pdf", headers={"X-Summary": summary})


async def recovery(request: Request) -> Response:
    report = await asyncio.to_thread(pending_recovery, room(request).journal)
    return AsciiJSON({"batches": [_interrupted(b) for b in report.batches]})


def _interrupted(b: Any) -> dict:
    return {k: getattr(b, k) for k in ("id", "action", "phase", "done", "not_done")}


async def redo_batch(request: Request) -> Response:
    """``{"confirm": "redo ID"}``: apply an undone batch again, each file re-verified."""
    batch = request.path_params["id"]
    body = await body_of(request)
    if not isinstance(body, dict) or body.get("confirm") != f"redo {batch}":
        raise ApiError(422, f'not confirmed; send "confirm": "redo {batch}"', "nothing was touched")
    journal = room(request).journal

    def work() -> dict:
        try:
            return run_batch(redo(batch, journal))
        except ActionError as exc:
            raise ApiError(409, exc.message, exc.hint) from None

    return AsciiJSON(await asyncio.to_thread(work))


ROUTES = [
    Route("/review/groups", groups),
    Route("/review/groups/count", group_count),
    Route("/review/groups/columns", group_columns),
    Route("/review/groups/page", group_page),
    Route("/review/groups/facts", group_facts, methods=["POST"]),
    Route("/review/groups/of-files", group_ords_of_files, methods=["POST"]),
    Route("/review/state/{key}", state, methods=["GET", "PUT"]),
    Route("/review/decisions", decisions, methods=["GET", "PUT"]),
    Route("/review/not-duplicates", not_duplicates, methods=["POST"]),
    Route("/review/favourites", favourites, methods=["POST"]),
    Route("/review/recovery", recovery),
    Route("/review/marks", marks, methods=["GET", "POST"]),
    Route("/review/notes", note, methods=["PUT"]),
    Route("/review/info", info),
    Route("/review/pdf", pdf, methods=["POST"]),
    Route("/batches/{id}/redo", redo_batch, methods=["POST"]),
]
