"""The plan as a SIP's meeting document (issue 20): the plan page's summary on top, the wheel's
history per area, and the printable plan for the family as HTML and as PDF -- each a logged read
with the purpose ``print``, refused (and nothing printed) for a viewer without access."""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zlib

import pytest
from fastapi.testclient import TestClient

from projections.consent_rules import swedish_day
from schemas.events import (
    ActionEffect,
    ActionStatus,
    Area,
    Basis,
    Event,
    FollowUpOutcome,
    InvitationAnswer,
    ParticipantRole,
)
from schemas.sealing import Personal
from services.api.ui import wheel
from tests.support.api import BHV, COORDINATOR_BHV, COORDINATOR_OUTSIDE, SCHOOL, SOC, County, Harness, harness
from tests.support.browser import Browser
from tests.support.history import event

LEAD_CONTACT = "Kim Handläggare, 0470-11 22 33 (syntetisk)"
PERFORMER = "Fotbollsklubben Växjö Syntetiska IF"
PLACE = "Familjecentralen, rum 2"


def ids(child: uuid.UUID) -> dict[str, uuid.UUID]:
    return {name: uuid.uuid5(child, name) for name in ("next", "later", "past", "club", "dropped", "soon", "gone")}


def sip_events(county: County, child: uuid.UUID, plan_id: uuid.UUID, action_id: uuid.UUID) -> list[Event]:
    """Child A's plan made a SIP: participants with responsibilities, three kallelser (one past,
    unheld; the next two ahead), two more actions (one by others, one cancelled), the action in
    health under way, health rated three times, a follow-up held with the child's own words, and
    follow-ups ahead of the plan and of an area (the area's is due first)."""
    now, C, i = county.now, Basis.CONSENT, ids(child)
    at, today = now - dt.timedelta(days=2), now.date()

    def e(name: str, n: int, org: str, area: Area | None = None, sealed: dict[str, str] | None = None,
          **fields: object) -> Event:
        return event(name, child, n, basis=C, org=org, area=area, at=at + dt.timedelta(minutes=n),
                     sealed=Personal(sealed) if sealed else None, plan_id=plan_id, **fields)

    def invited(n: int, meeting: uuid.UUID, starts: dt.datetime) -> Event:
        return e("MeetingInvited", n, SOC, meeting_id=meeting, starts_at=starts, invited_orgs=(BHV, SOC, SCHOOL),
                 child_invited=True, guardians_invited=True, sealed={"place": PLACE})

    past = uuid.uuid5(child, "f-past")
    return [
        e("ParticipantRecorded", 30, SOC, organisation_id=SOC, role=ParticipantRole.RESPONSIBLE, active=True,
          sealed={"responsibilities": "Samordnar stödet i hemmet", "contact": LEAD_CONTACT}),
        e("ParticipantRecorded", 31, BHV, organisation_id=BHV, role=ParticipantRole.SUPPORTING, active=True,
          sealed={"responsibilities": "Ger sömnrådgivning"}),
        invited(32, i["later"], now + dt.timedelta(days=20)),
        invited(33, i["next"], now + dt.timedelta(days=10)),
        invited(34, i["past"], now - dt.timedelta(days=1)),
        e("InvitationAnswered", 35, BHV, meeting_id=i["next"], invitee_org=BHV, answer=InvitationAnswer.COMING),
        e("ActionAgreed", 36, SOC, Area.LEARNING, action_id=i["club"], responsible_org=SOC, by_others=True,
          start_on=today, due_on=today + dt.timedelta(days=30),
          sealed={"need": "Fler vänner", "what": "Fotbollsträning på tisdagar", "performer": PERFORMER}),
        e("ActionAgreed", 37, SOC, Area.HOME, action_id=i["dropped"], responsible_org=SOC,
          sealed={"need": "Stöd i hemmet", "what": "Hemmabesök varje vecka"}),
        e("ActionStatusChanged", 38, SOC, Area.HOME, action_id=i["dropped"], status=ActionStatus.CANCELLED,
          changed_on=today, sealed={"reason": "Familjen ville inte"}),
        e("ActionStatusChanged", 39, BHV, Area.HEALTH, action_id=action_id, status=ActionStatus.ONGOING,
          changed_on=today),
        e("AreaAssessed", 40, BHV, Area.HEALTH, rating=3, assessed_by_org=BHV),
        e("AreaAssessed", 41, BHV, Area.HEALTH, rating=4, assessed_by_org=BHV, sealed={"comment": "Sover bättre"}),
        e("FollowUpScheduled", 42, SOC, follow_up_id=past, due_on=today - dt.timedelta(days=1)),
        e("FollowUpHeld", 43, SOC, follow_up_id=past, held_on=today - dt.timedelta(days=1),
          outcome=FollowUpOutcome.REVISED, sealed={"summary": "Planen ändras"}),
        e("ActionEvaluated", 44, BHV, Area.HEALTH, action_id=action_id, follow_up_id=past,
          evaluated_on=today - dt.timedelta(days=1), effect=ActionEffect.PARTLY,
          sealed={"child_words": "Jag somnar lättare nu", "guardians_words": "Kvällarna är lugnare"}),
        e("FollowUpScheduled", 45, SCHOOL, Area.LEARNING, follow_up_id=i["soon"],
          due_on=today + dt.timedelta(days=45), sealed={"what": "Hur går träningen"}),
    ]


@pytest.fixture(scope="module")
def h(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    h = harness(tmp_path_factory.mktemp("print"))
    county = h.county
    h.world.apply(sip_events(county, county.a, county.plan_a, county.action_a))
    return h


@pytest.fixture(scope="module")
def client(h: Harness) -> TestClient:
    c = Browser(h.app)
    c.cookies.set("kronobarn_token", h.token(COORDINATOR_BHV))
    return c


@pytest.fixture(scope="module")
def printed(client: TestClient, h: Harness) -> str:
    r = client.get(f"/ui/children/{h.county.a}/print")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return r.text


def _text(html: str) -> str:
    spaced = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return re.sub(r" ([:,.;)])", r"\1", spaced)


def _pages(pdf: bytes) -> int:
    """The page objects in a PDF, looked for in its plain objects and in its compressed streams
    (WeasyPrint packs objects into object streams): enough to know it has pages, no PDF library."""
    found = len(re.findall(rb"/Type\s*/Page\b", pdf))
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            found += len(re.findall(rb"/Type\s*/Page\b", zlib.decompress(raw)))
        except zlib.error:
            continue
    return found


def _day(d: dt.date) -> str:
    months = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
              "november", "december")
    return f"{d.day} {months[d.month - 1]} {d.year}"


def test_the_print_view_says_who_does_what_and_when_in_swedish(printed: str, h: Harness) -> None:
    text = _text(printed)
    assert '<html lang="sv">' in printed and "Plan för Alva Lind" in text and re.search(r"Plan för Alva Lind [45] år\. ", text)
    assert "Det här gör vi – och vem som gör det" in text
    actions = printed[printed.index('class="print-actions"'):printed.index("</ol>")]
    assert "Sömnrådgivning" in actions and "Fotbollsträning på tisdagar" in actions
    assert "Barnavårdscentralen Växjö" in actions and PERFORMER in actions  # who answers for it, who does it
    assert "pågår" in actions and "planerad" in actions
    assert "Hemmabesök" not in actions  # cancelled: not asked of anyone now
    # The next follow-up is the area's, due before the whole plan's; the next meeting the nearest ahead.
    assert f"{_day(h.county.now.date() + dt.timedelta(days=45))} (lärande): Hur går träningen" in text
    next_meeting = text[text.index("Nästa möte"):text.index("Nästa uppföljning")]
    assert _day(swedish_day(h.county.now + dt.timedelta(days=10))) in next_meeting and PLACE in next_meeting
    assert "Barnavårdscentralen Växjö: kommer" in next_meeting and "har inte svarat" in next_meeting
    assert LEAD_CONTACT in text and "Samordnar stödet i hemmet" in text  # the lead's contact, responsibilities
    assert "Planens version 2" in text  # one follow-up revised it
    assert "/new" not in printed and "<form" not in printed  # a document for the family, not a page to act on


def test_printing_is_logged_as_a_print_read(client: TestClient, h: Harness) -> None:
    before = len(h.publish.views)
    assert client.get(f"/ui/children/{h.county.a}/print").status_code == 200
    [viewed] = h.publish.views[before:]
    assert viewed.purpose == "print" and viewed.viewer_id == COORDINATOR_BHV.subject
    assert viewed.child_id == h.county.a and {"plan", "actions", "follow-ups", "identity"} <= set(viewed.parts)
    assert "address" not in viewed.parts  # the family's copy carries no address: none read


def test_the_pdf_is_the_print_view_as_a_pdf_and_logged(client: TestClient, h: Harness) -> None:
    before = len(h.publish.views)
    r = client.get(f"/ui/children/{h.county.a}/plan.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".pdf" in disposition and "Alva" not in disposition
    assert r.content.startswith(b"%PDF-") and r.content.rstrip().endswith(b"%%EOF")
    assert _pages(r.content) >= 1
    [viewed] = h.publish.views[before:]
    assert viewed.purpose == "print" and viewed.child_id == h.county.a


def test_the_pdf_fetches_nothing(h: Harness) -> None:
    from services.api.ui import printing

    asked = '<html><body><img src="http://127.0.0.1:9/x.png"><link rel="stylesheet" href="file:///etc/passwd">' \
            "<p>Hej</p></body></html>"
    body = printing.pdf_of(asked)  # the refused fetches leave blanks, and a PDF all the same
    assert body.startswith(b"%PDF-")


@pytest.mark.parametrize("path", ["print", "plan.pdf"])
def test_a_viewer_without_access_gets_no_print_and_no_read(h: Harness, path: str) -> None:
    outsider = Browser(h.app)
    outsider.cookies.set("kronobarn_token", h.token(COORDINATOR_OUTSIDE))
    before = len(h.publish.views)
    r = outsider.get(f"/ui/children/{h.county.a}/{path}")
    assert r.status_code in (403, 404)
    assert not r.content.startswith(b"%PDF") and "Sömnrådgivning" not in r.text
    assert h.publish.views[before:] == []


def test_a_child_without_a_plan_has_nothing_to_print(client: TestClient, h: Harness) -> None:
    r = client.get(f"/ui/children/{h.county.b}/plan.pdf")
    assert 400 <= r.status_code < 500 and not r.content.startswith(b"%PDF")


def test_the_plan_page_opens_with_the_meeting_document(client: TestClient, h: Harness) -> None:
    html = client.get(f"/ui/children/{h.county.a}").text
    top = html[html.index('class="document"'):html.index('id="uppgifter-om-barnet"')]
    text = _text(top)
    assert "Hälsa: 4 – bra" in text and "Sover bättre" in text  # the latest rating and its comment
    assert "Fotbollsträning på tisdagar" in text and PERFORMER in text and "Hemmabesök" not in text
    assert LEAD_CONTACT in text and "Ger sömnrådgivning" in text
    assert PLACE in text and "Hur går träningen" in text
    child = h.county.a
    for link in (f"/ui/children/{child}/actions/{h.county.action_a}/status",
                 f"/ui/children/{child}/invitations/{ids(child)['next']}/answer"):
        assert f'href="{link}"' in top, link
    for link in ("invitations/new", "participants/new", "reviews/new", "print", "plan.pdf"):
        assert f'href="/ui/children/{child}/{link}"' in html, link
    details = _text(html[html.index('id="uppgifter-om-barnet"'):])
    assert "Kallelser" in details and "Familjen ville inte" in details  # the cancelled action, and why
    review = details[details.index("Hållna uppföljningar"):]
    assert "planen revideras" in review and "Jag somnar lättare nu" in review and "Kvällarna är lugnare" in review


def test_each_area_shows_its_ratings_over_time(client: TestClient, h: Harness) -> None:
    html = client.get(f"/ui/children/{h.county.a}").text
    [chart] = re.findall(r'<svg class="history".*?</svg>', html, re.S)  # only health was rated twice or more
    assert "<title" in chart and "hälsa: bedömningar över tid" in chart
    points = re.search(r'<polyline points="([^"]+)"', chart)
    assert points is not None
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys == [_reference_y(r) for r in (2, 3, 4)]
    assert ", 2, " not in chart and re.search(r": 2, .*: 3, .*: 4\.", chart)  # the values as text, in order


# -- the chart, against a reference written from the rule ---------------------------------------------

def _reference_y(rating: int) -> float:
    """1 at the bottom edge less the padding, 5 at the top plus the padding, evenly between."""
    bottom, top = wheel.CHART_HEIGHT - wheel.CHART_PAD, wheel.CHART_PAD
    return round(bottom - (bottom - top) * (rating - 1) / 4, 2)


@pytest.mark.parametrize("ratings", [[1, 5], [3, 3, 3], [2, 4, 1, 5, 3], [5, 4, 3, 2, 1, 1, 2]])
def test_the_history_chart_puts_each_rating_at_its_height_in_order(ratings: list[int]) -> None:
    chart = wheel.history_chart("hälsa", [(f"dag {n}", r) for n, r in enumerate(ratings)])
    assert chart is not None
    pairs = [tuple(map(float, p.split(","))) for p in chart.points.split()]
    left, right = wheel.CHART_PAD, wheel.CHART_WIDTH - wheel.CHART_PAD
    expected_x = [round(left + (right - left) * n / (len(ratings) - 1), 2) for n in range(len(ratings))]
    assert [x for x, _ in pairs] == pytest.approx(expected_x, abs=0.01)
    assert [y for _, y in pairs] == [_reference_y(r) for r in ratings]
    assert [m.rating for m in chart.marks] == ratings
    assert chart.text.endswith(", ".join(f"dag {n}: {r}" for n, r in enumerate(ratings)) + ".")


def test_one_rating_is_no_history() -> None:
    assert wheel.history_chart("hälsa", []) is None
    assert wheel.history_chart("hälsa", [("1 maj 2026", 3)]) is None

