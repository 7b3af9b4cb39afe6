"""Limits (issue 17, finding 9; OWASP ASVS 4.0 V11.1.4, V13.1.3): how big a request body may be,
and how often the doors an attacker would knock on may be tried.

* **Bodies** (``BodyLimit``, ASGI middleware): ``BODY_MAX`` bytes, or a path's own limit in
  ``BODY_LIMITS``; a larger body is refused with 413 before the app reads it (by its
  ``Content-Length``; one sent without, chunked, is read up to the limit and no further).
* **Rates** (``rate_limited``, a route dependency): the dev login's token and login endpoints,
  by client address, and the lookups by personnummer (search, emergency access by number, the
  auditors' and administrators' lookups), by user: a token bucket each, ``RATES``; past it 429
  with ``Retry-After``. The buckets are per process: with N replicas a caller gets up to N times
  the rate, still far below what guessing personnummer takes (documented in docs/security.md).
Each app keeps its own buckets (``app.state``), so two apps in one process do not share them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from services.api import errors

BODY_MAX = 64 * 1024  # a command is a few hundred bytes; a long free text 4,000 characters
BODY_LIMITS: dict[str, int] = {}  # path prefix -> its own limit, where one needs more
TOO_LARGE = "the request body is larger than {limit} bytes"
TOO_MANY = "too many requests; try again in {seconds} s"
BUCKETS_MAX = 10_000  # callers remembered per bucket (least recently seen forgotten first)


class TooLarge(errors.ApiError):
    status = 413


class TooMany(errors.ApiError):
    status = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__([TOO_MANY.format(seconds=retry_after_s)])
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Rate:
    burst: int  # requests at once
    per_minute: float  # refilled this fast


RATES = {
    "login": Rate(burst=20, per_minute=20),  # the dev login's token and login endpoints, by address
    "lookup": Rate(burst=30, per_minute=30),  # lookups by personnummer, by user
}


class Buckets:
    """Token buckets by key, for one ``Rate``; thread-safe, bounded in memory."""

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self._clock = rate, clock
        self._held: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if a request may go now (and count it), else the seconds until one may."""
        now, per_s = self._clock(), self.rate.per_minute / 60
        with self._lock:
            tokens, at = self._held.pop(key, (float(self.rate.burst), now))
            tokens = min(float(self.rate.burst), tokens + (now - at) * per_s)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / per_s
            self._held[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._held) > BUCKETS_MAX:
                self._held.popitem(last=False)
        return wait


def rate_limited(bucket: str, by_user: bool = True) -> Callable[[Request], Awaitable[None]]:
    """A route dependency: at most ``RATES[bucket]``, per user (the token's subject) or, before
    anyone is logged in, per client address."""
    async def check(request: Request) -> None:
        held = request.app.state._state.setdefault("rate_buckets", {})  # one app, one set of buckets
        buckets = held.setdefault(bucket, Buckets(RATES[bucket]))
        key = _caller(request) if by_user else _address(request)
        wait = buckets.take(key)
        if wait > 0:
            raise TooMany(math.ceil(wait))
    return check


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _caller(request: Request) -> str:
    """Whose bucket: the user's (the verified token's subject, so a fresh login is no fresh rate),
    or, without a valid token (which the route itself then refuses), the client address."""
    from services.api.auth.callers import COOKIE, bearer_token

    token = bearer_token(request.headers.get("authorization")) or request.cookies.get(COOKIE, "")
    try:
        subject = request.app.state.hub.verifier.verify(token).subject if token else None
    except Exception:  # noqa: BLE001 - an invalid token is the route's to refuse (401); limit by address
        subject = None
    return f"user:{subject}" if subject else f"address:{_address(request)}"


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a body over the path's limit gets 413 and is not read further."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((n for prefix, n in BODY_LIMITS.items() if scope["path"].startswith(prefix)), BODY_MAX)
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # within its limit, as it says (the server holds it to that)
            return
        # No Content-Length (chunked): read it here, to the limit and no further, then hand it on whole.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(bytes(body), message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _refuse(send, limit)
                return
        await self.app(scope, _replay(bytes(body), None, receive), send)


def _replay(body: bytes, last: MutableMapping[str, Any] | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already in one message, then what ``receive`` gives."""
    sent = False

    async def again() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False} if last is None else last
        return await receive()

    return again


async def _refuse(send: Send, limit: int) -> None:
    import json

    body = json.dumps({"detail": "Förfrågan är för stor.", "reasons": [TOO_LARGE.format(limit=limit)]}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
