"""Security headers on every response (issue 17, finding 1; OWASP ASVS 4.0 V14.4, V8.2.1).

A pure ASGI middleware rather than ``BaseHTTPMiddleware``: it only rewrites the header list of
``http.response.start``, so a response is neither buffered nor run in another task, and the plan
page's latency budget pays a list copy. The headers are built once, when the app is.

- A strict Content-Security-Policy: the pages use no inline script or style (the wheel's SVG
  colours are presentation attributes, which CSP does not govern), and the API docs load their
  assets and a start-up script from the hub itself (``services.api.docs_ui``).
- ``Cache-Control: no-store`` on everything but successful answers for the static files: pages
  and JSON carry child data, and a shared computer's browser cache must not keep it.
- HSTS only when the hub is configured to be reached over HTTPS (``KRONOBARN_HTTPS``); sent over
  plain HTTP it would be ignored anyway, and on a dev machine it would pin localhost to HTTPS.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",  # Swagger UI's stylesheet draws its icons from data: URLs
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
))
# Not ``no-referrer``: under it a browser sends ``Origin: null`` with every form post, even to the
# same site (Fetch, "append a request Origin header"), and the forms' Origin check refuses them all.
# ``same-origin`` sends no Referer to any other site, which is what V14.4.6 asks.
REFERRER_POLICY = "same-origin"
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
NO_STORE = "no-store"
CACHEABLE = "public, max-age=3600"  # the stylesheets and the docs' assets: no child data in them
STATIC_PREFIXES = ("/static/", "/docs/assets/")

_Header = tuple[bytes, bytes]


def _header(name: str, value: str) -> _Header:
    return name.lower().encode("latin-1"), value.encode("latin-1")


class SecurityHeaders:
    """Adds the security headers to every HTTP response of ``app``, replacing any of the same name."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False, static_prefixes: Iterable[str] = STATIC_PREFIXES) -> None:
        self.app = app
        self.static_prefixes = tuple(static_prefixes)
        fixed = [_header("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                 _header("X-Frame-Options", "DENY"),
                 _header("X-Content-Type-Options", "nosniff"),
                 _header("Referrer-Policy", REFERRER_POLICY)]
        if hsts:
            fixed.append(_header("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
        self._fixed = fixed
        self._no_store = _header("Cache-Control", NO_STORE)
        self._cacheable = _header("Cache-Control", CACHEABLE)
        self._owned = frozenset(name for name, _ in (*fixed, self._no_store))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(self.static_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Only a file that was found may be cached: a 404 under /static is no-store like the rest.
                cache = self._cacheable if static and message["status"] in (200, 206, 304) else self._no_store
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in self._owned]
                headers += self._fixed
                headers.append(cache)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
