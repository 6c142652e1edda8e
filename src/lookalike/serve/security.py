"""Who may call the API, and how much: bind rules, the bearer token, Host, size and rate bounds.

* localhost by default; any other bind needs a token, read from a file only its owner can read
  (created with a new random token if missing);
* the ``Host`` header must name the bound address on a local bind (a web page cannot reach the
  API through DNS rebinding), and a body must be JSON (a page cannot post a form to it);
* request bodies are bounded, and requests per client are rate limited (a token bucket).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookalike.serve.errors import error_response

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_CLIENTS = 10_000  # rate buckets kept before idle ones are dropped


class TokenError(Exception):
    """The token file cannot be used; the message says why and what to do."""


def is_local(host: str) -> bool:
    """True for a loopback bind (localhost, 127.0.0.0/8, ::1)."""
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: Path) -> str:
    """The bearer token in ``path``; a missing file is created (0600) with a new token."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise TokenError(f"cannot create the token file {path}: {exc.strerror or exc}") from None
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    try:
        st = os.stat(path)
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise TokenError(
                f"the token file {path} can be read by others (mode "
                f"{stat.S_IMODE(st.st_mode):o}); run: chmod 600 {path}"
            )
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenError(f"cannot read the token file {path}: {exc.strerror or exc}") from None
    if len(token) < 16:
        raise TokenError(
            f"the token in {path} is shorter than 16 characters; delete the "
            "file and start again to get a new one"
        )
    return token


@dataclass
class Bucket:
    tokens: float
    stamp: float = field(default_factory=time.monotonic)


class RateLimit:
    """Token bucket per client: ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.buckets: dict[str, Bucket] = {}

    def take(self, client: str) -> float:
        """0 when the request may go on, else the seconds to wait."""
        now = time.monotonic()
        if len(self.buckets) > MAX_CLIENTS:  # full buckets carry no state: forget them
            full = [k for k, v in self.buckets.items() if now - v.stamp > self.burst / self.rate]
            for k in full:
                del self.buckets[k]
        b = self.buckets.setdefault(client, Bucket(float(self.burst), now))
        b.tokens = min(self.burst, b.tokens + (now - b.stamp) * self.rate)
        b.stamp = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / self.rate


class TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware in front of every route: auth, Host, content type, size, rate."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: frozenset[str] | None,
        max_body: int,
        rate: RateLimit,
    ) -> None:
        self.app, self.token, self.allowed_hosts = app, token, allowed_hosts
        self.max_body, self.rate = max_body, rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._refusal(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise TooLarge
            return message

        try:
            await self.app(scope, bounded, send)
        except TooLarge:
            await self._too_large()(scope, receive, send)

    def _too_large(self):
        return error_response(
            413,
            f"the request body is over {self.max_body} bytes",
            "send less (plans are made from a job id, not from paths)",
        )

    def _refusal(self, scope: Scope):
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if self.allowed_hosts is not None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]") not in self.allowed_hosts:
                return error_response(
                    421,
                    f"this server answers only to {', '.join(sorted(self.allowed_hosts))}"
                    f", not to Host {host!r}",
                    "call it as http://127.0.0.1:PORT/",
                )
        if self.token is not None:
            given = headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                return error_response(
                    401,
                    "missing or wrong token",
                    "send the header: Authorization: Bearer $(cat TOKEN_FILE)",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.rate.take(client)
        if wait:
            return error_response(
                429,
                "too many requests",
                f"wait {wait:.1f} s and try again",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                return self._too_large()
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = length not in (None, "0") or "transfer-encoding" in headers
            if has_body and ctype != "application/json":
                return error_response(
                    415, "the body must be JSON", "send the header: Content-Type: application/json"
                )
        return None
