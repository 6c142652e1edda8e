"""``json.dumps(obj, ensure_ascii=True, indent=1)``'s text, written without its encoder.

Why: with an indent, Python 3.11's json module falls back to its pure-Python encoder, a nest
of generators and closures built anew for every call: on a large scan the streamed writer's
cost competed with the rank stage for the driver's core (the writer runs beside it), and each
call left its closures as cyclic garbage (they refer to each other) that set off the cyclic
collector's passes (``benchmarks/group_rank_stages.py --consumer json``; docs/benchmarks.md
"Scale"). This writes the same characters — the same separators, key order, escapes (the C
``encode_basestring_ascii``), ``float.__repr__``, ``NaN``/``Infinity`` — in one recursive
pass, with ``margin`` after every line break (a group sits two levels deep in the document).
"""

from __future__ import annotations

from collections.abc import Callable
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


def _write(o: Any, nl: str, out: Callable[[str], object]) -> None:
    """``o`` at the nesting whose line break (plus indent) is ``nl``."""
    if isinstance(o, str):
        out(_quote(o))
    elif o is None:
        out("null")
    elif o is True:
        out("true")
    elif o is False:
        out("false")
    elif isinstance(o, int):
        out(int.__repr__(o))
    elif isinstance(o, float):
        out(_float(o))
    elif isinstance(o, (list, tuple)):
        if not o:
            out("[]")
            return
        inner = nl + " "
        sep = "[" + inner
        for v in o:
            if type(v) is str:  # the common leaf, without a call
                out(sep + _quote(v))
            else:
                out(sep)
                _write(v, inner, out)
            sep = "," + inner
        out(nl + "]")
    elif isinstance(o, dict):
        if not o:
            out("{}")
            return
        inner = nl + " "
        sep = "{" + inner
        for k, v in o.items():
            head = sep + (_quote(k) if type(k) is str else _key(k)) + ": "
            t = type(v)
            if t is str:  # the common leaves, without a call
                out(head + _quote(v))
            elif t is int:
                out(head + int.__repr__(v))
            elif v is None:
                out(head + "null")
            else:
                out(head)
                _write(v, inner, out)
            sep = "," + inner
        out(nl + "}")
    else:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps_indent1(obj: Any, margin: str = "") -> str:
    """``margin`` + ``json.dumps(obj, ensure_ascii=True, indent=1)`` with ``margin`` after
    each of its line breaks."""
    parts: list[str] = [margin]
    _write(obj, "\n" + margin, parts.append)
    return "".join(parts)
