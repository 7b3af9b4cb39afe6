"""Who is calling: the bearer token for the JSON API, the login cookie (or a bearer) for pages.

Both carry the same RS256 JWT and go through the same ``TokenVerifier``. The JSON API takes
only the ``Authorization`` header, never the cookie, so a cross-site form can never drive it;
pages take the cookie, which is HttpOnly and SameSite=Lax, and their forms also check that a
browser's ``Origin`` is this site.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api import errors, people
from services.api.auth import form_tokens
from services.api.auth.sessions import SESSION_ENDED
from services.api.auth.tokens import AuthError, Principal
from services.api.wiring import Hub

COOKIE = "kronobarn_token"

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="RS256 JWT from the county's identity provider (dev: POST /dev/token)")


class LoginRequired(Exception):
    """A page was asked for without a valid login; the answer is the login page."""


class FormRefused(Exception):
    """A form post that did not come from a page of this site; ``reason`` says what was missing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def hub_of(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


async def api_principal(request: Request,
                        _credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    hub, header = hub_of(request), request.headers.get("authorization")
    try:
        principal = hub.verifier.verify_authorization(header)
    except AuthError as exc:
        raise errors.Unauthorised([exc.reason]) from None
    if await session_ended(hub, bearer_token(header), principal):
        raise errors.Unauthorised([SESSION_ENDED])
    await people.remember(hub, principal)  # who a subject is, for the auditors' pages
    return principal


async def page_principal(request: Request) -> Principal:
    hub = hub_of(request)
    header, cookie = request.headers.get("authorization"), request.cookies.get(COOKIE)
    token = bearer_token(header) if header else cookie or ""
    try:
        principal = hub.verifier.verify(token) if token else None
    except AuthError:
        principal = None
    if principal is None or await session_ended(hub, token, principal):
        raise LoginRequired()
    await people.remember(hub, principal)  # who a subject is, for the auditors' pages
    return principal


def bearer_token(header: str | None) -> str:
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def session_ended(hub: Hub, token: str, principal: Principal) -> bool:
    """Was the token revoked (logout), or the user's sessions ended, by any replica? (``sessions``)"""
    if hub.sessions.stale:
        await hub.run(hub.sessions.refresh)
    return hub.sessions.ended(token, principal)


async def from_our_page(request: Request) -> None:
    """Refuse a form post unless it comes from a page of this site: its ``Origin`` names this
    site, and it carries the form token of the page it was on (``form_tokens``). Either alone
    would stop a forged post from a browser; both must hold, so neither is the last line.

    The site is the request's scheme and ``Host``: behind a proxy, those the browser used reach
    here only from a configured proxy (``proxies.FromTrustedProxy``), never from a client's
    headers. A browser sends ``Origin`` with every POST; a request without it is not a browser's
    form, and has no business posting one."""
    origin = request.headers.get("origin")
    if origin is None:
        raise FormRefused(form_tokens.NO_ORIGIN)
    hub = hub_of(request)
    ours = _origin(f"{'https' if hub.settings.https else request.url.scheme}://{request.headers.get('host', '')}")
    if ours[1] is None or _origin(origin) != ours:
        raise FormRefused(form_tokens.FOREIGN_ORIGIN)
    form = await request.form()  # Starlette keeps it: the route reads the same form
    if not hub.form_tokens.valid(request.cookies.get(form_tokens.COOKIE), form.get(form_tokens.FIELD)):
        raise FormRefused(form_tokens.NO_FORM_TOKEN)


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(text: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of an origin, the default port written out, for comparing."""
    parts = urlsplit(text.strip())
    try:
        port = parts.port
    except ValueError:  # not a port: no origin of ours
        return ("", None, None)
    return parts.scheme.lower(), parts.hostname, port or DEFAULT_PORTS.get(parts.scheme.lower())


UNKNOWN_QUERY = "unknown query parameter {name!r}"


async def known_query(request: Request) -> None:
    """Refuse query parameters the operation does not declare: a misspelt filter must not
    silently widen a search."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = set(_query_names(dependant))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise errors.BadRequest([UNKNOWN_QUERY.format(name=n) for n in unknown])


def _query_names(dependant: Any) -> Iterator[str]:
    for param in getattr(dependant, "query_params", ()):
        yield param.alias
    for sub in getattr(dependant, "dependencies", ()):
        yield from _query_names(sub)
