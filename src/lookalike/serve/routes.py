"""The handlers of the job API. Each reads the server's :class:`Room` from ``request.app.state``;
blocking work (option checks that stat paths, plans, apply, undo, history) runs in a thread."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from lookalike.engine.actions.plan import TIERS
from lookalike.engine.api import Engine
from lookalike.engine.catalog_groups import SORTS, GroupFilter
from lookalike.engine.records import Group
from lookalike.engine.result_store import ResultError, ResultStore
from lookalike.headless.stream import ResultStream
from lookalike.serve import plans
from lookalike.serve.errors import ApiError, AsciiJSON
from lookalike.serve.jobs import TERMINAL, Job, JobManager, with_file_ids
from lookalike.serve.openapi import schema
from lookalike.serve.visible import ReviewView, ThumbGate

THUMB_KEY = re.compile(r"^[0-9a-f]{16}$")
KEEPALIVE = 15.0  # seconds between SSE comments while a job is quiet
STREAM_BATCH = 200  # events read from the job's file at a time


@dataclass
class Room:
    """What the handlers share: the engine's jobs, where state lives, the bounds."""

    engine: Engine
    jobs: JobManager
    state_dir: Path
    journal: Path | None
    page_max: int
    max_streams: int
    thumbs: ThumbGate
    review: ReviewView
    streams: int = 0


def room(request: Request) -> Room:
    return request.app.state.room


def references() -> list[str]:
    """Reference folders of config.toml: never acted on, as with ``lookalike apply``."""
    from lookalike.commands.act import config_references

    return config_references()


async def body_of(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON ({exc})", "send a JSON object") from None


def page_of(request: Request, page_max: int) -> tuple[int, int]:
    try:
        offset = int(request.query_params.get("offset", 0))
        limit = int(request.query_params.get("limit", 100))
    except ValueError:
        raise ApiError(422, "offset and limit must be whole numbers") from None
    if offset < 0 or not 1 <= limit <= page_max:
        raise ApiError(422, f"offset must be ≥ 0 and limit between 1 and {page_max}")
    return offset, limit


def view_of(request: Request) -> tuple[GroupFilter | None, str]:
    """``?tier=&folder=&sort=``: the review's filters and sort (None: no filter)."""
    q = request.query_params
    tier, folder, sort = q.get("tier") or None, q.get("folder") or None, q.get("sort") or "order"
    if tier is not None and tier not in TIERS:
        raise ApiError(422, f"unknown tier {tier!r}", f"tier is one of {', '.join(TIERS)}")
    if sort not in SORTS:
        raise ApiError(422, f"unknown sort {sort!r}", f"sort is one of {', '.join(SORTS)}")
    return (GroupFilter(tier, folder) if tier or folder else None), sort


def with_thumb_urls(g: Group) -> dict[str, Any]:
    """A group of the ``--format json`` contract, each file with its ``thumb_url``."""
    doc = g.to_json()
    doc["files"] = [{**f, "thumb_url": thumb_url(f.get("thumb"))} for f in doc["files"]]
    return doc


def thumb_url(path: str | None) -> str | None:
    key = Path(path).stem if path else ""
    return f"/thumbs/{key}" if THUMB_KEY.match(key) else None


async def openapi(request: Request) -> Response:
    return AsciiJSON(schema())


async def list_jobs(request: Request) -> Response:
    return AsciiJSON({"jobs": [j.public() for j in room(request).jobs.jobs.values()]})


async def post_job(request: Request) -> Response:
    jobs = room(request).jobs
    body = await body_of(request)
    await asyncio.to_thread(jobs.make_options, body)  # stats the paths: off the loop
    job = jobs.submit(body, validated=True)
    return AsciiJSON(job.public(), status_code=202, headers={"Location": f"/jobs/{job.id}"})


async def get_job(request: Request) -> Response:
    return AsciiJSON(room(request).jobs.get(request.path_params["id"]).public())


async def delete_job(request: Request) -> Response:
    job = room(request).jobs.cancel(request.path_params["id"])
    return AsciiJSON(job.public(), status_code=202)


async def resume_job(request: Request) -> Response:
    job = room(request).jobs.resume(request.path_params["id"])
    return AsciiJSON(job.public(), status_code=202)


async def events(request: Request) -> Response:
    r = room(request)
    job = r.jobs.get(request.path_params["id"])
    start = request.headers.get("last-event-id") or request.query_params.get("after")
    try:
        first = int(start) + 1 if start is not None else 0
    except ValueError:
        raise ApiError(422, "Last-Event-ID (or ?after=) must be an event number") from None
    if r.streams >= r.max_streams:
        raise ApiError(
            503,
            f"{r.max_streams} event streams are open already",
            f"close one, or poll GET /jobs/{job.id}",
        )
    return StreamingResponse(
        stream(r, job, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


async def stream(r: Room, job: Job, i: int):
    """Every event from number ``i`` on, then each new one as it comes, until the job ends.
    Events are read from the job's file a batch at a time (in a thread), not kept."""
    r.streams += 1
    try:
        log = job.events
        if log is None:  # an old ended job: its log is read from disk
            log = await asyncio.to_thread(r.jobs.events_of, job)
        while True:
            if job.events is not None:  # a resumed job has a log in memory again
                log = job.events
            while i < len(log):
                for text in await asyncio.to_thread(log.read, i, i + STREAM_BATCH):
                    yield f"id: {i}\ndata: {text}\n\n"
                    i += 1
            if job.state in TERMINAL:
                return
            woke = asyncio.Event()
            job.waiters.add(woke)  # no await since the check above: no event slips by
            try:
                await asyncio.wait_for(woke.wait(), KEEPALIVE)
            except TimeoutError:
                yield ": keep-alive\n\n"
            finally:
                job.waiters.discard(woke)
    finally:
        r.streams -= 1


def result_store(jobs: JobManager, job_id: str) -> ResultStore:
    """The done job's stored result, opened (blocking); 409/410 as ``result_file``."""
    try:
        return ResultStore(jobs.result_file(job_id))
    except ResultError as exc:
        raise ApiError(
            410, f"the result of job {job_id} cannot be read ({exc})", "POST /jobs to scan again"
        ) from None


def job_page(
    jobs: JobManager, job_id: str, offset: int, limit: int, flt: GroupFilter | None, sort: str
) -> dict[str, Any]:
    """One page of a job's groups, read from its stored result (no other group decoded)."""
    with result_store(jobs, job_id) as result:
        if flt is None and sort == "order":
            total = result.count()
            ords: Any = range(offset, min(offset + limit, total))
        else:
            view = result.columns(flt, sort)
            total, ords = len(view), view[offset : offset + limit].tolist()
        return {
            "version": result.tail["version"],
            "job": job_id,
            "total": total,
            "offset": offset,
            "limit": limit,
            "next": offset + limit if offset + limit < total else None,
            "groups": [with_file_ids(with_thumb_urls(g), g) for g in result.page(ords)],
            "errors": result.tail["errors"],
            "stats": result.tail["stats"],
        }


async def groups(request: Request) -> Response:
    r = room(request)
    offset, limit = page_of(request, r.page_max)
    flt, sort = view_of(request)
    page = await asyncio.to_thread(
        job_page, r.jobs, request.path_params["id"], offset, limit, flt, sort
    )
    return AsciiJSON(page)


class _Chunks:
    """A text sink for ResultStream that hands back what was written since the last take."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def take(self) -> bytes:
        out, self.parts = "".join(self.parts), []
        return out.encode("ascii")  # ensure_ascii JSON: any file name travels as \udcXX


def result_chunks(result: ResultStore, every: int = 100):
    """The ``--format json`` document, byte for byte ``lookalike scan --format json``'s,
    a few groups at a time (Starlette runs this generator in a thread: it reads SQLite)."""
    sink = _Chunks()
    out = ResultStream("json", sink)  # type: ignore[arg-type]
    try:
        for n, g in enumerate(result.groups(), 1):
            out.group(g)
            if n % every == 0:
                yield sink.take()
        out.finish(result.errors(), result.stats())
        yield sink.take()
    finally:
        result.close()


async def result(request: Request) -> Response:
    """``GET /jobs/ID/result``: the whole result, streamed group by group."""
    job_id = request.path_params["id"]
    store = await asyncio.to_thread(result_store, room(request).jobs, job_id)
    return StreamingResponse(
        result_chunks(store),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.json"'},
    )


async def post_plan(request: Request) -> Response:
    body = await body_of(request)
    refs = await asyncio.to_thread(references)
    plan = await asyncio.to_thread(plans.new_plan, room(request).jobs, body, refs)
    # the same bytes as AsciiJSON(plan_answer(plan)), streamed from the plan's spooled items
    return StreamingResponse(
        plans.answer_chunks(plan), status_code=201, media_type="application/json"
    )


async def get_plan(request: Request) -> Response:
    plan = await asyncio.to_thread(
        plans.read_plan, room(request).state_dir, request.path_params["id"]
    )
    return StreamingResponse(plans.answer_chunks(plan), media_type="application/json")


async def apply_plan(request: Request) -> Response:
    r = room(request)
    body = await body_of(request)
    refs = await asyncio.to_thread(references)
    out = await asyncio.to_thread(
        plans.apply, r.state_dir, request.path_params["id"], body, refs, r.journal
    )
    return AsciiJSON(out)


async def list_batches(request: Request) -> Response:
    from lookalike.engine.actions import history

    rows = await asyncio.to_thread(history, room(request).journal, 100)
    # as lookalike history --format json shows them, less the keeper records
    return AsciiJSON(
        {"batches": [{k: v for k, v in asdict(b).items() if k != "params"} for b in rows]}
    )


async def undo_batch(request: Request) -> Response:
    body = await body_of(request)
    out = await asyncio.to_thread(
        plans.undo_batch, request.path_params["id"], body, room(request).journal
    )
    return AsciiJSON(out)


# scans write JPEG thumbnails; catalogs an older version wrote still name WebP ones
THUMB_TYPES = {".jpg": "image/jpeg", ".webp": "image/webp"}


def _thumb_file(folder: Path, key: str) -> Path | None:
    for suffix in THUMB_TYPES:
        if (path := folder / f"{key}{suffix}").is_file():
            return path
    return None


async def thumb(request: Request) -> Response:
    r = room(request)
    key = request.path_params["key"]
    known = THUMB_KEY.match(key) and await asyncio.to_thread(r.thumbs.allows, key)
    path = _thumb_file(Path(r.engine.thumb_dir) / key[:2], key) if known else None
    if path is None:
        raise ApiError(404, f"no thumbnail {key!r}", "use a file's thumb_url from the groups")
    return FileResponse(
        path,
        media_type=THUMB_TYPES[path.suffix],
        headers={"Cache-Control": "private, max-age=86400, immutable"},
    )


ROUTES = [
    Route("/openapi.json", openapi),
    Route("/jobs", list_jobs, methods=["GET"]),
    Route("/jobs", post_job, methods=["POST"]),
    Route("/jobs/{id}", get_job, methods=["GET"]),
    Route("/jobs/{id}", delete_job, methods=["DELETE"]),
    Route("/jobs/{id}/resume", resume_job, methods=["POST"]),
    Route("/jobs/{id}/events", events),
    Route("/jobs/{id}/groups", groups),
    Route("/jobs/{id}/result", result),
    Route("/plans", post_plan, methods=["POST"]),
    Route("/plans/{id}", get_plan),
    Route("/plans/{id}/apply", apply_plan, methods=["POST"]),
    Route("/batches", list_batches),
    Route("/batches/{id}/undo", undo_batch, methods=["POST"]),
    Route("/thumbs/{key}", thumb),
]
