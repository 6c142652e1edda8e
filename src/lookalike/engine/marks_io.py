"""Marks, favourites and notes out of the catalog and back: JSON and a line-based text form.

JSON is for programs (non-UTF-8 names travel as Python's surrogate escapes, ``\\udcXX``, which
``json`` reads back exactly). The text form is for people and ``grep``: one line per entry,
``KIND<TAB>FLAGS<TAB>PATH<TAB>NOTE``, where a tab, newline or backslash in a path or note is
written ``\\t``, ``\\n``, ``\\\\`` and a byte that is not UTF-8 ``\\xNN``. Import merges into what
the catalog holds (flags are added, a non-empty note replaces the old one); ``replace=True``
clears everything first.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from lookalike.engine import marks
from lookalike.engine.marks import MarkError

if TYPE_CHECKING:
    from lookalike.engine.catalog import Catalog

FORMAT = "lookalike-notes"
VERSION = 1
TEXT_HEADER = f"# {FORMAT} {VERSION}: KIND<TAB>FLAGS<TAB>PATH<TAB>NOTE (\\t \\n \\\\ \\xNN escapes)"


def document(cat: Catalog) -> dict[str, Any]:
    """Everything kept, missing files included (an export must not lose what a disk holds)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "files": [
            {k: v for k, v in m.to_json().items() if k != "missing"} for m in marks.entries(cat)
        ],
        "folders": [{"path": p, "note": n} for p, n in marks.folder_notes(cat).items()],
    }


def to_json(cat: Catalog) -> str:
    return json.dumps(document(cat), indent=1) + "\n"


def _esc(text: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _unesc(text: str, where: str) -> str:
    out, i = [], 0
    simple = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x" and len(text) >= i + 4:
            try:
                out.append(chr(0xDC00 + int(text[i + 2 : i + 4], 16)))
            except ValueError:
                raise MarkError(f"{where}: bad escape {text[i : i + 4]!r}") from None
            i += 4
        else:
            raise MarkError(f"{where}: bad escape {text[i : i + 2]!r} (use \\\\ for a backslash)")
    return "".join(out)


def to_text(cat: Catalog) -> str:
    doc = document(cat)
    lines = [TEXT_HEADER]
    for f in doc["files"]:
        flags = ",".join(k for k in marks.FLAGS if f[k]) or "-"
        lines.append(f"file\t{flags}\t{_esc(f['path'])}\t{_esc(f['note'])}")
    for d in doc["folders"]:
        lines.append(f"folder\t-\t{_esc(d['path'])}\t{_esc(d['note'])}")
    return "\n".join(lines) + "\n"


def parse_text(text: str, source: str = "notes file") -> dict[str, Any]:
    """The text form → the JSON document; a bad line is an error naming the line."""
    files, folders = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{source} line {n}"
        parts = line.split("\t")
        if len(parts) != 4 or parts[0] not in ("file", "folder"):
            raise MarkError(
                f"{where}: expected KIND<TAB>FLAGS<TAB>PATH<TAB>NOTE with KIND file or folder"
            )
        kind, flags, path, note = parts
        got = set() if flags == "-" else set(flags.split(","))
        if got - set(marks.FLAGS):
            raise MarkError(f"{where}: unknown flag(s) {sorted(got - set(marks.FLAGS))}")
        path, note = _unesc(path, where), _unesc(note, where)
        if kind == "file":
            files.append({"path": path, "note": note, **{k: k in got for k in marks.FLAGS}})
        else:
            folders.append({"path": path, "note": note})
    return {"format": FORMAT, "version": VERSION, "files": files, "folders": folders}


def parse_json(text: str, source: str = "notes file") -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MarkError(
            f"{source} is not JSON ({exc}); export one with lookalike notes export"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MarkError(f'{source} is not a lookalike notes export (no "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise MarkError(f"{source} has version {doc.get('version')!r}; this lookalike reads 1")
    return doc


def load(cat: Catalog, doc: dict[str, Any], *, replace: bool = False) -> tuple[int, int]:
    """Merge a document into the catalog in one transaction; (files, folders) imported."""
    files, folders = doc.get("files") or [], doc.get("folders") or []
    for i, entry in enumerate([*files, *folders]):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise MarkError(f"entry {i + 1} has no path; nothing was imported")
    db = cat.db
    with marks._tx(marks._db(cat)):
        if replace:
            db.execute("DELETE FROM file_marks")
            db.execute("DELETE FROM folder_notes")
        for f in files:
            vals: dict[str, Any] = {k: 1 for k in marks.FLAGS if f.get(k)}
            if str(f.get("note") or "").strip():
                vals["note"] = str(f["note"]).strip()
            if vals:
                marks._upsert(db, os.path.abspath(f["path"]), vals)
        for d in folders:
            if str(d.get("note") or "").strip():
                marks.set_folder_note(cat, d["path"], str(d["note"]))
    return len(files), len(folders)
