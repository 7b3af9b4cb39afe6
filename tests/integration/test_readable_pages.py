"""Names, not ids, everywhere a person reads (issue 15, item 7): on every page organisations by
their name from the county directory (the id only on hover), municipalities by name, times in
Swedish local time, a child's absence month by month with its trend, organisation pickers from
the directory, and dev login saying which users' gaps lists have children on them.

References are written here: the directory's file read with tomllib, the EU summer-time rule.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import tomllib
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from schemas.events import Area, Basis, Event, MeetingHeld
from services.api.auth.devlogin import dev_users
from services.county import SYNTHETIC_COUNTY, load_county_directory
from tests.support.api import AUDITOR, BHV, COORDINATOR_BHV, SOC, Harness, harness, released, revoked
from tests.support.browser import Browser
from tests.support.history import event

DIRECTORY = tomllib.loads(SYNTHETIC_COUNTY.read_text(encoding="utf-8"))
UNITS = {o["id"]: o for o in DIRECTORY["organisations"]}
MUNICIPALITIES = {m["code"]: m["name"] for m in DIRECTORY["municipalities"]}
REGION = DIRECTORY["region"]["id"]
SCHOOL_UNIT = "skolenhet-07802001"  # Växjö grundskola 1
NAMED_PERSON_KINDS = {"MHV", "BHV", "KAA", "PRESCHOOL", "SCHOOL", "UPPER_SECONDARY"}


class Page(HTMLParser):
    """A page's visible text (no attribute values), the title attributes, and its selects' options."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.titles: list[str] = []
        self.selects: dict[str, list[tuple[str, str, bool]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._select: str | None = None
        self._option: tuple[str, bool] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("title"):
            self.titles.append(a["title"] or "")
        if tag == "select":
            self._select = a.get("name") or ""
            self.selects[self._select] = []
        elif tag == "option" and self._select is not None:
            self._option = (a.get("value") or "", "selected" in a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._option is not None and self._select is not None:
            value, selected = self._option
            self.selects[self._select].append((value, data.strip(), selected))
            self._option = None

    @property
    def visible(self) -> str:
        """The text, its whitespace collapsed, no space before punctuation or after "(" (tags split it)."""
        text = " ".join(" ".join(self.text).split())
        return re.sub(r"\(\s+", "(", re.sub(r"\s+([,.;:)])", r"\1", text))

    def values(self, select: str) -> list[str]:
        return [v for v, _, _ in self.selects[select] if v]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path, applying=True)


def _client(h: Harness, principal: object) -> TestClient:
    c = Browser(h.app)
    c.cookies.set("kronobarn_token", h.token(principal))  # type: ignore[arg-type]
    return c


@pytest.fixture
def client(h: Harness) -> TestClient:
    return _client(h, COORDINATOR_BHV)


# Absence of child A as the school summarises it, month by month: released in a shuffled order.
ABSENCE = {dt.date(2026, 8, 1): ("3.04", "0"), dt.date(2026, 9, 1): ("5.55", "1.25"),
           dt.date(2026, 10, 1): ("12.46", "2"), dt.date(2026, 11, 1): ("14.25", "0.05")}


def _add_absence(h: Harness, months: dict[dt.date, tuple[str, str]] = ABSENCE) -> None:
    """These months' absence for child A, instead of the harness's one sample summary (revoked)."""
    a, at = h.county.a, h.county.now - dt.timedelta(days=5)
    order = list(months)
    random.Random(7).shuffle(order)
    [sample] = [r for r in h.county.releases[a] if r.fact_type == "AbsenceSummarised"]
    events: list[Event] = [revoked(sample, (h.county.consent_a,), at)]
    for n, start in enumerate(order):
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        absence, unexcused = months[start]
        fact = event("AbsenceSummarised", a, 60 + n, basis=Basis.CONSENT, org=SCHOOL_UNIT, area=Area.LEARNING,
                     at=at + dt.timedelta(minutes=n), school_unit_id=SCHOOL_UNIT, period_start=start,
                     period_end=end, absence_percent=float(absence), unexcused_percent=float(unexcused))
        events += [fact, released(fact, (h.county.consent_a,), h.county.codec, at + dt.timedelta(minutes=n + 1))]
    support = event("SchoolSupportDecided", a, 70, basis=Basis.CONSENT, org=SCHOOL_UNIT, area=Area.LEARNING, at=at,
                    school_unit_id=SCHOOL_UNIT, support_type="SPECIAL_SUPPORT", decided_on=dt.date(2026, 10, 25))
    events += [support, released(support, (h.county.consent_a,), h.county.codec, at)]
    h.world.apply(events)


def _no_directory_id_in_text(page: Page, where: str) -> None:
    text = page.visible
    for org in UNITS:
        assert org not in text, (where, org)
    assert REGION not in text, where  # every unit's HSA id begins with it, so this covers them too


def test_no_page_shows_a_directory_organisations_id_as_text(h: Harness, client: TestClient) -> None:
    _add_absence(h)
    a = h.county.a
    coordinator = [f"/ui/children/{a}", "/ui/children", f"/ui/children/{a}/consents", "/ui/municipalities/0780/gaps",
                   "/ui/emergency-access", f"/ui/children/{a}/actions/{h.county.action_a}/complete",
                   *(f"/ui/children/{a}/{slug}/new" for slug in ("plan", "meetings", "assessments", "actions",
                                                                 "follow-ups", "transfer", "close"))]
    hovered: set[str] = set()
    for path in coordinator:
        r = client.get(path)
        assert r.status_code == 200, path
        page = Page(r.text)
        _no_directory_id_in_text(page, path)
        hovered |= set(page.titles)
    # The ids are there, on hover: the plan's organisations, and the fact's school unit.
    assert {BHV, SOC, SCHOOL_UNIT} <= hovered
    # An emergency access, for the auditors' list; the plan's reads above are in the access log.
    pnr = h.county.personnummer(h.county.b)
    assert client.post("/ui/emergency-access", data={"personnummer": pnr, "reason_code": "AKUT_FARA", "days": "2"},
                       follow_redirects=False).status_code == 303
    auditor = _client(h, AUDITOR)
    now = h.county.now.replace(microsecond=0, tzinfo=None).isoformat()
    for path in ("/ui/audit", f"/ui/audit/children/{a}/log", f"/ui/audit/children/{a}/history",
                 f"/ui/audit/children/{a}/as-seen?org={BHV}&at={now}", "/ui/audit/emergency-access"):
        r = auditor.get(path)
        assert r.status_code == 200, path
        page = Page(r.text)
        _no_directory_id_in_text(page, path)
        if path.endswith("/log"):
            assert "Barnavårdscentralen Växjö" in page.visible and BHV in page.titles  # who looked, by name
        if path.endswith("emergency-access"):
            assert "Barnavårdscentralen Växjö" in page.visible
        assert "Region Kronoberg" in page.visible  # the auditor's own organisation, in the page frame
    login = Page(Browser(h.app).get("/dev/login").text)
    _no_directory_id_in_text(login, "/dev/login")


def test_an_organisation_the_directory_does_not_know_shows_its_id_and_says_so(h: Harness,
                                                                                client: TestClient) -> None:
    page = Page(client.get(f"/ui/children/{h.county.a}").text)
    unknown = "skola-test-1"  # the harness's school: in the consent, not in the directory
    assert unknown not in UNITS and unknown in page.visible
    assert f"okänd organisation: {unknown}" in page.titles


def _reference_local(utc: dt.datetime) -> dt.datetime:
    """EU summer time: UTC+2 from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
    Sunday of October, else UTC+1."""
    def last_sunday(month: int) -> dt.datetime:
        day = dt.date(utc.year, month, 31)
        while day.weekday() != 6:
            day -= dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(1), dt.UTC)

    return utc + dt.timedelta(hours=2 if last_sunday(3) <= utc < last_sunday(10) else 1)


@pytest.mark.parametrize(("utc", "shown"), [
    ("2026-10-25T00:30", "25 oktober 2026 02:30 (sommartid)"),
    ("2026-10-25T01:30", "25 oktober 2026 02:30 (normaltid)"),
    ("2026-10-24T22:59", "25 oktober 2026 00:59"),
    ("2026-10-25T02:00", "25 oktober 2026 03:00"),
    ("2026-03-29T00:59", "29 mars 2026 01:59"),
    ("2026-03-29T01:00", "29 mars 2026 03:00"),
])
def test_times_on_the_pages_are_swedish_local_time(h: Harness, utc: str, shown: str) -> None:
    at = dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC)
    here = _reference_local(at)
    assert shown.split(" (")[0].endswith(f"{here:%H:%M}")  # the expectation agrees with the reference
    typed = f"{utc}%2B00:00"  # with its zone: a time typed without one is Swedish time
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/as-seen?org={BHV}&at={typed}").text)
    assert f"såg planen {shown}" in page.visible and "UTC" not in page.visible.replace("(UTC)", "")


def test_the_access_log_shows_swedish_local_time(h: Harness, client: TestClient) -> None:
    client.get(f"/ui/children/{h.county.a}")
    [viewed] = [v for v in h.publish.views if v.child_id == h.county.a]
    here = _reference_local(viewed.envelope.occurred_at.astimezone(dt.UTC))
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log").text)
    assert f"{here.day} " in page.visible and f"{here:%H:%M}" in page.visible and " UTC" not in page.visible
    assert "samordnare" in page.visible and "barnets plan" in page.visible  # role and purpose in Swedish
    assert "coordinator" not in page.visible and "care-planning" not in page.visible


def test_reason_codes_read_in_words(h: Harness, client: TestClient) -> None:
    r = client.post(f"/ui/children/{h.county.a}/close", data={"reason_code": "MAL_UPPNADDA"}, follow_redirects=False)
    assert r.status_code == 303
    text = Page(client.get(f"/ui/children/{h.county.a}").text).visible
    assert "avslutad" in text and "(Målen är uppnådda)" in text and "MAL_UPPNADDA" not in text


def test_the_plan_page_shows_absence_by_month_with_its_trend_and_facts_in_words(h: Harness,
                                                                                client: TestClient) -> None:
    _add_absence(h)
    html = client.get(f"/ui/children/{h.county.a}").text
    page = Page(html)
    text = page.visible
    table = text[text.index("Frånvaro per månad"):]
    positions = [table.index(f"{m} 2026 ") for m in ("augusti", "september", "oktober", "november")]
    assert positions == sorted(positions)  # by period, though released in another order
    for absence, unexcused in ABSENCE.values():
        whole, frac = absence.split(".")
        tenths = (int(whole) * 100 + int(frac) + 5) // 10
        expected = f"{tenths // 10}" + (f",{tenths % 10}" if tenths % 10 else "") + " %"
        assert expected in text, expected
    assert "12,5 %" in text and "14,3 %" in text and "3 %" in text and "12.46" not in text
    # 14.25 against 12.46: up by at least a percentage point.
    assert "Frånvaro, trend:" in text and "ökar" in text
    [spark] = [a for tag, a in page.tags if tag == "svg" and "sparkline" in (a.get("class") or "")]
    assert "Frånvaro per period: augusti 2026: 3 %" in (spark.get("aria-label") or "")
    points = re.search(r'<polyline points="([^"]+)"', html)
    assert points is not None and len(points.group(1).split()) == len(ABSENCE)
    # Codes in words, the organisation by name, the date in Swedish.
    assert "stöd: särskilt stöd" in text and "beslutsdatum: 25 oktober 2026" in text and "SPECIAL_SUPPORT" not in text
    assert "Växjö grundskola 1" in text
    # CSP-friendly: no script and no style attribute anywhere on the page.
    assert "<script" not in html and not [t for t, a in page.tags if "style" in a]


def test_a_falling_absence_says_so(h: Harness, client: TestClient) -> None:
    _add_absence(h, {dt.date(2026, 9, 1): ("20", "1"), dt.date(2026, 10, 1): ("18.96", "0")})
    text = Page(client.get(f"/ui/children/{h.county.a}").text).visible
    assert "minskar" in text and "19 %" in text  # 18.96 rounds to 19,0: down by 1.0 point


def test_a_single_month_has_no_trend(h: Harness, client: TestClient) -> None:
    _add_absence(h, {dt.date(2026, 9, 1): ("7.25", "1")})
    text = Page(client.get(f"/ui/children/{h.county.a}").text).visible
    assert "september 2026" in text and "7,3 %" in text and "Frånvaro, trend" not in text


def test_the_pickers_offer_every_directory_organisation_of_the_right_kinds(h: Harness, client: TestClient) -> None:
    a = h.county.a
    every = set(UNITS)
    named = {o for o, u in UNITS.items() if u["kind"] in NAMED_PERSON_KINDS}
    meeting = Page(client.get(f"/ui/children/{a}/meetings/new").text)
    assert set(meeting.values("other_participants")) == every
    assert len(meeting.values("other_participants")) == len(every)
    assert every <= set(meeting.values("lead_org"))
    action = Page(client.get(f"/ui/children/{a}/actions/new").text)
    assert every <= set(action.values("responsible_org"))
    assert [v for v, _, chosen in action.selects["responsible_org"] if chosen] == [BHV]  # one's own, by default
    transfer = Page(client.get(f"/ui/children/{a}/transfer/new").text)
    offered = set(transfer.values("to_org"))
    assert named <= offered and not offered & (every - named)  # never social services
    consents = Page(client.get(f"/ui/children/{a}/consents").text)
    assert set(consents.values("other_recipients")) == every == set(consents.values("source_organisations"))
    # By name, in groups by municipality; Växjö (the user's own) first after those around the child.
    labels = {v: label for v, label, _ in transfer.selects["to_org"]}
    assert all(labels[o] == UNITS[o]["name"] for o in named)
    html = client.get(f"/ui/children/{a}/transfer/new").text
    groups = re.findall(r'<optgroup label="([^"]+)"', html[html.index('name="to_org"'):])
    assert groups == ["Kring barnet", "Växjö", *[n for c, n in MUNICIPALITIES.items() if c != "0780"]]
    # The auditors' "as seen by" asks for an organisation from the directory too.
    seen = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{a}/as-seen").text)
    assert set(seen.values("org")) == every


def test_picked_organisations_reach_the_command_as_ids(h: Harness, client: TestClient) -> None:
    page = Page(client.get(f"/ui/children/{h.county.a}/meetings/new").text)
    ljungby = [o for o in page.values("other_participants") if UNITS[o]["municipality_code"] == "0781"][:2]
    r = client.post(f"/ui/children/{h.county.a}/meetings", follow_redirects=False, data={
        "held_on": dt.date.today().isoformat(), "participant_orgs": [BHV], "other_participants": ljungby,
        "lead_org": ljungby[0], "decisions": "Ljungby tar över"})
    assert r.status_code == 303, r.text
    [meeting] = h.publish.of(MeetingHeld)
    assert meeting.participant_orgs == (BHV, *ljungby) and meeting.lead_org == ljungby[0]


def test_a_refused_form_keeps_what_was_picked(h: Harness, client: TestClient) -> None:
    picked = ["SE2321000065-BHV0781", "SE2321000065-MHV0781"]
    r = client.post(f"/ui/children/{h.county.a}/meetings", data={
        "held_on": dt.date.today().isoformat(), "other_participants": picked, "lead_org": SOC, "decisions": "x"})
    assert r.status_code == 422
    page = Page(r.text)
    assert sorted(v for v, _, chosen in page.selects["other_participants"] if chosen) == picked
    assert [v for v, _, chosen in page.selects["lead_org"] if chosen] == [SOC]


def test_municipalities_are_shown_by_name(h: Harness, client: TestClient) -> None:
    page = Page(client.get("/ui/children").text)
    assert [(v, label) for v, label, _ in page.selects["municipality"] if v] == list(MUNICIPALITIES.items())
    row = Page(client.get(f"/ui/children/{h.county.a}").text)
    assert "Kommun Växjö" in row.visible and "kommunkod 0780" in row.titles
    filtered = client.post("/ui/children", data={"municipality": "0780"})
    assert filtered.status_code == 200
    chosen = [v for v, _, c in Page(filtered.text).selects["municipality"] if c]
    assert chosen == ["0780"]
    for text in (page.visible, row.visible):
        assert not re.search(r"\b0780\b", text)  # the code only on hover


def test_the_protected_childs_municipality_stays_hidden(h: Harness) -> None:
    p, _, events = h.county.protected_child()
    h.world.apply(events)
    client = _client(h, COORDINATOR_BHV)  # the named person's organisation: shown the name, never the place
    listed = Page(client.get("/ui/children").text).visible
    row = listed[listed.index("Pia Skog"):]  # after the filter form, whose select lists every municipality
    plan = Page(client.get(f"/ui/children/{p}").text).visible
    assert "Pia Skog" in plan and "visas inte" in row
    for code in (h.county.PROTECTED_MUNICIPALITY, h.county.MOVED_TO):
        for text in (row, plan):
            assert MUNICIPALITIES[code] not in text and code not in text, code


def test_dev_login_says_how_many_children_each_coordinators_gaps_list_has(h: Harness) -> None:
    directory = load_county_directory(SYNTHETIC_COUNTY)
    login = Page(Browser(h.app).get("/dev/login").text).visible
    # Child C is the county's one child on a gaps list, in Växjö (tests.support.api.County).
    expected = {code: (1 if code == "0780" else 0) for code in MUNICIPALITIES}
    coordinators = [u for u in dev_users(directory) if str(u.role) == "coordinator"]
    assert coordinators
    for user in coordinators:
        code = UNITS[user.organisation_id]["municipality_code"]
        shown = f"{user.name_hint} ({MUNICIPALITIES[code]}, glapplistan: {expected[code]} barn)"
        assert shown in login, shown
    # And each user's gaps link leads to that list, with that many children on it.
    for user in coordinators[:: max(1, len(coordinators) // 8)]:
        client = _client(h, user)
        r = client.get("/ui/gaps", follow_redirects=False)
        code = UNITS[user.organisation_id]["municipality_code"]
        assert r.headers["location"] == f"/ui/municipalities/{code}/gaps"
        gaps = Page(client.get(r.headers["location"]).text).visible
        assert f"{expected[code]} barn." in gaps


def test_the_header_names_the_users_organisation(h: Harness, client: TestClient) -> None:
    page = Page(client.get("/ui/children").text)
    assert "Inloggad: Samordnare BVC Växjö (Barnavårdscentralen Växjö)" in page.visible
    assert BHV in page.titles and str(uuid.UUID(int=0)) not in page.visible


class OneHistory:
    """The auditors' history port with a few events of child A (the real one reads Kafka)."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def child_history(self, settings: object, codec: object, child_id: uuid.UUID) -> list[object]:
        from types import SimpleNamespace

        return [SimpleNamespace(event=e, topic="intake.school", partition=0, offset=n,
                                recorded_at=e.envelope.recorded_at, type_name=type(e).__name__)
                for n, e in enumerate(self.events) if e.child_id == child_id]


def test_the_auditors_history_names_organisations_and_municipalities(h: Harness) -> None:
    a, at = h.county.a, dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)
    placed = event("SchoolPlacementStarted", a, 80, basis=Basis.DIRECTORY, org=SCHOOL_UNIT, at=at,
                   placement_id="pl-1", school_unit_id=SCHOOL_UNIT, municipality_code="0780",
                   start_date=dt.date(2026, 8, 15))
    meeting = event("MeetingHeld", a, 81, basis=Basis.CONSENT, org=BHV, area=Area.HEALTH, at=at,
                    plan_id=h.county.plan_a, meeting_id=uuid.uuid4(), held_on=at.date(), participant_orgs=(BHV, SOC),
                    lead_org=SOC)
    h.app.state.hub.history = OneHistory([placed, meeting])
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{a}/history").text)
    text = page.visible
    _no_directory_id_in_text(page, "history")
    assert "skolenhet Växjö grundskola 1" in text and "kommun Växjö" in text  # Swedish labels (issue 16)
    assert "deltagare Barnavårdscentralen Växjö, Socialtjänsten Växjö" in text
    assert "Skolplacering påbörjad" in text and "hälsa" in text
    assert "SchoolPlacementStarted" not in page.visible and "SchoolPlacementStarted" not in page.titles
    assert "25 oktober 2026 02:30 (sommartid)" in text  # recorded at 00:30 UTC, in summer time still
