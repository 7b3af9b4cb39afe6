"""The plan as FHIR R4: a Bundle with one CarePlan, a Goal per assessed area, and the Consents.

``fhir.resources`` 8 ships R4B (R4's technical correction; CarePlan, Goal, Consent and Bundle
are the same resources as in R4), so the resources are built and validated with its R4B
models. Resources reference the child by its pseudonymous id and organisations by their ids.

Mapping:

* Patient: the pseudonymous id; and, when the exporting viewer is shown them
  (``services.api.person``), the personnummer (or samordningsnummer, by its OID) and the name.
  A child with protected personal data is exported without them, to anyone, and marked
  restricted (confidentiality R); no address or municipality is ever exported.

* CarePlan: status from the plan (open -> active, closed -> completed); the lead is the
  author, the participants are contributors; every action is an activity (need as code text,
  what as description, responsible organisation as performer, due date as the scheduled end),
  every follow-up an activity too.
* Goal per assessed area: the area and its SHANARRI indicators (``schemas.shanarri``) as codings,
  the 1-5 rating in the description, the comment and the child's and guardians' views as notes.
  R4 lets only a person express a goal (``expressedBy``: Patient, Practitioner, PractitionerRole or
  RelatedPerson), and the hub knows only the assessing organisation, not which of its staff: so
  ``expressedBy`` is a contained PractitionerRole with no practitioner whose organization is the
  assessing one ("someone at this organisation"). That keeps who assessed, validly; omitting
  ``expressedBy`` would lose it.
* Consent per consent: permit provision over its period (ending at its withdrawal or lapse, if
  earlier); recipients as information recipients, source organisations as sources, categories
  and areas as provision codes. A consent still pending (accepted, not yet processed) is left
  out: it is not in force.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from services.api.models import ConsentOut, IdentityState, PlanView
from services.api.ui import sv

CHILD_SYSTEM = "urn:kronobarn:child-id"
ORG_SYSTEM = "urn:kronobarn:organisation-id"
AREA_SYSTEM = "urn:kronobarn:wellbeing-area"
SHANARRI_SYSTEM = "urn:girfec:shanarri"
CATEGORY_SYSTEM = "urn:kronobarn:category"
PLAN_SYSTEM = "urn:kronobarn:plan-id"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACTION_STATUS = {"agreed": "scheduled", "completed": "completed"}
PLAN_STATUS = {"open": "active", "closed": "completed"}
PNR_SYSTEM = "urn:oid:1.2.752.129.2.1.3.1"  # personnummer
COORDINATION_SYSTEM = "urn:oid:1.2.752.129.2.1.3.3"  # samordningsnummer
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ASSESSOR = "assessor"  # the local id of a Goal's contained PractitionerRole


def _urn(value: uuid.UUID) -> str:
    return f"urn:uuid:{value}"


def _org(org_id: str, name: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"type": "Organization", "identifier": {"system": ORG_SYSTEM, "value": org_id}}
    if name:
        ref["display"] = name
    return ref


def _staff_of(local_id: str, org_id: str, name: str | None) -> dict[str, Any]:
    """A PractitionerRole standing for unnamed staff of an organisation: where R4 wants a person and
    the hub knows only the organisation."""
    return {"resourceType": "PractitionerRole", "id": local_id, "organization": _org(org_id, name)}


def _child(child_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "Patient", "identifier": {"system": CHILD_SYSTEM, "value": str(child_id)}}


def _patient(view: PlanView) -> dict[str, Any]:
    """The child; its personnummer and name only as ``view.person`` shows them, never when
    protected (``read_plan(..., export=True)`` has already left them out: this is the second lock)."""
    who = view.person
    resource: dict[str, Any] = {"resourceType": "Patient", "id": str(view.child_id),
                                "identifier": [{"system": CHILD_SYSTEM, "value": str(view.child_id)}]}
    if who.protected:
        resource["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R", "display": "restricted"}]}
        return resource
    if who.identity is IdentityState.SHOWN:
        if who.personnummer:
            coordination = int(who.personnummer[6:8]) > 60
            resource["identifier"].append({"use": "official", "value": who.personnummer.replace("-", ""),
                                           "system": COORDINATION_SYSTEM if coordination else PNR_SYSTEM})
        if who.family_name or who.given_name:
            name: dict[str, Any] = {"use": "official"}
            if who.family_name:
                name["family"] = who.family_name
            if who.given_name:
                name["given"] = who.given_name.split()
            resource["name"] = [name]
        if view.birth_date and not view.unborn:
            resource["birthDate"] = view.birth_date.isoformat()
    return resource


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _goals(view: PlanView) -> tuple[list[dict[str, Any]], dict[str, uuid.UUID]]:
    goals, ids = [], {}
    for area in view.areas:
        a = area.assessment
        if a is None:
            continue
        goal_id = uuid.uuid5(view.child_id, f"goal|{area.area.value}")
        ids[area.area.value] = goal_id
        notes = [{"text": f"{label}: {text}"} for label, text in
                 (("Kommentar", a.comment), ("Barnets syn", a.child_view), ("Vårdnadshavarnas syn", a.guardians_view))
                 if text]
        goal: dict[str, Any] = {
            "resourceType": "Goal", "id": str(goal_id), "lifecycleStatus": "active",
            "category": [{"coding": [{"system": SHANARRI_SYSTEM, "code": i} for i in area.shanarri]}],
            "description": {
                "coding": [{"system": AREA_SYSTEM, "code": area.area.value, "display": area.label}],
                "text": f"{area.label}: bedömt {a.rating} av 5",
            },
            "subject": _child(view.child_id), "statusDate": a.assessed_at.date().isoformat(),
            "contained": [_staff_of(ASSESSOR, a.assessed_by.id, a.assessed_by.name)],
            "expressedBy": {"reference": f"#{ASSESSOR}", "type": "PractitionerRole"},
        }
        if a.assessed_by.name:
            goal["expressedBy"]["display"] = a.assessed_by.name
        if notes:
            goal["note"] = notes
        goals.append(goal)
    return goals, ids


def _activities(view: PlanView, goal_ids: dict[str, uuid.UUID]) -> list[dict[str, Any]]:
    out = []
    for area in view.areas:
        for action in area.actions:
            detail: dict[str, Any] = {
                "status": ACTION_STATUS.get(action.status, "unknown"),
                "code": {"coding": [{"system": AREA_SYSTEM, "code": area.area.value, "display": area.label}],
                         "text": action.need or area.label},
                "performer": [_org(action.responsible.id, action.responsible.name)],
            }
            if action.what:
                detail["description"] = action.what
            if action.due_on:
                detail["scheduledPeriod"] = {"end": action.due_on.isoformat()}
            if area.area.value in goal_ids:
                detail["goal"] = [{"reference": _urn(goal_ids[area.area.value])}]
            out.append({"detail": detail})
        for follow_up in area.follow_ups:
            out.append({"detail": _follow_up(follow_up.due_on, follow_up.what, area.label)})
    for follow_up in view.follow_ups:
        out.append({"detail": _follow_up(follow_up.due_on, follow_up.what, None)})
    return out


def _follow_up(due_on: dt.date, what: str | None, area_label: str | None) -> dict[str, Any]:
    label = "Uppföljning" + (f" ({area_label})" if area_label else "")
    return {"status": "scheduled", "code": {"text": label}, "description": what or label,
            "scheduledPeriod": {"start": due_on.isoformat()}}


def _care_plan(view: PlanView, goal_ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    assert view.plan is not None
    plan = view.plan
    resource: dict[str, Any] = {
        "resourceType": "CarePlan", "id": str(plan.plan_id),
        "identifier": [{"system": PLAN_SYSTEM, "value": str(plan.plan_id)}],
        "status": PLAN_STATUS.get(plan.status, "unknown"), "intent": "plan", "title": "Barnets plan",
        "description": "Barnets plan enligt Kronobarnsmodellen (Barnens bästa gäller! i Kronoberg)",
        "subject": _child(view.child_id),
        "contributor": [_org(p.id, p.name) for p in view.participants],
        "goal": [{"reference": _urn(g)} for g in goal_ids.values()],
        "activity": _activities(view, goal_ids),
    }
    if plan.opened_at:
        resource["created"] = _time(plan.opened_at)
        resource["period"] = {"start": _time(plan.opened_at)} | (
            {"end": _time(plan.closed_at)} if plan.closed_at else {})
    if view.lead:
        resource["author"] = _org(view.lead.id, view.lead.name)
    for key in ("contributor", "goal", "activity"):
        if not resource[key]:
            del resource[key]
    return resource


def _consent(view: PlanView, consent: ConsentOut) -> dict[str, Any]:
    actors = [{"role": {"coding": [{"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}]},
               "reference": _org(r.id, r.name)} for r in consent.recipients]
    actors += [{"role": {"coding": [{"system": PARTICIPATION, "code": "INF", "display": "informant"}]},
                "reference": _org(s.id, s.name)} for s in consent.source_organisations or ()]
    codes = [{"coding": [{"system": CATEGORY_SYSTEM, "code": c.value, "display": sv.CATEGORY[c]}]}
             for c in consent.categories]
    codes += [{"coding": [{"system": AREA_SYSTEM, "code": a.value, "display": sv.AREA[a]}]} for a in consent.areas or ()]
    end = min(t for t in (consent.valid_to, consent.withdrawn_at, consent.lapsed_at) if t is not None)
    return {
        "resourceType": "Consent", "id": str(consent.consent_id),
        "status": "active" if consent.active else "inactive",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": _child(view.child_id), "dateTime": _time(consent.valid_from),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": {"type": "permit", "period": {"start": _time(consent.valid_from), "end": _time(end)},
                      "actor": actors, "code": codes},
    }


def plan_bundle(view: PlanView, at: dt.datetime) -> dict[str, Any]:
    """The FHIR R4(B) Bundle of the plan, validated by ``fhir.resources``; as JSON-ready data."""
    goals, goal_ids = _goals(view)
    resources = [_care_plan(view, goal_ids), *goals, *(_consent(view, c) for c in view.consents if not c.pending),
                 _patient(view)]
    bundle = Bundle.model_validate({
        "resourceType": "Bundle", "id": str(uuid.uuid5(view.child_id, f"bundle|{at.isoformat()}")),
        "type": "collection", "timestamp": _time(at),
        "entry": [{"fullUrl": _urn(uuid.UUID(r["id"])), "resource": r} for r in resources],
    })
    return bundle.model_dump(mode="json", exclude_none=True)
