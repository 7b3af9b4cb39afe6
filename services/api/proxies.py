"""The browser's scheme, host and address behind a reverse proxy, believed only from a configured proxy.

A proxy that terminates TLS tells the service what the browser used in ``X-Forwarded-Proto``,
``X-Forwarded-Host`` and ``X-Forwarded-For``. Anyone can send those headers, so they are taken
only when the connection comes from an address in ``KRONOBARN_TRUSTED_PROXIES``: otherwise a
forged post naming a foreign ``Origin`` and a matching ``X-Forwarded-Host`` would pass the forms'
origin check, and a client could pick its own address for the rate limits.

The middleware rewrites the request itself (scheme, ``Host``, client), as Werkzeug's ``ProxyFix``
does, so nothing downstream reads a forwarded header. Of a list (one entry per proxy), the last
entry is the one our proxy wrote; for the client, the last address that is not a trusted proxy.
Uvicorn's own proxy-header handling is off (``kronobarn api``), so this is the only one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.settings import IPNetwork

SCHEMES = {"http", "https"}


class FromTrustedProxy:
    def __init__(self, app: ASGIApp, trusted: Sequence[IPNetwork]) -> None:
        self.app, self.trusted = app, tuple(trusted)

    def _trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and self.trusted and client and self._trusted(client[0]):
            scope = self._as_forwarded(scope)
        await self.app(scope, receive, send)

    def _as_forwarded(self, scope: Scope) -> Scope:
        headers = Headers(scope=scope)
        scope = dict(scope)
        proto = _last(headers.get("x-forwarded-proto")).lower()
        if proto in SCHEMES:
            scope["scheme"] = proto
        host = _last(headers.get("x-forwarded-host"))
        if host:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", host.encode("latin-1"))]
        hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                scope["client"] = (hop, 0)
                break
        return scope


def _last(value: str | None) -> str:
    return (value or "").rsplit(",", 1)[-1].strip()
