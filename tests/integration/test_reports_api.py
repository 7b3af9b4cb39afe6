"""Reports of concern through the web service (issue 19; DESIGN §6, STATUTORY facts): filing from
each kind of organisation, bad input refused with the reason and nothing published, the social
services' inbox and acknowledgement, the reporter's view of the status (and nothing else), a
protected child's municipality never shown to the reporter, idempotent retries, the figures, and
a filed report released under consent on the plan page.

The harness's publish port stands in for the gate (``tests.support.api.routed``: a small
reference of its routing) and for delivery (events applied to the read model here)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connectors import personnummer
from projections.read_model import concern_reports
from projections.report_figures import FigureRow, figures
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildDataViewed,
    ReportOfConcernAcknowledged,
    ReportOfConcernAssessed,
    ReportOfConcernDelivered,
    ReportOfConcernFiled,
    ReportOfConcernUndelivered,
)
from schemas.sealing import Personal
from schemas.topics import INTAKE_REPORTS, STATUTORY_SOCIAL, topic_for
from services.api.auth.tokens import Principal, Role
from tests.support.api import AUDITOR, BHV, COORDINATOR_BHV, Harness, harness, released, route_envelope
from tests.support.browser import Browser
from tests.support.history import event

# Units of the synthetic county directory, in Växjö (0780) unless said.
MHV = "SE2321000065-MHV0780"
PRESCHOOL = "skolenhet-07801001"
SCHOOL = "skolenhet-07802001"
UPPER = "skolenhet-07803001"
KAA = "kommun-0780-kaa"
SOC = "kommun-0780-soc"
SOC_ALMHULT = "kommun-0765-soc"
SCHOOL_ALMHULT = "skolenhet-07652001"


def coordinator(org: str) -> Principal:
    return Principal(f"test-{org}", Role.COORDINATOR, org, f"Samordnare {org}")


# The reference: per kind of organisation, the envelope's category and the register's reporter category.
KINDS = {BHV: ("BHV", Category.HEALTH, "HEALTH"), MHV: ("MHV", Category.HEALTH, "HEALTH"),
         PRESCHOOL: ("PRESCHOOL", Category.SCHOOL, "PRESCHOOL"), SCHOOL: ("SCHOOL", Category.SCHOOL, "SCHOOL"),
         UPPER: ("UPPER_SECONDARY", Category.SCHOOL, "SCHOOL"), KAA: ("KAA", Category.SCHOOL, "MUNICIPALITY")}
OBSERVED = "Barnet berättade att det inte vågar gå hem. Syntetisk text."


def body(**changes: Any) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    return {"observation": OBSERVED, "observed_on": (today - dt.timedelta(days=1)).isoformat(),
            "guardians_informed": False, "guardians_not_informed_why": "Kan skada barnet.",
            "reporter_role": "mentor", "reporter_contact": "0470-123 45", "acute": False, **changes}


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    made = harness(tmp_path)
    yield made
    made.app.state.hub.engine.dispose()


@pytest.fixture
def routing(tmp_path: Path) -> Iterator[Harness]:
    """Published events applied to the read model, a filed report routed as the gate would."""
    made = harness(tmp_path, applying=True)
    yield made
    made.app.state.hub.engine.dispose()


def file(h: Harness, client: TestClient, who: Principal, **changes: Any) -> Any:
    return client.post("/reports-of-concern", json=body(**changes), headers=h.headers(who))


def opened(h: Harness, event: ReportOfConcernFiled) -> ReportOfConcernFiled:
    """The event as the social services' side opens it: encoded (sealed) and decoded with the key."""
    blob = h.publish.codec.encode(event)
    assert OBSERVED.encode() not in blob  # the free text travels sealed only
    decoded = h.publish.codec.decode(blob)
    assert isinstance(decoded, ReportOfConcernFiled)
    return decoded


# -- filing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("org", list(KINDS))
def test_each_kind_of_organisation_files_a_statutory_report_to_intake_reports(h: Harness, org: str) -> None:
    client = Browser(h.app)
    who = coordinator(org)
    child = h.county.b  # in no scope of these organisations: a report needs none
    got = file(h, client, who, child_id=str(child), acute=True)
    assert got.status_code == 202, got.text
    [event] = h.publish.events  # the filing is its own record: no read is logged for it
    assert isinstance(event, ReportOfConcernFiled)
    kind, category, reporter_category = KINDS[org]
    assert topic_for(event) is INTAKE_REPORTS
    env = event.envelope
    assert (env.basis, env.category, env.area, env.child_id) == (Basis.STATUTORY, category, Area.SAFETY, child)
    assert (env.source.system, env.source.organisation_id, env.source.record_id) == (
        "kronobarn-web", org, got.json()["id"])
    assert str(env.event_id) == got.json()["event_id"]
    assert (event.reporter_category, event.reporter_municipality_code, event.acute, event.guardians_informed) == (
        reporter_category, "0780", True, False)
    sealed = opened(h, event).envelope.sealed
    assert isinstance(sealed, Personal)
    assert sealed.fields == {"observation": OBSERVED, "guardians_not_informed_why": "Kan skada barnet.",
                             "reporter_name": f"Samordnare {org}", "reporter_role": "mentor",
                             "reporter_contact": "0470-123 45", "personnummer": h.county.personnummer(child)}


def test_a_report_by_personnummer_is_about_the_child_with_that_number(h: Harness) -> None:
    client = Browser(h.app)
    pnr = h.county.personnummer(h.county.c)
    got = file(h, client, coordinator(SCHOOL), personnummer=pnr[2:].replace("-", ""))  # 10 digits, as typed
    assert got.status_code == 202, got.text
    [event] = h.publish.events
    assert event.child_id == h.county.c
    assert opened(h, event).envelope.sealed.fields["personnummer"] == pnr  # type: ignore[union-attr]
    assert pnr not in got.text


def unused_personnummer() -> str:
    from connectors import personnummer

    return personnummer.make(dt.date(2015, 3, 9), 931)  # valid, and no child of the county has it


BAD = {
    "no observation": ({"observation": None}, 422, "observation"),
    "blank observation": ({"observation": "   "}, 422, "observation must not be blank"),
    "future date": ({"observed_on": (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()}, 422,
                    "lies in the future"),
    "not informed, no why": ({"guardians_not_informed_why": None}, 422, "guardians_not_informed_why is required"),
    "no contact": ({"reporter_contact": ""}, 422, "reporter_contact"),
    "both child and number": ({"personnummer": "PNR"}, 422, "not both"),
    "no child at all": ({"child_id": None}, 422, "give the child"),
    "malformed personnummer": ({"child_id": None, "personnummer": "12345"}, 422, "personnummer:"),
    "unknown personnummer": ({"child_id": None, "personnummer": "UNUSED"}, 404, "no child known to the hub has this "
                                                                                "personnummer"),
    "unknown child id": ({"child_id": str(uuid.UUID(int=9999, version=4))}, 404, "no child known to the hub has "
                                                                                  "this id"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_with_the_reason_and_nothing_is_published(h: Harness, case: str) -> None:
    client = Browser(h.app)
    changes, status, reason = BAD[case]
    given = {"child_id": str(h.county.b), **changes}
    if given.get("personnummer") == "PNR":
        given["personnummer"] = h.county.personnummer(h.county.b)
    if given.get("personnummer") == "UNUSED":
        given["personnummer"] = unused_personnummer()
    sent = {k: v for k, v in body(**given).items() if v is not None}
    got = client.post("/reports-of-concern", json=sent, headers=h.headers(coordinator(SCHOOL)))
    assert got.status_code == status, got.text
    assert any(reason in r for r in got.json()["reasons"]), got.json()["reasons"]
    assert h.publish.events == []


@pytest.mark.parametrize("who, reason", [(coordinator(SOC), "social services do not file"),
                                         (AUDITOR, "only a coordinator"),
                                         (coordinator("skola-utanfor-lanet"), "not a participating organisation")])
def test_social_services_auditors_and_unknown_organisations_may_not_file(h: Harness, who: Principal,
                                                                          reason: str) -> None:
    got = file(h, Browser(h.app), who, child_id=str(h.county.b))
    assert got.status_code == 403, got.text
    assert any(reason in r for r in got.json()["reasons"])
    assert h.publish.events == []


def test_no_report_about_an_erased_child(h: Harness) -> None:
    h.app.state.hub.keystore.erase(h.county.b)
    got = file(h, Browser(h.app), coordinator(SCHOOL), child_id=str(h.county.b))
    assert got.status_code == 422, got.text
    assert got.json()["reasons"] == ["the child's data has been erased; nothing new can be recorded"]
    assert h.publish.events == []


@pytest.mark.parametrize("days_to_18", [1, 0], ids=["the day before the 18th birthday", "the 18th birthday"])
def test_a_report_of_concern_is_about_a_child_until_the_18th_birthday(routing: Harness, days_to_18: int) -> None:
    """SoL 14 kap. 1 §: a report of concern is about a child. The reference here: on the Swedish
    day of the 18th birthday the young person is an adult."""
    h, client = routing, Browser(routing.app)
    today = dt.datetime.now(ZoneInfo("Europe/Stockholm")).date()
    eighteenth = today + dt.timedelta(days=days_to_18)
    born = dt.date(eighteenth.year - 18, eighteenth.month, min(eighteenth.day, 28 if eighteenth.month == 2 else 31))
    young = uuid.uuid5(h.county.a, f"young-{days_to_18}")
    h.world.apply([event("ChildRegistered", young, 1, basis=Basis.DIRECTORY, org="navet",
                         at=h.county.now - dt.timedelta(days=1), birth_date=born, municipality_code="0780",
                         sealed=Personal({"personnummer": personnummer.make(born, 951), "given_name": "Unga",
                                          "family_name": "Testsson"}))])
    got = file(h, client, coordinator(SCHOOL), child_id=str(young))
    if days_to_18:
        assert got.status_code == 202, got.text
        assert [type(e) for e in h.publish.events] == [ReportOfConcernFiled]
    else:
        assert got.status_code == 422, got.text
        assert got.json()["reasons"] == ["a report of concern is about a child, and this person is 18 or older: "
                                         "contact the social services directly"]
        assert not [e for e in h.publish.events if isinstance(e, ReportOfConcernFiled)]


# -- the inbox, opening and acknowledgement -------------------------------------------------------------

def filed(h: Harness, client: TestClient, who: Principal, child: uuid.UUID, **changes: Any) -> tuple[str, Any]:
    got = file(h, client, who, child_id=str(child), **changes)
    assert got.status_code == 202, got.text
    return got.json()["id"], next(e for e in h.publish.of(ReportOfConcernFiled) if str(e.event_id) ==
                                  got.json()["event_id"])


def listed(h: Harness, client: TestClient, who: Principal) -> dict[str, Any]:
    got = client.get("/reports-of-concern", headers=h.headers(who))
    assert got.status_code == 200, got.text
    return got.json()


def test_only_the_routes_social_services_see_open_and_acknowledge_a_report(routing: Harness) -> None:
    h, client = routing, Browser(routing.app)
    school, bhv, soc = coordinator(SCHOOL), COORDINATOR_BHV, coordinator(SOC)
    urgent, urgent_event = filed(h, client, bhv, h.county.b, acute=True)
    calm, _ = filed(h, client, school, h.county.a)  # the newer, but not acute

    inbox = listed(h, client, soc)
    assert inbox["view"] == "inbox"
    assert [(r["report_id"], r["acute"], r["unread"]) for r in inbox["reports"]] == [
        (urgent, True, True), (calm, False, True)]  # acute first, both unread
    assert inbox["unread"] == 2
    for r in inbox["reports"]:
        assert r["municipality_code"] == "0780"
    listed_reads = {(v.child_id, v.purpose, v.parts) for v in h.publish.views}
    assert listed_reads == {(h.county.a, "report-of-concern", ("reports-of-concern",)),
                            (h.county.b, "report-of-concern", ("reports-of-concern",))}

    # Anyone but the route's social services and the reporter: as if there were no report.
    for outsider in (coordinator(SOC_ALMHULT), coordinator(SCHOOL_ALMHULT), coordinator(KAA), school):
        assert client.get(f"/reports-of-concern/{urgent}", headers=h.headers(outsider)).status_code == 404
        ack = client.post(f"/reports-of-concern/{urgent}/acknowledgement", headers=h.headers(outsider))
        assert ack.status_code == 404
    assert listed(h, client, coordinator(SOC_ALMHULT))["reports"] == []
    assert client.get(f"/reports-of-concern/{urgent}", headers=h.headers(AUDITOR)).status_code == 403
    # The reporter may open its own report, but not acknowledge it.
    ack = client.post(f"/reports-of-concern/{urgent}/acknowledgement", headers=h.headers(bhv))
    assert ack.status_code == 403
    assert h.publish.of(ReportOfConcernAcknowledged) == []

    h.publish.events.clear()
    one = client.get(f"/reports-of-concern/{urgent}", headers=h.headers(soc))
    assert one.status_code == 200, one.text
    content = one.json()["content"]
    assert (content["observation"], content["personnummer"], content["reporter_role"]) == (
        OBSERVED, h.county.personnummer(h.county.b), "mentor")
    assert [(v.child_id, v.purpose, v.parts, v.organisation_id) for v in h.publish.views] == [
        (h.county.b, "report-of-concern", ("report-of-concern", "identity"), SOC)]
    assert [(r["report_id"], r["unread"]) for r in listed(h, client, soc)["reports"]] == [
        (urgent, False), (calm, True)]

    first = client.post(f"/reports-of-concern/{urgent}/acknowledgement", headers=h.headers(soc))
    again = client.post(f"/reports-of-concern/{urgent}/acknowledgement", headers=h.headers(soc))
    assert (first.status_code, again.status_code) == (202, 202)
    [ack_event] = h.publish.of(ReportOfConcernAcknowledged)  # the double click published nothing more
    assert isinstance(ack_event, ReportOfConcernAcknowledged)
    assert topic_for(ack_event) is STATUTORY_SOCIAL
    assert (ack_event.report_event_id, ack_event.acknowledged_by_org, ack_event.child_id) == (
        urgent_event.event_id, SOC, h.county.b)
    assert ack_event.envelope.source.organisation_id == SOC
    assert again.json()["moot"] is not None


def deliver(h: Harness, event: ReportOfConcernFiled, *, assessed: bool | None = None,
            refused: str | None = None) -> None:
    """What the delivery into the register and its decision would add to the route."""
    at = dt.datetime.now(dt.UTC)
    env = lambda kind: route_envelope(kind, event, event.event_id, at)  # noqa: E731
    if refused is not None:
        h.world.apply([ReportOfConcernUndelivered(envelope=env(ReportOfConcernUndelivered),
                                                  report_event_id=event.event_id, reason=refused)])
        return
    out: list[Any] = [ReportOfConcernDelivered(envelope=env(ReportOfConcernDelivered), report_event_id=event.event_id,
                                               municipality_code="0780", register_case_id="SOC-2026-77")]
    if assessed is not None:
        out.append(ReportOfConcernAssessed(envelope=env(ReportOfConcernAssessed), report_event_id=event.event_id,
                                           investigation_opened=assessed, decided_on=at.date()))
    h.world.apply(out)


def test_the_reporter_sees_the_status_the_acknowledgement_and_the_investigation_flag_and_nothing_else(
        routing: Harness) -> None:
    h, client = routing, Browser(routing.app)
    school = coordinator(SCHOOL)
    first, first_event = filed(h, client, school, h.county.a)
    second, second_event = filed(h, client, school, h.county.d)
    third, _ = filed(h, client, school, h.county.c)
    by_id = {r["report_id"]: r for r in listed(h, client, school)["reports"]}
    assert {k: r["status"] for k, r in by_id.items()} == {first: "routed", second: "routed", third: "routed"}

    deliver(h, first_event, assessed=True)
    deliver(h, second_event, refused="the register did not answer (OperationalError); gave up after 8 attempts")
    assert client.post(f"/reports-of-concern/{first}/acknowledgement",
                       headers=h.headers(coordinator(SOC))).status_code == 202

    mine = listed(h, client, school)
    assert mine["view"] == "filed"
    by_id = {r["report_id"]: r for r in mine["reports"]}
    a, d = by_id[first], by_id[second]
    assert (a["status"], a["investigation_opened"], a["acknowledged_by"]["id"]) == ("acknowledged", True, SOC)
    assert a["acknowledged_at"] is not None and a["delivered_at"] is not None
    assert (d["status"], d["undelivered_reason"], d["investigation_opened"]) == (
        "undelivered", "the register did not answer (OperationalError); gave up after 8 attempts", None)
    for r in by_id.values():  # nothing of the social services' case
        assert (r["register_case_id"], r["decided_on"], r["unread"]) == (None, None, None)
    mine_opened = client.get(f"/reports-of-concern/{first}", headers=h.headers(school)).json()
    assert (mine_opened["register_case_id"], mine_opened["decided_on"]) == (None, None)
    assert mine_opened["content"]["observation"] == OBSERVED
    theirs = client.get(f"/reports-of-concern/{first}", headers=h.headers(coordinator(SOC))).json()
    assert theirs["register_case_id"] == "SOC-2026-77"  # the social services see their own case id
    # Another organisation's reporter list holds none of the school's reports.
    assert listed(h, client, coordinator(PRESCHOOL))["reports"] == []

    page = client.get("/ui/reports-of-concern", headers=h.headers(school))
    assert page.status_code == 200
    assert "kvitterad av socialtjänsten" in page.text and "ja, utredning inledd" in page.text
    # The reason in Swedish, for the reporter who must now reach the social services another way.
    assert "socialtjänstens register svarade inte (OperationalError); gav upp efter 8 försök" in page.text
    assert "SOC-2026-77" not in page.text


def test_the_reporter_never_sees_the_municipality_of_a_protected_child(routing: Harness) -> None:
    h, client = routing, Browser(routing.app)
    p, _, events = h.county.protected_child()
    h.world.apply(events)
    school = coordinator(SCHOOL)
    got = file(h, client, school, personnummer=h.county.personnummer(p))
    assert got.status_code == 202, got.text
    report = got.json()["id"]
    hidden = ("Älmhult", h.county.MOVED_TO, "Alvesta", h.county.PROTECTED_MUNICIPALITY)
    for shown in (got.text, client.get("/reports-of-concern", headers=h.headers(school)).text,
                  client.get(f"/reports-of-concern/{report}", headers=h.headers(school)).text,
                  client.get("/ui/reports-of-concern", headers=h.headers(school)).text,
                  client.get(f"/ui/reports-of-concern/{report}", headers=h.headers(school)).text):
        for place in hidden:
            assert place not in shown
    [mine] = listed(h, client, school)["reports"]
    assert mine["municipality_code"] is None
    # Nor the child's personnummer, once filed: the reporter may not be entitled to it (DESIGN §7).
    mine_opened = client.get(f"/reports-of-concern/{report}", headers=h.headers(school)).json()
    assert (mine_opened["content"]["personnummer"], mine_opened["content"]["observation"]) == (None, OBSERVED)
    assert h.county.personnummer(p) not in client.get(f"/ui/reports-of-concern/{report}",
                                                      headers=h.headers(school)).text
    # The register's municipality got it, and its social services see where.
    [theirs] = listed(h, client, coordinator(SOC_ALMHULT))["reports"]
    assert (theirs["report_id"], theirs["municipality_code"]) == (report, h.county.MOVED_TO)
    opened_there = client.get(f"/reports-of-concern/{report}", headers=h.headers(coordinator(SOC_ALMHULT))).json()
    assert opened_there["content"]["personnummer"] == h.county.personnummer(p)
    assert listed(h, client, coordinator(SOC))["reports"] == []


def test_a_retry_with_the_same_report_id_files_one_report(routing: Harness, tmp_path: Path) -> None:
    h, client = routing, Browser(routing.app)
    report_id = str(uuid.uuid4())
    first = file(h, client, coordinator(SCHOOL), child_id=str(h.county.a), report_id=report_id)
    again = file(h, client, coordinator(SCHOOL), child_id=str(h.county.a), report_id=report_id)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["id"] == again.json()["id"] == report_id
    assert first.json()["event_id"] == again.json()["event_id"]
    assert len(h.publish.of(ReportOfConcernFiled)) == 1
    with h.app.state.hub.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(concern_reports)).scalar_one() == 1
    taken = file(h, client, coordinator(PRESCHOOL), child_id=str(h.county.a), report_id=report_id)
    assert taken.status_code == 422
    assert taken.json()["reasons"] == ["report_id is already the id of another report"]


def test_a_retry_before_routing_is_the_same_event(h: Harness) -> None:
    """Not routed yet (nothing in the read model): published again, under the same event id."""
    client = Browser(h.app)
    report_id = str(uuid.uuid4())
    for _ in range(2):
        assert file(h, client, coordinator(SCHOOL), child_id=str(h.county.a), report_id=report_id).status_code == 202
    ids = {e.event_id for e in h.publish.of(ReportOfConcernFiled)}
    assert len(ids) == 1


# -- the figures ----------------------------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def row(code: str | None, category: str | None, hub: bool, ack_hours: float | None = None,
        delivered: bool = False, routed: bool = True) -> FigureRow:
    return FigureRow(code, category, hub, T0 if routed else None, T0 if hub else None,
                     T0 if delivered else None, None if ack_hours is None else T0 + dt.timedelta(hours=ack_hours))


def test_the_figures_against_a_small_reference() -> None:
    rows = [
        row("0780", "SCHOOL", True, 2, delivered=True), row("0780", "SCHOOL", True, 10, delivered=True),
        row("0780", "HEALTH", True, 4, delivered=True), row("0780", "HEALTH", True),
        row("0780", "POLICE", False),  # read from the register: counted, never "filed in the hub"
        row("0765", "SCHOOL", True, 1, delivered=True), row("0765", "PRESCHOOL", False),
        row("0780", "SCHOOL", True, 99, delivered=True, routed=False),  # not routed yet: not counted
    ]
    found = figures(rows)
    assert found.by_category == {("0765", "PRESCHOOL"): 1, ("0765", "SCHOOL"): 1, ("0780", "HEALTH"): 2,
                                 ("0780", "POLICE"): 1, ("0780", "SCHOOL"): 2}
    vaxjo, almhult, total = found.by_municipality["0780"], found.by_municipality["0765"], found.total
    assert (vaxjo.reports, vaxjo.filed_in_hub, vaxjo.delivered, vaxjo.acknowledged) == (5, 4, 3, 3)
    assert (vaxjo.hours_median, vaxjo.hours_p90) == (4.0, 10.0)  # of 2, 4, 10
    assert (almhult.reports, almhult.filed_in_hub, almhult.acknowledged, almhult.hours_median) == (2, 1, 1, 1.0)
    assert (total.reports, total.acknowledged, total.hours_median, total.hours_p90) == (7, 4, 3.0, 10.0)  # 1,2,4,10
    hours = [float(h) for h in range(1, 21)]  # nearest rank: the 18th of 20
    many = figures([row("0780", "SCHOOL", True, h) for h in hours]).total
    assert (many.hours_median, many.hours_p90) == (10.5, 18.0)
    assert math.isclose(many.hours_median or 0, (10 + 11) / 2)
    six = figures([row("0780", "SCHOOL", True, h) for h in (6.0, 1.0, 5.0, 2.0, 4.0, 3.0)]).total
    assert (six.hours_median, six.hours_p90) == (3.5, 6.0)  # 90% of 6 is 5.4: the 6th value


def test_the_figures_are_for_the_regions_auditors_and_administrators(routing: Harness) -> None:
    from tests.support.api import ADMINISTRATOR

    h, client = routing, Browser(routing.app)
    filed(h, client, coordinator(SCHOOL), h.county.a)
    got = client.get("/reports-of-concern/figures", headers=h.headers(AUDITOR))
    assert got.status_code == 200, got.text
    assert got.json()["total"]["reports"] == 1 and got.json()["total"]["filed_in_hub"] == 1
    assert got.json()["by_category"] == [{"municipality_code": "0780", "reporter_category": "SCHOOL", "reports": 1}]
    assert client.get("/reports-of-concern/figures", headers=h.headers(ADMINISTRATOR)).status_code == 200
    assert client.get("/ui/reports-of-concern/figures", headers=h.headers(AUDITOR)).status_code == 200
    for who in (coordinator(SOC), COORDINATOR_BHV):
        assert client.get("/reports-of-concern/figures", headers=h.headers(who)).status_code == 403


# -- a filed report in the plan, under consent -----------------------------------------------------------

def test_a_filed_report_released_under_consent_shows_on_the_plan_page(routing: Harness) -> None:
    h, client = routing, Browser(routing.app)
    _, event = filed(h, client, coordinator(SCHOOL), h.county.a)
    at = dt.datetime.now(dt.UTC)
    h.world.apply([released(event, (h.county.consent_a,), h.publish.codec, at)])
    page = client.get(f"/ui/children/{h.county.a}", headers=h.headers(COORDINATOR_BHV))
    assert page.status_code == 200, page.text
    assert "Orosanmälan gjord via tjänsten" in page.text
    assert OBSERVED not in page.text  # the plan shows the fact, not the sealed report
    plan = client.get(f"/children/{h.county.a}", headers=h.headers(COORDINATOR_BHV)).json()
    labels = [f["label"] for a in plan["areas"] for f in a["facts"]]
    assert "Orosanmälan gjord via tjänsten" in labels
    assert ChildDataViewed in {type(e) for e in h.publish.events}


# -- the pages --------------------------------------------------------------------------------------------

def test_the_pages_file_from_the_childs_page_and_refuse_in_swedish(routing: Harness) -> None:
    h, client = routing, Browser(routing.app)
    client.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    a = h.county.a
    assert f'href="/ui/reports-of-concern/new?barn={a}"' in client.get(f"/ui/children/{a}").text
    form = client.get(f"/ui/reports-of-concern/new?barn={a}")
    assert form.status_code == 200 and f'name="child_id" value="{a}"' in form.text
    assert 'name="personnummer"' not in form.text  # the child is chosen: no number asked
    report_id = str(uuid.uuid4())
    posted = {"child_id": str(a), "report_id": report_id, "observation": " ", "observed_on": "2026-11-01",
              "acute": "nej", "guardians_informed": "nej", "reporter_role": "BVC-sjuksköterska",
              "reporter_contact": "0470-1"}
    refused = client.post("/ui/reports-of-concern", data=posted, follow_redirects=False)
    assert refused.status_code == 422
    assert "vad du har sett får inte vara tomt" in refused.text
    assert "ange varför vårdnadshavarna inte har informerats" in refused.text
    assert f'name="report_id" value="{report_id}"' in refused.text  # the same report when sent again
    assert h.publish.of(ReportOfConcernFiled) == []

    done = client.post("/ui/reports-of-concern", data={**posted, "observation": OBSERVED, "guardians_informed": "ja"},
                       follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/ui/reports-of-concern?klart=report")
    [event] = h.publish.of(ReportOfConcernFiled)
    assert (event.child_id, str(event.report_id), event.acute, event.guardians_informed) == (a, report_id, False, True)
    assert "Orosanmälan är mottagen." in client.get("/ui/reports-of-concern?klart=report").text

    unknown = unused_personnummer()
    by_number = {k: v for k, v in posted.items() if k != "child_id"} | {
        "personnummer": unknown, "observation": OBSERVED, "guardians_informed": "ja", "report_id": str(uuid.uuid4())}
    missing = client.post("/ui/reports-of-concern", data=by_number, follow_redirects=False)
    assert missing.status_code == 422 and "inget barn i tjänsten har det personnumret" in missing.text
    assert unknown not in missing.text and unknown[2:] not in missing.text  # never shown back

    client.cookies.set("kronobarn_token", h.token(coordinator(SOC)))
    refused_social = client.get("/ui/reports-of-concern/new")
    assert refused_social.status_code == 403 and "socialtjänsten gör inte orosanmälningar" in refused_social.text
