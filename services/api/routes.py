"""The coordinators' JSON API: children, the plan, consents, gaps, emergency access, FHIR export.

Handlers are thin: authenticate, hand over to ``reads`` / ``commands``, answer. Every read of
child data is logged there; every command answers 202 with the event id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.api import errors, fhir, models, person, publishing, reads
from services.api import reports as report_service
from services.api import writes as commands
from services.api.auth.callers import api_principal, hub_of, known_query
from services.api.auth.tokens import Principal
from services.api.limits import rate_limited
from services.api.models import Problem

ChildId = Annotated[uuid.UUID, Path(description="the child's pseudonymous id")]
Caller = Annotated[Principal, Depends(api_principal)]
FHIR_JSON = "application/fhir+json"


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "bad request", 401: "not logged in", 403: "the role may not do this",
            404: "no such child (or not in the caller's scope)", 422: "refused, with every reason",
            413: "the request body is too large", 429: "too many requests: try again after Retry-After seconds",
            503: "the event log cannot be reached; nothing was read or written"}
    return {code: {"model": Problem, "description": text[code]} for code in codes}


READ = problems(400, 401, 403, 404, 422, 503)
WRITE = problems(400, 401, 403, 404, 422, 503)
LIST = problems(400, 401, 403, 422, 503)

router = APIRouter(tags=["children"], dependencies=[Depends(known_query)])


@router.get("/children", response_model=models.ChildList, responses=LIST, summary="Mina barn")
async def list_children(
    request: Request, caller: Caller,
    q: Annotated[str | None, Query(max_length=36, pattern=r"^[0-9a-fA-F-]*$",
                                   description="prefix of the pseudonymous id")] = None,
    municipality: Annotated[str | None, Query(pattern=r"^[0-9]{4}$")] = None,
    has_plan: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=reads.LIST_LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> models.ChildList:
    """The children in the caller's scope; each child listed is a logged read."""
    return await reads.list_children(hub_of(request), caller, prefix=q or None, municipality=municipality,
                                     has_plan=has_plan, limit=limit, offset=offset)


@router.post("/children/search", response_model=models.ChildSummary, responses={**READ, **problems(429)},
             summary="Hitta barn med personnummer", dependencies=[Depends(rate_limited("lookup"))])
async def find_child(request: Request, caller: Caller, body: models.FindChild) -> models.ChildSummary:
    """The child with this personnummer or samordningsnummer (10 or 12 digits, with or without
    - or +), if it is in the caller's scope. A number nobody has and a child outside the scope
    get the same 404; a malformed number gets 422 with a reason that does not repeat it. The
    number travels in the body only, never in a URL. Every lookup is logged (purpose "search")."""
    return await reads.find_child(hub_of(request), caller, body.personnummer)


@router.post("/children/filter", response_model=models.ChildList, responses=LIST, summary="Sök bland mina barn")
async def filter_children(request: Request, caller: Caller, body: models.FilterChildren) -> models.ChildList:
    """The caller's own children whose name matches (in the body: a name never goes in a URL),
    sorted by name; each child listed is a logged read."""
    return await reads.list_children(hub_of(request), caller, name=body.name, municipality=body.municipality,
                                     has_plan=body.has_plan, limit=body.limit, offset=body.offset)


@router.get("/children/{child_id}", response_model=models.PlanView, responses=READ, summary="Barnets plan")
async def get_plan(request: Request, caller: Caller, child_id: ChildId) -> models.PlanView:
    view, _ = await reads.read_plan(hub_of(request), caller, child_id)
    return view


@router.get("/children/{child_id}/plan.fhir", responses={
    200: {"description": "FHIR R4 Bundle: CarePlan, Goals, Consents",
          "content": {FHIR_JSON: {"schema": {"type": "object", "additionalProperties": True}}}}, **READ},
    response_class=JSONResponse, summary="Barnets plan som FHIR R4")
async def get_plan_fhir(request: Request, caller: Caller, child_id: ChildId) -> JSONResponse:
    hub = hub_of(request)
    loaded = await reads.guard(hub, caller, child_id, reads.Need.READ)
    if loaded.child.plan_id is None:
        raise errors.Rejected([errors.NO_PLAN])
    view, _ = await reads.read_plan(hub, caller, child_id, purpose=publishing.EXPORT, parts=reads.EXPORT_PARTS,
                                    asks=person.EXPORT, export=True)
    return JSONResponse(fhir.plan_bundle(view, hub.now()), media_type=FHIR_JSON)


def _post(path: str, summary: str) -> Any:
    return router.post(path, status_code=202, response_model=models.Accepted, responses=WRITE, summary=summary)


@_post("/children/{child_id}/plan", "Öppna plan")
async def open_plan(request: Request, caller: Caller, child_id: ChildId, body: models.OpenPlan) -> models.Accepted:
    return await commands.open_plan(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/meetings", "Registrera samverkansmöte")
async def record_meeting(request: Request, caller: Caller, child_id: ChildId,
                         body: models.RecordMeeting) -> models.Accepted:
    return await commands.record_meeting(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/assessments", "Bedöm ett område")
async def assess_area(request: Request, caller: Caller, child_id: ChildId, body: models.AssessArea) -> models.Accepted:
    return await commands.assess_area(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/actions", "Besluta insats")
async def agree_action(request: Request, caller: Caller, child_id: ChildId,
                       body: models.AgreeAction) -> models.Accepted:
    return await commands.agree_action(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/actions/{action_id}/complete", "Slutför insats")
async def complete_action(request: Request, caller: Caller, child_id: ChildId, action_id: uuid.UUID,
                          body: models.CompleteAction) -> models.Accepted:
    return await commands.complete_action(hub_of(request), caller, child_id, action_id, body)


@_post("/children/{child_id}/follow-ups", "Lägg in uppföljning")
async def schedule_follow_up(request: Request, caller: Caller, child_id: ChildId,
                             body: models.ScheduleFollowUp) -> models.Accepted:
    return await commands.schedule_follow_up(hub_of(request), caller, child_id, body)


# -- the plan as a SIP (issue 20) ---------------------------------------------------------------------------

MeetingId = Annotated[uuid.UUID, Path(description="the kallelse's meeting id, as answered when it was sent")]


@_post("/children/{child_id}/invitations", "Kalla till samverkansmöte")
async def invite_meeting(request: Request, caller: Caller, child_id: ChildId,
                         body: models.InviteMeeting) -> models.Accepted:
    """A kallelse: when, where, which organisations (and people), the questions, and whether the
    child and the guardians are invited (if not, why). ``id`` in the answer is the meeting's."""
    return await commands.invite_meeting(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/invitations/{meeting_id}/answer", "Svara på kallelse")
async def answer_invitation(request: Request, caller: Caller, child_id: ChildId, meeting_id: MeetingId,
                            body: models.AnswerInvitation) -> models.Accepted:
    """The caller's organisation answers a kallelse it was sent; a later answer replaces it."""
    return await commands.answer_invitation(hub_of(request), caller, child_id, meeting_id, body)


@_post("/children/{child_id}/participants", "Registrera deltagare och ansvar")
async def record_participant(request: Request, caller: Caller, child_id: ChildId,
                             body: models.RecordParticipant) -> models.Accepted:
    """An organisation's role in the plan and what it is responsible for; ``active`` false: it left."""
    return await commands.record_participant(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/actions/{action_id}/status", "Ändra insatsens status")
async def change_action_status(request: Request, caller: Caller, child_id: ChildId, action_id: uuid.UUID,
                               body: models.ChangeActionStatus) -> models.Accepted:
    """Planned -> ongoing -> done, or planned/ongoing -> cancelled (with a reason); done and
    cancelled are final."""
    return await commands.change_action_status(hub_of(request), caller, child_id, action_id, body)


@_post("/children/{child_id}/follow-ups/held", "Genomför uppföljning")
async def hold_follow_up(request: Request, caller: Caller, child_id: ChildId,
                         body: models.HoldFollowUp) -> models.Accepted:
    """A follow-up held with each action's evaluation; outcome CLOSED also closes the plan.
    ``id`` in the answer is the follow-up's."""
    return await commands.hold_follow_up(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/named-person/transfer", "Flytta barnensbästa-ansvar")
async def transfer_named_person(request: Request, caller: Caller, child_id: ChildId,
                                body: models.TransferNamedPerson) -> models.Accepted:
    return await commands.transfer_named_person(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/plan/close", "Avsluta plan")
async def close_plan(request: Request, caller: Caller, child_id: ChildId, body: models.ClosePlan) -> models.Accepted:
    return await commands.close_plan(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/consents", "Registrera samtycke")
async def register_consent(request: Request, caller: Caller, child_id: ChildId,
                           body: models.RegisterConsent) -> models.Accepted:
    return await commands.register_consent(hub_of(request), caller, child_id, body)


@_post("/children/{child_id}/consents/{consent_id}/withdraw", "Återkalla samtycke")
async def withdraw_consent(request: Request, caller: Caller, child_id: ChildId, consent_id: uuid.UUID,
                           body: models.WithdrawConsent) -> models.Accepted:
    return await commands.withdraw_consent(hub_of(request), caller, child_id, consent_id, body)


@router.post("/emergency-access", status_code=202, response_model=models.Accepted,
             responses={**WRITE, **problems(429)}, summary="Nödöppning med personnummer",
             dependencies=[Depends(rate_limited("lookup"))])
async def open_emergency_access_for(request: Request, caller: Caller,
                                    body: models.OpenEmergencyAccessFor) -> models.Accepted:
    """Open emergency access to a child outside the caller's scope, by its personnummer: a
    reason, at most 7 days, logged and listed for the auditors. It lets the caller read, not
    change, the plan. The answer is the same whether or not the number is a child's (no ids);
    the child is then found with ``POST /children/search`` like any child in one's scope."""
    return await commands.open_emergency_access_for(hub_of(request), caller, body)


@_post("/children/{child_id}/emergency-access", "Nödöppning")
async def open_emergency_access(request: Request, caller: Caller, child_id: ChildId,
                                body: models.OpenEmergencyAccess) -> models.Accepted:
    """Open emergency access to a child outside the caller's scope, by its id: as above; an
    unknown id gets the same answer as a child's."""
    return await commands.open_emergency_access(hub_of(request), caller, child_id, body)


@router.get("/municipalities/{code}/gaps", response_model=models.GapsList, responses=LIST, summary="Glapplistan")
async def municipality_gaps(
    request: Request, caller: Caller, code: Annotated[str, Path(pattern=r"^[0-9]{4}$")],
    limit: Annotated[int, Query(ge=1, le=reads.LIST_LIMIT_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> models.GapsList:
    """Children of the municipality who should have a named person and have none."""
    return await reads.gaps(hub_of(request), caller, code, limit=limit, offset=offset)


# -- reports of concern (issue 19; DESIGN §6, STATUTORY facts) ------------------------------------------

ReportId = Annotated[uuid.UUID, Path(description="the report's id, as given or answered at filing")]


@router.post("/reports-of-concern", status_code=202, response_model=models.Accepted,
             responses={**WRITE, **problems(429)}, summary="Gör en orosanmälan",
             dependencies=[Depends(rate_limited("lookup"))])
async def file_report_of_concern(request: Request, caller: Caller,
                                 body: models.FileReportOfConcern) -> models.Accepted:
    """A report of concern about a child the hub knows, by ``child_id`` or ``personnummer`` (in
    the body, never in a URL). Needs no consent and no plan: it goes to the social services of the
    child's home municipality whatever the consents say. Any coordinator of a participating
    organisation but the social services may file; ``id`` in the answer is the report's id, and a
    retry with the same ``report_id`` files nothing new. An unknown child is 404 with the reason."""
    return await report_service.file_report(hub_of(request), caller, body)


@router.get("/reports-of-concern", response_model=models.ReportOfConcernList, responses=LIST,
            summary="Orosanmälningar")
async def list_reports_of_concern(request: Request, caller: Caller) -> models.ReportOfConcernList:
    """For the social services: the inbox of reports routed to their municipality, acute first,
    then newest, unread marked. For anyone else: the reports their organisation filed, with the
    route's status and whether an investigation was opened. Each child listed is a logged read."""
    return await report_service.list_reports(hub_of(request), caller)


@router.get("/reports-of-concern/figures", response_model=models.ReportFiguresOut, responses=LIST,
            summary="Orosanmälningar i siffror")
async def report_of_concern_figures(request: Request, caller: Caller) -> models.ReportFiguresOut:
    """For the region's auditors and administrators: reports by municipality and reporter
    category, how many filed through the hub were delivered and acknowledged, and the hours from
    filing to acknowledgement. No child is named."""
    return await report_service.report_figures(hub_of(request), caller)


@router.get("/reports-of-concern/{report_id}", response_model=models.ReportOfConcernView, responses=READ,
            summary="Öppna en orosanmälan")
async def open_report_of_concern(request: Request, caller: Caller, report_id: ReportId) -> models.ReportOfConcernView:
    """One report, its text opened: for the social services of the route's municipality, and for
    the reporting organisation (its own text and the status). Anyone else: 404. A logged read."""
    return await report_service.open_report(hub_of(request), caller, report_id)


@router.post("/reports-of-concern/{report_id}/acknowledgement", status_code=202, response_model=models.Accepted,
             responses=WRITE, summary="Kvittera en orosanmälan")
async def acknowledge_report_of_concern(request: Request, caller: Caller, report_id: ReportId) -> models.Accepted:
    """The social services of the route's municipality confirm receipt, once: a second click
    publishes nothing (``moot``)."""
    return await report_service.acknowledge(hub_of(request), caller, report_id)
