"""The auditors' pages a person can use (issue 16, item 5): the log extract narrowed by period,
organisation and purpose; users and organisations by name; the history in Swedish and paged;
time travel with an organisation picker and a ``datetime-local`` field.

References are written here: which entries a filter keeps (a predicate over the entries this
test logged), Swedish local time (the EU summer-time rule), and the event class names that must
never reach a page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors import personnummer
from schemas.events import EVENT_TYPES, Area, Basis, ChildDataErased, Event
from schemas.topics import topic_for
from services.api import people
from services.api.auth.tokens import Principal, Role
from services.api.models import AuditEntryOut
from services.api.ui import auditing
from services.api.wiring import LogHistory
from services.readmodel import history as log_history
from tests.integration.test_readable_pages import Page
from tests.support.api import AUDITOR, BHV, COORDINATOR_BHV, SOC, Harness, harness
from tests.support.browser import Browser
from tests.support.history import event

REGION = "SE2321000065"
LJUNGBY_BVC = "SE2321000065-BHV0781"
CLASS_NAMES = set(EVENT_TYPES) | {"SomethingNew"}  # the names of every event class


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return harness(tmp_path, applying=True)


def _client(h: Harness, principal: Principal) -> TestClient:
    c = Browser(h.app)
    c.cookies.set("kronobarn_token", h.token(principal))
    return c


def _reference_local(utc: dt.datetime) -> dt.datetime:
    """EU summer time: UTC+2 from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
    Sunday of October, else UTC+1 (naive result: the Swedish wall clock)."""
    def last_sunday(month: int) -> dt.datetime:
        day = dt.date(utc.year, month, 31)
        while day.weekday() != 6:
            day -= dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(1), dt.UTC)

    offset = 2 if last_sunday(3) <= utc < last_sunday(10) else 1
    return (utc + dt.timedelta(hours=offset)).replace(tzinfo=None)


# -- the log extract's filters ----------------------------------------------------------------------------

# (when in UTC, organisation, purpose, kind): around Swedish midnights in summer and in winter.
LOGGED = [
    ("2026-06-30T21:30", BHV, "care-planning", "view"),      # 23:30 on 30 June in Sweden
    ("2026-06-30T22:30", SOC, "care-planning", "view"),      # 00:30 on 1 July
    ("2026-07-01T10:00", BHV, "export", "view"),
    ("2026-07-01T21:59", LJUNGBY_BVC, "AKUT_FARA", "emergency"),  # 23:59 on 1 July
    ("2026-07-01T22:00", SOC, "search", "view"),             # 00:00 on 2 July
    ("2026-11-30T22:59", BHV, "care-planning", "view"),      # 23:59 on 30 November (winter)
    ("2026-11-30T23:00", REGION, "audit", "view"),           # 00:00 on 1 December
    ("2026-12-01T09:00", REGION, "GDPR_ART17", "erasure"),
]


def _log(h: Harness) -> dict[uuid.UUID, dict[str, Any]]:
    """The entries above in child A's audit log; by event id, what the test knows of each."""
    a, mine = h.county.a, {}
    for n, (when, org, purpose, kind) in enumerate(LOGGED):
        at = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
        viewer = f"subject-{n}"
        common = {"viewer_id": viewer, "role": "coordinator", "organisation_id": org}
        if kind == "view":
            e = event("ChildDataViewed", a, 500 + n, basis=Basis.STATUTORY, org=org, at=at, purpose=purpose,
                      parts=("plan",), **common)
        elif kind == "emergency":
            e = event("EmergencyAccessOpened", a, 500 + n, basis=Basis.STATUTORY, org=org, at=at,
                      reason_code=purpose, expires_at=at + dt.timedelta(days=2), **common)
        else:
            e = event("ChildDataErased", a, 500 + n, basis=Basis.STATUTORY, org=org, at=at,
                      administrator_id=viewer, role="administrator", organisation_id=org, reason_code=purpose,
                      erased_child_ids=(a,), justification=b"sealed")
        h.publish.audit.append([e])  # type: ignore[attr-defined]
        mine[e.event_id] = {"at": at, "organisation": org, "purpose": purpose, "kind": kind, "viewer": viewer}
    return mine


def _kept(mine: dict[uuid.UUID, dict[str, Any]], since: dt.datetime | None = None, until: dt.datetime | None = None,
          organisation: str | None = None, purpose: str | None = None) -> set[uuid.UUID]:
    return {i for i, e in mine.items()
            if (since is None or e["at"] >= since) and (until is None or e["at"] < until)
            and (organisation is None or e["organisation"] == organisation)
            and (purpose is None or e["purpose"] == purpose)}


FILTERS = [
    {},
    {"organisation": BHV},
    {"organisation": SOC, "purpose": "care-planning"},
    {"purpose": "AKUT_FARA"},
    {"purpose": "GDPR_ART17"},
    {"since": "2026-07-01T00:00:00+02:00", "until": "2026-07-02T00:00:00+02:00"},
    {"since": "2026-07-01T00:00:00+02:00", "organisation": SOC},
    {"until": "2026-12-01T00:00:00+01:00", "purpose": "care-planning"},
    {"organisation": "kommun-0999-soc"},
]


@pytest.mark.parametrize("asked", FILTERS)
def test_the_log_extract_keeps_exactly_what_its_filters_say(h: Harness, asked: dict[str, str]) -> None:
    mine = _log(h)
    r = Browser(h.app).get(f"/audit/children/{h.county.a}/log", params=asked, headers=h.headers(AUDITOR))
    assert r.status_code == 200, r.text
    got = r.json()["entries"]
    bounds = {k: dt.datetime.fromisoformat(v) for k, v in asked.items() if k in ("since", "until")}
    expected = _kept(mine, bounds.get("since"), bounds.get("until"), asked.get("organisation"), asked.get("purpose"))
    assert {uuid.UUID(e["event_id"]) for e in got} & mine.keys() == expected
    for e in got:  # and nothing else slips in (the auditor's own reads are logged too)
        at = dt.datetime.fromisoformat(e["occurred_at"])
        assert asked.get("organisation", e["organisation_id"]) == e["organisation_id"]
        assert asked.get("purpose", e["purpose"]) == e["purpose"]
        assert bounds.get("since", at) <= at and (not bounds.get("until") or at < bounds["until"])


@pytest.mark.parametrize(("fran", "till", "organisation", "syfte"), [
    ("2026-07-01", "2026-07-01", "", ""),       # 1 July in Sweden: 22:30 UTC on 30 June to 21:59 UTC on 1 July
    ("2026-07-02", "", "", ""),
    ("", "2026-11-30", "", "care-planning"),
    ("2026-12-01", "2026-12-01", REGION, ""),
    ("", "", BHV, "care-planning"),
    ("", "", "", "AKUT_FARA"),
])
def test_the_log_page_filters_by_swedish_days_organisation_and_purpose(h: Harness, fran: str, till: str,
                                                                       organisation: str, syfte: str) -> None:
    mine = _log(h)
    params = {"fran": fran, "till": till, "organisation": organisation, "syfte": syfte}
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log", params=params).text)
    shown = {f"subject-{n}" for n in range(len(LOGGED))} & set(re.findall(r"subject-\d+", page.visible))
    local_day = {i: _reference_local(e["at"]).date() for i, e in mine.items()}
    expected = {e["viewer"] for i, e in mine.items()
                if (not fran or local_day[i] >= dt.date.fromisoformat(fran))
                and (not till or local_day[i] <= dt.date.fromisoformat(till))
                and (not organisation or e["organisation"] == organisation) and (not syfte or e["purpose"] == syfte)}
    assert shown == expected
    assert [v for v, _, selected in page.selects["organisation"] if selected] == ([organisation] if organisation else [])
    assert [v for v, _, selected in page.selects["syfte"] if selected] == ([syfte] if syfte else [])


def test_the_log_page_offers_the_directory_and_the_purposes_in_swedish(h: Harness) -> None:
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log").text)
    organisations = dict((v, label) for v, label, _ in page.selects["organisation"])
    assert organisations[BHV] == "Barnavårdscentralen Växjö" and organisations[REGION] == "Region Kronoberg"
    purposes = dict((v, label) for v, label, _ in page.selects["syfte"])
    assert purposes["care-planning"] == "barnets plan" and purposes["GDPR_ART17"].startswith("Begäran om radering")
    assert purposes["AKUT_FARA"].startswith("Akut fara")
    assert ("input", "date") in {(tag, a.get("type")) for tag, a in page.tags if a.get("name") in ("fran", "till")}


def test_a_day_that_is_no_day_is_said_in_swedish(h: Harness) -> None:
    r = _client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log", params={"fran": "2026-13-01"})
    assert r.status_code == 422
    assert "Från-datumet är inte ett datum" in Page(r.text).visible
    r = _client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log", params={"fran": "2026-12-02", "till": "2026-12-01"})
    assert r.status_code == 422 and "Till-datumet ligger före från-datumet" in Page(r.text).visible


def test_erasures_and_emergency_accesses_read_in_words(h: Harness) -> None:
    _log(h)
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log").text)
    assert "Radering: Begäran om radering (GDPR art. 17)" in page.visible
    assert "Nödöppning: Akut fara för barnets liv eller hälsa" in page.visible
    assert "GDPR_ART17" in page.titles and "GDPR_ART17" not in page.visible
    assert str(h.county.a) not in page.visible and str(h.county.a) in page.titles  # the erased id, on hover


def test_an_unknown_kind_or_reason_shows_as_it_is_without_a_crash(h: Harness) -> None:
    a, at = h.county.a, dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    h.publish.audit.append([event("ChildDataErased", a, 900, basis=Basis.STATUTORY, org=REGION, at=at,  # type: ignore[attr-defined]
                                  administrator_id="adm", role="administrator", organisation_id=REGION,
                                  reason_code="EGEN_KOD", erased_child_ids=(a,), justification=b"x")])
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{a}/log").text)
    assert "Radering: EGEN_KOD" in page.visible  # a reason code without words: the code
    # A kind of entry a later version logs: named as such, with its purpose as it is.
    later = AuditEntryOut(seq=1, event_id=uuid.uuid4(), kind="newkind", occurred_at=at, viewer_id="x", role="?",
                          organisation_id=BHV, child_id=a, purpose="P", parts=["p"], expires_at=None)
    row = auditing.log_row(later, {}, h.app.state.hub.directory)
    assert str(row.why) == "Annan loggpost (newkind): P" and "Barnavårdscentralen Växjö" in str(row.who)


# -- names, not subjects -----------------------------------------------------------------------------------

def test_a_user_is_shown_by_name_role_and_organisation_with_the_login_on_hover(h: Harness) -> None:
    mine = _log(h)
    known = next(e for e in mine.values() if e["organisation"] == BHV)
    people.store(h.world.engine, (known["viewer"], "Karin Testsson", "coordinator", BHV), h.county.now)
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log").text)
    assert "Karin Testsson (samordnare, Barnavårdscentralen Växjö)" in page.visible
    assert known["viewer"] not in page.visible and known["viewer"] in page.titles
    other = next(e for e in mine.values() if e["organisation"] == SOC)
    assert f"{other['viewer']} (samordnare, Socialtjänsten Växjö)" in page.visible  # unknown: the id as it is


def test_a_named_users_request_remembers_who_they_are(h: Harness) -> None:
    """Every authenticated request with a name stores it (``services.api.auth.callers``)."""
    _client(h, COORDINATOR_BHV).get(f"/ui/children/{h.county.a}")
    Browser(h.app).get("/children", headers=h.headers(COORDINATOR_SOC_RENAMED))
    found = people.known(h.world.engine, [COORDINATOR_BHV.subject, COORDINATOR_SOC_RENAMED.subject, "nobody"])
    assert {s: (p.name, p.role, p.organisation_id) for s, p in found.items()} == {
        COORDINATOR_BHV.subject: ("Samordnare BVC Växjö", "coordinator", BHV),
        COORDINATOR_SOC_RENAMED.subject: ("Lena Exempel", "coordinator", SOC)}
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log").text)
    assert "Samordnare BVC Växjö (samordnare, Barnavårdscentralen Växjö)" in page.visible
    assert COORDINATOR_BHV.subject not in page.visible


COORDINATOR_SOC_RENAMED = Principal("test-soc-2", Role.COORDINATOR, SOC, "Lena Exempel")


def test_the_store_keeps_the_latest_name_and_ignores_a_token_without_one(h: Harness) -> None:
    engine = h.world.engine
    people.store(engine, ("s-1", "Första Namnet", "coordinator", BHV), h.county.now)
    people.store(engine, ("s-1", "Andra Namnet", "auditor", REGION), h.county.now)
    assert people.known(engine, ["s-1"])["s-1"] == people.Person("s-1", "Andra Namnet", "auditor", REGION)
    import asyncio

    asyncio.run(people.remember(h.app.state.hub, Principal("s-2", Role.COORDINATOR, BHV, None)))
    asyncio.run(people.remember(h.app.state.hub, Principal("s-3", Role.COORDINATOR, BHV, "   ")))
    assert people.known(engine, ["s-2", "s-3"]) == {}


# -- the history --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SomethingNew(Event):
    """An event kind the pages do not know (a later version's)."""

    what: str
    when_list: tuple[str, ...]


def _many(h: Harness, n: int) -> list[Event]:
    """``n`` events of child A of several kinds, one minute apart, and one unknown kind."""
    a, t0 = h.county.a, dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    kinds = []
    for i in range(n - 1):
        at = t0 + dt.timedelta(minutes=i)
        if i % 3 == 0:
            kinds.append(event("MeetingHeld", a, 1000 + i, basis=Basis.CONSENT, org=BHV, area=Area.HEALTH, at=at,
                               plan_id=h.county.plan_a, meeting_id=uuid.uuid4(), held_on=at.date(),
                               participant_orgs=(BHV, SOC), lead_org=SOC))
        elif i % 3 == 1:
            kinds.append(event("ChildDataViewed", a, 1000 + i, basis=Basis.STATUTORY, org=BHV, at=at,
                               viewer_id=f"viewer-{i}", role="coordinator", organisation_id=BHV,
                               purpose="care-planning", parts=("plan", "facts")))
        else:
            kinds.append(event("ConsentGranted", a, 1000 + i, basis=Basis.CONSENT, org=BHV, at=at))
    template = event("PlanOpened", a, 999, basis=Basis.CONSENT, org=BHV, at=t0 + dt.timedelta(minutes=n))
    kinds.append(SomethingNew(envelope=template.envelope, what="något", when_list=("a", "b")))
    return kinds


class ManyHistory:
    def __init__(self, events: list[Event]) -> None:
        self.events = events

    async def child_history(self, settings: object, codec: object, child_id: uuid.UUID) -> list[object]:
        return [SimpleNamespace(event=e, topic="plan", partition=0, offset=n, recorded_at=e.envelope.recorded_at,
                                type_name=type(e).__name__) for n, e in enumerate(self.events) if e.child_id == child_id]


def test_the_history_is_paged_in_json(h: Harness) -> None:
    events = _many(h, 120)
    h.app.state.hub.history = ManyHistory(events)
    client, a = Browser(h.app), h.county.a
    first = client.get(f"/audit/children/{a}/history", headers=h.headers(AUDITOR)).json()
    assert first["total"] == 120 and first["offset"] == 0 and len(first["entries"]) == first["limit"] == 100
    last = client.get(f"/audit/children/{a}/history", params={"offset": 100, "limit": 50},
                      headers=h.headers(AUDITOR)).json()
    assert [e["event_id"] for e in last["entries"]] == [str(e.event_id) for e in events[100:]]
    assert [e["event_id"] for e in first["entries"]] == [str(e.event_id) for e in events[:100]]  # oldest first
    too_many = client.get(f"/audit/children/{a}/history", params={"limit": 501}, headers=h.headers(AUDITOR))
    assert too_many.status_code == 422


def test_the_history_page_is_paged_and_in_swedish(h: Harness) -> None:
    events = _many(h, 120)
    h.app.state.hub.history = ManyHistory(events)
    people.store(h.world.engine, ("viewer-1", "Karin Testsson", "coordinator", BHV), h.county.now)
    auditor, a = _client(h, AUDITOR), h.county.a
    pages = [Page(auditor.get(f"/ui/audit/children/{a}/history", params={"sida": n}).text) for n in (1, 2, 3)]
    texts = [p.visible for p in pages]
    assert "Händelse 1–50 av 120" in texts[0] and "Händelse 51–100 av 120" in texts[1]
    assert "Händelse 101–120 av 120" in texts[2]
    assert texts[0] != texts[1]
    assert "Nästa" in texts[0] and "Föregående" not in texts[0]
    assert "Nästa" in texts[1] and "Föregående" in texts[1]
    assert "Nästa" not in texts[2] and "Föregående" in texts[2]
    rows = [sum(1 for tag, _ in p.tags if tag == "tr") - 1 for p in pages]
    assert rows == [50, 50, 20]
    for page in pages:
        for name in CLASS_NAMES:
            assert name not in page.visible and name not in page.titles, name
        assert not re.search(r"[\[\]{}]|UUID\(|datetime\.|\('|b'", page.visible)
    assert "Samverkansmöte" in texts[0] and "Uppgifter lästa" in texts[0] and "Samtycke lämnat" in texts[0]
    assert "Karin Testsson (samordnare, Barnavårdscentralen Växjö)" in texts[0]
    assert "syfte barnets plan" in texts[0] and "delar planen, uppgifter" in texts[0]
    assert "Annan händelse" in texts[2]
    assert "deltagare Barnavårdscentralen Växjö, Socialtjänsten Växjö" in texts[0]
    beyond = auditor.get(f"/ui/audit/children/{a}/history", params={"sida": 9})
    assert beyond.status_code == 200 and "Sidan finns inte" in Page(beyond.text).visible


def test_an_erasure_in_the_history_reads_in_words(h: Harness) -> None:
    a, at = h.county.a, dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    erased = event("ChildDataErased", a, 77, basis=Basis.STATUTORY, org=REGION, at=at, administrator_id="adm-1",
                   role="administrator", organisation_id=REGION, reason_code="GDPR_ART17", erased_child_ids=(a,),
                   justification=b"\x00secret")
    assert isinstance(erased, ChildDataErased)
    h.app.state.hub.history = ManyHistory([erased])
    people.store(h.world.engine, ("adm-1", "Adam Admin", "administrator", REGION), h.county.now)
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{a}/history").text)
    assert "Radering" in page.visible and "skäl Begäran om radering (GDPR art. 17)" in page.visible
    assert "raderat av Adam Admin (administratör, Region Kronoberg)" in page.visible
    assert "roll administratör" not in page.visible  # said once, with who
    assert "secret" not in page.visible and "ChildDataErased" not in page.visible


# -- time travel ------------------------------------------------------------------------------------------

def _log_in_memory(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The county's event log, held here: the real fold reads it instead of Kafka."""
    events = h.county.log()

    async def records(settings: object, child_id: uuid.UUID, topics: Any) -> Any:
        for n, e in enumerate(events):
            if e.child_id == child_id and topic_for(e).name in topics:
                yield SimpleNamespace(topic=topic_for(e).name, partition=0, offset=n, value=h.county.codec.encode(e),
                                      key=str(child_id).encode())

    monkeypatch.setattr(log_history, "_child_records", records)
    h.app.state.hub.history = LogHistory()


@pytest.mark.parametrize("days_ago", [1, 40])
def test_the_as_seen_page_shows_what_the_json_api_gives_for_that_org_and_moment(
        h: Harness, monkeypatch: pytest.MonkeyPatch, days_ago: int) -> None:
    _log_in_memory(h, monkeypatch)
    at = (h.county.now - dt.timedelta(days=days_ago)).replace(second=0, microsecond=0)
    typed = f"{_reference_local(at):%Y-%m-%dT%H:%M}"  # what a datetime-local field posts: Swedish wall clock
    a = h.county.a
    seen = Browser(h.app).get(f"/audit/children/{a}/as-seen", params={"org": BHV, "at": at.isoformat()},
                                 headers=h.headers(AUDITOR)).json()
    r = _client(h, AUDITOR).get(f"/ui/audit/children/{a}/as-seen", params={"org": BHV, "at": typed})
    assert r.status_code == 200
    page = Page(r.text)
    assert [v for v, _, selected in page.selects["org"] if selected] == [BHV]
    field = next(attrs for tag, attrs in page.tags if tag == "input" and attrs.get("name") == "at")
    assert field.get("type") == "datetime-local" and field.get("value") == typed
    local = _reference_local(at)
    assert f"såg planen {local.day} " in page.visible and f"{local:%H:%M}" in page.visible
    if days_ago == 40:
        assert seen["could_open"] is False and "kunde inte öppna barnet" in page.visible
        return
    assert seen["could_open"] is True and seen["access"] == "named_person" and seen["lead"]["id"] == SOC
    assert "Grund barnensbästa-ansvarig" in page.visible
    assert "Ansvarig för planen Socialtjänsten Växjö" in page.visible
    assert "Plan öppen" in page.visible


@pytest.mark.parametrize("typed", ["igår", "2026-02-30T10:00", "1066-10-14T09:00", "2026-11-01T25:00"])
def test_a_bad_moment_is_said_in_swedish(h: Harness, typed: str) -> None:
    r = _client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/as-seen", params={"org": BHV, "at": typed})
    assert r.status_code == 422
    assert "Tidpunkten kunde inte läsas" in Page(r.text).visible


def test_an_organisation_without_a_moment_asks_for_one(h: Harness) -> None:
    r = _client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/as-seen", params={"org": BHV})
    assert r.status_code == 422 and "Ange en tidpunkt" in Page(r.text).visible


def test_the_child_nav_links_the_register_extract(h: Harness) -> None:
    page = Page(_client(h, AUDITOR).get(f"/ui/audit/children/{h.county.a}/log").text)
    assert f"/ui/audit/children/{h.county.a}/extract" in {a.get("href") for tag, a in page.tags if tag == "a"}


# -- finding the child ------------------------------------------------------------------------------------

def test_an_auditor_finds_any_child_by_personnummer_and_the_lookup_is_logged(h: Harness) -> None:
    auditor, b = _client(h, AUDITOR), h.county.b  # B: in no auditor's "scope"; auditors review every child
    r = auditor.post("/ui/audit/search", data={"personnummer": h.county.personnummer(b)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/ui/audit/children/{b}/log"
    searches = [v for v in h.publish.views if v.purpose == "search" and v.viewer_id == AUDITOR.subject]
    assert [(v.child_id, v.parts) for v in searches] == [(b, ("identity-lookup",))]
    r = auditor.post("/ui/audit/search", data={"personnummer": "19000101-0000"}, follow_redirects=False)
    assert r.headers["location"].startswith("/ui/audit?sok=")
    home = Page(auditor.get(r.headers["location"]).text)
    assert "personnummer" in home.visible.lower() and h.county.personnummer(b) not in home.visible
    nobodys = personnummer.make(h.county.born(b), 955)  # a valid number the registry does not know
    r = auditor.post("/ui/audit/search", data={"personnummer": nobodys}, follow_redirects=False)
    assert r.headers["location"] == "/ui/audit?sok=ingen"
    assert "Inget barn i registret har det personnumret." in Page(auditor.get(r.headers["location"]).text).visible
    coordinator = _client(h, COORDINATOR_BHV).post("/ui/audit/search", data={"personnummer": "x"},
                                                   follow_redirects=False)
    assert coordinator.status_code == 403
