"""What the job API answers with: JSON that carries any file name, and errors a person reads."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse


class AsciiJSON(JSONResponse):
    """JSON with non-ASCII escaped: a file name that is not UTF-8 (held as surrogate escapes)
    travels as ``\\udcXX`` and comes back to the same bytes, where UTF-8 encoding would fail."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")


class ApiError(Exception):
    """Raised by handlers; becomes ``{"error": message, "hint": hint, "status": N}``."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


def error_response(
    status: int, message: str, hint: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": message, "hint": hint, "status": status}
    return AsciiJSON(body, status_code=status, headers=headers)
