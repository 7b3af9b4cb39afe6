"""The Swedish pages under ``/ui``: server-rendered, no JavaScript, one form per command.

Pages read and write through the same ``reads`` and ``commands`` as the JSON API, so every
page that shows child data is a logged read, and a posted form is one event. A form that is
accepted redirects back (POST-redirect-GET) with a message; one that is refused is shown again
with every reason, in Swedish.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from projections.access import Need
from services.api import errors, fhir, person, publishing, reads
from services.api import people as people_store
from services.api import writes as commands
from services.api.audit import reads as audit_reads
from services.api.auth.callers import COOKIE, from_our_page, hub_of, page_principal
from services.api.auth.form_tokens import give_form_cookie
from services.api.auth.tokens import AuthError, Principal, Role
from services.api.limits import rate_limited
from services.api.models import PlanView
from services.api.ui import auditing, finding, forms, printing, readable, sv
from services.api.ui import reports as report_pages
from services.api.ui.render import page
from services.api.wiring import Hub

router = APIRouter(prefix="/ui", include_in_schema=False)
User = Annotated[Principal, Depends(page_principal)]
ChildId = Annotated[uuid.UUID, Path()]
FORM_PARTS = ("plan", "named-person", "consents")
HOME = {Role.COORDINATOR: "/ui/children", Role.AUDITOR: "/ui/audit", Role.ADMINISTRATOR: "/ui/admin"}

Command = Callable[[Hub, Principal, uuid.UUID, Any], Awaitable[Any]]
COMMANDS: dict[str, tuple[Command, Callable[..., forms.Form], str]] = {
    "plan": (commands.open_plan, forms.open_plan, "plan"),
    "meetings": (commands.record_meeting, forms.meeting, "meeting"),
    "assessments": (commands.assess_area, forms.assessment, "assessment"),
    "actions": (commands.agree_action, forms.action, "action"),
    "follow-ups": (commands.schedule_follow_up, forms.follow_up, "follow-up"),
    "transfer": (commands.transfer_named_person, forms.transfer, "transfer"),
    "close": (commands.close_plan, forms.close, "closed"),
    "invitations": (commands.invite_meeting, forms.invitation, "invitation"),
    "participants": (commands.record_participant, forms.participant, "participant"),
    "reviews": (commands.hold_follow_up, forms.review, "review"),
}
# What of the plan a form shows beyond FORM_PARTS (the access log says so): the kallelser a
# meeting may record, the actions a follow-up evaluates, the follow-ups it may hold.
FORM_SHOWS = {"meetings": ("meetings",), "reviews": ("actions", "follow-ups"), "status": ("actions",),
              "answer": ("meetings",)}


def error_page(request: Request, status: int, detail: str, reasons: list[str]) -> HTMLResponse:
    return page(request, "error.html", None, status, status_code=status, detail=detail, reasons=reasons)


def _back(child_id: uuid.UUID, done: str, path: str = "") -> RedirectResponse:
    return RedirectResponse(f"/ui/children/{child_id}{path}?klart={done}", status_code=303)


# -- home and logout -----------------------------------------------------------------------------------

@router.get("")
async def home(user: User) -> RedirectResponse:
    return RedirectResponse(HOME[user.role], status_code=303)


@router.post("/logout", dependencies=[Depends(from_our_page)])
async def logout(request: Request) -> RedirectResponse:
    """Out, for good: the login's token is revoked on the server (every replica refuses it), not only
    forgotten by this browser."""
    token = request.cookies.get(COOKIE)
    hub = hub_of(request)
    if token:
        try:
            hub.verifier.verify(token)  # only a token of ours is worth a row
        except AuthError:
            token = None
    if token:
        await hub.run(hub.sessions.revoke, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    give_form_cookie(response, hub.settings)  # the old page's tokens end with the login
    return response


# -- the coordinator's pages ---------------------------------------------------------------------------

@router.get("/children/{child_id}", response_class=HTMLResponse)
async def plan_page(request: Request, user: User, child_id: ChildId) -> HTMLResponse:
    view, loaded = await reads.read_plan(hub_of(request), user, child_id)
    return page(request, "plan.html", user, view=view, emergency=loaded.decision.emergency,
                ratings={a.area: a.assessment.rating if a.assessment else None for a in view.areas})


@router.get("/children/{child_id}/plan.fhir")
async def plan_fhir(request: Request, user: User, child_id: ChildId) -> JSONResponse:
    hub = hub_of(request)
    loaded = await reads.guard(hub, user, child_id, Need.READ)
    if loaded.child.plan_id is None:
        raise errors.Rejected([errors.NO_PLAN])
    view, _ = await reads.read_plan(hub, user, child_id, purpose=publishing.EXPORT, parts=reads.EXPORT_PARTS,
                                    asks=person.EXPORT, export=True)
    return JSONResponse(fhir.plan_bundle(view, hub.now()), media_type="application/fhir+json")


async def _form_view(request: Request, user: Principal, child_id: uuid.UUID, slug: str = "") -> PlanView:
    parts = (*FORM_PARTS, *FORM_SHOWS.get(slug, ()))
    view, _ = await reads.read_plan(hub_of(request), user, child_id, parts=parts, asks=person.FORMS)
    return view


def _form_page(request: Request, user: Principal, view: PlanView, form: forms.Form, action: str,
               status: int = 200) -> HTMLResponse:
    return page(request, "form.html", user, status, view=view, form=form, action=action)


async def _submit(request: Request, user: Principal, child_id: uuid.UUID, slug: str, form_slug: str,
                  build: Callable[..., forms.Form], run: Callable[[Any], Awaitable[Any]], action: str,
                  done: str, back: str = "") -> Response:
    values = forms.form_values(await request.form())
    try:
        body = forms.parse(form_slug, values)
        await run(body)
    except forms.InvalidForm as exc:
        reasons = exc.reasons
    except errors.Rejected as exc:
        reasons = sv.translate_all(exc.reasons)
    else:
        return _back(child_id, done, back)
    view = await _form_view(request, user, child_id, form_slug)
    form = build(view, user.organisation_id, values)
    form.errors = reasons
    return _form_page(request, user, view, form, action, status=422)


# -- forms about one item of the plan: an action's completion and status, a kallelse's answer ---------------

async def _item_form(request: Request, user: Principal, child_id: uuid.UUID, slug: str, path: str) -> HTMLResponse:
    await reads.guard(hub_of(request), user, child_id, Need.WRITE)
    view = await _form_view(request, user, child_id, slug)
    return _form_page(request, user, view, ITEM_FORMS[slug](view, user.organisation_id, {}), path)


async def _item_submit(request: Request, user: Principal, child_id: uuid.UUID, slug: str, path: str,
                       run: Callable[[Any], Awaitable[Any]], done: str) -> Response:
    return await _submit(request, user, child_id, slug, slug, ITEM_FORMS[slug], run, path, done)


ITEM_FORMS = {"complete": forms.complete, "answer": forms.answer, "status": forms.status}


@router.get("/children/{child_id}/actions/{action_id}/complete", response_class=HTMLResponse)
async def complete_form(request: Request, user: User, child_id: ChildId, action_id: uuid.UUID) -> HTMLResponse:
    return await _item_form(request, user, child_id, "complete",
                            f"/ui/children/{child_id}/actions/{action_id}/complete")


@router.post("/children/{child_id}/actions/{action_id}/complete", dependencies=[Depends(from_our_page)])
async def complete_submit(request: Request, user: User, child_id: ChildId, action_id: uuid.UUID) -> Response:
    hub = hub_of(request)
    return await _item_submit(request, user, child_id, "complete",
                              f"/ui/children/{child_id}/actions/{action_id}/complete",
                              lambda body: commands.complete_action(hub, user, child_id, action_id, body), "completed")


@router.get("/children/{child_id}/invitations/{meeting_id}/answer", response_class=HTMLResponse)
async def answer_form(request: Request, user: User, child_id: ChildId, meeting_id: uuid.UUID) -> HTMLResponse:
    return await _item_form(request, user, child_id, "answer",
                            f"/ui/children/{child_id}/invitations/{meeting_id}/answer")


@router.post("/children/{child_id}/invitations/{meeting_id}/answer", dependencies=[Depends(from_our_page)])
async def answer_submit(request: Request, user: User, child_id: ChildId, meeting_id: uuid.UUID) -> Response:
    hub = hub_of(request)
    return await _item_submit(request, user, child_id, "answer",
                              f"/ui/children/{child_id}/invitations/{meeting_id}/answer",
                              lambda body: commands.answer_invitation(hub, user, child_id, meeting_id, body), "answer")


@router.get("/children/{child_id}/actions/{action_id}/status", response_class=HTMLResponse)
async def status_form(request: Request, user: User, child_id: ChildId, action_id: uuid.UUID) -> HTMLResponse:
    return await _item_form(request, user, child_id, "status",
                            f"/ui/children/{child_id}/actions/{action_id}/status")


@router.post("/children/{child_id}/actions/{action_id}/status", dependencies=[Depends(from_our_page)])
async def status_submit(request: Request, user: User, child_id: ChildId, action_id: uuid.UUID) -> Response:
    hub = hub_of(request)
    return await _item_submit(request, user, child_id, "status", f"/ui/children/{child_id}/actions/{action_id}/status",
                              lambda body: commands.change_action_status(hub, user, child_id, action_id, body),
                              "status")


# -- consents ------------------------------------------------------------------------------------------

def _consents_page(request: Request, user: Principal, view: PlanView, form: forms.Form,
                   status: int = 200, withdraw_errors: list[str] | None = None) -> HTMLResponse:
    return page(request, "consents.html", user, status, view=view, form=form,
                action=f"/ui/children/{view.child_id}/consents", withdrawable=forms.withdrawable(view),
                withdraw_options=forms.withdraw_options, withdraw_errors=withdraw_errors or [])


@router.get("/children/{child_id}/consents", response_class=HTMLResponse)
async def consents_page(request: Request, user: User, child_id: ChildId) -> HTMLResponse:
    await reads.guard(hub_of(request), user, child_id, Need.WRITE)
    view = await _form_view(request, user, child_id)
    return _consents_page(request, user, view, forms.consent(view, user.organisation_id, {}))


@router.post("/children/{child_id}/consents", dependencies=[Depends(from_our_page)])
async def consent_submit(request: Request, user: User, child_id: ChildId) -> Response:
    hub = hub_of(request)
    values = forms.form_values(await request.form())
    try:
        await commands.register_consent(hub, user, child_id, forms.parse("consents", values))
    except forms.InvalidForm as exc:
        reasons = exc.reasons
    except errors.Rejected as exc:
        reasons = sv.translate_all(exc.reasons)
    else:
        return _back(child_id, "consent", "/consents")
    view = await _form_view(request, user, child_id)
    form = forms.consent(view, user.organisation_id, values)
    form.errors = reasons
    return _consents_page(request, user, view, form, status=422)


@router.post("/children/{child_id}/consents/{consent_id}/withdraw", dependencies=[Depends(from_our_page)])
async def withdraw_submit(request: Request, user: User, child_id: ChildId, consent_id: uuid.UUID) -> Response:
    hub = hub_of(request)
    values = forms.form_values(await request.form())
    try:
        done = await commands.withdraw_consent(hub, user, child_id, consent_id, forms.parse("withdraw", values))
    except forms.InvalidForm as exc:
        reasons = exc.reasons
    except errors.Rejected as exc:
        reasons = sv.translate_all(exc.reasons)
    else:
        return _back(child_id, "withdrawn" if done.moot is None else "moot", "/consents")
    view = await _form_view(request, user, child_id)
    return _consents_page(request, user, view, forms.consent(view, user.organisation_id, {}), status=422,
                          withdraw_errors=reasons)


# -- gaps --------------------------------------------------------------------------------------------------

@router.get("/gaps")
async def my_gaps(request: Request, user: User) -> Response:
    reads.require_role(user, Need.LIST)
    code = hub_of(request).directory.municipality_of(user.organisation_id)
    if code is None:
        raise errors.Forbidden(message=sv.NOT_MUNICIPALITY)
    return RedirectResponse(f"/ui/municipalities/{code}/gaps", status_code=303)


@router.get("/municipalities/{code}/gaps", response_class=HTMLResponse)
async def gaps_page(request: Request, user: User, code: Annotated[str, Path(pattern=r"^[0-9]{4}$")],
                    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> HTMLResponse:
    found = await reads.gaps(hub_of(request), user, code, limit=50, offset=offset)
    return page(request, "gaps.html", user, found=found,
                municipality_name=hub_of(request).directory.municipality_name(code))


# -- the auditors' pages ----------------------------------------------------------------------------------

HISTORY_PAGE = 50  # events per page of the auditors' history
Day = Annotated[str, Query(max_length=10)]
Picked = Annotated[str, Query(max_length=64, pattern=r"^\S*$")]


@router.get("/audit", response_class=HTMLResponse)
async def audit_home(request: Request, user: User,
                     child_id: Annotated[uuid.UUID | None, Query()] = None,
                     sok: Annotated[str, Query(pattern=r"^[a-z]{0,12}$")] = "") -> Response:
    reads.require_role(user, Need.AUDIT)
    if child_id is not None:
        return RedirectResponse(f"/ui/audit/children/{child_id}/log", status_code=303)
    return page(request, "audit_home.html", user, search=sv.AUDIT_SEARCH.get(sok))


@router.post("/audit/search", dependencies=[Depends(from_our_page), Depends(rate_limited("lookup"))])
async def audit_find_child(request: Request, user: User) -> RedirectResponse:
    """To the child's log extract by personnummer (posted, never in a URL), or back home saying why not."""
    reads.require_role(user, Need.AUDIT)
    child_id, why = await finding.looked_up(request, lambda typed: audit_reads.find_child(hub_of(request), user, typed))
    if child_id is None:
        return RedirectResponse(f"/ui/audit?sok={why}", status_code=303)
    return RedirectResponse(f"/ui/audit/children/{child_id}/log", status_code=303)


@router.get("/audit/children/{child_id}/log", response_class=HTMLResponse)
async def audit_log(request: Request, user: User, child_id: ChildId, fran: Day = "", till: Day = "",
                    organisation: Picked = "", syfte: Picked = "") -> HTMLResponse:
    """The log extract, narrowed by Swedish days (both included), an organisation and a purpose."""
    reads.require_role(user, Need.AUDIT)
    since, until, problems = auditing.period(fran, till)
    hub = hub_of(request)
    found = None
    if not problems:
        found = await audit_reads.log_extract(hub, user, child_id, since, until, organisation or None, syfte or None)
    people = await hub.run(people_store.known, hub.engine, [e.viewer_id for e in found.entries] if found else [])
    rows = [auditing.log_row(e, people, hub.directory) for e in found.entries] if found else []
    return page(request, "audit_log.html", user, 422 if problems else 200, found=found, rows=rows, child_id=child_id,
                fran=fran, till=till, organisation=organisation, syfte=syfte, problems=problems,
                purposes=auditing.purpose_groups(syfte), filtered=bool(fran or till or organisation or syfte))


@router.get("/audit/children/{child_id}/history", response_class=HTMLResponse)
async def audit_history(request: Request, user: User, child_id: ChildId,
                        sida: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    hub = hub_of(request)
    found = await audit_reads.history(hub, user, child_id, offset=(sida - 1) * HISTORY_PAGE, limit=HISTORY_PAGE)
    subjects = [str(v) for e in found.entries for k, v in e.fields.items() if k in readable.PEOPLE_FIELDS and v]
    people = await hub.run(people_store.known, hub.engine, subjects)
    rows = [auditing.history_row(e, people, hub.directory) for e in found.entries]
    pages = max(1, -(-found.total // HISTORY_PAGE))
    return page(request, "audit_history.html", user, found=found, rows=rows, child_id=child_id, sida=sida,
                pages=pages, first=found.offset + 1, last=found.offset + len(found.entries))


@router.get("/audit/children/{child_id}/as-seen", response_class=HTMLResponse)
async def audit_as_seen(request: Request, user: User, child_id: ChildId,
                        org: Annotated[str, Query(max_length=64, pattern=r"^\S*$")] = "",
                        at: Annotated[str, Query(max_length=40)] = "") -> HTMLResponse:
    """Time travel: an organisation from the directory and a moment typed as Swedish local time
    (``datetime-local``; a moment with its own zone is taken as it says)."""
    reads.require_role(user, Need.AUDIT)
    seen, problem, shown_at = None, None, at
    if at:
        moment = auditing.typed_moment(at)
        if moment is None:
            problem = sv.BAD_MOMENT
        else:
            shown_at = auditing.local_input(moment)
            if org:
                seen = await audit_reads.plan_as_seen(hub_of(request), user, child_id, org, moment)
    elif org:
        problem = sv.NO_MOMENT
    return page(request, "audit_as_seen.html", user, 422 if problem else 200, seen=seen, child_id=child_id, org=org,
                at=shown_at, problem=problem,
                ratings={a.area: a.assessment.rating if a.assessment else None for a in seen.areas} if seen else {})


router.include_router(printing.router)  # the printable plan and its PDF (issue 20)


# -- the generic command forms: registered last, so the fixed paths above match first ---------------

@router.get("/children/{child_id}/{slug}/new", response_class=HTMLResponse)
async def command_form(request: Request, user: User, child_id: ChildId, slug: str) -> HTMLResponse:
    if slug not in COMMANDS:
        raise errors.NotFound()
    await reads.guard(hub_of(request), user, child_id, Need.TRANSFER if slug == "transfer" else Need.WRITE)
    view = await _form_view(request, user, child_id, slug)
    build = COMMANDS[slug][1]
    return _form_page(request, user, view, build(view, user.organisation_id, {}),
                      f"/ui/children/{child_id}/{slug}")


@router.post("/children/{child_id}/{slug}", dependencies=[Depends(from_our_page)])
async def command_submit(request: Request, user: User, child_id: ChildId, slug: str) -> Response:
    if slug not in COMMANDS:
        raise errors.NotFound()
    command, build, done = COMMANDS[slug]
    hub = hub_of(request)
    return await _submit(request, user, child_id, slug, slug, build,
                         lambda body: command(hub, user, child_id, body), f"/ui/children/{child_id}/{slug}", done)


# -- finding a child, and emergency access by personnummer (``finding``): after the generic forms,
# whose paths are longer, so neither shadows the other.
router.include_router(finding.router)
router.include_router(report_pages.router)  # reports of concern (issue 19): fixed paths of their own
