"""Dev login (``/dev/login``, ``/dev/token``): mounted only when dev login is enabled, so in
production these paths do not exist (404). The tokens are the dev identity provider's RS256
JWTs; the same verifier checks them as any other."""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from services.api import errors
from services.api.auth.callers import COOKIE, hub_of, same_origin
from services.api.auth.devlogin import DEFAULT_TTL, dev_users
from services.api.auth.tokens import Principal, Role
from services.api.ui.render import page

router = APIRouter(prefix="/dev", include_in_schema=False)
KINDS = (("BHV", "Barnhälsovård (BVC)"), ("MHV", "Mödrahälsovård"), ("soc", "Socialtjänst"), ("kaa", "KAA"))


class TokenRequest(BaseModel):
    subject: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@functools.cache
def _users() -> tuple[Principal, ...]:
    return dev_users()


def _group(user: Principal) -> str:
    if user.role is not Role.COORDINATOR:
        return "Granskning och administration"
    for marker, label in KINDS:
        if marker in user.organisation_id:
            return label
    return "Skola"


def _user(subject: str) -> Principal:
    for user in _users():
        if user.subject == subject:
            return user
    raise errors.NotFound()


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    groups: dict[str, list[Principal]] = defaultdict(list)
    for user in _users():
        groups[_group(user)].append(user)
    return page(request, "login.html", None, groups=dict(groups))


@router.post("/login", dependencies=[Depends(same_origin)])
async def login(request: Request, subject: Annotated[str, Form(max_length=200)]) -> RedirectResponse:
    hub = hub_of(request)
    assert hub.dev_idp is not None
    user = _user(subject)
    token = hub.dev_idp.issue(user)
    response = RedirectResponse("/ui", status_code=303)
    secure = hub.settings.api_cookie_secure if hub.settings.api_cookie_secure is not None else \
        hub.settings.env == "production"
    response.set_cookie(COOKIE, token, max_age=int(DEFAULT_TTL.total_seconds()), path="/", httponly=True,
                        samesite="lax", secure=secure)
    return response


@router.post("/token", response_model=Token)
async def token(request: Request, body: TokenRequest) -> Token:
    """A bearer token for a dev user, for trying the JSON API (curl, scripts)."""
    hub = hub_of(request)
    assert hub.dev_idp is not None
    return Token(access_token=hub.dev_idp.issue(_user(body.subject)))
