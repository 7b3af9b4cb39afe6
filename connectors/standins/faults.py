"""Outages as a real network and a real server give them, in front of any stand-in (issue 18).

``Faults`` wraps a stand-in's ASGI app and meets the n-th data request (the token endpoint is
not counted) with a planned fault:

- ``status``: an error answer, e.g. 500, 503, or 429 with ``Retry-After``, as a server, a load
  balancer or a rate limiter sends it;
- ``reset``: the answer starts, a part of its body is sent, and the connection is dropped, as a
  proxy restart or a broken link does (the client sees a body cut short);
- ``slow``: the answer comes after ``delay_s``, past a client's timeout if it is long enough;
- ``not_json``: a 200 that is a gateway's HTML error page.

Requests that meet no fault pass through unchanged. ``met`` lists (request number, fault kind)
in the order they happened, and ``tokens`` counts the tokens issued, for a test to check what
the client went through.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN_PATHS = ("/oauth2/token",)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Literal["status", "reset", "slow", "not_json"]
    status: int = 503
    retry_after: str | None = None
    delay_s: float = 0.0


class Faults:
    def __init__(self, app: ASGIApp, plan: Mapping[int, Fault], *, counting: str | None = None) -> None:
        """``counting``: count only the requests whose query string holds it (e.g. ``pageToken``:
        the n-th request for a next page)."""
        self.app, self.plan, self.counting = app, dict(plan), counting.encode() if counting else None
        self.requests = self.tokens = 0
        self.met: list[tuple[int, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith(TOKEN_PATHS):
            self.tokens += scope["type"] == "http"
            await self.app(scope, receive, send)
            return
        if self.counting is not None and self.counting not in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return
        self.requests += 1
        fault = self.plan.get(self.requests)
        if fault is None:
            await self.app(scope, receive, send)
            return
        self.met.append((self.requests, fault.kind))
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            await self.app(scope, receive, send)
        elif fault.kind == "status":
            headers = [(b"content-type", b"application/json")]
            if fault.retry_after is not None:
                headers.append((b"retry-after", fault.retry_after.encode()))
            body = json.dumps({"code": str(fault.status), "message": "injected fault"}).encode()
            await _answer(send, fault.status, headers, body)
        elif fault.kind == "not_json":
            await _answer(send, 200, [(b"content-type", b"text/html")], b"<html><h1>502 Bad Gateway</h1></html>")
        else:  # reset: promise a body, send a part of it, and drop the connection
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
            raise ConnectionResetError("injected fault: the connection drops mid-answer")


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
