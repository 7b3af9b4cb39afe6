"""Erasure in the pages: the administrators' form, and the auditors' list of erasures.

Both go through ``services.api.audit.erasures``, as the JSON API does: the same rules, the same
audit event. The form asks the administrator to confirm that the erasure is final; an accepted
erasure redirects back (POST-redirect-GET) with what was done, a refused one shows the form again
with the reason, in Swedish, and keeps what was typed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from projections.access import Need
from services.api import reads
from services.api.audit import erasures
from services.api.audit import reads as audit_reads
from services.api.audit.routes import _counts
from services.api.auth.callers import from_our_page, hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.limits import rate_limited
from services.api.people import everyone, known
from services.api.ui import auditing, finding, readable, sv
from services.api.ui.render import page
from services.erasure.erase import JUSTIFICATION_MAX, REASONS
from services.erasure.watch import BOUND_S

router = APIRouter(prefix="/ui", include_in_schema=False)
User = Annotated[Principal, Depends(page_principal)]
Day = Annotated[str, Query(max_length=10)]
Picked = Annotated[str, Query(max_length=64, pattern=r"^\S*$")]

BAD_CHILD_ID = "Ange barnets id (36 tecken, till exempel 0b1c7f6e-3f3a-4a77-9d43-1a6b2f9a0c11)."
NO_USER = "Välj användaren vars sessioner ska avslutas."
NOT_CONFIRMED = "Bekräfta att du förstår att raderingen är slutgiltig."
ERASED = "Barnet är raderat. Alla delar av hubben har släppt barnets uppgifter inom {bound:g} sekunder."
SESSIONS_ENDED = "Användarens sessioner är avslutade: alla inloggningar fram till nu slutar gälla."


@router.get("/admin", response_class=HTMLResponse)
async def admin_home(request: Request, user: User,
                     klart: Annotated[Literal["raderad", "sessioner"] | None, Query()] = None) -> HTMLResponse:
    notice = {"raderad": ERASED.format(bound=BOUND_S), "sessioner": SESSIONS_ENDED}.get(klart or "")
    return await _admin_page(request, user, notice=notice)


@router.post("/admin/sessions/end", dependencies=[Depends(from_our_page)])
async def end_sessions_submit(request: Request, user: User) -> Response:
    """Every session of the chosen user ends (a lost card, a person who left)."""
    reads.require_role(user, Need.ADMIN)
    subject = (await request.form()).get("subject")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 200:
        return await _admin_page(request, user, 422, problem=NO_USER)
    hub = hub_of(request)
    await hub.run(hub.sessions.end_all, subject.strip())
    return RedirectResponse("/ui/admin?klart=sessioner", status_code=303)


@router.post("/admin/erasure", dependencies=[Depends(from_our_page)])
async def erasure_submit(request: Request, user: User) -> Response:
    reads.require_role(user, Need.ADMIN)
    form = await request.form()
    typed = {k: v if isinstance(v := form.get(k), str) else "" for k in ("child_id", "reason_code", "justification")}
    try:
        child = uuid.UUID(typed["child_id"].strip())
    except ValueError:
        return await _admin_page(request, user, 422, problem=BAD_CHILD_ID, typed=typed)
    if form.get("final") != "ja":
        return await _admin_page(request, user, 422, problem=NOT_CONFIRMED, typed=typed)
    try:
        await erasures.erase_as(hub_of(request), user, child, typed["reason_code"], typed["justification"])
    except erasures.Refused as refused:
        return await _admin_page(request, user, refused.status, problem=refused.message, typed=typed)
    return RedirectResponse("/ui/admin?klart=raderad", status_code=303)


async def _admin_page(request: Request, user: Principal, status: int = 200, *, notice: str | None = None,
                      problem: str | None = None, typed: dict[str, str] | None = None,
                      search: str | None = None) -> HTMLResponse:
    reads.require_role(user, Need.ADMIN)
    hub = hub_of(request)
    return page(request, "admin.html", user, status, counts=await hub.run(_counts, hub), reasons=REASONS,
                people=await hub.run(everyone, hub.engine),
                notice=notice, problem=problem, typed=typed or {}, justification_max=JUSTIFICATION_MAX, search=search)


@router.post("/admin/extract", dependencies=[Depends(from_our_page), Depends(rate_limited("lookup"))])
async def extract_for(request: Request, user: User) -> Response:
    """A guardian's request names the child by personnummer: to the child's register extract, or
    back saying why not (the lookup is logged without the number)."""
    reads.require_role(user, Need.ADMIN)
    child, why = await finding.looked_up(request, lambda typed: audit_reads.find_child(hub_of(request), user, typed))
    if child is None:
        return await _admin_page(request, user, 404 if why == "ingen" else 422, search=sv.AUDIT_SEARCH[why])
    return RedirectResponse(f"/ui/audit/children/{child}/extract", status_code=303)


@router.get("/audit/erasures", response_class=HTMLResponse)
async def erasure_list(request: Request, user: User, fran: Day = "", till: Day = "", organisation: Picked = "",
                       syfte: Picked = "") -> HTMLResponse:
    """The erasures, narrowed by Swedish days (both included), the erasing organisation and the reason."""
    reads.require_role(user, Need.AUDIT)
    since, until, problems = auditing.period(fran, till)
    hub = hub_of(request)
    found = erasures.Erasures(erasures=[]) if problems else \
        await erasures.erasure_list(hub, user, since, until, organisation or None, syfte or None)
    people = await hub.run(known, hub.engine, [e.administrator_id for e in found.erasures])
    who = {e.event_id: readable.person(e.administrator_id, e.role, e.organisation_id, people, hub.directory)
           for e in found.erasures}
    return page(request, "audit_erasures.html", user, 422 if problems else 200, found=found, who=who,
                problems=problems, fran=fran, till=till, organisation=organisation, syfte=syfte,
                purposes=[(sv.PURPOSE_GROUPS["erasure"], list(REASONS.items()))],
                filtered=bool(fran or till or organisation or syfte))
