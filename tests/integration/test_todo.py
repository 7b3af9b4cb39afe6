"""The coordinator's to-do list (``GET /todo``, ``/ui/att-gora``) on a real (SQLite) read model,
and the reminders by e-mail into a local SMTP server (aiosmtpd).

The state is the test county's (``tests.support.api``: child A with a plan BHV opened and SOC
leads, consent to BHV, SOC and SCHOOL; child D whose plan SCHOOL opened, no lead), with plan
events of these tests folded in as the projector would. Each test adds its own events, with its
own ids, so the tests hold in any order on one module-wide hub.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from projections.consent_rules import swedish_day
from schemas.events import (
    ActionStatus,
    Area,
    Basis,
    ChildDataViewed,
    FollowUpOutcome,
    InvitationAnswer,
    ReportOfConcernAcknowledged,
)
from schemas.sealing import Personal
from services.api import todo
from services.county import SYNTHETIC_COUNTY, load_county_directory
from services.reminders import sending
from services.settings import Settings
from tests.support.api import (
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
    route_envelope,
    routed,
)
from tests.support.history import event
from tests.support.reports import filed

C = Basis.CONSENT
KAA_COORDINATOR = replace(COORDINATOR_OUTSIDE, subject="test-kaa", organisation_id=KAA)
# Free text the tests put in the plan: none of it may reach a to-do item or a reminder.
SECRET_TEXTS = ("Hemlig insats om sömnen", "Behov av ro hemma", "Rum 12 på Testgatan", "Frågan om skolan",
                "Uppföljningens hemliga text", "Mormor Testsson kommer")


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    made = harness(tmp_path_factory.mktemp("todo"))
    yield made
    made.app.state.hub.engine.dispose()


@pytest.fixture(scope="module")
def client(h: Harness) -> TestClient:
    return TestClient(h.app)


def today(h: Harness) -> dt.date:
    return swedish_day(h.app.state.hub.now())


def listed(h: Harness, client: TestClient, who: Any) -> dict[str, Any]:
    r = client.get("/todo", headers=h.headers(who))
    assert r.status_code == 200, r.text
    return r.json()


def ids(items: list[dict[str, Any]], key: str) -> set[str]:
    return {i[key] for i in items}


# -- follow-ups ------------------------------------------------------------------------------------

def test_an_overdue_follow_up_is_on_the_lead_organisations_list_and_no_one_elses(h: Harness,
                                                                                 client: TestClient) -> None:
    a, d, day = h.county.a, h.county.d, today(h)
    overdue, soon, later, held, opener = (uuid.uuid5(a, "todo-f-overdue"), uuid.uuid5(a, "todo-f-soon"),
                                          uuid.uuid5(a, "todo-f-later"), uuid.uuid5(a, "todo-f-held"),
                                          uuid.uuid5(d, "todo-f-opener"))
    scheduled = [(a, h.county.plan_a, overdue, day - dt.timedelta(days=3), 101),
                 (a, h.county.plan_a, soon, day + dt.timedelta(days=7), 102),
                 (a, h.county.plan_a, later, day + dt.timedelta(days=8), 103),
                 (a, h.county.plan_a, held, day - dt.timedelta(days=1), 104),
                 (d, h.county.plan_d, opener, day + dt.timedelta(days=2), 105)]
    h.world.apply([
        *[event("FollowUpScheduled", child, n, basis=C, org=SOC, plan_id=plan, follow_up_id=f, due_on=due,
                at=h.county.now, sealed=Personal({"what": SECRET_TEXTS[4]}))
          for child, plan, f, due, n in scheduled],
        event("FollowUpHeld", a, 106, basis=C, org=SOC, at=h.county.now, plan_id=h.county.plan_a, follow_up_id=held,
              held_on=day - dt.timedelta(days=1), outcome=FollowUpOutcome.CONTINUED,
              sealed=Personal({"summary": SECRET_TEXTS[4]})),
    ])

    lead = {f["follow_up_id"]: f for f in listed(h, client, COORDINATOR_SOC)["follow_ups"]}
    # The reference, from the rule's text: due within 7 days or overdue, not held, in plans SOC leads.
    assert {str(overdue), str(soon)} <= set(lead)
    assert str(later) not in lead and str(held) not in lead and str(opener) not in lead
    assert lead[str(overdue)]["overdue"] is True and lead[str(soon)]["overdue"] is False
    assert lead[str(overdue)]["link"] == f"/ui/children/{a}" and lead[str(overdue)]["child_id"] == str(a)

    named_person = ids(listed(h, client, COORDINATOR_BHV)["follow_ups"], "follow_up_id")
    assert str(overdue) not in named_person and str(soon) not in named_person  # BHV is named person, not lead
    # D has no lead yet: the organisation that opened its plan holds its follow-ups.
    assert str(opener) in ids(listed(h, client, COORDINATOR_SCHOOL)["follow_ups"], "follow_up_id")
    assert listed(h, client, COORDINATOR_OUTSIDE)["total"] == 0


# -- actions -----------------------------------------------------------------------------------------

def test_an_action_past_due_is_on_its_responsible_organisations_list_until_it_is_done(
        h: Harness, client: TestClient) -> None:
    a, day = h.county.a, today(h)
    late, done, ongoing = uuid.uuid5(a, "todo-a-late"), uuid.uuid5(a, "todo-a-done"), uuid.uuid5(a, "todo-a-ongoing")
    agreed = [(late, BHV, 2, 111), (done, BHV, 5, 112), (ongoing, SOC, 1, 113)]
    h.world.apply([
        *[event("ActionAgreed", a, n, basis=C, org=SOC, area=Area.HEALTH, at=h.county.now, plan_id=h.county.plan_a,
                action_id=action, responsible_org=org, due_on=day - dt.timedelta(days=days),
                sealed=Personal({"need": SECRET_TEXTS[1], "what": SECRET_TEXTS[0]}))
          for action, org, days, n in agreed],
        event("ActionStatusChanged", a, 114, basis=C, org=BHV, at=h.county.now, plan_id=h.county.plan_a,
              action_id=done, status=ActionStatus.DONE, changed_on=day - dt.timedelta(days=1)),
        event("ActionStatusChanged", a, 115, basis=C, org=SOC, at=h.county.now, plan_id=h.county.plan_a,
              action_id=ongoing, status=ActionStatus.ONGOING, changed_on=day - dt.timedelta(days=3)),
    ])

    bhv = {x["action_id"]: x for x in listed(h, client, COORDINATOR_BHV)["overdue_actions"]}
    assert str(late) in bhv and str(done) not in bhv and str(ongoing) not in bhv
    assert bhv[str(late)] | {"link": None} == {
        "child_id": str(a), "link": None, "action_id": str(late), "area": "health",
        "due_on": (day - dt.timedelta(days=2)).isoformat(), "status": "agreed"}
    soc = {x["action_id"]: x for x in listed(h, client, COORDINATOR_SOC)["overdue_actions"]}
    assert str(ongoing) in soc and soc[str(ongoing)]["status"] == "ongoing" and str(late) not in soc
    # A's own action from the county (due in 60 days) is not late.
    assert str(h.county.action_a) not in bhv


# -- kallelser --------------------------------------------------------------------------------------

def test_a_kallelse_is_to_answer_for_the_invited_until_they_answer(h: Harness, client: TestClient) -> None:
    a = h.county.a
    meeting, starts = uuid.uuid5(a, "todo-m-ahead"), h.county.now + dt.timedelta(days=10)
    h.world.apply([event("MeetingInvited", a, 121, basis=C, org=SOC, at=h.county.now, plan_id=h.county.plan_a,
                         meeting_id=meeting, starts_at=starts, invited_orgs=(BHV, SCHOOL, KAA), child_invited=True,
                         guardians_invited=True,
                         sealed=Personal({"place": SECRET_TEXTS[2], "questions": SECRET_TEXTS[3],
                                          "invited_people": SECRET_TEXTS[5]}))])

    def to_answer(who: Any) -> set[str]:
        return ids(listed(h, client, who)["to_answer"], "meeting_id")

    assert str(meeting) in to_answer(COORDINATOR_BHV) and str(meeting) in to_answer(COORDINATOR_SCHOOL)
    assert str(meeting) not in to_answer(COORDINATOR_SOC)  # it called the meeting
    # Invited, but no consent lists KAA: it may not open A, so the kallelse is not shown to it.
    assert listed(h, client, KAA_COORDINATOR)["total"] == 0
    assert listed(h, client, COORDINATOR_OUTSIDE)["total"] == 0
    item = next(i for i in listed(h, client, COORDINATOR_BHV)["to_answer"] if i["meeting_id"] == str(meeting))
    assert item["called_by"]["id"] == SOC and item["invited"] is True and item["answer"] is None

    h.world.apply([event("InvitationAnswered", a, 122, basis=C, org=BHV, at=h.county.now, plan_id=h.county.plan_a,
                         meeting_id=meeting, invitee_org=BHV, answer=InvitationAnswer.COMING)])
    assert str(meeting) not in to_answer(COORDINATOR_BHV)
    assert str(meeting) in to_answer(COORDINATOR_SCHOOL)  # the others still have to answer


def test_this_weeks_meetings_are_the_invited_and_the_callers(h: Harness, client: TestClient) -> None:
    a, now = h.county.a, h.app.state.hub.now()
    week = todo.Week.of(now)
    inside = max(week.starts, now - dt.timedelta(hours=1))  # this week, already begun (in its first hour too)
    next_week = week.ends + dt.timedelta(hours=1)
    this, later = uuid.uuid5(a, "todo-m-this-week"), uuid.uuid5(a, "todo-m-next-week")
    h.world.apply([event("MeetingInvited", a, n, basis=C, org=BHV, at=h.county.now, plan_id=h.county.plan_a,
                         meeting_id=m, starts_at=at, invited_orgs=(SOC,), child_invited=False, guardians_invited=True,
                         sealed=Personal({"not_invited_why": SECRET_TEXTS[1]}))
                   for m, at, n in ((this, inside, 131), (later, next_week, 132))])

    for who in (COORDINATOR_BHV, COORDINATOR_SOC):  # the caller and the invited
        found = listed(h, client, who)
        assert str(this) in ids(found["this_week"], "meeting_id")
        assert str(later) not in ids(found["this_week"], "meeting_id")
        assert found["week_starts"] == week.monday.isoformat() and dt.date.fromisoformat(found["week_ends"]).weekday() == 6
    assert str(this) not in ids(listed(h, client, COORDINATOR_SOC)["to_answer"], "meeting_id")  # begun already
    assert str(this) not in ids(listed(h, client, COORDINATOR_SCHOOL)["this_week"], "meeting_id")  # not invited


# -- reports of concern -----------------------------------------------------------------------------------

def test_a_report_routed_to_the_social_services_is_on_their_list_until_acknowledged(h: Harness,
                                                                                    client: TestClient) -> None:
    at = h.county.now
    report = filed(h.county.a, 901, BHV, "BHV", "0780", h.county.personnummer(h.county.a), at)
    elsewhere = filed(h.county.d, 902, BHV, "BHV", "0780", h.county.personnummer(h.county.d), at)
    codec = h.app.state.hub.codec
    h.world.apply([routed(report, codec.encode(report), "0780", at),
                   routed(elsewhere, codec.encode(elsewhere), "0764", at)])  # another municipality's
    soc = {r["report_id"]: r for r in listed(h, client, COORDINATOR_SOC)["reports"]}
    # The reference: routed to Växjö (SOC's municipality), not acknowledged.
    assert str(report.report_id) in soc and str(elsewhere.report_id) not in soc
    assert soc[str(report.report_id)]["link"] == f"/ui/reports-of-concern/{report.report_id}"
    assert listed(h, client, COORDINATOR_BHV)["reports"] == []  # the reporter acknowledges nothing

    h.world.apply([ReportOfConcernAcknowledged(
        envelope=route_envelope(ReportOfConcernAcknowledged, report, report.event_id, at, SOC),
        report_event_id=report.event_id, acknowledged_by_org=SOC)])
    assert str(report.report_id) not in ids(listed(h, client, COORDINATOR_SOC)["reports"], "report_id")


# -- the page and the access log -----------------------------------------------------------------------

def test_the_page_and_the_list_show_ids_and_dates_only_and_log_each_child(h: Harness, client: TestClient) -> None:
    a = h.county.a
    h.world.apply([event("ActionAgreed", a, 141, basis=C, org=SOC, area=Area.HOME, at=h.county.now,
                         plan_id=h.county.plan_a, action_id=uuid.uuid5(a, "todo-page"), responsible_org=BHV,
                         due_on=today(h) - dt.timedelta(days=9),
                         sealed=Personal({"need": SECRET_TEXTS[1], "what": SECRET_TEXTS[0]}))])
    before = len(h.publish.views)
    found = client.get("/todo", headers=h.headers(COORDINATOR_BHV))
    logged = h.publish.views[before:]
    assert found.status_code == 200
    assert {v.child_id for v in logged} == {uuid.UUID(i["child_id"]) for i in
                                            found.json()["overdue_actions"] + found.json()["to_answer"]
                                            + found.json()["this_week"] + found.json()["follow_ups"]}
    assert all(isinstance(v, ChildDataViewed) and v.parts == todo.TODO_PARTS for v in logged)

    browser = TestClient(h.app)
    browser.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    page = browser.get("/ui/att-gora")
    assert page.status_code == 200, page.text
    assert f'href="/ui/children/{a}"' in page.text and str(a)[:8] in page.text and "Försenade insatser" in page.text
    identity = h.county.identity(a)
    shown = [identity["personnummer"], identity["given_name"], identity["family_name"], identity["address"],
             *h.county.guardian_names(a).values(), *SECRET_TEXTS]
    for text in (page.text, found.text):
        assert not [s for s in shown if s in text]
    browser.cookies.set("kronobarn_token", h.token(COORDINATOR_OUTSIDE))
    empty = browser.get("/ui/att-gora")
    assert empty.status_code == 200 and "0 saker att göra" in empty.text and "/ui/children/" not in empty.text


def test_an_auditor_has_no_to_do_list(h: Harness, client: TestClient) -> None:
    assert client.get("/todo", headers=h.headers(AUDITOR)).status_code == 403
    assert client.get("/todo").status_code == 401


# -- reminders by e-mail ---------------------------------------------------------------------------------

class Sink:
    """An SMTP server's handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def county_with_mailboxes(**mailboxes: str) -> Any:
    county = load_county_directory(SYNTHETIC_COUNTY)
    units = tuple(replace(o, reminder_email=mailboxes.get(o.id)) for o in county.organisations)
    return replace(county, organisations=units)


def mail_settings(port: int) -> Settings:
    return Settings(_env_file=None, smtp_host="127.0.0.1", smtp_port=port, smtp_from="kronobarn@hub.example",  # type: ignore[call-arg]
                    public_url="https://barnensbasta.example/")


def test_one_mail_reaches_the_organisation_with_things_to_do_and_it_holds_only_the_count_and_the_link(
        h: Harness, sink: tuple[Sink, int]) -> None:
    handler, port = sink
    a = h.county.a
    h.world.apply([event("ActionAgreed", a, 151, basis=C, org=SOC, area=Area.CARE, at=h.county.now,
                         plan_id=h.county.plan_a, action_id=uuid.uuid5(a, "todo-mail"), responsible_org=BHV,
                         due_on=today(h) - dt.timedelta(days=4),
                         sealed=Personal({"need": SECRET_TEXTS[1], "what": SECRET_TEXTS[0]}))])
    county = county_with_mailboxes(**{BHV: "bvc.vaxjo@region.example", OUTSIDER: "bvc.ljungby@region.example"})
    now = h.app.state.hub.now()
    count = todo.collect(h.app.state.hub.engine, h.app.state.hub.directory, h.app.state.hub.fact_codec, BHV, now).total
    assert count > 0 and todo.collect(h.app.state.hub.engine, h.app.state.hub.directory, h.app.state.hub.fact_codec,
                                      OUTSIDER, now).total == 0
    lines: list[str] = []

    outcome = sending.send_reminders(mail_settings(port), h.app.state.hub.engine, county, now, lines.append)

    assert outcome.sent == [BHV] and outcome.idle == [OUTSIDER] and outcome.refused == []
    assert len(handler.mails) == 1
    to, mail = handler.mails[0]
    assert to == ["bvc.vaxjo@region.example"] and mail["To"] == "bvc.vaxjo@region.example"
    body = mail.get_content()
    text = f"{mail['Subject']}\n{body}"
    assert f"{count} saker" in mail["Subject"] and f"{count} saker" in body
    assert "https://barnensbasta.example/ui/att-gora" in body
    # Nothing about any child: ids (whole or short), names, numbers, addresses, the plan's text.
    forbidden = list(SECRET_TEXTS)
    for child in h.county.everyone:
        identity = h.county.identity(child)
        forbidden += [str(child), str(child)[:8], identity["personnummer"], identity["given_name"],
                      identity["family_name"], identity["address"], *h.county.guardian_names(child).values()]
    assert not [f for f in forbidden if f in text]
    assert set(re.findall(r"\d+", text.replace("https://barnensbasta.example/ui/att-gora", ""))) == {str(count)}
    assert any(BHV in line and str(count) in line for line in lines)


def test_an_unreachable_mail_server_fails_the_command_naming_host_and_port(h: Harness, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli import app

    a = h.county.a
    h.world.apply([event("ActionAgreed", a, 161, basis=C, org=SOC, area=Area.CARE, at=h.county.now,
                         plan_id=h.county.plan_a, action_id=uuid.uuid5(a, "todo-unreachable"), responsible_org=BHV,
                         due_on=today(h) - dt.timedelta(days=4))])
    text = "".join(line for line in SYNTHETIC_COUNTY.read_text(encoding="utf-8").splitlines(keepends=True)
                   if not line.startswith("reminder_email"))  # one mailbox, this test's
    directory = tmp_path / "county.toml"
    directory.write_text(text.replace(f'id = "{BHV}"\n', f'id = "{BHV}"\nreminder_email = "bvc@region.example"\n', 1),
                         encoding="utf-8")
    port = free_port()  # nothing listens there
    for key, value in {"DATABASE_URL": str(h.app.state.hub.engine.url), "SMTP_HOST": "127.0.0.1",
                       "SMTP_PORT": str(port), "SMTP_TIMEOUT_S": "5", "COUNTY_DIRECTORY": str(directory)}.items():
        monkeypatch.setenv(f"KRONOBARN_{key}", value)

    result = CliRunner().invoke(app, ["reminders", "send"])

    assert result.exit_code == 1, result.output
    assert f"127.0.0.1:{port}" in result.stderr and "cannot reach the mail server" in result.stderr


def test_without_an_smtp_host_reminders_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli import app

    monkeypatch.delenv("KRONOBARN_SMTP_HOST", raising=False)
    result = CliRunner().invoke(app, ["reminders", "send"])
    assert result.exit_code == 0 and "KRONOBARN_SMTP_HOST is not set" in result.stderr
