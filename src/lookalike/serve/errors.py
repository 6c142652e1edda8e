"""Errors the job API answers with: JSON a person reads (what happened, and what to do)."""

from __future__ import annotations

from starlette.responses import JSONResponse


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
    return JSONResponse(body, status_code=status, headers=headers)
