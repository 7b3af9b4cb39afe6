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
  author, the participants are contributors; category SIP (``services.api.sip_export``), and an
  extension saying whether the plan is approved for the child and guardians to read.
  Every action is an activity: need as code text, what as description (and, for an action by
  others, who does it), the responsible organisation as performer (it answers for the action
  even when others do it), start and due dates as the scheduled period, the lifecycle as status
  (agreed -> scheduled, ongoing -> in-progress, completed -> completed, cancelled -> cancelled
  with the reason as statusReason), and each evaluation as a progress note (its day, the effect,
  the evaluation and the child's and guardians' own words, by the evaluating organisation).
  Every follow-up is an activity too; one held is completed, its outcome a progress note.
* CareTeam: the participating organisations (bundled Organizations, with their HSA ids where
  they have one), each with its role; the lead with "overall responsibility"; what each is
  responsible for as a note by that organisation.
* Encounter per meeting: finished for a meeting held (its day; the organisations present; whether
  the child and the guardians took part), planned for a kallelse not yet held (its start; the
  invited organisations). R4 wants a person as an encounter participant, so each organisation is a
  contained PractitionerRole, as for a Goal's assessor below.
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

from services.api import sip_export
from services.api.models import ActionOut, ConsentOut, IdentityState, MeetingOut, OrgOut, PlanView
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
ACTION_STATUS = {"agreed": "scheduled", "ongoing": "in-progress", "completed": "completed", "cancelled": "cancelled"}
PLAN_STATUS = {"open": "active", "closed": "completed"}
PNR_SYSTEM = f"urn:oid:{sip_export.PNR_OID}"  # personnummer
COORDINATION_SYSTEM = f"urn:oid:{sip_export.COORDINATION_OID}"  # samordningsnummer
HSA_SYSTEM = f"urn:oid:{sip_export.HSA_OID}"
ROLE_SYSTEM = "urn:kronobarn:participant-role"
LEAD_ROLE = "LEAD"  # the plan's lead, beside the roles of ParticipantRecorded
ENCOUNTER_CLASS = {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"}  # met without admission
EXTENSION = "urn:kronobarn:extension"  # the hub's own extensions, under its urn base like the systems above
APPROVED_FOR_PATIENT = f"{EXTENSION}:approved-for-patient"
CHILD_TOOK_PART = f"{EXTENSION}:child-took-part"
GUARDIANS_TOOK_PART = f"{EXTENSION}:guardians-took-part"
BY_OTHERS = f"{EXTENSION}:performed-by-others"
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


def _extension(url: str, value: bool) -> dict[str, Any]:
    return {"url": url, "valueBoolean": value}


def _progress(action: ActionOut) -> list[dict[str, Any]]:
    """Each evaluation of the action as a note: when, the effect, and the words as written."""
    notes = []
    for e in action.evaluations:
        parts = [f"Utvärdering: {e.effect_label}"] + [f"{label}: {text}" for label, text in (
            ("Bedömning", e.evaluation), ("Barnets ord", e.child_words), ("Vårdnadshavarnas ord", e.guardians_words))
            if text]
        note: dict[str, Any] = {"time": e.evaluated_on.isoformat(), "text": "\n".join(parts)}
        if e.evaluated_by:
            note["authorReference"] = _org(e.evaluated_by.id, e.evaluated_by.name)
        notes.append(note)
    return notes


def _action(area_label: str, area_code: str, action: ActionOut, goal_ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "status": ACTION_STATUS.get(action.status, "unknown"),
        "code": {"coding": [{"system": AREA_SYSTEM, "code": area_code, "display": area_label}],
                 "text": action.need or area_label},
        # The responsible organisation answers for an action by others too: the doer is named below.
        "performer": [_org(action.responsible.id, action.responsible.name)],
    }
    description = action.what
    if action.by_others:
        detail["extension"] = [_extension(BY_OTHERS, True)]
        if action.performer:
            description = f"{description or area_label} (utförs av {action.performer})"
    if description:
        detail["description"] = description
    if action.status == "cancelled" and action.status_reason:
        detail["statusReason"] = {"text": action.status_reason}
    period = {k: d.isoformat() for k, d in (("start", action.start_on), ("end", action.due_on)) if d}
    if period:
        detail["scheduledPeriod"] = period
    if area_code in goal_ids:
        detail["goal"] = [{"reference": _urn(goal_ids[area_code])}]
    activity: dict[str, Any] = {"detail": detail}
    if progress := _progress(action):
        activity["progress"] = progress
    return activity


def _activities(view: PlanView, goal_ids: dict[str, uuid.UUID]) -> list[dict[str, Any]]:
    reviews = {r.follow_up_id: r for r in view.sip.reviews}
    out = []
    for area in view.areas:
        for action in area.actions:
            out.append(_action(area.label, area.area.value, action, goal_ids))
        for follow_up in area.follow_ups:
            out.append(_follow_up(follow_up.due_on, follow_up.what, area.label, reviews.pop(follow_up.follow_up_id, None)))
    for follow_up in view.follow_ups:
        out.append(_follow_up(follow_up.due_on, follow_up.what, None, reviews.pop(follow_up.follow_up_id, None)))
    for review in reviews.values():  # held, but no longer among the scheduled ones
        out.append(_follow_up(review.held_on, None, None, review))
    return out


def _follow_up(due_on: dt.date, what: str | None, area_label: str | None, review: Any) -> dict[str, Any]:
    label = "Uppföljning" + (f" ({area_label})" if area_label else "")
    activity: dict[str, Any] = {"detail": {
        "status": "scheduled" if review is None else "completed", "code": {"text": label},
        "description": what or label, "scheduledPeriod": {"start": due_on.isoformat()}}}
    if review is not None:
        note: dict[str, Any] = {"time": review.held_on.isoformat(), "text": f"Uppföljning hållen: {review.outcome_label}"
                                + (f"\n{review.summary}" if review.summary else "")}
        if review.held_by:
            note["authorReference"] = _org(review.held_by.id, review.held_by.name)
        activity["progress"] = [note]
    return activity


def _organisation(plan_id: uuid.UUID, org: OrgOut) -> dict[str, Any]:
    """A participating unit, with its HSA id beside the hub's id when it has one."""
    identifiers = [{"system": ORG_SYSTEM, "value": org.id}]
    if hsa := sip_export.hsa_id(org.id):
        identifiers.append({"system": HSA_SYSTEM, "value": hsa})
    resource: dict[str, Any] = {"resourceType": "Organization", "id": str(uuid.uuid5(plan_id, f"org|{org.id}")),
                                "identifier": identifiers, "active": True}
    if org.name:
        resource["name"] = org.name
    return resource


def _role(code: str, label: str) -> dict[str, Any]:
    return {"coding": [{"system": ROLE_SYSTEM, "code": code, "display": label}], "text": label}


def _care_team(view: PlanView, organisations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The organisations of the SIP and what each answers for; the lead has the overall responsibility."""
    assert view.plan is not None
    roles: dict[str, list[dict[str, Any]]] = {o: [] for o in organisations}
    if view.lead:
        roles[view.lead.id].append(_role(LEAD_ROLE, "övergripande ansvar"))
    notes = []
    for p in view.sip.participants:
        if not p.active:
            continue
        roles[p.organisation.id].append(_role(p.role.value, p.role_label))
        if p.responsibilities:
            notes.append({"authorReference": _org(p.organisation.id, p.organisation.name),
                          "text": f"{p.organisation.name or p.organisation.id} ansvarar för: {p.responsibilities}"})
    resource: dict[str, Any] = {
        "resourceType": "CareTeam", "id": str(uuid.uuid5(view.plan.plan_id, "care-team")),
        "status": "active" if view.plan.status == "open" else "inactive", "name": "Samverkan kring barnets plan",
        "subject": _child(view.child_id),
        "participant": [{"member": {"reference": _urn(uuid.UUID(r["id"])), "type": "Organization"}}
                        | ({"role": roles[o]} if roles[o] else {}) for o, r in organisations.items()],
    }
    if view.lead:
        resource["managingOrganization"] = [_org(view.lead.id, view.lead.name)]
    if notes:
        resource["note"] = notes
    return resource


def _attendees(orgs: list[OrgOut]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Organisations at a meeting: as contained staff (R4 lets only people take part in an encounter)."""
    contained = [_staff_of(f"org{i}", o.id, o.name) for i, o in enumerate(orgs)]
    return contained, [{"individual": {"reference": f"#org{i}", "type": "PractitionerRole"}} for i in range(len(orgs))]


def _encounter(view: PlanView, meeting_id: uuid.UUID, status: str, period: dict[str, str], orgs: list[OrgOut],
               provider: OrgOut | None) -> dict[str, Any]:
    contained, participants = _attendees(orgs)
    resource: dict[str, Any] = {
        "resourceType": "Encounter", "id": str(meeting_id), "status": status, "class": ENCOUNTER_CLASS,
        "type": [{"text": "SIP-möte"}], "subject": _child(view.child_id), "period": period,
    }
    if contained:
        resource["contained"], resource["participant"] = contained, participants
    if provider:
        resource["serviceProvider"] = _org(provider.id, provider.name)
    return resource


def _meeting(view: PlanView, m: MeetingOut) -> dict[str, Any]:
    resource = _encounter(view, m.meeting_id, "finished", {"start": m.held_on.isoformat(), "end": m.held_on.isoformat()},
                          m.participants, m.lead)
    took_part = [_extension(url, value) for url, value in ((CHILD_TOOK_PART, m.child_took_part),
                                                           (GUARDIANS_TOOK_PART, m.guardians_took_part))
                 if value is not None]  # not recorded: no extension, rather than a guessed no
    if took_part:
        resource["extension"] = took_part
    return resource


def _encounters(view: PlanView) -> list[dict[str, Any]]:
    """Meetings held, then kallelser not yet held (a kallelse held is its meeting: same id)."""
    held = [_meeting(view, m) for m in view.meetings]
    planned = [_encounter(view, i.meeting_id, "planned", {"start": _time(i.starts_at)},
                          [a.invitee for a in i.answers], i.invited_by)
               for i in view.sip.invitations if not i.held]
    return held + planned


def _care_plan(view: PlanView, goal_ids: dict[str, uuid.UUID], care_team: dict[str, Any] | None,
               encounters: list[dict[str, Any]]) -> dict[str, Any]:
    assert view.plan is not None
    plan = view.plan
    resource: dict[str, Any] = {
        "resourceType": "CarePlan", "id": str(plan.plan_id),
        "identifier": [{"system": PLAN_SYSTEM, "value": str(plan.plan_id)}],
        "extension": [_extension(APPROVED_FOR_PATIENT, sip_export.approved_for_patient(view))],
        "status": PLAN_STATUS.get(plan.status, "unknown"), "intent": "plan", "title": "Barnets plan",
        "category": [{"coding": [{"system": sip_export.TYPE_OF_CARE_PLAN, "code": sip_export.SIP,
                                  "display": sip_export.SIP_DISPLAY}]}],
        "description": "Barnets plan enligt Kronobarnsmodellen (Barnens bästa gäller! i Kronoberg)",
        "subject": _child(view.child_id),
        "contributor": [_org(p.id, p.name) for p in view.participants],
        "goal": [{"reference": _urn(g)} for g in goal_ids.values()],
        "activity": _activities(view, goal_ids),
        # R4 gives CarePlan.encounter one encounter (the one it was created in), activity.reference no
        # Encounter target, and Encounter.basedOn only ServiceRequest: the meetings of the plan are its
        # supporting information, which takes any resource.
        "supportingInfo": [{"reference": _urn(uuid.UUID(e["id"])), "type": "Encounter"} for e in encounters],
    }
    if care_team:
        resource["careTeam"] = [{"reference": _urn(uuid.UUID(care_team["id"])), "type": "CareTeam"}]
    if plan.opened_at:
        resource["created"] = _time(plan.opened_at)
        resource["period"] = {"start": _time(plan.opened_at)} | (
            {"end": _time(plan.closed_at)} if plan.closed_at else {})
    if view.lead:
        resource["author"] = _org(view.lead.id, view.lead.name)
    for key in ("contributor", "goal", "activity", "supportingInfo"):
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
    assert view.plan is not None
    goals, goal_ids = _goals(view)
    organisations = {o.id: _organisation(view.plan.plan_id, o) for o in sip_export.participating_units(view)}
    care_team = _care_team(view, organisations) if organisations else None
    encounters = _encounters(view)
    resources = [_care_plan(view, goal_ids, care_team, encounters), *goals,
                 *([care_team] if care_team else []), *organisations.values(), *encounters,
                 *(_consent(view, c) for c in view.consents if not c.pending), _patient(view)]
    bundle = Bundle.model_validate({
        "resourceType": "Bundle", "id": str(uuid.uuid5(view.child_id, f"bundle|{at.isoformat()}")),
        "type": "collection", "timestamp": _time(at),
        "entry": [{"fullUrl": _urn(uuid.UUID(r["id"])), "resource": r} for r in resources],
    })
    return bundle.model_dump(mode="json", exclude_none=True)
