"""The plan as the national exchange of care plans sees it (Inera, *Vård- och omsorgsplaner*).

The national service reads care plans through the RIV-TA contract GetCarePlans 2.0
(``urn:riv:clinicalprocess:logistics:logistics:GetCarePlans:2``, in the domain
clinicalprocess:logistics:logistics, not healthcond:description). Field
names below are the XSD element names of ``GetCarePlansResponder_2.0.xsd`` (the TKB's class table
writes ``participatingCareUnit`` and ``typeOfCarePlan`` for the same two elements). The plan type
SIP is the enumeration value ``SIP`` ("Samordnad individuell plan") of ``TypeOfCarePlanEnum``;
Inera's FHIR guide for the domain (a CI build, 3.0.13) publishes the same codes as the CodeSystem
``TYPE_OF_CARE_PLAN``. No KV Vårdplanstyp OID was found, so none is claimed here.

``sip_fields`` builds the record a later integration sends, from the plan view alone: the hub
already holds every field it needs, but for the hub's own HSA id as a source system, which is
configuration (``source_system``).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from services.api.models import OrgOut, PlanView

TYPE_OF_CARE_PLAN = "https://fhir.inera.se/CodeSystem/typeofcareplan-cs"
SIP = "SIP"
SIP_DISPLAY = "Samordnad individuell plan"
HSA_OID = "1.2.752.129.2.1.4.1"  # HSA-id
PNR_OID = "1.2.752.129.2.1.3.1"  # personnummer
COORDINATION_OID = "1.2.752.129.2.1.3.3"  # samordningsnummer
DOCUMENT_TITLE = "Samordnad individuell plan (SIP)"
SWEDEN = ZoneInfo("Europe/Stockholm")  # the contract's times carry no zone: Swedish time is implied

# An HSA id: "SE", the organisation number of the care giver (10 digits), "-", the unit's own part.
# The county's region units have one; a municipality's units in the directory do not (yet).
HSA_ID = re.compile(r"SE[0-9]{10}-[0-9A-Za-z]+")


def hsa_id(org_id: str) -> str | None:
    """The organisation's HSA id, when its directory id is one."""
    return org_id if HSA_ID.fullmatch(org_id) else None


def approved_for_patient(view: PlanView) -> bool:
    """Whether the plan may be shown to the child and the guardians (``approvedForPatient``).

    A SIP is drawn up *together with* the individual (SoL 2 kap. 7 §, HSL 16 kap. 4 §): so the
    plan is the family's to read once the child or a guardian took part in a meeting of the plan.
    A meeting where their part was not recorded does not count: approval is never assumed."""
    return any(m.child_took_part or m.guardians_took_part for m in view.meetings)


def participating_units(view: PlanView) -> list[OrgOut]:
    """The organisations taking part: the lead, then each recorded participant still active, then the
    plan's other participants; each once, in that order."""
    seen: dict[str, OrgOut] = {}
    active = [p.organisation for p in view.sip.participants if p.active]
    for o in ([view.lead] if view.lead else []) + active + list(view.participants):
        seen.setdefault(o.id, o)
    return list(seen.values())


def timestamp(value: dt.datetime) -> str:
    """TimeStampType: YYYYMMDDhhmmss in Swedish time."""
    return value.astimezone(SWEDEN).strftime("%Y%m%d%H%M%S")


def _content(view: PlanView) -> str:
    """The plan as plain text: who takes part and for what, then each action with its status."""
    lines = [DOCUMENT_TITLE, ""]
    for p in view.sip.participants:
        if p.active:
            lines.append(f"{p.organisation.name or p.organisation.id}: {p.role_label}"
                         + (f" – {p.responsibilities}" if p.responsibilities else ""))
    for area in view.areas:
        for a in area.actions:
            when = f", senast {a.due_on.isoformat()}" if a.due_on else ""
            lines.append(f"{area.label}: {a.what or a.need or 'insats'} – {a.responsible.name or a.responsible.id}"
                         f" – {a.status_label or a.status}{when}")
    return "\n".join(lines)


def sip_fields(view: PlanView, source_system: str | None = None) -> dict[str, Any]:
    """The plan as one ``carePlan`` of a GetCarePlans response (header and body), field names as the
    contract spells them; ``None`` where the hub has no value to give (never a made-up one)."""
    assert view.plan is not None
    plan, lead = view.plan, view.lead
    who = view.person
    patient = None
    if who.personnummer and not who.protected:
        coordination = int(who.personnummer[6:8]) > 60
        patient = {"id": who.personnummer.replace("-", ""), "type": COORDINATION_OID if coordination else PNR_OID}
    lead_hsa = hsa_id(lead.id) if lead else None
    return {
        "carePlanHeader": {
            "documentId": str(plan.plan_id),
            "sourceSystemHSAId": source_system,
            "documentTitle": DOCUMENT_TITLE,
            "documentTime": timestamp(plan.opened_at) if plan.opened_at else None,
            "patientId": patient,
            "accountableHealthcareProfessional": {
                "authorTime": timestamp(plan.opened_at) if plan.opened_at else None,
                "healthcareProfessionalOrgUnit": None if lead is None else {
                    "orgUnitHSAId": lead_hsa, "orgUnitName": lead.name},
                "healthcareProfessionalCareUnitHSAId": lead_hsa,
            },
            "approvedForPatient": approved_for_patient(view),
        },
        "carePlanBody": {
            "content": [{"mediaType": "text/plain",
                         "value": base64.b64encode(_content(view).encode("utf-8")).decode("ascii")}],
            "participatingCareUnitHSAId": [{"root": HSA_OID, "extension": h} for h in
                                           (hsa_id(o.id) for o in participating_units(view)) if h],
            "typeOfCarePlanEnum": SIP,
        },
    }
