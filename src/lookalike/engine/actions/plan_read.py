"""A plan file read a window at a time, its items spooled to a temp file (issue 13).

Why: ``lookalike apply PLAN`` read the whole file and ``json.loads``-ed it — a dict per item,
the text, then the items again — hundreds of MB at 100k groups, for a file the user may have
written by hand or by script. Here the file is read ``WINDOW`` characters at a time and each
value is decoded with :meth:`json.JSONDecoder.raw_decode`; each item is checked (fields and
types, named by its number) and spooled (plan_spool.py) as it is read. The whole file is
read and checked before the plan is returned, so a damaged or truncated plan is refused
before anything is acted on. The signature is checked over the same canonical bytes
:mod:`.signing` signs, an item at a time (plan_write.py).
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import TextIO

from lookalike.engine.actions import signing
from lookalike.engine.actions.errors import UsageError
from lookalike.engine.actions.plan import (
    MAKE_PLAN_HINT,
    PLAN_VERSION,
    Plan,
    PlanItem,
    Refusal,
    _refusal,
    item_row_from_json,
)
from lookalike.engine.actions.plan_spool import RowSpool, item_row, refusal_row
from lookalike.engine.actions.plan_write import _LISTS, _MARK, _canonical, _canonical_chunks, _split

WINDOW = 1 << 20  # characters read at a time
MAX_VALUE = 64 << 20  # one value (an item, the meta) longer than this: a damaged plan
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_ALL_ITEM = frozenset(f.name for f in fields(PlanItem))
_ALL_REFUSAL = frozenset(f.name for f in fields(Refusal))


class _NotJson(ValueError):
    """The file is not (complete) JSON."""


class _Reader:
    """JSON values decoded from a text file a window at a time."""

    def __init__(self, fh: TextIO) -> None:
        self.fh, self.buf, self.pos, self.eof, self.done = fh, "", 0, False, 0

    def _more(self) -> bool:
        if self.eof:
            return False
        chunk = self.fh.read(WINDOW)
        if not chunk:
            self.eof = True
            return False
        self.done += self.pos
        self.buf, self.pos = self.buf[self.pos :] + chunk, 0
        return True

    def fail(self, what: str) -> _NotJson:
        return _NotJson(f"{what} at character {self.done + self.pos}")

    def peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.fail(f"expected {' or '.join(repr(x) for x in chars)}")
        self.pos += 1
        return c

    def value(self) -> object:
        """The next JSON value; read on while it runs past the window (a number cut at the
        window's end decodes too — ``12`` of ``12.5e-3`` — so one that ends within three
        characters of it is decoded again with more)."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos < MAX_VALUE and self._more():
                    continue
                raise _NotJson(f"{exc.msg} at character {self.done + exc.pos}") from None
            if len(self.buf) - end < 3 and self._more():
                continue
            self.pos = end
            return value


def read_plan(path: Path) -> Plan:
    """The plan in ``path``; a plan that cannot be read or is damaged raises :class:`UsageError`
    (what is wrong, with the item's number, and how to make a new plan)."""
    try:
        with open(path, encoding="utf-8") as fh:
            reader = _Reader(fh)
            if reader.peek() != "{":
                reader.value()  # valid JSON, but not an object: not a plan
                raise UsageError("not a lookalike plan (or from another version)", MAKE_PLAN_HINT)
            doc = _Document()
            doc.read(reader)
    except OSError as exc:
        raise UsageError(f"cannot read plan {path}: {exc.strerror or exc}") from None
    except (_NotJson, UnicodeDecodeError) as exc:
        raise UsageError(f"plan {path} is not valid JSON ({exc})", MAKE_PLAN_HINT) from None
    lists = (doc.items.done(), doc.refused.done())
    if doc.damage is None and not doc.seen_items:
        doc.damage = "it has no items list"
    if doc.damage is not None and doc.head.get("lookalike_plan") == PLAN_VERSION:
        raise UsageError(f"plan file is damaged ({doc.damage})", MAKE_PLAN_HINT)
    signed = doc.damage is None and doc.exact and doc.seen_refused and _signed(doc.head, lists)
    return Plan.from_json(doc.head, lists, signed)  # checks the head; a wrong version says so


class _Document:
    """The plan's head (every field but its lists), its items and refusals spooled, the first
    damage found in them (reported once the head says the file is a plan at all), and whether
    every entry had all its fields (only then can the signature be checked entry by entry)."""

    def __init__(self) -> None:
        self.head: dict = {}
        self.items: RowSpool[PlanItem] = RowSpool(PlanItem, item_row)
        self.refused: RowSpool[Refusal] = RowSpool(Refusal, refusal_row)
        self.damage: str | None = None
        self.exact = True
        self.seen_items = self.seen_refused = False

    def read(self, r: _Reader) -> None:
        r.expect("{")
        if r.peek() == "}":
            r.pos += 1
        else:
            while True:
                key = r.value()
                if not isinstance(key, str):
                    raise r.fail("expected a field name")
                r.expect(":")
                if key in _LISTS:
                    self._list(r, key)
                elif key in self.head:
                    self.damage = self.damage or f"field {key} is there twice"
                    r.value()
                else:
                    self.head[key] = r.value()
                if r.expect(",}") == "}":
                    break
        if r.peek():
            raise r.fail("more after the plan")

    def _list(self, r: _Reader, name: str) -> None:
        """One list, an entry at a time: checked, spooled, never held."""
        seen = self.seen_items if name == "items" else self.seen_refused
        if seen:
            self.damage = self.damage or f"its {name} are listed twice"
        if name == "items":
            self.seen_items = True
        else:
            self.seen_refused = True
        if r.peek() != "[":
            self.damage = self.damage or f"its {name} are not a list"
            r.value()
            return
        r.pos += 1
        if r.peek() == "]":
            r.pos += 1
            return
        n = 0
        while True:
            n += 1
            raw = r.value()
            if self.damage is None and not seen:
                self._entry(name, n, raw)
            if r.expect(",]") == "]":
                return

    def _entry(self, name: str, n: int, raw: object) -> None:
        try:
            if name == "items":
                self.items.add_row(item_row_from_json(raw))
                self.exact = self.exact and set(raw) == _ALL_ITEM  # type: ignore[arg-type]
            else:
                self.refused.append(_refusal(raw))
                self.exact = self.exact and set(raw) == _ALL_REFUSAL  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            what = "item" if name == "items" else "refusal"
            self.damage = f"{what} {n}: {exc}"


def _signed(head: dict, lists: tuple) -> bool:
    """True when the head carries a signature this install made over exactly this plan: the
    canonical bytes rebuilt from the head and the spooled entries, an entry at a time."""
    got = head.get(signing.SIGNATURE_FIELD)
    if not isinstance(got, str) or not got:
        return False
    body = {k: v for k, v in head.items() if k != signing.SIGNATURE_FIELD}
    for name in _LISTS:
        body[name] = _MARK.format(name)
    parts = _split(_canonical(body), _canonical)
    if parts is None:  # the head holds a list's marker text: check the document whole
        whole = {**head, "items": [i.to_json() for i in lists[0]]}
        return signing.is_signed_here({**whole, "refused": [r.to_json() for r in lists[1]]})
    rows = SimpleNamespace(items=lists[0], refused=lists[1])
    want = signing.sign_chunks(_canonical_chunks(rows, parts))  # type: ignore[arg-type]
    return hmac.compare_digest(got, want)
