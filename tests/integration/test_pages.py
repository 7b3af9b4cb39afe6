"""The Swedish pages: the plan page's wheel and sections, every field labelled, forms that
redirect with a message when accepted and show the rules' reasons in Swedish when refused."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors import personnummer
from schemas.events import (
    AreaAssessed,
    ConsentGranted,
    ConsentObtained,
    ConsentWithdrawn,
    EmergencyAccessOpened,
    MeetingHeld,
)
from tests.support.api import BHV, COORDINATOR_BHV, SOC, Harness, harness
from tests.support.browser import Browser

AREAS_SV = ("omsorg", "hälsa", "lärande", "trygghet", "relationer", "hem", "utveckling")


class Fields(HTMLParser):
    """Inputs, selects and textareas with their ids, and the ids labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()
        self.in_fieldset_with_legend = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labelled.add(a["for"] or "")
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path)


@pytest.fixture
def client(h: Harness) -> TestClient:
    c = Browser(h.app)
    c.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    return c


def _labelled(html: str) -> None:
    parser = Fields()
    parser.feed(html)
    assert parser.controls
    for control in parser.controls:
        assert control.get("id") in parser.labelled, control


def test_the_plan_page_draws_the_wheel_and_shows_every_section(h: Harness, client: TestClient) -> None:
    page = client.get(f"/ui/children/{h.county.a}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="sv">' in html and "<h1>Barnets plan" in html
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert svg.count('class="sector"') == 7 and 'role="img"' in svg
    for label in AREAS_SV:
        assert f">{label}</text>" in svg
    assert "hälsa: 2 – oro" in svg  # the assessed sector's title
    assert svg.count("unrated") == 6
    for heading in ("Barnensbästa-ansvarig", "Ansvarig för planen", "Bedömningar per område", "Samverkansmöten",
                    "Uppföljningar", "Samtycken"):
        assert heading in html, heading
    assert "Barnavårdscentralen Växjö" in html and "Socialtjänsten leder planen." in html
    assert "Sömnrådgivning" in html and "Jag är trött" in html and "Vi oroar oss" in html
    assert "Besök i hälso- och sjukvården" in html and "Källa" in html
    assert f'/ui/children/{h.county.a}/meetings/new' in html


@pytest.mark.parametrize("slug", ["plan", "meetings", "assessments", "actions", "follow-ups", "transfer", "close"])
def test_every_form_labels_every_field(h: Harness, client: TestClient, slug: str) -> None:
    r = client.get(f"/ui/children/{h.county.a}/{slug}/new")
    assert r.status_code == 200
    _labelled(r.text)


def test_the_other_pages_label_every_field(h: Harness, client: TestClient) -> None:
    for path in ("/ui/children", f"/ui/children/{h.county.a}/consents", "/ui/emergency-access",
                 f"/ui/children/{h.county.a}/actions/{h.county.action_a}/complete"):
        r = client.get(path)
        assert r.status_code == 200, path
        _labelled(r.text)
    login = Browser(h.app).get("/dev/login")
    _labelled(login.text)


def test_an_accepted_form_redirects_back_with_a_message(h: Harness, client: TestClient) -> None:
    r = client.post(f"/ui/children/{h.county.a}/assessments",
                    data={"area": "care", "rating": "4", "child_view": "Bra", "guardians_view": ""},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/ui/children/{h.county.a}?klart=assessment"
    [event] = h.publish.of(AreaAssessed)
    assert event.rating == 4 and event.envelope.sealed.fields == {"child_view": "Bra"}  # type: ignore[union-attr]
    page = client.get(r.headers["location"]).text
    assert "Bedömningen är registrerad." in page and "Registrerat – visas när det har behandlats." in page


def test_a_meeting_form_with_decisions_lead_and_participants(h: Harness, client: TestClient) -> None:
    today = dt.date.today().isoformat()
    school = "skolenhet-07802001"  # Växjö grundskola 1 in the synthetic county
    r = client.post(f"/ui/children/{h.county.a}/meetings", follow_redirects=False, data={
        "held_on": today, "participant_orgs": [BHV, SOC], "other_participants": f"{school}\n",
        "lead_org": school, "decisions": "Skolan leder", "notes": ""})
    assert r.status_code == 303
    [meeting] = h.publish.of(MeetingHeld)
    assert meeting.participant_orgs == (BHV, SOC, school) and meeting.lead_org == school


def test_a_refused_form_is_shown_again_with_the_reasons_in_swedish(h: Harness, client: TestClient) -> None:
    r = client.post(f"/ui/children/{h.county.a}/assessments", data={"area": "care", "comment": "x"})
    assert r.status_code == 422 and "Bedömning: måste fyllas i" in r.text and 'role="alert"' in r.text
    r = client.post(f"/ui/children/{h.county.a}/meetings", data={
        "held_on": dt.date.today().isoformat(), "participant_orgs": [BHV], "lead_org": SOC, "decisions": "x"})
    assert r.status_code == 422 and "är inte bland mötets deltagare" in r.text
    assert 'value="x"' not in r.text and ">x</textarea>" in r.text  # what was typed is kept
    assert not h.publish.events[-1:] or not isinstance(h.publish.events[-1], MeetingHeld)


def test_consent_registration_shows_the_registrys_errors(h: Harness, client: TestClient) -> None:
    g1, g2 = h.county.guardians(h.county.a)
    today = dt.datetime.now(dt.UTC).date()  # the form's days are UTC days
    data = {"grantors": [f"GUARDIAN:{g1}"], "categories": ["HEALTH"], "recipients": [SOC],
            "valid_from": today.isoformat(), "valid_to": (today + dt.timedelta(days=30)).isoformat()}
    r = client.post(f"/ui/children/{h.county.a}/consents", data=data)
    assert r.status_code == 422 and "Hur samtycket lämnades: måste fyllas i" in r.text
    data["obtained"] = "ORAL_MEETING"
    r = client.post(f"/ui/children/{h.county.a}/consents", data=data)
    assert r.status_code == 422 and f"vårdnadshavare {g2} har inte lämnat samtycke" in r.text
    assert '<option value="ORAL_MEETING" selected>Muntligt vid möte</option>' in r.text  # kept as chosen
    data["grantors"] = [f"GUARDIAN:{g1}", f"GUARDIAN:{g2}"]
    before = dt.datetime.now(dt.UTC)
    r = client.post(f"/ui/children/{h.county.a}/consents", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/consents?klart=consent")
    [granted] = h.publish.of(ConsentGranted)
    # From today means from now (not a midnight already past), through the last day.
    assert before <= granted.valid_from <= dt.datetime.now(dt.UTC)
    assert granted.valid_to == dt.datetime.combine(today + dt.timedelta(days=31), dt.time(), dt.UTC)
    assert granted.obtained is ConsentObtained.ORAL_MEETING and granted.registered_by == COORDINATOR_BHV.subject
    page = client.get(f"/ui/children/{h.county.a}/consents").text  # shown at once, as pending
    assert "väntar på behandling" in page and "muntligt vid möte" in page
    assert f"/consents/{granted.consent_id}/withdraw" in page
    r = client.post(f"/ui/children/{h.county.a}/consents/{h.county.consent_a}/withdraw",
                    data={"grantor": f"GUARDIAN:{g1}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?klart=withdrawn")
    r = client.post(f"/ui/children/{h.county.a}/consents/{granted.consent_id}/withdraw",
                    data={"grantor": f"GUARDIAN:{g2}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?klart=withdrawn")
    assert [w.consent_id for w in h.publish.of(ConsentWithdrawn)] == [h.county.consent_a, granted.consent_id]


def test_gaps_and_emergency_pages(h: Harness, client: TestClient) -> None:
    r = client.get("/ui/gaps", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/municipalities/0780/gaps"
    gaps = client.get(r.headers["location"]).text
    assert str(h.county.c) in gaps and "Glapplistan – Växjö" in gaps
    assert "Cecilia" not in gaps and h.county.personnummer(h.county.c) not in gaps  # outside the circle: no name
    form = client.get("/ui/emergency-access").text
    assert "Högst 7 dagar" in form and "Barnets personnummer" in form and 'autocomplete="off"' in form
    pnr = h.county.personnummer(h.county.b)
    r = client.post("/ui/emergency-access", data={"personnummer": pnr, "reason_code": "", "days": "3"})
    assert r.status_code == 422 and "Skäl" in r.text and pnr not in r.text and pnr[2:] not in r.text
    r = client.post("/ui/emergency-access", data={"personnummer": pnr[:-1], "reason_code": "AKUT_FARA", "days": "3"})
    assert r.status_code == 422 and "personnumret ska ha 10 eller 12 siffror" in r.text and pnr[:-1] not in r.text
    answers = []
    for typed in (pnr, personnummer.make(dt.date(2015, 5, 5), 999)):  # a child outside the scope; nobody's
        r = client.post("/ui/emergency-access", data={"personnummer": typed, "reason_code": "AKUT_FARA", "days": "3"},
                        follow_redirects=False)
        answers.append((r.status_code, r.headers.get("location"), r.text))
    assert answers[0] == answers[1] == (303, "/ui/children?klart=emergency", "")
    [opened] = h.publish.of(EmergencyAccessOpened)
    assert opened.child_id == h.county.b and opened.reason_code == "AKUT_FARA"
    # The old address by id is gone: nothing to tell a real child from an unknown one by.
    old = [client.get(f"/ui/children/{child}/emergency-access") for child in (h.county.b, uuid.uuid4())]
    assert old[0].status_code == old[1].status_code >= 400 and old[0].text == old[1].text


def test_pages_are_swedish_and_escape_what_users_typed(h: Harness, client: TestClient) -> None:
    r = client.post(f"/ui/children/{h.county.a}/meetings", data={
        "held_on": "inte ett datum", "participant_orgs": [BHV], "decisions": "<script>alert(1)</script>"})
    assert r.status_code == 422 and "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert re.search(r"Mötesdatum: (ogiltigt värde|måste fyllas i)", r.text)


FORM_FIELDS = sorted({"consent_ids", "held_on", "participant_orgs", "other_participants", "lead_org", "decisions",
                      "notes", "area", "rating", "comment", "child_view", "guardians_view", "need", "what",
                      "responsible_org", "due_on", "completed_on", "to_org", "reason_code", "grantors", "categories",
                      "areas", "recipients", "other_recipients", "source_organisations", "valid_from", "valid_to",
                      "obtained",
                      "days", "grantor"})
PATHS = ["plan", "meetings", "assessments", "actions", "follow-ups", "transfer", "close", "consents",
         "emergency-access", "actions/{action}/complete", "consents/{consent}/withdraw", "nonsense"]


def test_no_posted_form_makes_a_server_error(h: Harness, client: TestClient) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    values = st.one_of(st.text(max_size=30), st.sampled_from(["", "2026-12-01", "3", "HEALTH", "care", BHV,
                                                             f"GUARDIAN:{h.county.guardians(h.county.a)[0]}"]))

    @given(st.sampled_from(PATHS), st.dictionaries(st.sampled_from(FORM_FIELDS), st.lists(values, max_size=3),
                                                   max_size=8))
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def post(path: str, data: dict[str, list[str]]) -> None:
        url = f"/ui/children/{h.county.a}/" + path.format(action=h.county.action_a, consent=h.county.consent_a)
        r = client.post(url, data=data, follow_redirects=False)
        assert r.status_code < 500, (url, data, r.status_code)

    post()
