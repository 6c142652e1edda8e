"""A plan's JSON written an item at a time, byte for byte what ``json.dumps`` of the whole
document writes (issue 13).

Why: a plan over 100k groups holds ≈ 300k items; ``json.dumps(plan_document(plan))`` built a
dict per item, the signed canonical text and the indented text of all of them at once —
several times the plan's own size, at the end of ``scan --plan-out``. Here the document's
head (everything but ``items`` and ``refused``) is encoded once with a marker where each list
goes, and each list is encoded one entry at a time: first into the signature's HMAC (the
canonical form, :mod:`.signing`), then into the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

from lookalike.engine.actions import signing

if TYPE_CHECKING:
    from lookalike.engine.actions.plan import Plan

_LISTS = ("items", "refused")  # in this order in both forms (insertion and sorted)
_MARK = "\x00{}\x00"  # a string no plan field holds (no path has a NUL)


def _split(text: str, encode: Callable[[object], str]) -> list[str] | None:
    """``text`` cut at each list's marker (head, between, tail), or None when a marker is
    not there exactly once (a loaded plan whose meta holds anything)."""
    parts: list[str] = []
    rest = text
    for name in _LISTS:
        mark = encode(_MARK.format(name))
        if rest.count(mark) != 1:
            return None
        head, rest = rest.split(mark)
        parts.append(head)
    return [*parts, rest]


def _canonical(v: object) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _entries(plan: Plan, name: str) -> Iterable[dict]:
    rows = plan.items if name == "items" else plan.refused
    return (r.to_json() for r in rows)


def _canonical_chunks(plan: Plan, parts: list[str]) -> Iterator[bytes]:
    for name, head in zip(_LISTS, parts, strict=False):
        yield head.encode()
        yield b"["
        for n, entry in enumerate(_entries(plan, name)):
            yield ((b"," if n else b"") + _canonical(entry).encode())
        yield b"]"
    yield parts[-1].encode()


_SCALARS = (str, int, float, type(None))  # bool is an int


def _indented_entry(entry: dict) -> str:
    """``json.dumps(entry, indent=1)`` two levels down. A flat dict (every plan item and
    refusal) goes through the C encoder with the indent written as separators: the indented
    encoder is pure Python, and was a third of the time of writing a 300k-item plan."""
    if entry and all(isinstance(v, _SCALARS) for v in entry.values()):
        return "{\n   " + json.dumps(entry, separators=(",\n   ", ": "))[1:-1] + "\n  }"
    return json.dumps(entry, indent=1).replace("\n", "\n  ")


def _indented(plan: Plan, name: str, fh: TextIO) -> None:
    """One list as ``json.dumps(doc, indent=1)`` writes it two levels down."""
    first = True
    for entry in _entries(plan, name):
        fh.write(("[\n  " if first else ",\n  ") + _indented_entry(entry))
        first = False
    fh.write("[]" if first else "\n ]")


def write_plan(plan: Plan, fh: TextIO, *, sign: bool) -> None:
    """Write ``json.dumps(plan_document(plan) if sign else plan.to_json(), indent=1)`` to
    ``fh``, holding one item's dict at a time."""
    head = plan.to_json(lists=False)
    for name in _LISTS:
        head[name] = _MARK.format(name)
    if sign:
        parts = _split(_canonical(head), _canonical)
        if parts is None:
            return _whole(plan, fh, sign)
        head[signing.SIGNATURE_FIELD] = signing.sign_chunks(_canonical_chunks(plan, parts))
    text = _split(json.dumps(head, indent=1), json.dumps)
    if text is None:
        return _whole(plan, fh, sign)
    for name, part in zip(_LISTS, text, strict=False):
        fh.write(part)
        _indented(plan, name, fh)
    fh.write(text[-1])
    return None


def _whole(plan: Plan, fh: TextIO, sign: bool) -> None:
    from lookalike.engine.actions.plan import plan_document

    fh.write(json.dumps(plan_document(plan) if sign else plan.to_json(), indent=1))


def json_chunks(plan: Plan, extra: dict, block: int = 1 << 16) -> Iterator[bytes]:
    """``json.dumps({**plan.to_json(), **extra}, allow_nan=False)`` as ASCII bytes (what a
    JSON answer over HTTP holds), about ``block`` bytes at a time, one item's dict at a time."""
    head = plan.to_json(lists=False)
    for name in _LISTS:
        head[name] = _MARK.format(name)
    head.update(extra)
    parts = _split(json.dumps(head, allow_nan=False), json.dumps)
    if parts is None:
        yield json.dumps({**plan.to_json(), **extra}, allow_nan=False).encode("ascii")
        return
    buf: list[str] = []
    size = 0
    for name, part in zip(_LISTS, parts, strict=False):
        buf.append(part + "[")
        for n, entry in enumerate(_entries(plan, name)):
            text = (", " if n else "") + json.dumps(entry, allow_nan=False)
            buf.append(text)
            size += len(text)
            if size >= block:
                yield "".join(buf).encode("ascii")
                buf, size = [], 0
        buf.append("]")
    buf.append(parts[-1])
    yield "".join(buf).encode("ascii")
