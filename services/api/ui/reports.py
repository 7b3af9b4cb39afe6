"""The pages for reports of concern (issue 19): filing (from the child's page, or by a personnummer
typed into the form: posted, never in a URL), the social services' inbox with the report opened
and acknowledged, the reporter's list with the status, and the auditors' figures. They go through
``services.api.reports``, as the JSON API does. Included by ``pages``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from services.api import errors, models
from services.api import reports as report_service
from services.api.auth.callers import from_our_page, hub_of, page_principal
from services.api.auth.tokens import Principal
from services.api.limits import rate_limited
from services.api.ui import forms, sv
from services.api.ui.render import page

router = APIRouter()
User = Annotated[Principal, Depends(page_principal)]
ReportId = Annotated[uuid.UUID, Path()]
YES_NO = [("ja", "Ja"), ("nej", "Nej")]
FLAG = {"ja": True, "nej": False}


def report_form(values: dict[str, Any], child_id: uuid.UUID | None) -> forms.Form:
    """The report's questions; a personnummer only when no child was chosen (never shown back)."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    pnr = [] if child_id is not None else [
        forms.Field("personnummer", "Barnets personnummer", "text", required=True,
                    help="10 eller 12 siffror, med eller utan bindestreck. Samordningsnummer går också.",
                    autocomplete="off")]
    return forms.Form("report-of-concern", "Ny orosanmälan", [
        *pnr,
        forms.Field("observation", "Vad har du sett eller fått veta", "textarea", required=True,
                    help="Beskriv konkret vad du har sett, hört eller fått veta, och vad barnet själv har sagt.",
                    value=values.get("observation")),
        forms.Field("observed_on", "När", "date", required=True, value=values.get("observed_on", today)),
        forms.Field("acute", "Är det brådskande – behöver barnet skydd nu?", "radio", YES_NO, True,
                    "Vid akut fara: ring också 112 eller socialjouren.", values.get("acute", "nej")),
        forms.Field("guardians_informed", "Har vårdnadshavarna informerats om anmälan", "radio", YES_NO, True,
                    value=values.get("guardians_informed")),
        forms.Field("guardians_not_informed_why", "Om nej: varför inte", "textarea",
                    help="Till exempel att det kan skada barnet att vårdnadshavarna får veta.",
                    value=values.get("guardians_not_informed_why")),
        forms.Field("reporter_role", "Din roll", "text", True, "Till exempel mentor, skolsköterska eller BVC-sjuksköterska.",
                    values.get("reporter_role")),
        forms.Field("reporter_contact", "Hur socialtjänsten når dig", "text", True, "Telefon eller e-post i tjänsten.",
                    values.get("reporter_contact")),
    ], "Skicka orosanmälan",
        "Anmälan går till socialtjänsten i barnets kommun, utan samtycke. Den kommer in i barnets plan bara med "
        "samtycke. Du ser här när socialtjänsten har tagit emot den och om en utredning har inletts.")


def _body(values: dict[str, Any]) -> models.FileReportOfConcern:
    def blank(key: str) -> Any:
        value = values.get(key)
        return None if value in ("", None) else value

    child = blank("child_id")
    built = {
        "child_id": child, "personnummer": None if child else str(values.get("personnummer") or ""),
        "observation": values.get("observation", ""), "observed_on": blank("observed_on"),
        "guardians_informed": FLAG.get(str(values.get("guardians_informed"))),
        "guardians_not_informed_why": blank("guardians_not_informed_why"),
        "reporter_role": values.get("reporter_role", ""), "reporter_contact": values.get("reporter_contact", ""),
        "acute": FLAG.get(str(values.get("acute")), False), "report_id": blank("report_id"),
    }
    try:
        return models.FileReportOfConcern.model_validate(built)
    except ValidationError as exc:
        raise forms.InvalidForm(forms._swedish(exc)) from None


def _form_page(request: Request, user: Principal, form: forms.Form, child_id: uuid.UUID | None, report_id: str,
               status: int = 200) -> HTMLResponse:
    return page(request, "report_form.html", user, status, form=form, child_id=child_id, report_id=report_id)


@router.get("/reports-of-concern", response_class=HTMLResponse)
async def reports_page(request: Request, user: User) -> HTMLResponse:
    hub = hub_of(request)
    found = await report_service.list_reports(hub, user)
    return page(request, "reports.html", user, found=found, may_file=report_service.may_file(hub, user))


@router.get("/reports-of-concern/new", response_class=HTMLResponse)
async def new_report(request: Request, user: User,
                     barn: Annotated[uuid.UUID | None, Query()] = None) -> HTMLResponse:
    report_service.filer_kind(hub_of(request), user)
    # The report's id is drawn here, so a form sent twice (a double click, a reload) is one report.
    return _form_page(request, user, report_form({}, barn), barn, str(uuid.uuid4()))


@router.post("/reports-of-concern", dependencies=[Depends(from_our_page), Depends(rate_limited("lookup"))])
async def file_report(request: Request, user: User) -> Response:
    hub = hub_of(request)
    report_service.filer_kind(hub, user)
    values = forms.form_values(await request.form())
    try:
        await report_service.file_report(hub, user, _body(values))
    except forms.InvalidForm as exc:
        reasons = exc.reasons
    except (errors.Rejected, errors.NotFound) as exc:
        reasons = sv.translate_all(exc.reasons) or [sv.NOT_FOUND]
    else:
        return RedirectResponse("/ui/reports-of-concern?klart=report", status_code=303)
    try:
        child_id = uuid.UUID(str(values.get("child_id"))) if values.get("child_id") else None
        report_id = str(uuid.UUID(str(values.get("report_id"))))
    except ValueError:
        child_id, report_id = None, str(uuid.uuid4())
    form = report_form({k: v for k, v in values.items() if k != "personnummer"}, child_id)  # never shown back
    form.errors = reasons
    return _form_page(request, user, form, child_id, report_id, status=422)


@router.get("/reports-of-concern/figures", response_class=HTMLResponse)
async def figures_page(request: Request, user: User) -> HTMLResponse:
    found = await report_service.report_figures(hub_of(request), user)
    return page(request, "report_figures.html", user, found=found)


@router.get("/reports-of-concern/{report_id}", response_class=HTMLResponse)
async def report_page(request: Request, user: User, report_id: ReportId) -> HTMLResponse:
    hub = hub_of(request)
    view = await report_service.open_report(hub, user, report_id)
    social = report_service.social_municipality(hub, user) is not None
    return page(request, "report.html", user, view=view, social=social)


@router.post("/reports-of-concern/{report_id}/acknowledgement", dependencies=[Depends(from_our_page)])
async def acknowledge(request: Request, user: User, report_id: ReportId) -> RedirectResponse:
    await report_service.acknowledge(hub_of(request), user, report_id)
    return RedirectResponse(f"/ui/reports-of-concern/{report_id}?klart=acknowledged", status_code=303)
