"""The auditors' page of emergency accesses and its review form (Swedish, server-rendered).

The list and the review go through ``services.api.audit``'s functions, as the JSON API does: the
page is a logged read, a posted review is one ``EmergencyAccessReviewed``. An accepted review
redirects back (POST-redirect-GET); a refused one shows the list again with the reason at the row.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from projections.access import Need
from projections.audit_review import ReviewFilter
from services.api import errors, reads
from services.api.audit import reads as audit_reads
from services.api.audit import reviews
from services.api.audit.models import COMMENT_MAX, ReviewEmergencyAccess
from services.api.auth.callers import from_our_page, hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.ui.render import page

router = APIRouter(prefix="/ui/audit", include_in_schema=False)
User = Annotated[Principal, Depends(page_principal)]
EventId = Annotated[uuid.UUID, Path()]
LIST = "/ui/audit/emergency-access"

# What the page's filter is called in the address, and what it shows.
SHOWN = {"alla": ReviewFilter.ALL, "ogranskade": ReviewFilter.UNREVIEWED, "forsenade": ReviewFilter.OVERDUE}
Shown = Annotated[Literal["alla", "ogranskade", "forsenade"], Query()]
Done = Annotated[Literal["granskad", "utan-kommentar"] | None, Query()]

# Texts of this page (the rest of the UI keeps its own in ``sv``).
STATUS = {"reviewed": "Granskad", "unreviewed": "Ej granskad", "overdue": "Försenad"}
DONE = {"granskad": reviews.REVIEWED_SV, "utan-kommentar": reviews.REVIEWED_ERASED_SV}
COMMENT_NEEDED = f"Skriv vad granskningen kom fram till (högst {COMMENT_MAX} tecken, inga styrtecken)."
COMMENT_STATE = {"erased": "Kommentaren är raderad: barnets uppgifter är raderade.",
                 "none": "Ingen kommentar sparades (barnets uppgifter var raderade).",
                 "unreadable": "Kommentaren går inte att läsa: posten är ändrad (kör kronobarn audit verify)."}


@router.get("/emergency-access", response_class=HTMLResponse)
async def emergency_list(request: Request, user: User, visa: Shown = "alla", klart: Done = None) -> HTMLResponse:
    return await _list_page(request, user, visa, notice=DONE.get(klart or ""))


@router.post("/emergency-access/{event_id}/review", dependencies=[Depends(from_our_page)])
async def review_submit(request: Request, user: User, event_id: EventId) -> Response:
    reads.require_role(user, Need.AUDIT)  # anyone else gets the error page, not the list
    form = await request.form()
    comment = form.get("comment")
    comment = comment if isinstance(comment, str) else ""
    visa = form.get("visa")
    visa = visa if isinstance(visa, str) and visa in SHOWN else "alla"
    try:
        body = ReviewEmergencyAccess(comment=comment)
    except ValidationError:
        return await _list_page(request, user, visa, 422, failed=event_id, problem=COMMENT_NEEDED, comment=comment)
    try:
        accepted = await reviews.review_emergency_access(hub_of(request), user, event_id, body)
    except errors.NotFound:
        raise errors.NotFound(message=reviews.UNKNOWN_ACCESS_SV) from None  # the error page, in Swedish only
    except (errors.Forbidden, reviews.Conflict) as exc:
        return await _list_page(request, user, visa, exc.status, failed=event_id, problem=exc.message,
                                comment=comment)
    done = "utan-kommentar" if accepted.message == reviews.REVIEWED_ERASED_SV else "granskad"
    return RedirectResponse(f"{LIST}?visa={visa}&klart={done}", status_code=303)


async def _list_page(request: Request, user: Principal, visa: str, status: int = 200, *,
                     notice: str | None = None, failed: uuid.UUID | None = None, problem: str | None = None,
                     comment: str = "") -> HTMLResponse:
    found = await audit_reads.emergency_accesses(hub_of(request), user, shown=SHOWN[visa])
    return page(request, "audit_emergency.html", user, status, found=found, visa=visa, notice=notice,
                failed=failed, problem=problem, comment=comment, texts=_texts())


def _texts() -> dict[str, object]:
    return {"status": STATUS, "comment_state": COMMENT_STATE, "comment_max": COMMENT_MAX}
