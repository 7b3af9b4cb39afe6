"""Finding a child on the pages: the coordinator's list (sorted by name, narrowed by name), the
lookup by personnummer, and emergency access (*nödöppning*) by personnummer.

A personnummer and a typed name are personal data: they travel in posted forms only, never in a
URL (proxies and access logs keep URLs), and no page puts them back. A lookup redirects to the
child's page (its pseudonymous id in the URL is fine) or back to the list with a message that is
the same for a number nobody has and a child outside the caller's scope. Included by ``pages``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from connectors import personnummer
from projections.access import Need
from services.api import errors, reads
from services.api import writes as commands
from services.api.auth.callers import from_our_page, hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.limits import rate_limited
from services.api.models import NAME_MAX, OpenEmergencyAccessFor
from services.api.ui import forms, sv
from services.api.ui.render import page

T = TypeVar("T")

router = APIRouter()
User = Annotated[Principal, Depends(page_principal)]
PAGE_SIZE = 50
EMERGENCY_ACTION = "/ui/emergency-access"
# Why a lookup found no child, as the list's address says it (never the number itself).
WHY = {errors.PNR_REJECTED.format(reason=personnummer.BAD_TYPED): "format",
       errors.PNR_REJECTED.format(reason=personnummer.BAD_DATE): "datum",
       errors.PNR_REJECTED.format(reason=personnummer.BAD_CHECK): "kontroll"}


class ListFilter(BaseModel):
    """The list's filters as posted (the name only ever posted)."""

    name: str = Field("", max_length=NAME_MAX)
    q: str = Field("", max_length=36, pattern=r"^[0-9a-fA-F-]*$")
    municipality: str = Field("", pattern=r"^([0-9]{4})?$")
    plan: str = Field("", pattern=r"^(|ja|nej)$")
    offset: int = Field(0, ge=0, le=1_000_000)


async def _children(request: Request, user: Principal, shown: ListFilter, search: str | None,
                    status: int = 200) -> HTMLResponse:
    has_plan = {"ja": True, "nej": False}.get(shown.plan)
    found = await reads.list_children(hub_of(request), user, prefix=shown.q or None,
                                      municipality=shown.municipality or None, has_plan=has_plan,
                                      name=shown.name.strip() or None, limit=PAGE_SIZE, offset=shown.offset)
    own = hub_of(request).directory.municipality_of(user.organisation_id)
    return page(request, "children.html", user, status, found=found, filters=shown, own_municipality=own,
                search=search)


@router.get("/children", response_class=HTMLResponse)
async def my_children(request: Request, user: User,
                      q: Annotated[str, Query(max_length=36, pattern=r"^[0-9a-fA-F-]*$")] = "",
                      municipality: Annotated[str, Query(pattern=r"^([0-9]{4})?$")] = "",
                      plan: Annotated[str, Query(pattern=r"^(|ja|nej)$")] = "",
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                      sok: Annotated[str, Query(pattern=r"^[a-z]{0,12}$")] = "") -> HTMLResponse:
    return await _children(request, user, ListFilter(q=q, municipality=municipality, plan=plan, offset=offset),
                           sv.SEARCH.get(sok))


@router.post("/children", response_class=HTMLResponse, dependencies=[Depends(from_our_page)])
async def filter_children(request: Request, user: User) -> HTMLResponse:
    """The list narrowed by name (and the other filters), posted so the name stays out of URLs."""
    values = forms.form_values(await request.form())
    try:
        shown = ListFilter.model_validate({k: v for k, v in values.items() if k in ListFilter.model_fields
                                           and isinstance(v, str)})
    except ValidationError:
        return await _children(request, user, ListFilter(), sv.FILTER_INVALID, status=422)
    return await _children(request, user, shown, None)


@router.post("/children/search", dependencies=[Depends(from_our_page), Depends(rate_limited("lookup"))])
async def find_child(request: Request, user: User) -> RedirectResponse:
    """To the child's page, or back to the list saying why not (the same for unknown and out of scope)."""
    found, why = await looked_up(request, lambda typed: reads.find_child(hub_of(request), user, typed))
    if found is None:
        return RedirectResponse(f"/ui/children?sok={why}", status_code=303)
    return RedirectResponse(f"/ui/children/{found.child_id}", status_code=303)


async def looked_up(request: Request, find: Callable[[str], Awaitable[T]]) -> tuple[T | None, str]:
    """The posted personnummer looked up with ``find`` (which logs it); on a miss, the page's
    ``sok`` code for why -- "ingen" or what is wrong with the number, never the number itself."""
    typed = (await request.form()).get("personnummer")
    try:
        return await find(typed if isinstance(typed, str) else ""), ""
    except errors.Rejected as exc:
        return None, WHY.get(exc.reasons[0], "format")
    except errors.NotFound:
        return None, "ingen"


# -- emergency access by personnummer -----------------------------------------------------------------------

@router.get("/emergency-access", response_class=HTMLResponse)
async def emergency_form(request: Request, user: User) -> HTMLResponse:
    reads.require_role(user, Need.EMERGENCY)
    return page(request, "emergency.html", user, form=forms.emergency({}), action=EMERGENCY_ACTION)


@router.post("/emergency-access", dependencies=[Depends(from_our_page), Depends(rate_limited("lookup"))])
async def emergency_submit(request: Request, user: User) -> Response:
    """The same answer whether or not the number is a child's: back to the list, where a child it
    opened shows once the access is processed (issue 17, finding 6)."""
    reads.require_role(user, Need.EMERGENCY)
    values = forms.form_values(await request.form())
    try:
        body = forms.parse("emergency-access", values)
        assert isinstance(body, OpenEmergencyAccessFor)
        await commands.open_emergency_access_for(hub_of(request), user, body)
    except forms.InvalidForm as exc:
        reasons = exc.reasons
    except errors.Rejected as exc:
        reasons = sv.translate_all(exc.reasons)
    else:
        return RedirectResponse("/ui/children?klart=emergency", status_code=303)
    form = forms.emergency({k: v for k, v in values.items() if k != "personnummer"})  # never shown back
    form.errors = reasons
    return page(request, "emergency.html", user, 422, form=form, action=EMERGENCY_ACTION)
