"""The SIP in the FHIR export and in the national care-plan exchange's fields, from a plan view
built here by hand (synthetic data): each expectation is written out from the mapping's text."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.reference import Reference
from pydantic import BaseModel

from schemas.events import ActionEffect, Area, FollowUpOutcome, InvitationAnswer, ParticipantRole
from services.api.fhir import plan_bundle
from services.api.models import (
    ActionOut,
    AnswerOut,
    AreaOut,
    EvaluationOut,
    FollowUpOut,
    IdentityState,
    InvitationOut,
    MeetingOut,
    OrgOut,
    ParticipantOut,
    PersonOut,
    PlanInfo,
    PlanView,
    ReviewOut,
    SipOut,
)
from services.api.sip_export import sip_fields, timestamp

BVC = OrgOut(id="SE2321000065-BHV0780", name="BVC Växjö")
SOC = OrgOut(id="kommun-0780-soc", name="Socialtjänsten Växjö")
SCHOOL = OrgOut(id="skola-test-1", name="Skolan")
CHILD = uuid.UUID("00000000-0000-4000-8000-000000000001")
PLAN = uuid.UUID("00000000-0000-4000-8000-000000000002")
HELD, NEXT = uuid.UUID(int=10), uuid.UUID(int=11)
FOLLOW_UP, OLD_FOLLOW_UP = uuid.UUID(int=20), uuid.UUID(int=21)
AT = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
HSA = "urn:oid:1.2.752.129.2.1.4.1"
EXT = "urn:kronobarn:extension"


def _action(n: int, status: str, **kw: Any) -> ActionOut:
    return ActionOut(action_id=uuid.UUID(int=100 + n), area=Area.HEALTH, need=f"behov {n}", what=f"insats {n}",
                     responsible=kw.pop("responsible", BVC), due_on=dt.date(2027, 1, n), status=status,
                     completed_on=None, status_label=status, **kw)


ACTIONS = [
    _action(1, "agreed", start_on=dt.date(2026, 12, 1)),
    _action(2, "ongoing", responsible=SOC, evaluations=[EvaluationOut(
        action_id=uuid.UUID(int=102), follow_up_id=FOLLOW_UP, evaluated_on=dt.date(2026, 12, 15),
        effect=ActionEffect.PARTLY, effect_label="har hjälpt delvis", evaluated_by=SOC, evaluation="bättre",
        child_words="jag sover bättre", guardians_words=None)]),
    _action(3, "completed"),
    _action(4, "cancelled", status_reason="familjen flyttade"),
    _action(5, "ongoing", by_others=True, performer="fotbollsklubben", responsible=SOC),
]


def _view(*, guardians: bool | None = True, child: bool | None = None, protected: bool = False) -> PlanView:
    person = PersonOut(identity=IdentityState.PROTECTED if protected else IdentityState.SHOWN, protected=protected,
                       personnummer=None if protected else "20200101-1234")
    return PlanView(
        child_id=CHILD, municipality_code="0780", birth_date=dt.date(2020, 1, 1), unborn=False, person=person,
        guardians=[], named_person=BVC, named_person_rule="bhv", lead=BVC, participants=[BVC, SOC, SCHOOL],
        plan=PlanInfo(plan_id=PLAN, status="open", opened_by=BVC,
                      opened_at=dt.datetime(2026, 6, 1, 8, tzinfo=dt.UTC), closed_at=None),
        areas=[AreaOut(area=Area.HEALTH, label="Hälsa", shanarri=["healthy"], assessment=None, facts=[],
                       actions=ACTIONS, follow_ups=[])],
        facts_without_area=[],
        meetings=[MeetingOut(meeting_id=HELD, held_on=dt.date(2026, 11, 2), participants=[BVC, SOC], lead=BVC,
                             decisions="d", notes=None, child_took_part=child, guardians_took_part=guardians)],
        follow_ups=[FollowUpOut(follow_up_id=FOLLOW_UP, area=None, due_on=dt.date(2026, 12, 15), what="avstämning")],
        sip=SipOut(
            invitations=[
                InvitationOut(meeting_id=HELD, starts_at=dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC), invited_by=BVC,
                              child_invited=True, guardians_invited=True, place=None, questions=None,
                              invited_people=None, not_invited_why=None, held=True, answers=[]),
                InvitationOut(meeting_id=NEXT, starts_at=dt.datetime(2027, 2, 1, 13, tzinfo=dt.UTC), invited_by=BVC,
                              child_invited=False, guardians_invited=True, place=None, questions=None,
                              invited_people=None, not_invited_why="för ung", held=False, answers=[
                                  AnswerOut(invitee=SOC, answer=InvitationAnswer.COMING, answer_label="kommer"),
                                  AnswerOut(invitee=SCHOOL, answer=None, answer_label="har inte svarat")]),
            ],
            participants=[
                ParticipantOut(organisation=BVC, role=ParticipantRole.RESPONSIBLE, role_label="ansvarar för insatser",
                               active=True, responsibilities="sömnrådgivning", contact=None),
                ParticipantOut(organisation=SOC, role=ParticipantRole.SUPPORTING, role_label="stödjer", active=True,
                               responsibilities=None, contact=None),
                ParticipantOut(organisation=SCHOOL, role=ParticipantRole.CONSULTED, role_label="bidrar med kunskap",
                               active=False, responsibilities="gammalt", contact=None),
            ],
            reviews=[
                ReviewOut(follow_up_id=FOLLOW_UP, held_on=dt.date(2026, 12, 15), outcome=FollowUpOutcome.CONTINUED,
                          outcome_label="planen fortsätter", held_by=BVC, summary="vi fortsätter"),
                ReviewOut(follow_up_id=OLD_FOLLOW_UP, held_on=dt.date(2026, 10, 1), outcome=FollowUpOutcome.REVISED,
                          outcome_label="planen revideras", held_by=SOC, summary=None),
            ]),
        consents=[], access="lead", read_at=AT)


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return plan_bundle(_view(), AT)


def _of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_bundle_is_valid_r4_with_a_care_team_its_organisations_and_an_encounter_per_meeting(bundle) -> None:
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["CarePlan", "CareTeam", "Organization", "Organization", "Organization", "Encounter", "Encounter",
                     "Patient"]


def _reference_targets(node: BaseModel, types: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """Every Reference under a validated model: (element, the type it points at, what R4 allows there),
    the allowed types read from the ``fhir.resources`` models themselves."""
    found = []
    for name, field in type(node).model_fields.items():
        value = getattr(node, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Reference):
                target = item.type or types[item.reference]
                assert item.reference is None or item.reference not in types or types[item.reference] == target
                found.append((f"{type(node).__name__}.{name}", target, field.json_schema_extra["enum_reference_types"]))
            elif isinstance(item, BaseModel):
                found += _reference_targets(item, types)
    return found


def test_every_reference_points_at_a_type_r4_allows_there(bundle) -> None:
    types = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
    found = _reference_targets(Bundle.model_validate(bundle), types)
    assert all(target in allowed or allowed == ["Resource"] for _, target, allowed in found), found
    assert {(element, target) for element, target, _ in found} >= {
        ("CarePlan.careTeam", "CareTeam"), ("CarePlan.supportingInfo", "Encounter"),
        ("CareTeamParticipant.member", "Organization"), ("EncounterParticipant.individual", "PractitionerRole"),
        ("Annotation.authorReference", "Organization"), ("Encounter.serviceProvider", "Organization")}


def test_each_action_s_lifecycle_dates_performer_and_reason(bundle) -> None:
    expected = {  # what -> (R4 status, responsible, period), from the mapping's text
        "insats 1": ("scheduled", BVC.id, {"start": "2026-12-01", "end": "2027-01-01"}),
        "insats 2": ("in-progress", SOC.id, {"end": "2027-01-02"}),
        "insats 3": ("completed", BVC.id, {"end": "2027-01-03"}),
        "insats 4": ("cancelled", BVC.id, {"end": "2027-01-04"}),
        "insats 5 (utförs av fotbollsklubben)": ("in-progress", SOC.id, {"end": "2027-01-05"}),
    }
    details = [a["detail"] for a in _of(bundle, "CarePlan")[0]["activity"] if a["detail"]["code"].get("coding")]
    assert {d["description"]: (d["status"], d["performer"][0]["identifier"]["value"], d["scheduledPeriod"])
            for d in details} == expected
    assert [d.get("statusReason") for d in details] == [None, None, None, {"text": "familjen flyttade"}, None]
    assert [d.get("extension") for d in details][-1] == [{"url": f"{EXT}:performed-by-others", "valueBoolean": True}]
    assert "extension" not in details[0]


def test_an_evaluation_is_a_progress_note_with_the_child_s_words(bundle) -> None:
    activities = _of(bundle, "CarePlan")[0]["activity"]
    evaluated = [a for a in activities if a["detail"].get("description") == "insats 2"][0]
    (note,) = evaluated["progress"]
    assert note["time"] == "2026-12-15" and note["authorReference"]["identifier"]["value"] == SOC.id
    assert note["text"] == "Utvärdering: har hjälpt delvis\nBedömning: bättre\nBarnets ord: jag sover bättre"
    assert all("progress" not in a for a in activities if a["detail"].get("description") == "insats 1")


def test_a_follow_up_held_is_completed_with_its_outcome(bundle) -> None:
    follow_ups = [a for a in _of(bundle, "CarePlan")[0]["activity"] if not a["detail"]["code"].get("coding")]
    assert [(a["detail"]["status"], a["detail"]["scheduledPeriod"]["start"], a["progress"][0]["text"])
            for a in follow_ups] == [("completed", "2026-12-15", "Uppföljning hållen: planen fortsätter\nvi fortsätter"),
                                     ("completed", "2026-10-01", "Uppföljning hållen: planen revideras")]


def test_the_care_team_holds_every_unit_with_its_role_and_the_lead_s_overall_responsibility(bundle) -> None:
    team = _of(bundle, "CareTeam")[0]
    orgs = {_urn(o): o for o in _of(bundle, "Organization")}
    roles = {orgs[p["member"]["reference"]]["identifier"][0]["value"]: [r["coding"][0]["code"] for r in p.get("role", [])]
             for p in team["participant"]}
    assert roles == {BVC.id: ["LEAD", "RESPONSIBLE"], SOC.id: ["SUPPORTING"], SCHOOL.id: []}  # the school left
    assert [n["text"] for n in team["note"]] == ["BVC Växjö ansvarar för: sömnrådgivning"]
    hsa = {o["identifier"][0]["value"]: [i["value"] for i in o["identifier"] if i["system"] == HSA]
           for o in orgs.values()}
    assert hsa == {BVC.id: [BVC.id], SOC.id: [], SCHOOL.id: []}  # only the region's unit has an HSA id
    care_plan = _of(bundle, "CarePlan")[0]
    assert care_plan["careTeam"][0]["reference"] == _urn(team)


def _urn(resource: dict[str, Any]) -> str:
    return f"urn:uuid:{resource['id']}"


def test_a_meeting_held_is_finished_and_a_kallelse_not_yet_held_is_planned(bundle) -> None:
    held, planned = _of(bundle, "Encounter")
    assert (held["id"], held["status"], held["period"]) == (str(HELD), "finished",
                                                             {"start": "2026-11-02", "end": "2026-11-02"})
    assert [c["organization"]["identifier"]["value"] for c in held["contained"]] == [BVC.id, SOC.id]
    assert [p["individual"]["reference"] for p in held["participant"]] == ["#org0", "#org1"]
    assert held["extension"] == [{"url": f"{EXT}:guardians-took-part", "valueBoolean": True}]  # child: not recorded
    assert (planned["id"], planned["status"]) == (str(NEXT), "planned")
    assert planned["period"]["start"].startswith("2027-02-01T13:00:00")
    assert [c["organization"]["identifier"]["value"] for c in planned["contained"]] == [SOC.id, SCHOOL.id]
    assert [r["reference"] for r in _of(bundle, "CarePlan")[0]["supportingInfo"]] == [_urn(held), _urn(planned)]


def test_the_care_plan_is_a_sip_approved_for_the_family_once_they_took_part(bundle) -> None:
    care_plan = _of(bundle, "CarePlan")[0]
    assert care_plan["category"] == [{"coding": [{"system": "https://fhir.inera.se/CodeSystem/typeofcareplan-cs",
                                                  "code": "SIP", "display": "Samordnad individuell plan"}]}]
    approved = f"{EXT}:approved-for-patient"
    assert care_plan["extension"] == [{"url": approved, "valueBoolean": True}]
    for child, guardians, expected in ((None, None, False), (False, False, False), (True, None, True)):
        other = plan_bundle(_view(child=child, guardians=guardians), AT)
        assert _of(other, "CarePlan")[0]["extension"] == [{"url": approved, "valueBoolean": expected}]


def test_sip_fields_are_the_getcareplans_record() -> None:
    fields = sip_fields(_view(), source_system="SE2321000065-KRONOBARN")
    content = fields["carePlanBody"].pop("content")
    assert fields == {
        "carePlanHeader": {
            "documentId": str(PLAN), "sourceSystemHSAId": "SE2321000065-KRONOBARN",
            "documentTitle": "Samordnad individuell plan (SIP)",
            "documentTime": "20260601100000",  # 08:00 UTC is 10:00 Swedish summer time
            "patientId": {"id": "202001011234", "type": "1.2.752.129.2.1.3.1"},
            "accountableHealthcareProfessional": {
                "authorTime": "20260601100000",
                "healthcareProfessionalOrgUnit": {"orgUnitHSAId": BVC.id, "orgUnitName": "BVC Växjö"},
                "healthcareProfessionalCareUnitHSAId": BVC.id},
            "approvedForPatient": True,
        },
        "carePlanBody": {"participatingCareUnitHSAId": [{"root": "1.2.752.129.2.1.4.1", "extension": BVC.id}],
                         "typeOfCarePlanEnum": "SIP"},
    }
    (text,) = content
    assert text["mediaType"] == "text/plain"
    lines = base64.b64decode(text["value"]).decode("utf-8").splitlines()
    assert "BVC Växjö: ansvarar för insatser – sömnrådgivning" in lines
    assert "Hälsa: insats 4 – BVC Växjö – cancelled, senast 2027-01-04" in lines
    assert not any("gammalt" in line for line in lines)  # the school no longer takes part


def test_sip_fields_name_no_patient_with_protected_identity_nor_approve_without_the_family() -> None:
    header = sip_fields(_view(protected=True, guardians=None))["carePlanHeader"]
    assert header["patientId"] is None and header["approvedForPatient"] is False and header["sourceSystemHSAId"] is None


def test_timestamps_are_swedish_time_summer_and_winter() -> None:
    assert timestamp(dt.datetime(2026, 1, 15, 23, 30, tzinfo=dt.UTC)) == "20260116003000"  # CET, +1
    assert timestamp(dt.datetime(2026, 7, 15, 22, 0, 5, tzinfo=dt.UTC)) == "20260716000005"  # CEST, +2
