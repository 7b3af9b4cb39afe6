"""The web service on a real (SQLite) read model: the plan view, commands to their topics,
consents with the registry's reasons, withdrawal purging facts, emergency access, FHIR export,
auth and the auditors' views."""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources import R4B
from fhir.resources.R4B.bundle import Bundle

from schemas.events import (
    Area,
    Basis,
    ConsentGranted,
    ConsentObtained,
    ConsentWithdrawn,
    EmergencyAccessOpened,
    Grantor,
    GrantorRole,
    MeetingHeld,
    PlanOpened,
)
from schemas.topics import key_for, topic_for
from services.api.auth.devlogin import dev_users
from services.settings import Settings
from tests.conftest import DATABASES
from tests.support.api import (
    ADMINISTRATOR,
    AUDITOR,
    BHV,
    COORDINATOR_BHV,
    COORDINATOR_OUTSIDE,
    COORDINATOR_SCHOOL,
    COORDINATOR_SOC,
    KAA,
    OUTSIDER,
    SCHOOL,
    SOC,
    Harness,
    harness,
)
from tests.support.browser import Browser


@pytest.fixture(params=DATABASES)
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """The county on SQLite, and on PostgreSQL when ``KRONOBARN_TEST_POSTGRES_URL`` is set."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_schema")()
    made = harness(tmp_path, url=url)
    yield made
    made.app.state.hub.engine.dispose()


@pytest.fixture
def client(h: Harness) -> TestClient:
    return Browser(h.app)


def test_the_plan_view_holds_the_named_person_lead_wheel_facts_actions_meetings_follow_ups(
        h: Harness, client: TestClient) -> None:
    r = client.get(f"/children/{h.county.a}", headers=h.headers(COORDINATOR_BHV))
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["named_person"]["id"] == BHV and view["named_person"]["name"] == "Barnavårdscentralen Växjö"
    assert view["lead"]["id"] == SOC and view["access"] == "named_person"
    assert {p["id"] for p in view["participants"]} == {BHV, SOC}
    assert [a["area"] for a in view["areas"]] == ["care", "health", "learning", "safety", "relationships", "home",
                                                 "development"]
    health = view["areas"][1]
    assert health["shanarri"] == ["healthy"] and health["label"] == "hälsa"
    assert health["assessment"]["rating"] == 2 and health["assessment"]["child_view"] == "Jag är trött"
    assert health["assessment"]["guardians_view"] == "Vi oroar oss"
    assert health["actions"][0]["what"] == "Sömnrådgivning" and health["actions"][0]["status"] == "agreed"
    facts = {f["fact_type"]: f for a in view["areas"] for f in a["facts"]}
    assert set(facts) == {"HealthVisitRecorded", "InvestigationOpened", "AbsenceSummarised"}
    assert facts["HealthVisitRecorded"]["source"]["id"] == BHV and facts["HealthVisitRecorded"]["occurred_at"]
    assert facts["HealthVisitRecorded"]["details"]
    assert view["meetings"][0]["decisions"] == "Socialtjänsten leder planen."
    assert view["follow_ups"][0]["what"] == "Uppföljning av sömnen"
    assert view["consents"][0]["active"] is True
    [viewed] = h.publish.views
    assert (viewed.viewer_id, viewed.role, viewed.organisation_id, viewed.child_id) == (
        COORDINATOR_BHV.subject, "coordinator", BHV, h.county.a)
    assert viewed.purpose == "care-planning" and "facts" in viewed.parts and topic_for(viewed).name == "access"


def test_a_participant_sees_only_what_consent_covers_and_outsiders_get_404(h: Harness, client: TestClient) -> None:
    soc = client.get(f"/children/{h.county.a}", headers=h.headers(COORDINATOR_SOC)).json()
    assert soc["access"] == "lead"
    # The school is a consent recipient but not in the plan: not in its scope.
    for who in (COORDINATOR_SCHOOL, COORDINATOR_OUTSIDE):
        r = client.get(f"/children/{h.county.a}", headers=h.headers(who))
        assert r.status_code == 404 and r.json() == {"detail": "Hittades inte.", "reasons": []}
    assert client.get(f"/children/{uuid.uuid4()}", headers=h.headers(COORDINATOR_BHV)).status_code == 404
    # The school opened D's plan under a HEALTH consent: it sees BHV's health visit through it.
    d = client.get(f"/children/{h.county.d}", headers=h.headers(COORDINATOR_SCHOOL)).json()
    assert d["access"] == "named_person" and [f["fact_type"] for a in d["areas"] for f in a["facts"]] == [
        "HealthVisitRecorded"]


def test_my_children_lists_the_scope_and_searches(h: Harness, client: TestClient) -> None:
    mine = client.get("/children", headers=h.headers(COORDINATOR_BHV)).json()
    assert {c["child_id"] for c in mine["children"]} == {str(h.county.a)}  # B, C, D have other named persons
    soc = client.get("/children", headers=h.headers(COORDINATOR_SOC)).json()
    assert [c["access"] for c in soc["children"]] == ["lead"]
    assert client.get("/children", params={"has_plan": "false"}, headers=h.headers(COORDINATOR_BHV)).json()["total"] == 0
    prefix = str(h.county.a)[:6]
    assert client.get("/children", params={"q": prefix}, headers=h.headers(COORDINATOR_BHV)).json()["total"] == 1
    assert client.get("/children", params={"municipality": "0781"},
                      headers=h.headers(COORDINATOR_BHV)).json()["total"] == 0
    assert client.get("/children", headers=h.headers(AUDITOR)).status_code == 403


def test_each_command_publishes_one_event_to_its_topic_and_answers_202(h: Harness, client: TestClient) -> None:
    a, today = h.county.a, dt.date.today()
    head = h.headers(COORDINATOR_BHV)
    calls = [
        ("meetings", {"held_on": today.isoformat(), "participant_orgs": [BHV, SOC], "lead_org": BHV,
                      "decisions": "BVC leder"}, "MeetingHeld"),
        ("assessments", {"area": "home", "rating": 4, "child_view": "Bra hemma"}, "AreaAssessed"),
        ("actions", {"area": "home", "need": "Stöd", "what": "Boendestöd", "responsible_org": SOC}, "ActionAgreed"),
        (f"actions/{h.county.action_a}/complete", {"completed_on": today.isoformat()}, "ActionCompleted"),
        ("follow-ups", {"due_on": (today + dt.timedelta(days=10)).isoformat()}, "FollowUpScheduled"),
        ("named-person/transfer", {"to_org": KAA, "reason_code": "BARNET_TRYGGT"}, "NamedPersonTransferred"),
        ("plan/close", {"reason_code": "MAL_UPPNADDA"}, "PlanClosed"),
    ]
    for path, body, kind in calls:
        before = len(h.publish.events)
        r = client.post(f"/children/{a}/{path}", json=body, headers=head)
        assert r.status_code == 202, (path, r.text)
        [event] = h.publish.events[before:]
        assert type(event).__name__ == kind and r.json()["event_id"] == str(event.event_id)
        assert topic_for(event).name == "plan" and event.envelope.source.organisation_id == BHV
        assert r.json()["message"] == "Registrerat – visas när det har behandlats."
    meeting = h.publish.of(MeetingHeld)[0]
    assert meeting.envelope.sealed.fields["decisions"] == "BVC leder"  # type: ignore[union-attr]


def test_domain_refusals_are_422_with_every_reason(h: Harness, client: TestClient) -> None:
    head = h.headers(COORDINATOR_BHV)
    r = client.post(f"/children/{h.county.a}/meetings", headers=head, json={
        "held_on": "2001-01-01", "participant_orgs": [BHV, BHV], "lead_org": "kommun-0999-x", "decisions": " "})
    assert r.status_code == 422
    reasons = r.json()["reasons"]
    assert len(reasons) == 4 and any("more than 366 days back" in x for x in reasons)
    r = client.post(f"/children/{h.county.a}/assessments", headers=head, json={"area": "moon", "rating": 9})
    assert r.status_code == 422 and r.json()["reasons"]
    r = client.post(f"/children/{h.county.a}/plan", headers=head, json={"consent_ids": [str(h.county.consent_a)]})
    assert r.status_code == 422 and r.json()["reasons"] == ["the child already has an open plan"]
    r = client.post(f"/children/{h.county.a}/actions/{uuid.uuid4()}/complete", headers=head,
                    json={"completed_on": dt.date.today().isoformat()})
    assert r.status_code == 404
    assert not h.publish.events


def test_opening_a_plan_checks_the_consents(h: Harness, client: TestClient) -> None:
    head = h.headers(COORDINATOR_BHV)
    h.world.apply([_closing(h)])
    r = client.post(f"/children/{h.county.a}/plan", headers=head, json={"consent_ids": [str(uuid.uuid4())]})
    assert r.status_code == 422 and "is not one of this child's" in r.json()["reasons"][0]
    r = client.post(f"/children/{h.county.a}/plan", headers=head, json={"consent_ids": [str(h.county.consent_a)]})
    assert r.status_code == 202
    [opened] = h.publish.of(PlanOpened)
    assert opened.consent_ids == (h.county.consent_a,) and str(opened.plan_id) == r.json()["id"]


def _closing(h: Harness):  # type: ignore[no-untyped-def]
    from schemas.events import Basis
    from tests.support.history import event

    return event("PlanClosed", h.county.a, 99, basis=Basis.CONSENT, org=BHV, at=h.county.now - dt.timedelta(days=1),
                 plan_id=h.county.plan_a, reason_code="ANNAT")


def test_consent_registration_gives_the_registrys_reasons_and_publishes_to_consent(h: Harness,
                                                                                   client: TestClient) -> None:
    head, a = h.headers(COORDINATOR_BHV), h.county.a
    g1, g2 = h.county.guardians(a)
    body = {"grantors": [{"party_id": str(g1), "role": "GUARDIAN"}], "categories": ["HEALTH"], "recipients": [SOC],
            "valid_from": h.county.now.isoformat(), "valid_to": (h.county.now + dt.timedelta(days=30)).isoformat(),
            "obtained": "ORAL_MEETING"}
    r = client.post(f"/children/{a}/consents", headers=head, json=body)
    assert r.status_code == 422 and r.json()["reasons"] == [f"guardian {g2} has not granted"]
    body["grantors"].append({"party_id": str(g2), "role": "GUARDIAN"})
    r = client.post(f"/children/{a}/consents", headers=head, json=body)
    assert r.status_code == 202, r.text
    [granted] = h.publish.of(ConsentGranted)
    assert topic_for(granted).name == "consent" and granted.recipients == (SOC,)
    assert granted.obtained is ConsentObtained.ORAL_MEETING and granted.registered_by == COORDINATOR_BHV.subject
    del body["obtained"]  # how the grant was obtained is required
    r = client.post(f"/children/{a}/consents", headers=head, json=body)
    assert r.status_code == 422 and r.json()["reasons"] == ["body.obtained: Field required"]
    r = client.post(f"/children/{a}/consents/{h.county.consent_a}/withdraw", headers=head,
                    json={"party_id": str(uuid.uuid4()), "role": "GUARDIAN"})
    assert r.status_code == 422 and r.json()["reasons"] == ["only a required grantor can withdraw this consent"]
    r = client.post(f"/children/{a}/consents/{uuid.uuid4()}/withdraw", headers=head,
                    json={"party_id": str(g1), "role": "GUARDIAN"})
    assert r.status_code == 404


def test_after_withdrawal_is_projected_the_facts_it_covered_are_gone_from_the_api_and_the_page(
        h: Harness, client: TestClient) -> None:
    a, head = h.county.a, h.headers(COORDINATOR_SOC)
    cookie = {"kronobarn_token": h.token(COORDINATOR_SOC)}
    before = client.get(f"/children/{a}", headers=head).json()
    shown = {f["fact_type"] for ar in before["areas"] for f in ar["facts"]}
    assert shown == {"HealthVisitRecorded", "InvestigationOpened", "AbsenceSummarised"}
    page = client.get(f"/ui/children/{a}", cookies=cookie).text
    assert "Besök i hälso- och sjukvården" in page and "Frånvaro" in page
    g1, _ = h.county.guardians(a)
    r = client.post(f"/children/{a}/consents/{h.county.consent_a}/withdraw", headers=head,
                    json={"party_id": str(g1), "role": GrantorRole.GUARDIAN.value})
    assert r.status_code == 202
    [withdrawal] = h.publish.of(ConsentWithdrawn)
    assert topic_for(withdrawal).name == "consent"
    h.world.withdraw(a, h.county.consent_a, h.county.now)  # the gate revokes, the projector purges
    after = client.get(f"/children/{a}", headers=head).json()
    assert [f for ar in after["areas"] for f in ar["facts"]] == [] and after["facts_without_area"] == []
    assert after["consents"][0]["active"] is False
    page = client.get(f"/ui/children/{a}", cookies=cookie).text
    assert "Besök i hälso- och sjukvården" not in page and "Frånvaro" not in page and "Utredning inledd" not in page
    # The lead still sees the plan itself (lead needs no consent) -- but no released fact.
    assert after["access"] == "lead" and after["meetings"]


def _consent(h: Harness, grantors: list[tuple[uuid.UUID, str]], *, start: dt.datetime | None = None,
             days: float = 30, recipients: tuple[str, ...] = (SOC,)) -> dict[str, object]:
    start = start or h.county.now
    return {"grantors": [{"party_id": str(p), "role": r} for p, r in grantors], "categories": ["HEALTH"],
            "recipients": list(recipients), "valid_from": start.isoformat(),
            "valid_to": (start + dt.timedelta(days=days)).isoformat(), "obtained": "WRITTEN"}


def _pending(h: Harness) -> list[tuple[str, object]]:
    from sqlalchemy import select

    from services.sql.schema import pending_consents

    with h.app.state.hub.engine.connect() as c:
        return [tuple(r) for r in c.execute(select(pending_consents.c.consent_id, pending_consents.c.withdrawn_at))]


def test_bad_consent_requests_are_422_with_every_reason_and_write_nothing(h: Harness, client: TestClient) -> None:
    head, a, now = h.headers(COORDINATOR_BHV), h.county.a, h.county.now
    g1, g2 = h.county.guardians(a)
    stranger = uuid.uuid4()
    cases = [
        # unknown grantors: neither guardian has granted, and the stranger may not
        (_consent(h, [(stranger, "GUARDIAN")]),
         [f"party {stranger} may not grant as GUARDIAN", f"guardian {g1} has not granted",
          f"guardian {g2} has not granted"]),
        # grantors in the wrong role: a guardian as the young person, the child as guardian
        (_consent(h, [(g1, "GUARDIAN"), (g2, "YOUNG_PERSON"), (a, "GUARDIAN")]),
         sorted([f"party {g2} may not grant as YOUNG_PERSON", f"party {a} may not grant as GUARDIAN"])
         + [f"guardian {g2} has not granted"]),
        # backdated, and too long
        (_consent(h, [(g1, "GUARDIAN"), (g2, "GUARDIAN")], start=now - dt.timedelta(days=2), days=4 * 365),
         [f"valid_from {(now - dt.timedelta(days=2)).isoformat()} lies before now: a consent cannot be backdated",
          "valid_from to valid_to is more than 1096 days"]),
        # starting too far ahead
        (_consent(h, [(g1, "GUARDIAN"), (g2, "GUARDIAN")], start=now + dt.timedelta(days=400)),
         [f"valid_from {(now + dt.timedelta(days=400)).isoformat()} lies more than 365 days ahead"]),
        # all at once: every reason, the period's first
        (_consent(h, [(stranger, "CHILD")], start=now - dt.timedelta(hours=1), days=-1),
         [f"valid_from {(now - dt.timedelta(hours=1)).isoformat()} lies before now: a consent cannot be backdated",
          "valid_to must be after valid_from", f"party {stranger} may not grant as CHILD",
          f"guardian {g1} has not granted", f"guardian {g2} has not granted"]),
    ]
    for body, reasons in cases:
        r = client.post(f"/children/{a}/consents", headers=head, json=body)
        assert r.status_code == 422, r.text
        assert sorted(r.json()["reasons"]) == sorted(reasons), r.json()["reasons"]
        assert r.json()["detail"] == "Uppgifterna uppfyller inte reglerna."
    assert h.publish.events == [] and _pending(h) == []  # nothing published, nothing kept
    # The pages give the same reasons in Swedish.
    cookie = {"kronobarn_token": h.token(COORDINATOR_BHV)}
    page = client.post(f"/ui/children/{a}/consents", cookies=cookie, data={
        "grantors": [f"GUARDIAN:{g1}", f"GUARDIAN:{g2}"], "categories": ["HEALTH"], "recipients": [SOC],
        "obtained": "DIGITAL", "valid_from": (now - dt.timedelta(days=3)).date().isoformat(),
        "valid_to": (now + dt.timedelta(days=4 * 365)).date().isoformat()})
    assert page.status_code == 422 and "ett samtycke kan inte antedateras" in page.text
    assert "är längre än 1096 dagar" in page.text
    assert h.publish.of(ConsentGranted) == [] and _pending(h) == []


def test_an_accepted_consent_shows_as_pending_and_can_be_withdrawn_at_once(h: Harness, client: TestClient) -> None:
    """Read your own writes: before the projector has it, the consent is shown as pending (not in
    force: it opens nothing and shows no one anything) and can be withdrawn; once projected, the
    read model's row replaces it and the pending row is gone."""
    a, soc, bhv = h.county.a, h.headers(COORDINATOR_SOC), h.headers(COORDINATOR_BHV)
    g1, g2 = h.county.guardians(a)
    h.world.withdraw(a, h.county.consent_a, h.county.now)  # SOC no longer sees what BHV wrote
    assert client.get(f"/children/{a}", headers=soc).json()["areas"][1]["assessment"]["comment"] is None
    r = client.post(f"/children/{a}/consents", headers=bhv, json=_consent(h, [(g1, "GUARDIAN"), (g2, "GUARDIAN")]))
    assert r.status_code == 202, r.text
    consent_id = r.json()["id"]
    [granted] = h.publish.of(ConsentGranted)
    view = client.get(f"/children/{a}", headers=soc).json()
    shown = {c["consent_id"]: c for c in view["consents"]}
    assert shown[consent_id]["pending"] is True and shown[consent_id]["active"] is False
    assert shown[consent_id]["obtained"] == "WRITTEN" and shown[consent_id]["registered_by"] == COORDINATOR_BHV.subject
    assert {(g["party_id"], g["role"]) for g in shown[consent_id]["grantors"]} == {(str(g1), "GUARDIAN"),
                                                                                  (str(g2), "GUARDIAN")}
    assert shown[str(h.county.consent_a)]["pending"] is False
    assert view["areas"][1]["assessment"]["comment"] is None  # pending: not in force
    page = client.get(f"/ui/children/{a}/consents", cookies={"kronobarn_token": h.token(COORDINATOR_BHV)}).text
    assert "väntar på behandling" in page and f"/consents/{consent_id}/withdraw" in page
    # Not in force, so no plan opens under it.
    h.world.apply([_closing(h)])
    r = client.post(f"/children/{a}/plan", headers=bhv, json={"consent_ids": [consent_id]})
    assert r.status_code == 422 and r.json()["reasons"] == [
        f"consent {consent_id} is still being processed; try again in a moment"]
    # Withdrawn at once, keyed like the grant so the gate sees them in order; the page shows it.
    r = client.post(f"/children/{a}/consents/{consent_id}/withdraw", headers=bhv,
                    json={"party_id": str(g2), "role": "GUARDIAN"})
    assert r.status_code == 202 and r.json()["moot"] is None
    [withdrawal] = h.publish.of(ConsentWithdrawn)
    assert str(withdrawal.consent_id) == consent_id and withdrawal.withdrawn_by == g2
    assert key_for(withdrawal) == key_for(granted) and topic_for(withdrawal) == topic_for(granted)
    again = client.get(f"/children/{a}", headers=bhv).json()
    pending = next(c for c in again["consents"] if c["consent_id"] == consent_id)
    assert pending["pending"] is True and pending["withdrawn_at"]
    # A second withdrawal is moot: accepted, and nothing published again.
    r = client.post(f"/children/{a}/consents/{consent_id}/withdraw", headers=bhv,
                    json={"party_id": str(g1), "role": "GUARDIAN"})
    assert r.status_code == 202 and r.json()["event_id"] is None
    assert r.json()["moot"].startswith("the consent had already been withdrawn on ")
    assert r.json()["message"].startswith("Återkallelsen är mottagen, men den ändrade inget: samtycket var redan")
    assert len(h.publish.of(ConsentWithdrawn)) == 1
    # The projector has the grant (not yet the withdrawal): still shown withdrawn, the row kept.
    h.world.apply([granted])
    shown = {c["consent_id"]: c for c in client.get(f"/children/{a}", headers=bhv).json()["consents"]}
    assert shown[consent_id]["pending"] is False and shown[consent_id]["withdrawn_at"] and _pending(h)
    # ... and the withdrawal too: the row goes on the next read.
    h.world.apply([withdrawal])
    client.get(f"/children/{a}", headers=bhv)
    assert _pending(h) == []


def test_a_pending_consent_gives_way_to_the_projected_one_or_goes_after_an_hour(h: Harness,
                                                                                client: TestClient) -> None:
    a, soc, bhv = h.county.a, h.headers(COORDINATOR_SOC), h.headers(COORDINATOR_BHV)
    g1, g2 = h.county.guardians(a)
    h.world.withdraw(a, h.county.consent_a, h.county.now)
    first = client.post(f"/children/{a}/consents", headers=bhv, json=_consent(h, [(g1, "GUARDIAN"), (g2, "GUARDIAN")]))
    second = client.post(f"/children/{a}/consents", headers=bhv, json=_consent(h, [(g1, "GUARDIAN"), (g2, "GUARDIAN")]))
    assert first.status_code == second.status_code == 202
    assert len(_pending(h)) == 2
    h.world.apply([h.publish.of(ConsentGranted)[0]])  # the projector has the first
    view = client.get(f"/children/{a}", headers=soc).json()
    shown = {c["consent_id"]: c for c in view["consents"]}
    assert shown[first.json()["id"]]["pending"] is False and shown[first.json()["id"]]["active"] is True
    assert shown[second.json()["id"]]["pending"] is True
    assert view["areas"][1]["assessment"]["comment"] == "Sover dåligt"  # in force now
    assert [r[0] for r in _pending(h)] == [second.json()["id"]]
    hub = h.app.state.hub
    hub.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)  # the projector never had it
    later = client.get(f"/children/{a}", headers=soc).json()
    assert second.json()["id"] not in {c["consent_id"] for c in later["consents"]} and _pending(h) == []
    r = client.post(f"/children/{a}/consents/{second.json()['id']}/withdraw", headers=bhv,
                    json={"party_id": str(g1), "role": "GUARDIAN"})
    assert r.status_code == 404


def _young(h: Harness) -> tuple[uuid.UUID, uuid.UUID]:
    """Child Y: turned 18 thirty days ago, at upper-secondary school (the school was its named
    person until 18), no plan; a HEALTH consent for the school, given at 17 by Y and its
    guardians, which lapsed at the 18th birthday."""
    from schemas.events import Category, SchoolType
    from services.dev.samples import scoped_grant
    from tests.support.history import event

    y, lapsed, d, now = uuid.UUID(int=1006, version=4), uuid.UUID(int=2006, version=4), Basis.DIRECTORY, h.county.now
    turned = now.date() - dt.timedelta(days=30)
    born = dt.date(turned.year - 18, turned.month, min(turned.day, 28))
    at = now - dt.timedelta(days=60)
    grantors = [Grantor(g, GrantorRole.GUARDIAN) for g in h.county.guardians(y)] + [Grantor(y, GrantorRole.CHILD)]
    h.world.apply([
        event("ChildRegistered", y, 1, basis=d, org="navet", at=at, birth_date=born, municipality_code="0780"),
        event("CustodyRecorded", y, 2, basis=d, org="navet", at=at, recorded_on=born, guardian_ids=h.county.guardians(y)),
        event("SchoolPlacementStarted", y, 3, basis=d, org=SCHOOL, at=at, placement_id=f"p-{y}", school_unit_id=SCHOOL,
              school_type=SchoolType.UPPER_SECONDARY, municipality_code="0780",
              start_date=born + dt.timedelta(days=16 * 365)),
        scoped_grant(y, lapsed, [Category.HEALTH], [SCHOOL], at + dt.timedelta(minutes=1),
                     now + dt.timedelta(days=200), grantors=grantors),
    ])
    return y, lapsed


def _school_in_directory(h: Harness) -> None:
    """The harness's school is no unit of the synthetic county: a consent names it as a recipient
    only once the county directory lists it (issue 17, finding 3)."""
    hub = h.app.state.hub
    hub.directory = replace(hub.directory, names={**hub.directory.names, SCHOOL: "Testgymnasiet"},
                            kinds={**hub.directory.kinds, SCHOOL: "UPPER_SECONDARY"},
                            municipalities={**hub.directory.municipalities, SCHOOL: "0780"})


def test_from_18_the_former_named_person_registers_the_young_persons_own_consent_and_opens_the_plan(
        h: Harness, client: TestClient) -> None:
    y, _ = _young(h)
    _school_in_directory(h)
    school, outsider = h.headers(COORDINATOR_SCHOOL), h.headers(COORDINATOR_OUTSIDE)
    g1, g2 = h.county.guardians(y)
    # The guardians' say ended at 18.
    r = client.post(f"/children/{y}/consents", headers=school,
                    json=_consent(h, [(g1, "GUARDIAN"), (g2, "GUARDIAN")], recipients=(SCHOOL,)))
    assert r.status_code == 422 and sorted(r.json()["reasons"]) == sorted([
        f"party {g1} may not grant as GUARDIAN", f"party {g2} may not grant as GUARDIAN",
        "the young person (18 or over) must grant themself"])
    own = _consent(h, [(y, "YOUNG_PERSON")], recipients=(SCHOOL, SOC))
    assert client.post(f"/children/{y}/consents", headers=outsider, json=own).status_code == 404
    assert client.get(f"/children/{y}", headers=outsider).status_code == 404
    r = client.post(f"/children/{y}/consents", headers=school, json=own)
    assert r.status_code == 202, r.text
    [granted] = h.publish.of(ConsentGranted)
    assert granted.grantors == (Grantor(y, GrantorRole.YOUNG_PERSON),)
    view = client.get(f"/children/{y}", headers=school)
    assert view.status_code == 200 and view.json()["access"] == "young_person" and view.json()["plan"] is None
    h.world.apply([granted])  # projected
    r = client.post(f"/children/{y}/plan", headers=school, json={"consent_ids": [str(granted.consent_id)]})
    assert r.status_code == 202, r.text
    assert h.publish.of(PlanOpened)[0].opened_by_org == SCHOOL


def test_withdrawing_a_consent_that_had_lapsed_is_accepted_and_reported_moot(h: Harness, client: TestClient) -> None:
    y, lapsed = _young(h)
    school = h.headers(COORDINATOR_SCHOOL)
    g1, _ = h.county.guardians(y)
    # Y's view is open to the school (former named person) though Y has no plan.
    shown = {c["consent_id"]: c for c in client.get(f"/children/{y}", headers=school).json()["consents"]}
    assert shown[str(lapsed)]["lapse"] == "adulthood" and shown[str(lapsed)]["active"] is False
    assert shown[str(lapsed)]["lapse_label"] == "upphörde vid 18-årsdagen"
    page = client.get(f"/ui/children/{y}/consents", cookies={"kronobarn_token": h.token(COORDINATOR_SCHOOL)}).text
    assert "upphörde vid 18-årsdagen" in page
    # Someone who never granted it and is not required now: refused.
    r = client.post(f"/children/{y}/consents/{lapsed}/withdraw", headers=school,
                    json={"party_id": str(uuid.uuid4()), "role": "GUARDIAN"})
    assert r.status_code == 422 and r.json()["reasons"] == ["only a required grantor can withdraw this consent"]
    # A guardian who granted it at 17 (no longer required): accepted, recorded, and moot.
    r = client.post(f"/children/{y}/consents/{lapsed}/withdraw", headers=school,
                    json={"party_id": str(g1), "role": "GUARDIAN"})
    assert r.status_code == 202, r.text
    birthday = (h.county.now.date() - dt.timedelta(days=30))
    assert r.json()["moot"].startswith("the consent had already lapsed at the 18th birthday on ")
    assert "samtycket hade redan upphört vid 18-årsdagen den" in r.json()["message"]
    [withdrawal] = h.publish.of(ConsentWithdrawn)
    assert withdrawal.consent_id == lapsed and r.json()["event_id"] == str(withdrawal.event_id)
    assert str(birthday.year) in r.json()["moot"]


def test_emergency_access_opens_reading_for_its_coordinator_and_is_listed_for_auditors(tmp_path: Path) -> None:
    h = harness(tmp_path, applying=True)  # access events reach the audit store, as the audit projector does
    client, a = Browser(h.app), h.county.a
    head = h.headers(COORDINATOR_OUTSIDE)
    assert client.get(f"/children/{a}", headers=head).status_code == 404
    assert client.post(f"/children/{a}/emergency-access", headers=head,
                       json={"reason_code": "AKUT_FARA", "days": 8}).status_code == 422
    r = client.post(f"/children/{a}/emergency-access", headers=head, json={"reason_code": "AKUT_FARA", "days": 2})
    assert r.status_code == 202 and r.json()["event_id"] is None  # the same answer as for no child at all
    [opened] = h.publish.of(EmergencyAccessOpened)
    assert topic_for(opened).name == "access" and opened.reason_code == "AKUT_FARA"
    assert opened.expires_at - opened.envelope.occurred_at == dt.timedelta(days=2)
    view = client.get(f"/children/{a}", headers=head)
    assert view.status_code == 200 and view.json()["access"] == "emergency"
    assert {f["fact_type"] for ar in view.json()["areas"] for f in ar["facts"]}  # the covered facts, lawfully
    assert h.publish.views[-1].purpose == "emergency"
    assert client.post(f"/children/{a}/assessments", headers=head, json={"area": "home", "rating": 3}).status_code == 403
    assert [c["access"] for c in client.get("/children", headers=head).json()["children"]] == ["emergency"]
    assert h.publish.views[-1].purpose == "emergency" and h.publish.views[-1].parts == ("summary", "identity")
    # Another coordinator of the same organisation has no emergency access.
    other = h.headers(type(COORDINATOR_OUTSIDE)("someone-else", COORDINATOR_OUTSIDE.role, OUTSIDER))
    assert client.get(f"/children/{a}", headers=other).status_code == 404
    listed = client.get("/audit/emergency-access", headers=h.headers(AUDITOR)).json()["entries"]
    assert [(e["child_id"], e["viewer_id"], e["purpose"]) for e in listed] == [
        (str(a), COORDINATOR_OUTSIDE.subject, "AKUT_FARA")]
    # An id nobody has gets exactly the answer a real child got (issue 17, finding 6), logged as such.
    nobody = client.post(f"/children/{uuid.uuid4()}/emergency-access", headers=head,
                         json={"reason_code": "AKUT_FARA", "days": 2})
    assert (nobody.status_code, nobody.json()) == (r.status_code, r.json())
    assert len(h.publish.of(EmergencyAccessOpened)) == 1
    assert (h.publish.views[-1].child_id, h.publish.views[-1].parts) == (uuid.UUID(int=0), ("no-match",))


# The target types R4 (4.0.1) allows for each Reference element the export writes, from the spec's
# resource pages (careplan.html, goal.html, consent.html, practitionerrole.html). Written here, not taken
# from the export, so a reference to a type the element does not allow fails the export's test.
R4_REFERENCE_TARGETS: dict[str, frozenset[str]] = {
    "CarePlan.subject": frozenset({"Patient", "Group"}),
    "CarePlan.author": frozenset({"Patient", "Practitioner", "PractitionerRole", "Device", "RelatedPerson",
                                  "Organization", "CareTeam"}),
    "CarePlan.contributor": frozenset({"Patient", "Practitioner", "PractitionerRole", "Device", "RelatedPerson",
                                       "Organization", "CareTeam"}),
    "CarePlan.goal": frozenset({"Goal"}),
    "CarePlan.activity.detail.goal": frozenset({"Goal"}),
    "CarePlan.activity.detail.performer": frozenset({"Practitioner", "PractitionerRole", "Organization",
                                                     "RelatedPerson", "Patient", "CareTeam", "HealthcareService",
                                                     "Device"}),
    "Goal.subject": frozenset({"Patient", "Group", "Organization"}),
    "CarePlan.careTeam": frozenset({"CareTeam"}),
    "CarePlan.supportingInfo": frozenset({"Resource"}),  # R4: any resource
    "CareTeam.subject": frozenset({"Patient", "Group"}),
    "CareTeam.managingOrganization": frozenset({"Organization"}),
    "CareTeam.participant.member": frozenset({"Practitioner", "PractitionerRole", "RelatedPerson", "Patient",
                                              "Organization", "CareTeam"}),
    "Encounter.subject": frozenset({"Patient", "Group"}),
    "Encounter.participant.individual": frozenset({"Practitioner", "PractitionerRole", "RelatedPerson"}),
    "Encounter.serviceProvider": frozenset({"Organization"}),
    "Goal.expressedBy": frozenset({"Patient", "Practitioner", "PractitionerRole", "RelatedPerson"}),
    "Consent.patient": frozenset({"Patient"}),
    "Consent.provision.actor.reference": frozenset({"Device", "Group", "CareTeam", "Organization", "Patient",
                                                    "Practitioner", "RelatedPerson", "PractitionerRole"}),
    "PractitionerRole.organization": frozenset({"Organization"}),
}


def _references(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Reference under a resource, with its element path; contained resources are walked on their own."""
    for key, value in node.items():
        if key == "contained":
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("reference"), str) or (isinstance(item.get("type"), str)
                                                          and isinstance(item.get("identifier"), dict)):
                yield f"{path}.{key}", item
            else:
                yield from _references(item, f"{path}.{key}")


def _target_type(ref: dict[str, Any], container: dict[str, Any], by_full_url: dict[str, dict[str, Any]]) -> str:
    """The type a reference points at: what it resolves to (a contained resource, a Bundle entry or a
    relative url), which must agree with its ``type`` when it states one; else its ``type``."""
    literal = ref.get("reference")
    if literal is None:
        return ref["type"]
    if literal.startswith("#"):
        resolved = {c["id"]: c["resourceType"] for c in container.get("contained", [])}[literal[1:]]
    elif literal.startswith("urn:uuid:"):
        resolved = by_full_url[literal]["resourceType"]
    else:
        resolved = literal.split("/")[-2]
    assert ref.get("type", resolved) == resolved, ref
    return resolved


def test_every_reference_in_the_fhir_export_points_at_a_type_r4_allows_there(h: Harness,
                                                                               client: TestClient) -> None:
    r = client.get(f"/children/{h.county.a}/plan.fhir", headers=h.headers(COORDINATOR_BHV))
    assert r.status_code == 200, r.text
    entries = r.json()["entry"]
    by_full_url = {e["fullUrl"]: e["resource"] for e in entries}
    seen: set[str] = set()
    for container in by_full_url.values():
        contained = container.get("contained", [])
        # dom-3: a contained resource is referenced from the resource that contains it.
        assert {f"#{c['id']}" for c in contained} <= {ref.get("reference") for _, ref in
                                                       _references(container, container["resourceType"])}
        for resource in (container, *contained):
            for path, ref in _references(resource, resource["resourceType"]):
                assert path in R4_REFERENCE_TARGETS, f"{path}: not in the table, add its R4 target types"
                allowed = R4_REFERENCE_TARGETS[path]
                assert allowed == {"Resource"} or _target_type(ref, container, by_full_url) in allowed, (path, ref)
                seen.add(path)
    # The county's child exercises every element in the table (an evaluation's or a responsibility's
    # author, an Annotation's, is checked in tests/unit/test_fhir_sip.py).
    assert seen == set(R4_REFERENCE_TARGETS), seen ^ set(R4_REFERENCE_TARGETS)
    goal = next(e["resource"] for e in entries if e["resource"]["resourceType"] == "Goal")
    assessor = goal["contained"][0]  # who assessed: staff of the BVC, as a PractitionerRole
    assert assessor["organization"]["identifier"]["value"] == BHV and "practitioner" not in assessor


def test_the_reference_table_agrees_with_the_r4b_models_of_fhir_resources() -> None:
    """A second source for the table: ``fhir.resources`` 8 models R4B (4.3.0), whose reference targets
    are R4's for these elements."""
    assert R4B.__fhir_version__ == "4.3.0"
    for path, targets in R4_REFERENCE_TARGETS.items():
        *owner, element = path.split(".")
        module = importlib.import_module(f"fhir.resources.R4B.{owner[0].lower()}")
        model = getattr(module, "".join(part[0].upper() + part[1:] for part in owner))
        assert set(model.model_fields[element].json_schema_extra["enum_reference_types"]) == targets, path


def test_the_fhir_export_is_a_valid_r4_bundle_with_a_care_plan_goals_and_consents(h: Harness,
                                                                                  client: TestClient) -> None:
    r = client.get(f"/children/{h.county.a}/plan.fhir", headers=h.headers(COORDINATOR_BHV))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(r.json())
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds == ["CarePlan", "Goal", "CareTeam", "Organization", "Organization", "Encounter", "Consent", "Patient"]
    patient = bundle.entry[7].resource  # the exporting BVC is entitled to the child's name
    identity = h.county.identity(h.county.a)
    assert patient.name[0].family == identity["family_name"] and patient.name[0].given == [identity["given_name"]]
    assert {(i.system, i.value) for i in patient.identifier} == {
        ("urn:kronobarn:child-id", str(h.county.a)),
        ("urn:oid:1.2.752.129.2.1.3.1", identity["personnummer"].replace("-", ""))}
    assert not patient.address and identity["address"] not in r.text  # an export carries no address
    assert h.publish.views[-1].parts[-1] == "identity"
    care_plan = bundle.entry[0].resource
    assert care_plan.status == "active" and care_plan.intent == "plan" and care_plan.author.identifier.value == SOC
    assert care_plan.activity[0].detail.description == "Sömnrådgivning"
    goal = bundle.entry[1].resource
    assert {c.code for c in goal.category[0].coding} == {"healthy"} and "2 av 5" in goal.description.text
    assert bundle.entry[6].resource.provision.period.end
    assert h.publish.views[-1].purpose == "export"
    assert client.get(f"/children/{h.county.c}/plan.fhir", headers=h.headers(COORDINATOR_BHV)).status_code == 404


def test_gaps_list_for_the_municipalitys_coordinators(h: Harness, client: TestClient) -> None:
    r = client.get("/municipalities/0780/gaps", headers=h.headers(COORDINATOR_BHV))
    assert r.status_code == 200 and [c["child_id"] for c in r.json()["children"]] == [str(h.county.c)]
    assert [v.child_id for v in h.publish.views] == [h.county.c]
    assert client.get("/municipalities/0781/gaps", headers=h.headers(COORDINATOR_BHV)).status_code == 403
    assert client.get("/municipalities/0780/gaps", headers=h.headers(AUDITOR)).status_code == 403


def test_authentication_failures_are_401_with_a_message_and_pages_redirect_to_login(h: Harness,
                                                                                     client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = client.get("/children", headers=headers)
        assert r.status_code == 401 and r.json()["detail"] and r.json()["reasons"]
        assert r.headers["www-authenticate"] == "Bearer"
    r = client.get(f"/ui/children/{h.county.a}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dev/login"
    # The JSON API never takes the cookie.
    assert client.get("/children", cookies={"kronobarn_token": h.token(COORDINATOR_BHV)}).status_code == 401


def test_dev_login_sets_an_http_only_lax_cookie(h: Harness, client: TestClient) -> None:
    page = client.get("/dev/login")
    assert page.status_code == 200 and "dev-auditor" in page.text and 'for="u-dev-auditor"' in page.text
    subject = next(u.subject for u in dev_users() if u.organisation_id == BHV)
    r = client.post("/dev/login", data={"subject": subject}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "kronobarn_token=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.post("/dev/login", data={"subject": "nobody"}, follow_redirects=False).status_code == 404
    r = client.post("/dev/login", data={"subject": subject}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def test_dev_login_does_not_exist_when_disabled(tmp_path: Path) -> None:
    from services.api.app import create_app
    from services.sql.db import make_engine, migrate

    settings = Settings(_env_file=None, dev_login=False, jwks_url="https://idp.example/jwks",  # type: ignore[call-arg]
                        jwt_issuer="https://idp.example")
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)

    async def publish(_event: object) -> None: ...

    client = TestClient(create_app(settings, publish=publish, engine=engine))
    assert client.get("/dev/login").status_code == 404 and client.post("/dev/token", json={}).status_code == 404
    r = client.get("/ui/children", follow_redirects=False)
    assert r.status_code == 401 and "logga in" in r.text.lower()


def test_a_form_posted_from_another_site_is_refused(h: Harness, client: TestClient) -> None:
    cookie = {"kronobarn_token": h.token(COORDINATOR_BHV)}
    r = client.post(f"/ui/children/{h.county.a}/assessments", cookies=cookie, data={"area": "home", "rating": "3"},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403 and not h.publish.events


def test_roles_see_only_their_own_pages(h: Harness, client: TestClient) -> None:
    for who, allowed, denied in ((AUDITOR, "/ui/audit", f"/ui/children/{h.county.a}"),
                                 (ADMINISTRATOR, "/ui/admin", "/ui/audit"),
                                 (COORDINATOR_BHV, "/ui/children", "/ui/admin")):
        cookie = {"kronobarn_token": h.token(who)}
        assert client.get(allowed, cookies=cookie).status_code == 200
        assert client.get(denied, cookies=cookie).status_code == 403
    assert client.get("/admin/overview", headers=h.headers(ADMINISTRATOR)).json()["tables"]["children"] == 4


class FakeHistory:
    """Stands in for ``services.readmodel.history`` (which reads the event log), with its real types."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.calls: list[tuple[str, object]] = []

    async def child_history(self, settings: Settings, codec: object, child_id: uuid.UUID) -> list:  # type: ignore[type-arg]
        from services.readmodel.history import HistoryEntry

        self.calls.append(("history", child_id))
        events = [e for e in self.h.county.events() if e.child_id == child_id]
        return [HistoryEntry(topic_for(e).name, 0, n, e.envelope.recorded_at, type(e).__name__, e)
                for n, e in enumerate(events)]

    async def plan_as_seen(self, settings: Settings, codec: object, child_id: uuid.UUID, viewer_org: str,
                           at: dt.datetime, grants: tuple = ()):  # type: ignore[no-untyped-def,type-arg]
        from projections import access
        from projections.named_person import assignment
        from projections.plan import visible_facts
        from services.readmodel.engine import named_person_config
        from services.readmodel.history import SeenPlan

        self.calls.append(("as-seen", (child_id, viewer_org, at)))
        state = self.h.world.states[child_id]
        active = tuple(c for c in state.consents.of_child(child_id) if c.active_at(at))
        named = assignment(state.life, at.date(), named_person_config(settings))
        scope = access.ChildScope(child_id, named.organisation_id, state.plan.lead, frozenset(state.plan.participants))
        why = access.org_ground(viewer_org, scope, active, grants, at)
        if why is None:
            return SeenPlan(child_id, viewer_org, at, state, named, (), (), access.NOT_FOUND)
        return SeenPlan(child_id, viewer_org, at, state, named, active,
                        tuple(visible_facts(state.plan, viewer_org, at, active)),
                        access.Decision(access.Outcome.ALLOWED, why))


def test_auditors_read_history_and_the_plan_as_an_organisation_saw_it(h: Harness, client: TestClient) -> None:
    fake = FakeHistory(h)
    h.app.state.hub.history = fake
    head, a = h.headers(AUDITOR), h.county.a
    history = client.get(f"/audit/children/{a}/history", headers=head)
    assert history.status_code == 200, history.text
    types = [e["type"] for e in history.json()["entries"]]
    assert "ChildRegistered" in types and "MeetingHeld" in types
    meeting = next(e for e in history.json()["entries"] if e["type"] == "MeetingHeld")
    assert meeting["sealed"] in ("opened", "sealed") and meeting["fields"]["lead_org"] == SOC
    at = h.county.now.isoformat()
    seen = client.get(f"/audit/children/{a}/as-seen", params={"org": SOC, "at": at}, headers=head)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert body["viewer_org"] == SOC and body["lead"]["id"] == SOC and body["named_person"]["id"] == BHV
    assert {f["fact_type"] for ar in body["areas"] for f in ar["facts"]} == {
        "HealthVisitRecorded", "InvestigationOpened", "AbsenceSummarised"}
    log = client.get(f"/audit/children/{a}/log", headers=head)
    assert log.status_code == 200
    assert [v.purpose for v in h.publish.views] == ["audit", "audit", "audit"]
    assert [v.parts[0] for v in h.publish.views] == ["history", "plan-as-seen", "audit-log"]
    for path in (f"/ui/audit/children/{a}/history", f"/ui/audit/children/{a}/as-seen?org={SOC}&at={at[:16]}",
                 f"/ui/audit/children/{a}/log", "/ui/audit/emergency-access"):
        r = client.get(path, cookies={"kronobarn_token": h.token(AUDITOR)})
        assert r.status_code == 200, path
    assert client.get(f"/audit/children/{a}/history", headers=h.headers(COORDINATOR_BHV)).status_code == 403


def test_the_plan_as_seen_now_is_built_from_the_same_rows_as_the_live_page(h: Harness) -> None:
    """Time travel flattens its folded plan with the projector's own ``plan_rows``: at the present
    it gives the parts the live page builds from the read model, orders included (same-day
    meetings, participants listed out of order, actions due at different dates)."""
    from services.api import views
    from services.api.store import PlanRows
    from tests.support.history import event

    a, c, at = h.county.a, h.county, h.county.now - dt.timedelta(days=1)
    h.world.apply([
        event("MeetingHeld", a, 20 + n, basis=Basis.CONSENT, org=BHV, at=at + dt.timedelta(minutes=n), plan_id=c.plan_a,
              meeting_id=uuid.uuid5(a, f"same-day-{n}"), held_on=at.date(), participant_orgs=(SOC, "skola-x", BHV),
              lead_org=None)
        for n in range(3)
    ] + [
        event("ActionAgreed", a, 30, basis=Basis.CONSENT, org=SOC, area=Area.HEALTH, at=at, plan_id=c.plan_a,
              action_id=uuid.uuid5(a, "sooner"), responsible_org=SOC, due_on=c.now.date() + dt.timedelta(days=7)),
    ])
    hub = h.app.state.hub
    def shows(writer: str | None, area: Area | None) -> bool:
        return True

    live = views.parts_of_rows(hub.reader.plan_rows(a), hub.directory, shows)
    folded = views.parts_of_rows(PlanRows.folded(h.world.states[a].plan, a), hub.directory, shows)
    assert len(live.meetings) == 4 and len(live.actions) == 2
    assert folded == live
