"""Who is calling: the bearer token for the JSON API, the login cookie (or a bearer) for pages.

Both carry the same RS256 JWT and go through the same ``TokenVerifier``. The JSON API takes
only the ``Authorization`` header, never the cookie, so a cross-site form can never drive it;
pages take the cookie, which is HttpOnly and SameSite=Lax, and their forms also check that a
browser's ``Origin`` is this site.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api import errors, people
from services.api.auth.tokens import AuthError, Principal
from services.api.wiring import Hub

COOKIE = "kronobarn_token"

bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="RS256 JWT from the county's identity provider (dev: POST /dev/token)")


class LoginRequired(Exception):
    """A page was asked for without a valid login; the answer is the login page."""


class ForeignOrigin(Exception):
    """A form was posted from another site."""


def hub_of(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


async def api_principal(request: Request,
                        _credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    try:
        principal = hub_of(request).verifier.verify_authorization(request.headers.get("authorization"))
    except AuthError as exc:
        raise errors.Unauthorised([exc.reason]) from None
    await people.remember(hub_of(request), principal)  # who a subject is, for the auditors' pages
    return principal


async def page_principal(request: Request) -> Principal:
    verifier = hub_of(request).verifier
    header, token = request.headers.get("authorization"), request.cookies.get(COOKIE)
    try:
        principal = verifier.verify_authorization(header) if header else verifier.verify(token) if token else None
    except AuthError:
        principal = None
    if principal is None:
        raise LoginRequired()
    await people.remember(hub_of(request), principal)  # who a subject is, for the auditors' pages
    return principal


async def same_origin(request: Request) -> None:
    """Refuse a form post whose ``Origin`` names another site (SameSite=Lax is the first line)."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")} - {""}
    if origin.split("://", 1)[-1] not in hosts:  # behind a proxy, the host the browser used is forwarded
        raise ForeignOrigin()


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
