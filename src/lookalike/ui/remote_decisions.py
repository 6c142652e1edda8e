"""The app's stored decisions read from a ``lookalike serve`` paired on the server (issue 13).

Why: reading every stored decision over HTTP and matching each in the app cost tens of
seconds and hundreds of MB at 100,000 decided groups. The server pairs them in SQL with the
engine's own function (serve/decisions.py) and streams the paired rows' decisions as
``RowPair`` and only the other rows' records, which ``app_decisions.match_left`` then uses
exactly as it uses the local catalog's. A server without the route (older than API 1.1)
answers 404: the app reads every row as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from lookalike.engine.stored_match import RowPair

KEYS_MAX = 1000  # decision keys per POST /review/decisions/of-keys: the server's bound
KEYS_BYTES = 48 * 1024  # and under its 64 kB body bound


class OldServer(Exception):
    """The server has no such route (404): it predates it."""


def paired_rows(port: Any) -> tuple[list[RowPair] | None, list[dict[str, Any]]]:
    """``(pairs, rows)``: the rows the server paired with a shown group in SQL, and the
    records of every other row, in the order stored; ``pairs`` is None when the server could
    not pair (a row the rule must read itself: ``rows`` is then every row) or predates it."""
    from lookalike.ui.remote_port import RemoteError, _answer

    try:
        with port.http.stream("GET", "/review/decisions/paired") as r:
            if r.status_code == 404:
                raise OldServer
            if r.status_code != 200:
                r.read()
                _answer(r)  # raises with the server's message
            lines = r.iter_lines()
            head = json.loads(next(lines))
            pairs: list[RowPair] = []
            rows: list[dict[str, Any]] = []
            for line in lines:
                if len(pairs) < head["paired"]:
                    pairs.append(_pair(json.loads(line)))
                elif line:
                    rows.append(json.loads(line))
    except OldServer:
        return None, port.load_decisions()
    except (httpx.HTTPError, StopIteration, ValueError, KeyError) as exc:  # cut, not JSON
        raise RemoteError(f"cannot read the stored decisions from {port.url}: {exc}") from None
    if len(pairs) != head["paired"] or len(rows) != head["rows"]:
        raise RemoteError(
            f"the stored decisions from {port.url} were cut off ({len(pairs)} of "
            f"{head['paired']} paired, {len(rows)} of {head['rows']} others): open the review again"
        )
    return (pairs if head["sql"] else None), rows


def _pair(d: dict[str, Any]) -> RowPair:
    return RowPair(d["key"], d["ord"], d["status"], d["batch"], d["kept"], d["undecided"])


def rows_of_keys(port: Any, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The stored decisions of these keys (asked in chunks under the server's bounds; each
    answer in the order stored). An older server without the route: every row, filtered."""
    from lookalike.ui.remote_port import _answer, as_json

    out: list[dict[str, Any]] = []
    for chunk in _key_chunks(list(keys)):
        try:
            r = port.http.post("/review/decisions/of-keys", **as_json({"keys": chunk}))
        except httpx.HTTPError as exc:
            from lookalike.ui.remote_port import RemoteError

            raise RemoteError(f"cannot reach {port.url}: {exc}") from None
        if r.status_code == 404:
            want = set(keys)
            return [d for d in port.load_decisions() if d["key"] in want]
        out += _answer(r)["decisions"]
    return out


def _key_chunks(keys: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    chunk: list[str] = []
    size = 0
    for k in keys:
        cost = len(json.dumps(k)) + 2
        if chunk and (len(chunk) >= KEYS_MAX or size + cost > KEYS_BYTES):
            out.append(chunk)
            chunk, size = [], 0
        chunk.append(k)
        size += cost
    if chunk:
        out.append(chunk)
    return out
