"""Scan jobs: one at a time per catalog, run through ``Engine.scan``, kept in the state folder.

``STATE/jobs.json`` holds every job (its validated request, state and progress); each job's
events go to ``STATE/jobs/ID.events.jsonl`` (the ``--format jsonl`` lines) and its result to
``ID.groups.db`` (engine/result_store.py: written group by group as the scan finds them, paged
and filtered from there; never one document in memory). A job that was queued or running when the
server stopped (even by SIGKILL) is started again on the next start: the catalog kept what the
scan had computed, so it resumes like a scan run again after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lookalike.atomicio import write_atomic
from lookalike.engine import settings, thumb_sweep
from lookalike.engine.api import Engine
from lookalike.engine.catalog import CatalogError
from lookalike.engine.catalog_schema import group_from_row
from lookalike.engine.events import (
    Event,
    GroupFound,
    ItemError,
    Notice,
    ScanFinished,
    ScanStarted,
    StageDone,
    StageProgress,
)
from lookalike.engine.options import ScanOptions
from lookalike.engine.records import FileError, ScanStats
from lookalike.engine.result_store import ResultError, ResultWriter, write_result
from lookalike.serve.errors import ApiError
from lookalike.serve.eventlog import EventLog

ACTIVE = ("queued", "running")
TERMINAL = ("done", "cancelled", "failed")
KEEP_JOBS = 500  # jobs kept in jobs.json; the oldest ended ones (and their files) go first
EVENTS_IN_MEMORY = 3  # ended jobs whose event index stays in memory; older ones: disk only
SAVE_EVERY = 1.0  # seconds between progress saves of jobs.json (state changes save at once)
PUBLIC = (
    "id",
    "state",
    "paths",
    "stage",
    "done",
    "total",
    "rate",
    "eta",
    "errors",
    "groups",
    "message",
    "attempts",
    "created",
    "started",
    "finished",
)


@dataclass
class Job:
    id: str
    request: dict
    created: float = field(default_factory=time.time)
    state: str = "queued"
    stage: str | None = None
    done: int = 0
    total: int | None = None
    rate: float | None = None
    eta: float | None = None
    errors: int = 0
    groups: int | None = None
    message: str = ""
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    # in memory only
    events: EventLog | None = field(default=None, repr=False)  # None: on disk only
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    waiters: set[asyncio.Event] = field(default_factory=set, repr=False)

    @property
    def paths(self) -> list[str]:
        return list(self.request.get("paths") or [])

    def public(self) -> dict[str, Any]:
        """What ``GET /jobs/{id}`` answers (and what jobs.json keeps, with the request)."""
        return {k: getattr(self, k) for k in PUBLIC}

    def wake(self) -> None:
        for w in self.waiters:
            w.set()


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class JobManager:
    """Owns the jobs of one server (one engine, one catalog)."""

    def __init__(
        self,
        engine: Engine,
        state_dir: Path,
        make_options: Callable[[dict], ScanOptions],
        roots: tuple[str, ...] = (),
    ) -> None:
        self.engine = engine
        self.state_dir = Path(state_dir)
        self.make_options = make_options
        self.roots = roots  # real paths: where jobs scan and plans may move files to
        self.jobs: dict[str, Job] = {}
        self.tasks: set[asyncio.Task] = set()
        self.stopping = False
        self._saved = 0.0
        self.ended = 0  # jobs ended since the start

    # -- persistence ------------------------------------------------------------------------
    @property
    def jobs_file(self) -> Path:
        return self.state_dir / "jobs.json"

    def job_file(self, job_id: str, suffix: str) -> Path:
        return self.state_dir / "jobs" / f"{job_id}.{suffix}"

    def save(self) -> None:
        self._saved = time.monotonic()
        doc = {
            "version": 1,
            "jobs": [{**j.public(), "request": j.request} for j in self.jobs.values()],
        }
        write_atomic(self.jobs_file, json.dumps(doc, indent=1), mode=0o600)

    def load(self) -> list[Job]:
        """Read jobs.json; returns the jobs to start again (queued or running when it stopped)."""
        (self.state_dir / "jobs").mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.jobs_file.exists():
            return []
        try:
            doc = json.loads(self.jobs_file.read_text(encoding="utf-8"))
            rows = doc["jobs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CatalogError(
                f"cannot read the job list {self.jobs_file} ({exc}); move it aside to start "
                "with no jobs"
            ) from None
        again = []
        for row in rows:
            known = {k: row[k] for k in PUBLIC if k in row and k != "paths"}
            job = Job(request=row["request"], **known)
            job.events = self.event_log(job.id) if job.state in ACTIVE else None
            self.jobs[job.id] = job
            if job.state in ACTIVE:
                again.append(job)
        return again

    def event_log(self, job_id: str) -> EventLog:
        """The job's events file, indexed (blocking: reads the file once)."""
        return EventLog(self.job_file(job_id, "events.jsonl"))

    # -- the API's verbs --------------------------------------------------------------------
    def active(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.state in ACTIVE), None)

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id}", "GET /jobs lists the jobs")
        return job

    def _refuse_if_busy(self) -> None:
        busy = self.active()
        if busy is not None:
            raise ApiError(
                409,
                f"job {busy.id} is already scanning this catalog (state {busy.state}); "
                "one scan at a time per catalog",
                f"wait for it (GET /jobs/{busy.id}/events) or cancel it (DELETE /jobs/{busy.id})",
            )

    def submit(self, body: dict, validated: bool = False) -> Job:
        if not validated:
            self.make_options(body)  # raises ApiError (422/403) before anything is kept
        self._refuse_if_busy()
        job = Job(id=new_job_id(), request=body)
        job.events = self.event_log(job.id)
        self.jobs[job.id] = job
        self._prune()
        self.save()
        self.start(job)
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state not in ACTIVE:
            raise ApiError(
                409, f"job {job_id} is not running (state {job.state})", "nothing to cancel"
            )
        job.cancel.set()
        return job

    def resume(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state not in ("cancelled", "failed"):
            raise ApiError(
                409,
                f"job {job_id} cannot be resumed (state {job.state})",
                "only a cancelled or failed job is resumed",
            )
        self._refuse_if_busy()
        self._requeue(job, "resuming; what the scan computed before is kept in the catalog")
        self.start(job)
        return job

    def _requeue(self, job: Job, why: str) -> None:
        job.events = self.events_of(job)
        job.state, job.message, job.finished = "queued", why, None
        job.cancel = threading.Event()
        self.record(job, Notice(why, "info").to_json())
        self.save()

    def restart(self, jobs: list[Job]) -> None:
        """Start again the jobs a stopped server left queued or running."""
        for job in jobs:
            self._requeue(
                job,
                "the server stopped during this scan; resuming (what it "
                "computed before is kept in the catalog)",
            )
            self.start(job)

    def start(self, job: Job) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """Server shutdown: scans stop like Ctrl-C and stay queued, to resume at the next start."""
        self.stopping = True
        for job in self.jobs.values():
            if job.state in ACTIVE:
                job.cancel.set()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=30)

    # -- running ------------------------------------------------------------------------------
    def events_of(self, job: Job) -> EventLog:
        """The job's event log (read from disk for an old ended job: blocking)."""
        return job.events if job.events is not None else self.event_log(job.id)

    def _prune(self) -> None:
        """Bound what is kept: old ended jobs leave jobs.json, their files and memory."""
        ended = [j for j in self.jobs.values() if j.state in TERMINAL]
        for job in ended[: max(0, len(self.jobs) - KEEP_JOBS)]:
            del self.jobs[job.id]
            for suffix in ("events.jsonl", "groups.db", "groups.db.part", "groups.json",
                           "rows.json"):  # fmt: skip
                self.job_file(job.id, suffix).unlink(missing_ok=True)
        for job in ended[: max(0, len(ended) - EVENTS_IN_MEMORY)]:
            job.events = None

    def record(self, job: Job, data: dict) -> None:
        """Keep one event (a line of the job's events file, its place in memory) and wake
        its listeners."""
        if job.events is None:
            job.events = self.event_log(job.id)
        job.events.append(data)
        job.wake()

    async def _run(self, job: Job) -> None:
        job.attempts += 1
        try:
            options = replace(self.make_options(job.request), wait=True)
        except ApiError as exc:
            return self._end(job, "failed", f"{exc.message}; {exc.hint}")
        job.state, job.started = "running", time.time()
        self.save()
        try:
            writer = ResultWriter(self.job_file(job.id, "groups.db"))
        except ResultError as exc:
            return self._fail(job, f"{exc}; free space in the state folder, then resume the job")
        try:
            async for ev in self.engine.scan(options, job.cancel):
                self._track(job, ev)
                if isinstance(ev, GroupFound):
                    writer.add(ev.group)  # the result grows as groups finish: no list of them
                elif isinstance(ev, ScanFinished):
                    # result and state first: a client that sees "finished" can fetch groups
                    # (no await between the state change and the event: streams see both)
                    await self._finish(job, ev, writer)
                data = ev.to_json()
                if isinstance(ev, GroupFound):  # the app keys decisions by it (docs/api.md)
                    with_file_ids(data, ev.group)
                self.record(job, data)
        except CatalogError as exc:
            self._fail(job, str(exc))
        except ResultError as exc:
            self._fail(job, f"{exc}; free space in the state folder, then resume the job")
        except Exception as exc:  # a bug: the job says so, the server goes on
            self._fail(job, f"internal error ({type(exc).__name__}: {exc}); please report it")
        finally:
            if job.state != "done":
                writer.abandon()
        if job.state == "running":  # the scan ended without its last event
            self._fail(job, "the scan ended without a result")
        self._prune()  # after the last event is recorded
        if job.state == "done":  # then the thumbnail cache's sweep, when due (thumb_sweep.py)
            await asyncio.to_thread(self._sweep_cache)

    def _sweep_cache(self) -> None:
        note = thumb_sweep.after_scan_note(self.engine.thumb_dir, settings.current().catalog_path)
        if note:
            sys.stderr.write(note + "\n")  # the server's log

    def _fail(self, job: Job, message: str) -> None:
        self.record(job, Notice(message, "error").to_json())
        self._end(job, "failed", message)

    def _track(self, job: Job, ev: Event) -> None:
        if isinstance(ev, StageProgress):
            job.stage, job.done, job.total, job.rate, job.eta = (
                ev.stage,
                ev.done,
                ev.total,
                ev.rate,
                ev.eta,
            )
        elif isinstance(ev, StageDone):
            job.stage, job.done, job.total, job.eta = ev.stage, ev.count, ev.count, 0.0
        elif isinstance(ev, ItemError):
            job.errors += 1
        elif isinstance(ev, ScanStarted):
            job.message = ""
        if time.monotonic() - self._saved > SAVE_EVERY:
            self.save()

    async def _finish(self, job: Job, fin: ScanFinished, writer: ResultWriter) -> None:
        if fin.cancelled:
            if self.stopping:  # shut down, not cancelled: resume at the next start
                job.state, job.message = "queued", "the server stopped; resumes when it starts"
                self.save()
                return
            return self._end(
                job,
                "cancelled",
                "cancelled; what was computed is kept in the "
                f"catalog: POST /jobs/{job.id}/resume goes on from there",
            )
        await asyncio.to_thread(writer.finish, fin.errors, fin.stats)
        job.groups = writer.count
        self._end(job, "done", f"{writer.count} group(s), {len(fin.errors)} error(s)")

    def _end(self, job: Job, state: str, message: str) -> None:
        self.ended += 1  # what may be shown changed (serve/visible.py)
        job.state, job.message, job.finished = state, message, time.time()
        self.save()
        job.wake()

    def result_file(self, job_id: str) -> Path:
        """The job's stored result (engine/result_store.py); 409 until the job is done, 410
        when it is gone. Blocking (an older server's result is converted once)."""
        job = self.get(job_id)
        if job.state != "done":
            raise ApiError(
                409,
                f"job {job_id} has no groups yet (state {job.state})",
                f"wait for it: GET /jobs/{job_id}/events",
            )
        path = self.job_file(job_id, "groups.db")
        if not path.is_file():
            try:
                self._convert(job_id, path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ApiError(
                    410,
                    f"the result of job {job_id} is gone ({exc})",
                    f"scan again: POST /jobs/{job_id}/resume is refused for a done "
                    "job, so POST /jobs with the same body",
                ) from None
        return path

    def _convert(self, job_id: str, path: Path) -> None:
        """A result an older server kept (``groups.json`` + bytes-exact ``rows.json``) in
        today's layout, once; the old files go when it is written."""
        old, rows_file = self.job_file(job_id, "groups.json"), self.job_file(job_id, "rows.json")
        doc = json.loads(old.read_text(encoding="utf-8"))
        rows = json.loads(rows_file.read_text(encoding="utf-8"))
        known = set(ScanStats.__dataclass_fields__)
        stats = ScanStats(**{k: v for k, v in doc["stats"].items() if k in known})
        errors = [FileError(**e) for e in doc["errors"]]
        write_result(path, (group_from_row(r) for r in rows), errors, stats)
        old.unlink(missing_ok=True)
        rows_file.unlink(missing_ok=True)


def with_file_ids(doc: dict[str, Any], g: Any) -> dict[str, Any]:
    """A group's answer (``Group.to_json``) with each file's catalog ``file_id``: the app keys
    its review decisions by it (``state_store.file_key``) as the local app does, so they
    outlive a rename and the server pairs them in SQL (serve/decisions.py); without it a
    decision made over a server was keyed by path."""
    for f, m in zip(doc["files"], g.members, strict=True):
        f["file_id"] = m.file_id
    return doc
