"""``make_app(settings)``: the Starlette app of ``lookalike serve`` — one engine, one catalog,
one journal, the routes of :mod:`lookalike.serve.routes` behind the :class:`Guard`. Tests drive
it with the ASGI test client and with a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lookalike.engine.api import Engine
from lookalike.serve import decisions, review
from lookalike.serve.errors import ApiError, error_response
from lookalike.serve.jobs import JobManager
from lookalike.serve.routes import ROUTES, Room
from lookalike.serve.scanargs import scan_options_from
from lookalike.serve.security import Guard, RateLimit, is_local
from lookalike.serve.visible import ReviewView, ThumbGate


@dataclass(frozen=True)
class ServeSettings:
    roots: tuple[str, ...]  # real paths; nothing outside them is scanned or acted on
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # required (by lookalike serve) for a non-local bind
    catalog: Path | None = None
    thumb_dir: Path | None = None
    state_dir: Path | None = None  # jobs and plans (default: DATA/serve)
    journal: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    rate: float = 50.0  # requests per second per client
    burst: int = 500
    max_body: int = 64 * 1024
    page_max: int = 500
    max_streams: int = 200  # event streams open at once

    @property
    def allowed_hosts(self) -> frozenset[str] | None:
        """Host names a local bind answers to (DNS-rebinding guard); None: any."""
        if not is_local(self.host):
            return None
        return frozenset({"localhost", "127.0.0.1", "::1", self.host})


def make_app(settings: ServeSettings) -> Starlette:
    from lookalike import config

    engine = Engine(settings.catalog, settings.thumb_dir)
    state_dir = Path(settings.state_dir or config.data_dir() / "serve")
    jobs = JobManager(
        engine,
        state_dir,
        lambda body: scan_options_from(body, settings.roots, settings.workers),
        settings.roots,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        again = await asyncio.to_thread(jobs.load)
        jobs.restart(again)  # what a stopped (or killed) server was scanning goes on
        yield
        await jobs.stop()

    app = Starlette(
        routes=ROUTES + review.ROUTES + decisions.ROUTES,
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    view = ReviewView(engine, settings.roots)
    app.state.room = Room(
        engine,
        jobs,
        state_dir,
        settings.journal,
        settings.page_max,
        settings.max_streams,
        ThumbGate(jobs, view),
        view,
    )
    app.add_middleware(
        Guard,
        token=settings.token,
        allowed_hosts=settings.allowed_hosts,
        max_body=settings.max_body,
        rate=RateLimit(settings.rate, settings.burst),
    )
    return app


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.hint)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    hint = "GET /openapi.json lists the routes" if exc.status_code in (404, 405) else ""
    message = {
        404: f"no such route: {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, message, hint)


def _internal_error(request: Request, exc: Exception) -> Response:
    return error_response(
        500, f"internal error ({type(exc).__name__}: {exc})", "please report it with the request"
    )
