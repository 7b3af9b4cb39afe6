"""Dev login (``/dev/login``, ``/dev/token``): mounted only when dev login is enabled, so in
production these paths do not exist (404). The tokens are the dev identity provider's RS256
JWTs; the same verifier checks them as any other.

The login page says, beside each coordinator, how many children stand on the gaps list of the
user's municipality (a count per municipality, no child), so whoever tries the demo can pick a
user whose gaps list is not empty: a coordinator sees only their own municipality's list.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp

from projections.read_model import children
from schemas.county import CountyDirectory
from services.api import errors
from services.api.auth.callers import COOKIE, from_our_page, hub_of, session_ended
from services.api.auth.devlogin import dev_users
from services.api.auth.form_tokens import cookie_secure, give_form_cookie
from services.api.auth.sessions import PAGE_SESSION, RenewPageSession, needs_renewal
from services.api.auth.tokens import AuthError, Principal, Role
from services.api.limits import rate_limited
from services.api.ui.render import page
from services.api.wiring import Hub
from services.county import county_directory

router = APIRouter(prefix="/dev", include_in_schema=False)
KINDS = {"BHV": "Barnhälsovård (BVC)", "MHV": "Mödrahälsovård", "SOCIAL": "Socialtjänst", "KAA": "KAA"}


class TokenRequest(BaseModel):
    subject: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


def _users(request: Request) -> tuple[Principal, ...]:
    """The dev users of the hub's county directory."""
    return _users_of(county_directory(hub_of(request).settings))


@functools.lru_cache(maxsize=4)
def _users_of(directory: CountyDirectory) -> tuple[Principal, ...]:
    return dev_users(directory)


def _group(user: Principal, directory: CountyDirectory) -> str:
    if user.role is not Role.COORDINATOR:
        return "Granskning och administration"
    unit = directory.organisation(user.organisation_id)
    return KINDS.get(unit.kind if unit is not None else "", "Skola")


def _user(request: Request, subject: str) -> Principal:
    for user in _users(request):
        if user.subject == subject:
            return user
    raise errors.NotFound()


def gaps_by_municipality(engine: Engine) -> dict[str, int]:
    """Municipality code -> children on its gaps list; empty while the read model is not there."""
    query = (select(children.c.municipality_code, func.count()).where(children.c.on_gaps_list.is_(True))
             .group_by(children.c.municipality_code))
    try:
        with engine.connect() as conn:
            return {code: n for code, n in conn.execute(query).all() if code is not None}
    except SQLAlchemyError:
        return {}


def gaps_of_users(users: tuple[Principal, ...], directory: CountyDirectory, counts: dict[str, int]) -> dict[str, int]:
    """Organisation id -> the size of its municipality's gaps list, for the coordinators' organisations."""
    out = {}
    for user in users:
        code = directory.municipality_of(user.organisation_id)
        if user.role is Role.COORDINATOR and code is not None:
            out[user.organisation_id] = counts.get(code, 0)
    return out


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    hub = hub_of(request)
    groups: dict[str, list[Principal]] = defaultdict(list)
    directory = county_directory(hub.settings)
    users = _users_of(directory)
    for user in users:
        groups[_group(user, directory)].append(user)
    gaps = gaps_of_users(users, directory, await hub.run(gaps_by_municipality, hub.engine))
    return page(request, "login.html", None, groups=dict(groups), gaps=gaps)


@router.post("/login", dependencies=[Depends(from_our_page), Depends(rate_limited("login", by_user=False))])
async def login(request: Request, subject: Annotated[str, Form(max_length=200)]) -> RedirectResponse:
    hub = hub_of(request)
    assert hub.dev_idp is not None
    user = _user(request, subject)
    token = hub.dev_idp.issue(user, PAGE_SESSION)  # short, and renewed while in use (``sessions``)
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(PAGE_SESSION.total_seconds()), path="/", httponly=True,
                        samesite="lax", secure=cookie_secure(hub.settings))
    give_form_cookie(response, hub.settings)  # a new login, new form tokens (``form_tokens``)
    return response


@router.post("/token", response_model=Token, dependencies=[Depends(rate_limited("login", by_user=False))])
async def token(request: Request, body: TokenRequest) -> Token:
    """A bearer token for a dev user, for trying the JSON API (curl, scripts)."""
    hub = hub_of(request)
    assert hub.dev_idp is not None
    return Token(access_token=hub.dev_idp.issue(_user(request, body.subject)))


class RenewingDevSession(RenewPageSession):
    """The dev login's page sessions, renewed while in use (``sessions.RenewPageSession``)."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        async def renew(token: str) -> str | None:
            try:
                principal = hub.verifier.verify(token)
            except AuthError:
                return None  # the page itself answers with the login
            if hub.dev_idp is None or not needs_renewal(token, time.time()) or \
                    await session_ended(hub, token, principal):
                return None
            return hub.dev_idp.issue(principal, PAGE_SESSION)

        async def retire(token: str) -> None:
            await hub.run(hub.sessions.revoke, token)

        super().__init__(app, COOKIE, renew, retire, cookie_secure(hub.settings))
