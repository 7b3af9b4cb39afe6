"""Ending sessions through the JSON API: one's own (logout), or every session of a user
(administrators). The pages have their own: ``POST /ui/logout`` and the administrators' page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from projections.access import Need
from services.api.auth.callers import api_principal, bearer_token, hub_of, known_query
from services.api.auth.tokens import Principal
from services.api.reads import require_role
from services.api.routes import problems

router = APIRouter(tags=["sessions"], dependencies=[Depends(known_query)])
Caller = Annotated[Principal, Depends(api_principal)]
Subject = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\s/]+$",
                              description="the user's token subject (``sub``)")]


@router.post("/session/logout", status_code=204, responses=problems(401, 422), summary="Logga ut")
async def logout(request: Request, _caller: Caller) -> Response:
    """Revoke the bearer token of this request, in every replica (within a second in the others)."""
    hub = hub_of(request)
    await hub.run(hub.sessions.revoke, bearer_token(request.headers.get("authorization")))
    return Response(status_code=204)


@router.post("/admin/users/{subject}/end-sessions", status_code=204, responses=problems(401, 403, 422),
             summary="Avsluta en användares sessioner")
async def end_sessions(request: Request, caller: Caller, subject: Subject) -> Response:
    """Every token of the user issued until now stops working (administrators only)."""
    require_role(caller, Need.ADMIN)
    hub = hub_of(request)
    await hub.run(hub.sessions.end_all, subject)
    return Response(status_code=204)
