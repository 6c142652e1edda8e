"""``json.dumps(obj, ensure_ascii=True, indent=1)``'s text, written without its encoder.

Why: with an indent, Python 3.11's json module falls back to its pure-Python encoder, a nest
of generators and closures built anew for every call: on a large scan the streamed writer's
cost competed with the rank stage for the driver's core (the writer runs beside it), and each
call left its closures as cyclic garbage (they refer to each other) that set off the cyclic
collector's passes (``benchmarks/group_rank_stages.py --consumer json``; docs/benchmarks.md
"Scale"). This writes the same characters — the same separators, key order, escapes (the C
``encode_basestring_ascii``), ``float.__repr__``, ``NaN``/``Infinity`` — in one recursive
pass, with ``margin`` after every line break (a group sits two levels deep in the document).
Each container's items are joined once (not appended piece by piece) and a key's quoted text
is kept: a 1 M rescan's 100 788 groups 1.99–2.03 → 1.76–1.86 CPU s (reuse_json_split.py).
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii as _quote
from typing import Any

_INF = float("inf")


def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == _INF:
        return "Infinity"
    if o == -_INF:
        return "-Infinity"
    return float.__repr__(o)


def _key(k: Any) -> str:
    """A dict key as json writes it (skipkeys off: other types are an error)."""
    if isinstance(k, str):
        return _quote(k)
    if isinstance(k, float):
        return _quote(_float(k))
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return _quote(int.__repr__(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


_HEADS: dict[str, str] = {}  # a str key → its quoted text and ": " (a group's keys recur)


def _head(k: Any) -> str:
    head = _key(k) + ": "
    if type(k) is str and len(_HEADS) < 4096:
        _HEADS[k] = head
    return head


def _dict(o: Any, nl: str) -> str:
    if not o:
        return "{}"
    inner = nl + " "
    parts: list[str] = []
    add = parts.append
    for k, v in o.items():
        head = _HEADS.get(k) if type(k) is str else None
        if head is None:
            head = _head(k)
        t = type(v)
        if t is str:  # the common leaves, without a call
            add(head + _quote(v))
        elif t is int:
            add(head + int.__repr__(v))
        elif v is None:
            add(head + "null")
        elif v is True:
            add(head + "true")
        elif v is False:
            add(head + "false")
        elif t is float and v - v == 0:  # finite; NaN and the infinities: _float
            add(head + float.__repr__(v))
        else:
            add(head + _text(v, inner))
    return "{" + inner + ("," + inner).join(parts) + nl + "}"


def _list(o: Any, nl: str) -> str:
    if not o:
        return "[]"
    inner = nl + " "
    parts: list[str] = []
    add = parts.append
    for v in o:
        t = type(v)
        if t is str:
            add(_quote(v))
        elif t is int:
            add(int.__repr__(v))
        else:
            add(_text(v, inner))
    return "[" + inner + ("," + inner).join(parts) + nl + "]"


def _text(o: Any, nl: str) -> str:
    """``o``'s text at the nesting whose line break (plus indent) is ``nl``."""
    if isinstance(o, str):
        return _quote(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    if isinstance(o, dict):
        return _dict(o, nl)
    if isinstance(o, (list, tuple)):
        return _list(o, nl)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps_indent1(obj: Any, margin: str = "") -> str:
    """``margin`` + ``json.dumps(obj, ensure_ascii=True, indent=1)`` with ``margin`` after
    each of its line breaks."""
    return margin + _text(obj, "\n" + margin)
