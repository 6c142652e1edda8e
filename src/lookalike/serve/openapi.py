"""The OpenAPI schema of ``lookalike serve`` (served at ``/openapi.json``, committed in
docs/api.md). Written by hand so it says what each call guarantees; a test checks that every
route is in it and that docs/api.md holds exactly this text.

``python -m lookalike.serve.openapi`` prints it (paste it into docs/api.md after a change).
"""

from __future__ import annotations

import json
from typing import Any

ERR = {"$ref": "#/components/responses/Error"}
OBJ = {"type": "object"}


def _op(
    summary: str,
    ok: str,
    codes: tuple[int, ...] = (),
    body: str | None = None,
    params: tuple[dict, ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok: {"description": "success", "content": {"application/json": {"schema": OBJ}}}
        },
    }
    for code in (401, 429, *codes):
        op["responses"][str(code)] = ERR
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    if params:
        op["parameters"] = list(params)
    return op


def _p(name: str, where: str = "path", kind: str = "string", text: str = "") -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": kind},
        "description": text,
    }


ID = _p("id")
PAGE = (
    ID,
    _p("offset", "query", "integer", "first group (default 0)"),
    _p("limit", "query", "integer", "groups per page (default 100, at most 500)"),
)
VIEW = (
    _p("tier", "query", "string", "only this tier: exact, same, similar or clip"),
    _p("folder", "query", "string", "only groups with a file in a folder whose path holds this"),
    _p("sort", "query", "string", "order (default), bytes (to free), size (files), tier"),
)
HIDDEN = _p("hidden", "query", "string", "1: files a content rule hid are shown")


def schema() -> dict[str, Any]:
    events = _op(
        "The job's events as Server-Sent Events: each `data:` is one line of "
        "`lookalike scan --format jsonl`; `id:` is its number (resume with "
        "Last-Event-ID). The stream ends after the job ends.",
        "200",
        (404,),
        params=(ID, _p("after", "query", "integer", "send events after this one")),
    )
    events["responses"]["200"]["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    thumb = _op(
        "A file's cached thumbnail (its `thumb_url` in the groups): JPEG, or WebP when an "
        "older scan wrote it.",
        "200",
        (404,),
        params=(_p("key", text="16 hex digits"),),
    )
    thumb["responses"]["200"]["content"] = {
        kind: {"schema": {"type": "string", "format": "binary"}}
        for kind in ("image/jpeg", "image/webp")
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lookalike job API",
            "version": "1.1",
            "description": "Launch and watch scans, read their groups, plan, apply and "
            "undo file actions through the journal. See docs/api.md.",
        },
        "components": _components(),
        "security": [{"bearer": []}],
        "paths": _paths(events, thumb),
    }


def _components() -> dict[str, Any]:
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {
            "Error": {
                "description": "an error a person reads",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "status"],
                "properties": {
                    "error": {"type": "string", "description": "what happened"},
                    "hint": {"type": "string", "description": "what to do"},
                    "status": {"type": "integer"},
                },
            },
            "JobRequest": {
                "type": "object",
                "required": ["paths"],
                "properties": {
                    "paths": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "absolute folders or files under the roots",
                    },
                    "options": {
                        "type": "object",
                        "description": "lookalike scan's options, "
                        "spelt with _ (min_size for --min-size); true for a switch",
                    },
                },
            },
            "PlanRequest": {
                "type": "object",
                "required": ["job"],
                "properties": {
                    "job": {"type": "string"},
                    "action": {
                        "type": "string",
                        "description": "trash (default), "
                        "quarantine[:DIR], move:DIR, copy:DIR, hardlink, symlink",
                    },
                    "tiers": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "default exact, same",
                    },
                    "groups": {"type": "array", "items": {"type": "integer"}},
                },
            },
            "ApplyRequest": {
                "type": "object",
                "required": ["plan", "confirm"],
                "properties": {
                    "plan": {"type": "string"},
                    "confirm": {"type": "string", "description": "the plan's `confirm` text"},
                },
            },
            "UndoRequest": {
                "type": "object",
                "required": ["confirm"],
                "properties": {"confirm": {"type": "string", "description": "undo BATCH_ID"}},
            },
        },
    }


def _paths(events: dict, thumb: dict) -> dict[str, Any]:
    return {
        "/openapi.json": {"get": _op("This schema.", "200")},
        "/jobs": {
            "get": _op("Every job with its state and progress.", "200"),
            "post": _op(
                "Start a scan job (one at a time per catalog).",
                "202",
                (403, 409, 413, 415, 422),
                "JobRequest",
            ),
        },
        "/jobs/{id}": {
            "get": _op(
                "State (queued, running, done, cancelled, failed), stage, done, "
                "total, rate, eta, errors, message.",
                "200",
                (404,),
                params=(ID,),
            ),
            "delete": _op(
                "Cancel like Ctrl-C: what was computed stays in the catalog.",
                "202",
                (404, 409),
                params=(ID,),
            ),
        },
        "/jobs/{id}/resume": {
            "post": _op(
                "Start a cancelled or failed job again; it goes on from what the catalog kept.",
                "202",
                (404, 409),
                params=(ID,),
            )
        },
        "/jobs/{id}/events": {"get": events},
        "/jobs/{id}/groups": {
            "get": _op(
                "A page of the job's groups (read from its stored result; only the page is "
                "decoded): the --format json contract plus total, offset, limit, next, each "
                "file with its thumb_url and catalog file_id; filtered by tier or folder and "
                "sorted as the app's review.",
                "200",
                (404, 409, 410, 422),
                params=PAGE + VIEW,
            )
        },
        "/plans": {
            "post": _op(
                "Build a signed plan from a done job's groups (keepers, "
                "references and favourites are never in it).",
                "201",
                (403, 404, 409, 422),
                "PlanRequest",
            )
        },
        "/plans/{id}": {"get": _op("A plan, with its confirm text.", "200", (404,), params=(ID,))},
        "/plans/{id}/apply": {
            "post": _op(
                "Check the plan against the disk and carry it out through the journal.",
                "200",
                (404, 409, 422),
                "ApplyRequest",
                (ID,),
            )
        },
        "/batches": {"get": _op("The journal's batches, newest first.", "200")},
        "/batches/{id}/undo": {
            "post": _op("Undo a batch byte for byte.", "200", (404, 409, 422), "UndoRequest", (ID,))
        },
        "/thumbs/{key}": {"get": thumb},
        **_review_paths(),
        **_page_paths(),
        **_decision_paths(),
    }


def _review_paths() -> dict[str, Any]:
    """What ``lookalike --server URL`` (the terminal app) uses besides the routes above."""
    key = (_p("key", text="a review-state key"),)
    return {
        "/batches/{id}/redo": {
            "post": _op(
                'Apply an undone batch again; body {"confirm": "redo ID"}.',
                "200",
                (404, 409, 422),
                params=(ID,),
            )
        },
        "/review/groups": {
            "get": _op(
                "The catalog's stored review (the app's groups), paged, filtered and sorted "
                "as the app's review.",
                "200",
                (422,),
                params=PAGE[1:] + VIEW,
            )
        },
        "/review/state/{key}": {
            "get": _op("A review-state value the app stored.", "200", params=key),
            "put": _op('Store a review-state value: {"value": ...}.', "200", (422,), params=key),
        },
        "/review/decisions": {
            "get": _op("The review decisions, keyed by their group's files.", "200"),
            "put": _op(
                'Store and drop decisions: {"upserts": [...], "deletes": [...]}.', "200", (422,)
            ),
        },
        "/review/not-duplicates": {
            "post": _op(
                '{"paths": [...], "on": true}: not duplicates of each other (later scans keep them '
                "apart); false forgets it.",
                "200",
                (403, 422),
            )
        },
        "/review/favourites": {
            "post": _op(
                '{"paths": [...], "on": true}: favourites are never acted on.', "200", (403, 422)
            )
        },
        "/review/recovery": {"get": _op("Batches a crashed process left unfinished.", "200")},
        "/review/pdf": {
            "post": _op(
                '{"paths": [...]}: lookalike pdf of these files (the PDF is the answer; '
                "X-Summary says what it holds).",
                "200",
                (403, 422),
            )
        },
        "/review/marks": {
            "get": _op("Marked files, favourites, notes (under the roots).", "200"),
            "post": _op('{"paths": [...], "on": true}: mark or unmark files.', "200", (403, 422)),
        },
        "/review/notes": {
            "put": _op('{"path": P, "text": T}: a note ("" removes it).', "200", (403, 422))
        },
        "/review/info": {
            "get": _op(
                "A file's raw metadata (lookalike info).",
                "200",
                (403, 422),
                params=(_p("path", "query", text="a file under the roots"),),
            )
        },
    }


def schema_text() -> str:
    """The schema as committed in docs/api.md."""
    return json.dumps(schema(), indent=1, ensure_ascii=False)


def _page_paths() -> dict[str, Any]:
    """A job's whole result, and the stored review by group ords (issue 13: paged)."""
    columns = _op(
        "The stored review's view as group ords (Engine.group_columns): little-endian int32, "
        "4 bytes a group (a group's id is its ord + 1); X-Count says how many.",
        "200",
        (422,),
        params=(*VIEW, HIDDEN),
    )
    columns["responses"]["200"]["content"] = {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    return {
        "/jobs/{id}/result": {
            "get": _op(
                "The job's whole result, byte for byte `lookalike scan --format json`, "
                "streamed group by group.",
                "200",
                (404, 409, 410),
                params=(ID,),
            )
        },
        "/review/groups/count": {
            "get": _op(
                "How many groups the unfiltered stored review shows (Engine.group_count).",
                "200",
                params=(HIDDEN,),
            )
        },
        "/review/groups/columns": {"get": columns},
        "/review/groups/page": {
            "get": _op(
                "These groups of the stored review, in this order (Engine.group_page).",
                "200",
                (422,),
                params=(
                    _p(
                        "ords",
                        "query",
                        "string",
                        "ords from the columns, comma-separated, at most 500",
                    ),
                    HIDDEN,
                ),  # fmt: skip
            )
        },
        "/review/groups/facts": {
            "post": _op(
                '{"ords": [...]} (at most 5000): these groups from the member columns, no '
                "capture time, thumbnail, reason or evidence (Engine.group_facts).",
                "200",
                (413, 415, 422),
                params=(HIDDEN,),
            )
        },
        "/review/groups/of-files": {
            "post": _op(
                '{"file_ids": [...], "paths": [...]} (at most 2000 in all): ords of the '
                "stored groups holding any of these files, ascending "
                "(Engine.group_ords_of_files).",
                "200",
                (413, 415, 422),
            )
        },
    }


def _decision_paths() -> dict[str, Any]:
    """Stored decisions paired on the server (API 1.1, issue 13; serve/decisions.py)."""
    paired = _op(
        "The stored review decisions paired in SQL with a shown group "
        "(Engine.pair_stored_decisions), as NDJSON: a head line "
        '{"paired": P, "rows": R, "sql": true}, P lines {"key", "ord", "status", "batch", '
        '"kept", "undecided"} by ord, then R records of the other decisions as stored '
        '(every decision, "sql": false, when one needs the rule).',
        "200",
        params=(HIDDEN,),
    )
    paired["responses"]["200"]["content"] = {"application/x-ndjson": {"schema": {"type": "string"}}}
    return {
        "/review/decisions/paired": {"get": paired},
        "/review/decisions/of-keys": {
            "post": _op(
                '{"keys": [...]} (at most 1000): the stored decisions of these keys, in the '
                "order stored (Engine.load_decisions).",
                "200",
                (413, 415, 422),
            )
        },
    }


if __name__ == "__main__":
    print(schema_text())
