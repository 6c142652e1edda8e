"""``lookalike --server URL``: the terminal app on a running ``lookalike serve`` (docs/api.md).

:class:`RemotePort` is the app's :class:`EnginePort` over HTTP: scans are jobs (their SSE
events become the same event objects), groups and review state live in the server's catalog,
plans are made, applied and undone by the server's journal, and thumbnails are fetched into a
local cache. Paths are the server's; content-rule previews run on the box only.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from lookalike import remote_thumbs
from lookalike.engine.catalog_groups import GroupFilter
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
from lookalike.engine.options import DEFAULT_KEEP_RULES, ScanOptions
from lookalike.engine.records import FileError, Group, Member, ScanStats
from lookalike.engine.scan_groups import PagedGroups
from lookalike.ui import remote_decisions
from lookalike.ui.engine_port import (
    ActionsUnavailable,
    ApplyProgress,
    BatchInfo,
    BatchResult,
    PlanItem,
    PlanSummary,
)

PAGE_MAX = 500  # groups per request: the server's page bound (lookalike serve)
FACTS_MAX = 5000  # ords per /review/groups/facts request (serve/review.py)
LOOKUP_MAX = 2000  # file ids + paths per /review/groups/of-files request
LOOKUP_BYTES = 48 * 1024  # and under the server's 64 kB body bound


class RemoteError(RuntimeError):
    """The server refused or could not be reached; the message is the server's (or why not)."""


def scan_body(options: ScanOptions) -> dict[str, Any]:
    """The ``POST /jobs`` body for ``options`` (the flags ``lookalike scan`` would get)."""
    opts: dict[str, Any] = {
        "include": list(options.include),
        "exclude": list(options.exclude),
        "min_size": options.min_size,
        "hidden": options.hidden,
        "follow_symlinks": options.follow_symlinks,
        "one_file_system": options.one_file_system,
        "workers": options.workers,
        "sensitivity": options.sensitivity,
        "exact_only": not options.same,
        "reference": [str(p) for p in options.reference],
        "max_pixels": options.max_pixels,
        "max_decode_mb": options.max_decode_mb,
        "no_thumbnails": not options.thumbnails,
        "no_video": not options.video,
        "video_min_segment": options.video_min_segment,
        "show_hidden": options.show_rule_hidden,
    }
    if tuple(options.keep_rules) != DEFAULT_KEEP_RULES:
        opts["keep_rule"] = ",".join(options.keep_rules)
    if options.video_step is not None:
        opts["video_step"] = options.video_step
    paths = [os.fsdecode(p) for p in (*options.roots, *options.files_from)]
    return {"paths": paths, "options": {k: v for k, v in opts.items() if v not in ([], None)}}


def group_from_json(d: dict[str, Any], thumb: Callable[[str | None], str | None]) -> Group:
    """A group of the ``--format json`` contract back as a :class:`Group`."""
    video = ("duration", "fps", "codec", "strip")
    members = tuple(
        Member(
            path=f["path"],
            size=f["size"],
            width=f["width"],
            height=f["height"],
            format=f["format"],
            score=f["score"],
            mtime_ns=f.get("mtime_ns", 0),
            capture_time=f.get("capture_time"),
            camera=f.get("camera"),
            thumb=thumb(f.get("thumb_url")),
            file_id=f.get("file_id"),  # the stored review's (decisions are keyed by it)
            flags=tuple(f.get("flags") or ()),
            evidence=f.get("evidence"),
            segments=tuple(f.get("segments") or ()),
            **{k: f.get(k) for k in video},
        )  # fmt: skip
        for f in d["files"]
    )
    return Group(d["id"], d["tier"], d["keep"], d["reason"], members)


def event_from_json(d: dict[str, Any], thumb: Callable[[str | None], str | None]) -> Event:
    """One line of ``--format jsonl`` (an SSE ``data:``) back as the engine's event."""
    kind = d.get("event")
    if kind == "progress":
        return StageProgress(d["stage"], d["done"], d["total"], d.get("rate"), d.get("eta"))
    if kind == "stage_done":
        return StageDone(d["stage"], d["seconds"], d.get("count", 0))
    if kind == "error":
        return ItemError(FileError(d["path"], d["error"]))
    if kind == "group":
        return GroupFound(group_from_json(d, thumb))
    if kind == "started":
        return ScanStarted(tuple(d["roots"]), d["catalog"], d["workers"])
    if kind == "finished":
        known = set(ScanStats.__dataclass_fields__)
        stats = ScanStats(**{k: v for k, v in d["stats"].items() if k in known})
        return ScanFinished(stats, cancelled=d["cancelled"])
    return Notice(str(d.get("message", d)), str(d.get("level", "info")))


class RemoteGroups(PagedGroups):
    """A server job's groups in their order, read a page at a time as they are used (issue 13:
    a scan's end no longer fetches every page, and every thumbnail, before the app goes on).
    ``count`` is the job's ``stats.groups``: ``len`` asks the server nothing."""

    chunk = PAGE_MAX

    def __init__(self, port: RemotePort, path: str, count: int) -> None:
        super().__init__(count)
        self.port, self.path = port, path

    def _read(self, offset: int, limit: int) -> list[Group]:
        doc = self.port._call("GET", self.path, offset=offset, limit=limit)
        return [group_from_json(g, self.port.thumb) for g in doc["groups"]]


class RemotePort:
    """The app's engine, on a server. Blocking calls run in the app's thread workers."""

    def __init__(self, url: str, token: str | None = None, cache: Path | None = None) -> None:
        from lookalike import config

        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=self.headers, timeout=300)
        self.cache = Path(cache or config.remote_thumbnail_dir())
        self.thumbs = remote_thumbs.ThumbCache(self.cache, _cap())  # trims now, in a thread
        self._lock = threading.Lock()
        # Thumbnail keys the server answered 404 for: not asked again on every page read (at
        # 2,000 groups each page read paid one round trip a missing thumbnail) until a scan
        # through this port, which may make them (:meth:`forget_thumb_misses`).
        self._no_thumb: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, method: str, route: str, body: Any = None, **params: Any) -> Any:
        try:
            r = self.http.request(method, route, params=params or None, **as_json(body))
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc}") from None
        return _answer(r)

    def thumb(self, url: str | None) -> str | None:
        """The local copy of a server thumbnail (fetched once, kept while the cache's cap
        allows, remote_thumbs.py; None when there is none)."""
        key = url.rsplit("/", 1)[-1] if url else ""
        if not remote_thumbs.KEY.match(key) or key in self._no_thumb:
            return None  # no thumbnail, or a name the cache would not know
        if (local := self.thumbs.find(key)) is not None:
            return str(local)
        r = self.http.get(url or "")
        if r.status_code == 404:  # the server has none: remembered (another error is not)
            with self._lock:
                self._no_thumb.add(key)
        if r.status_code != 200:
            return None
        webp = r.headers.get("content-type", "").startswith("image/webp")
        return str(self.thumbs.store(key, r.content, webp))

    def forget_thumb_misses(self) -> None:
        """Ask the server again for the thumbnails it had none of (a scan may have made them)."""
        with self._lock:
            self._no_thumb.clear()

    def _pages(self, path: str) -> list[Group]:
        groups: list[Group] = []
        offset: int | None = 0
        while offset is not None:
            doc = self._call("GET", path, offset=offset, limit=PAGE_MAX)
            groups += [group_from_json(g, self.thumb) for g in doc["groups"]]
            offset = doc["next"]
        return groups

    # -- scanning -----------------------------------------------------------------------------
    async def scan(
        self, options: ScanOptions, cancel: threading.Event | None = None
    ) -> AsyncIterator[Event]:
        if options.ml is not None:
            yield Notice("model options stay on this machine: the server scans without them "
                         "(run lookalike scan --similar on the box)", "warning")  # fmt: skip
        self.forget_thumb_misses()
        async with httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=None) as c:
            job = _answer(await c.post("/jobs", **as_json(scan_body(options))))["id"]
            asked = False
            async with c.stream("GET", f"/jobs/{job}/events") as s:
                async for line in s.aiter_lines():
                    if cancel is not None and cancel.is_set() and not asked:
                        asked = True
                        await c.delete(f"/jobs/{job}")  # 409 if it ended meanwhile: fine
                    if not line.startswith("data: "):
                        continue
                    ev = event_from_json(json.loads(line[6:]), self.thumb)
                    if isinstance(ev, ScanFinished):
                        self.forget_thumb_misses()  # the scan's thumbnails are made now
                    if isinstance(ev, ScanFinished) and not ev.cancelled:
                        path, count = f"/jobs/{job}/groups", ev.stats.groups
                        ev = replace(ev, groups=RemoteGroups(self, path, count))
                    yield ev

    # -- review state -------------------------------------------------------------------------
    def last_groups(self) -> list[Group]:
        return self._pages("/review/groups")

    def group_count(self, show_hidden: bool = False) -> int:
        """``Engine.group_count`` on the server's stored review (its roots only)."""
        return int(self._call("GET", "/review/groups/count", **_hidden(show_hidden))["count"])

    def group_columns(
        self, flt: GroupFilter | None = None, sort: str = "order", show_hidden: bool = False
    ) -> np.ndarray:
        """``Engine.group_columns``: the view's group ords (int32), 4 bytes a group on the
        wire; pages of it come from :meth:`group_page`."""
        flt = flt or GroupFilter()
        params = {"tier": flt.tier, "folder": flt.folder, "sort": sort, **_hidden(show_hidden)}
        try:
            r = self.http.get("/review/groups/columns",
                              params={k: v for k, v in params.items() if v})  # fmt: skip
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc}") from None
        if r.status_code != 200:
            _answer(r)  # raises with the server's message
        return np.frombuffer(r.content, dtype="<i4").astype(np.int32)

    def group_page(self, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
        """``Engine.group_page``: these groups, in this order (asked 500 at a time)."""
        want = [int(o) for o in ords]
        out: list[Group] = []
        for i in range(0, len(want), PAGE_MAX):
            chunk = ",".join(map(str, want[i : i + PAGE_MAX]))
            doc = self._call("GET", "/review/groups/page", ords=chunk, **_hidden(show_hidden))
            out += [group_from_json(g, self.thumb) for g in doc["groups"]]
        return out

    def group_facts(self, ords: Sequence[int], show_hidden: bool = False) -> list[Group]:
        """``Engine.group_facts``: these groups from the server's member columns (no JSON row
        decoded there), ``FACTS_MAX`` a request; each member with its file id, as the pages'
        (their decision keys are the same), and no thumbnail."""
        want = [int(o) for o in ords]
        out: list[Group] = []
        for i in range(0, len(want), FACTS_MAX):
            doc = self._post_view("/review/groups/facts", {"ords": want[i : i + FACTS_MAX]},
                                  show_hidden)  # fmt: skip
            out += [group_from_json(g, lambda _url: None) for g in doc["groups"]]
        return out

    def group_ords_of_files(self, file_ids: Sequence[int], paths: Sequence[str] = ()) -> list[int]:
        """``Engine.group_ords_of_files`` on the server: the ords of its stored groups holding
        any of these files, ascending (asked in chunks under the server's body bound)."""
        found: set[int] = set()
        for chunk in _lookup_chunks([int(i) for i in file_ids], [str(p) for p in paths]):
            found.update(self._call("POST", "/review/groups/of-files", chunk)["ords"])
        return sorted(found)

    def _post_view(self, route: str, body: Any, show_hidden: bool) -> Any:
        try:
            r = self.http.post(route, params=_hidden(show_hidden) or None, **as_json(body))
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc}") from None
        return _answer(r)

    def load_state(self, key: str, default: object = None) -> object:
        value = self._call("GET", f"/review/state/{key}")["value"]
        return default if value is None else value

    def save_state(self, key: str, value: object) -> None:
        self._call("PUT", f"/review/state/{key}", {"value": value})

    def mark_not_duplicate(self, paths: list[str]) -> None:
        self._call("POST", "/review/not-duplicates", {"paths": paths, "on": True})

    def forget_not_duplicate(self, paths: list[str]) -> None:
        self._call("POST", "/review/not-duplicates", {"paths": paths, "on": False})

    def set_favourite(self, path: str, on: bool) -> None:
        self._call("POST", "/review/favourites", {"paths": [path], "on": on})

    def set_mark(self, path: str, on: bool) -> None:
        self._call("POST", "/review/marks", {"paths": [path], "on": on})

    def set_note(self, path: str, text: str) -> None:
        self._call("PUT", "/review/notes", {"path": path, "text": text})

    def catalog_marks(self) -> dict[str, Any]:
        return self._call("GET", "/review/marks")

    def file_info(self, path: str) -> dict[str, Any]:
        return self._call("GET", "/review/info", path=path)

    def video_frame(self, path: str, seconds: float) -> Any:
        raise RemoteError(
            "frames of the server's videos are not fetched here (the contact strips are)"
        )

    def make_pdf(self, paths: Sequence[str], out: str) -> str:
        """The server makes the PDF of its files; it is written to ``out`` on this machine."""
        from lookalike.atomicio import write_atomic

        try:
            r = self.http.post("/review/pdf", **as_json({"paths": list(paths)}))
        except httpx.HTTPError as exc:
            raise RemoteError(f"cannot reach {self.url}: {exc}") from None
        if r.status_code != 200:
            _answer(r)  # raises with the server's message
        write_atomic(out, r.content)
        return f"{out}: {r.headers.get('x-summary', '')}"

    def load_decisions(self, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """``Engine.load_decisions``: every stored decision, or those of these keys."""
        if keys is None:
            return self._call("GET", "/review/decisions")["decisions"]
        return remote_decisions.rows_of_keys(self, keys)

    def paired_decision_rows(self) -> tuple[list[Any] | None, list[dict[str, Any]]]:
        """The stored decisions the server paired in SQL and the records of the rest
        (ui/remote_decisions.py); ``app_decisions`` matches them as the local ones."""
        return remote_decisions.paired_rows(self)

    def save_decisions(self, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        self._call("PUT", "/review/decisions", {"upserts": upserts, "deletes": deletes})

    def stored_rule_hits(self) -> dict[str, str]:
        return {}  # not served yet: the badges come from the content rules screen, on the box

    def rule_previews(self) -> list[Any]:
        raise ActionsUnavailable(
            "content rules are scored on the box: run lookalike rules test there"
        )

    # -- actions ------------------------------------------------------------------------------
    def plan(
        self,
        groups: Sequence[Group],
        removals: Mapping[int, Sequence[str]],
        operation: str,
        *,
        references: Sequence[str] = (),
        favourites: Collection[str] = (),
        tiers: Sequence[str] = ("exact", "same"),
    ) -> PlanSummary:
        """The server plans on its stored review with these removals; references and
        favourites are the server's (its config and catalog), as for a plan file."""
        gone = {str(gid): list(paths) for gid, paths in removals.items() if paths}
        doc = self._call("POST", "/plans", {"review": True, "removals": gone,
                                            "action": operation, "tiers": list(tiers)})  # fmt: skip
        items = tuple(
            PlanItem(
                source=i["source"],
                group_id=i["group_id"],
                size=i["size"],
                destination=i.get("dest"),
            )  # fmt: skip
            for i in doc["items"]
        )
        refused = tuple(f"{r['path']}: {r['reason']}" for r in doc["refused"])
        return PlanSummary(doc["action"], items, len(gone), refused, doc)

    def apply(self, plan: PlanSummary, progress: Callable[[ApplyProgress], None]) -> BatchResult:
        doc = plan.native
        out = self._call("POST", f"/plans/{doc['id']}/apply",
                         {"plan": doc["id"], "confirm": doc["confirm"]})  # fmt: skip
        progress(ApplyProgress(len(plan.items), len(plan.items)))
        return _result(out)

    def history(self) -> list[BatchInfo]:
        import time

        rows = self._call("GET", "/batches")["batches"]
        return [
            BatchInfo(
                b["id"],
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b["created"])),
                b["action"],
                sum(b["counts"].values()),
                b["bytes_done"],
                b["state"],
            )  # fmt: skip
            for b in rows
        ]

    def undo(self, batch_id: str) -> BatchResult:
        return _result(self._call("POST", f"/batches/{batch_id}/undo",
                                  {"confirm": f"undo {batch_id}"}))  # fmt: skip

    def redo(self, batch_id: str) -> BatchResult:
        return _result(self._call("POST", f"/batches/{batch_id}/redo",
                                  {"confirm": f"redo {batch_id}"}))  # fmt: skip

    def recovery_notes(self) -> list[str]:
        return [
            f"Batch {b['id']} ({b['action']}, {b['phase']}) was interrupted on the server: "
            f"{b['done']} files done, {b['not_done']} not. Undo it from History (6)."
            for b in self._call("GET", "/review/recovery")["batches"]
        ]


def _lookup_chunks(ids: list[int], paths: list[str]) -> list[dict[str, list]]:
    """Request bodies for /review/groups/of-files: each under ``LOOKUP_MAX`` entries and
    ``LOOKUP_BYTES`` of JSON (file ids first, then paths)."""
    out: list[dict[str, list]] = []
    body: dict[str, list] = {"file_ids": [], "paths": []}
    size = 0
    for key, values in (("file_ids", ids), ("paths", paths)):
        for v in values:
            cost = len(json.dumps(v)) + 2
            if len(body["file_ids"]) + len(body["paths"]) >= LOOKUP_MAX or (
                size + cost > LOOKUP_BYTES and size
            ):
                out.append(body)
                body, size = {"file_ids": [], "paths": []}, 0
            body[key].append(v)
            size += cost
    if body["file_ids"] or body["paths"]:
        out.append(body)
    return out


def as_json(body: Any) -> dict[str, Any]:
    """A request body as ASCII JSON: a file name that is not UTF-8 (surrogate escapes) goes
    as ``\\udcXX``, which the server reads back to the same name (httpx's ``json=`` writes
    UTF-8 and fails on it)."""
    if body is None:
        return {}
    text = json.dumps(body, ensure_ascii=True, allow_nan=False)
    return {"content": text.encode("ascii"), "headers": {"Content-Type": "application/json"}}


def _cap() -> int:
    """The remote thumbnail cache's cap from config.toml (its default if that is unusable:
    ``lookalike cache prune --remote`` says why)."""
    from lookalike import config

    try:
        return remote_thumbs.cap_bytes(config.load_config())
    except (config.ConfigError, ValueError):
        return remote_thumbs.DEFAULT_MB * 1_000_000


def _hidden(show_hidden: bool) -> dict[str, str]:
    return {"hidden": "1"} if show_hidden else {}


def _answer(r: Any) -> Any:
    try:
        doc = r.json()
    except ValueError:
        doc = {"error": r.text[:200]}
    if r.status_code >= 400:
        hint = f"; {doc['hint']}" if doc.get("hint") else ""
        raise RemoteError(f"server: {doc.get('error', r.status_code)}{hint}")
    return doc


def _result(out: dict) -> BatchResult:
    messages = tuple(f"{p['outcome']}: {p['source']} {p['message']}".rstrip()
                     for p in out.get("problems", []))  # fmt: skip
    return BatchResult(out["batch"], out["done"], out["failed"], out["skipped"], messages)
