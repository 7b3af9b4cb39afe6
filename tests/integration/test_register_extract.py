"""The register extract (issue 16, item 4) through a real broker: complete against the events
published, its own access logged, and for an erased child nothing erased revealed.

Three children's histories go onto the embedded broker's topics, sealed with the hub's keys as
the connectors and the web service seal them: K (facts from BHV, school and social services,
their releases -- one revoked --, two consents -- one withdrawn --, a plan with free text, a
transfer of the named person, a report routed to social services, reads of its data, and an
id M that turned out to be K's, with a fact and a read of its own); E (the same kind of
history, then erased as ``kronobarn keys erase`` does); P (skyddad folkbokföring, with a move).
The read model is folded from the topics with the projector's own ``Projection`` (as ``kronobarn
replay`` does), the audit log from ``access`` with the audit store. The web service then runs
against the same broker and database, publishing its own access events to it.

Every expectation is a reference built here from the published events, not the product's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from starlette.routing import NoMatchFound

from connectors import personnummer
from projections.audit_store import AuditStore
from projections.plan import SEALED_TEXT
from schemas.codec import Codec
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildDataViewed,
    ConsentWithdrawn,
    Event,
    FactReleased,
    Grantor,
    GrantorRole,
    Protection,
    ReleaseRevoked,
    Source,
)
from schemas.sealing import Personal
from schemas.topics import ACCESS, TOPIC_OF_EVENT
from services.api.auth.tokens import Principal, Role
from services.dev.samples import sample_event, scoped_grant
from services.ingest.identity import Link
from services.ingest.runner import merge_announcement
from services.kafka import clients as kafka
from services.kafka import offsets
from services.kafka.broker import EmbeddedBroker
from services.readmodel.engine import CONSUMER, TOPICS, Projection, rebuild
from services.settings import Settings
from services.sql.keystore import SqlKeyStore, master_key_from
from tests.support.api import released, revoked
from tests.support.history import event
from tests.support.kafka import read_all
from tests.support.projector import hub, publish

BHV, BHV_NAME = "SE2321000065-BHV0780", "Barnavårdscentralen Växjö"
SOC, SOC_NAME = "kommun-0780-soc", "Socialtjänsten Växjö"
SCHOOL, SCHOOL_NAME = "skolenhet-07802001", "Växjö grundskola 1"
OTHER_BVC = "SE2321000065-BHV0781"
REGION = "SE2321000065"
AUDITOR = Principal("extract-auditor", Role.AUDITOR, REGION, "Granskare")
ADMINISTRATOR = Principal("extract-admin", Role.ADMINISTRATOR, REGION, "Administratör")
COORDINATOR = Principal("extract-bhv", Role.COORDINATOR, BHV, "Samordnare BVC")
ERASE_REASON = "GDPR_ART17"
SWEDEN = ZoneInfo("Europe/Stockholm")
MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december")
D, C, S = Basis.DIRECTORY, Basis.CONSENT, Basis.STATUTORY
EXTRACT_PATH = "/audit/children/{child}/extract"
PAGE_PATH = "/ui/audit/children/{child}/extract"


def swedish_time(moment: dt.datetime) -> str:
    """The page's time, as a reader in Sweden says it (the test's own reference)."""
    here = moment.astimezone(SWEDEN)
    return f"{here.day} {MONTHS[here.month - 1]} {here.year} {here:%H:%M}"


# -- the histories, and the reference built from them ---------------------------------------------------------

@dataclass
class Child:
    """One child's published history, and what of it is personal data (plaintext)."""

    id: uuid.UUID
    n: int
    events: list[Event] = field(default_factory=list)
    plaintext: list[str] = field(default_factory=list)
    consents: list[uuid.UUID] = field(default_factory=list)

    def add(self, e: Event) -> Event:
        self.events.append(e)
        if isinstance(e.envelope.sealed, Personal):
            self.plaintext += [v for v in e.envelope.sealed.fields.values() if len(v) > 3]
        return e


def _routed(child: uuid.UUID, report: Event, codec: Codec, at: dt.datetime) -> Event:
    """The gate's routing of a report of concern to social services (``statutory.social``)."""
    template = sample_event("ReportOfConcernRouted", seed=3, child_id=child)
    env = replace(template.envelope, event_id=uuid.uuid5(report.event_id, "routed"), occurred_at=at, recorded_at=at,
                  source=Source("gate", SOC, str(report.event_id), "1"), basis=S, category=Category.SOCIAL,
                  area=Area.SAFETY, sealed=None)
    return replace(template, envelope=env, municipality_code="0780", report_event_id=report.event_id,
                   report=codec.encode(report))


def _viewed(child: uuid.UUID, n: int, at: dt.datetime, org: str = BHV) -> Event:
    return event("ChildDataViewed", child, 900 + n, basis=D, org=org, at=at, viewer_id=f"reader-{n}",
                 role="coordinator", organisation_id=org, purpose="care-planning", parts=("plan", "facts"))


def life(child: uuid.UUID, n: int, codec: Codec, now: dt.datetime, *, family: str) -> Child:
    """A child's history: register, facts and releases, consents, a plan with free text, a
    transfer, a routed report, reads. ``family`` makes its names its own."""
    c = Child(child, n)
    at = now - dt.timedelta(days=40)
    born = (now - dt.timedelta(days=9 * 365)).date()
    pnr = personnummer.make(born, 900 + n)
    guardians = (uuid.uuid5(child, "g1"), uuid.uuid5(child, "g2"))
    grants = tuple(Grantor(g, GrantorRole.GUARDIAN) for g in guardians)
    registered = c.add(event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=born,
                             municipality_code="0780",
                             sealed=Personal({"personnummer": pnr, "given_name": f"Tindra{n}", "family_name": family,
                                              "address": f"Provgatan {n}", "postal_code": f"35{n} 31",
                                              "town": f"Provby{n}"})))
    custody = c.add(event("CustodyRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=born,
                          guardian_ids=guardians,
                          sealed=Personal({f"guardian:{guardians[0]}": f"Maja {family}",
                                           f"guardian:{guardians[1]}": f"Olle {family}"})))
    listed = c.add(event("HealthUnitListed", child, 3, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=born))
    a, b = uuid.uuid5(child, "consent-a"), uuid.uuid5(child, "consent-b")
    c.consents = [a, b]
    c.add(scoped_grant(child, a, [Category.HEALTH, Category.SCHOOL, Category.SOCIAL], [BHV, SOC, SCHOOL],
                       at + dt.timedelta(hours=1), now + dt.timedelta(days=300), grantors=grants))
    c.add(scoped_grant(child, b, [Category.SCHOOL], [BHV], at + dt.timedelta(hours=1),
                       now + dt.timedelta(days=100), grantors=grants))
    t = at + dt.timedelta(days=1)
    visit = c.add(event("HealthVisitRecorded", child, 5, basis=C, org=BHV, area=Area.HEALTH, at=t))
    absence = c.add(event("AbsenceSummarised", child, 6, basis=C, org=SCHOOL, area=Area.LEARNING, at=t,
                          school_unit_id=SCHOOL))
    report = c.add(event("ReportOfConcernReceived", child, 7, basis=S, org=SOC, area=Area.SAFETY, at=t,
                         municipality_code="0780"))
    later = t + dt.timedelta(minutes=5)
    releases = [released(registered, (), codec, later), released(custody, (), codec, later),
                released(listed, (), codec, later), released(visit, (a,), codec, later),
                released(absence, (b,), codec, later), released(report, (a,), codec, later)]
    for r in releases:
        c.add(r)
    c.add(_routed(child, report, codec, later))
    plan_id = uuid.uuid5(child, "plan")
    p = t + dt.timedelta(days=2)
    c.add(event("PlanOpened", child, 10, basis=C, org=BHV, at=p, plan_id=plan_id, opened_by_org=BHV,
                consent_ids=(a,)))
    c.add(event("MeetingHeld", child, 11, basis=C, org=BHV, at=p + dt.timedelta(minutes=1), plan_id=plan_id,
                meeting_id=uuid.uuid5(child, "m1"), held_on=p.date(), participant_orgs=(BHV, SOC, SCHOOL),
                lead_org=SOC, sealed=Personal({"decisions": f"Socialtjansten leder planen for {family}",
                                               "notes": f"Motesanteckning om {family}"})))
    c.add(event("AreaAssessed", child, 12, basis=C, org=BHV, area=Area.HEALTH, at=p + dt.timedelta(minutes=2),
                plan_id=plan_id, rating=2, assessed_by_org=BHV,
                sealed=Personal({"comment": f"Sover daligt {family}", "child_view": f"Jag ar trott {n}",
                                 "guardians_view": f"Vi oroar oss for {family}"})))
    action = uuid.uuid5(child, "action")
    c.add(event("ActionAgreed", child, 13, basis=C, org=SOC, area=Area.HEALTH, at=p + dt.timedelta(minutes=3),
                plan_id=plan_id, action_id=action, responsible_org=BHV, due_on=(now + dt.timedelta(days=30)).date(),
                sealed=Personal({"need": f"Battre somn {family}", "what": f"Somnradgivning {family}"})))
    c.add(event("ActionCompleted", child, 14, basis=C, org=BHV, area=Area.HEALTH, at=p + dt.timedelta(days=1),
                plan_id=plan_id, action_id=action, completed_on=(p + dt.timedelta(days=1)).date()))
    c.add(event("FollowUpScheduled", child, 15, basis=C, org=SOC, at=p + dt.timedelta(minutes=4), plan_id=plan_id,
                follow_up_id=uuid.uuid5(child, "f1"), due_on=(now + dt.timedelta(days=60)).date(),
                sealed=Personal({"what": f"Uppfoljning av somnen {family}"})))
    c.add(event("NamedPersonTransferred", child, 16, basis=D, org=BHV, at=p + dt.timedelta(days=2), to_org=SCHOOL,
                from_org=BHV, reason_code="BARNET_TRYGGT"))
    w = p + dt.timedelta(days=3)
    template = sample_event("ConsentWithdrawn", seed=5, child_id=child)
    withdrawal: ConsentWithdrawn = replace(
        template, envelope=replace(template.envelope, event_id=uuid.uuid5(b, "withdrawn"), occurred_at=w,
                                   recorded_at=w, sealed=None),
        consent_id=b, withdrawn_by=guardians[0], role=GrantorRole.GUARDIAN)
    c.add(withdrawal)
    c.add(revoked(releases[4], (b,), w + dt.timedelta(seconds=1)))  # type: ignore[arg-type]
    c.add(_viewed(child, 1, p))
    c.add(_viewed(child, 2, w, SOC))
    return c


def merged_into(survivor: Child, merged: uuid.UUID, codec: Codec, now: dt.datetime) -> Child:
    """An id the population register gave the same child before the health system's record
    linked them: a fact and a read under it, then the link."""
    m = Child(merged, survivor.n)
    at = now - dt.timedelta(days=20)
    visit = m.add(event("HealthVisitRecorded", merged, 5, basis=C, org=OTHER_BVC, area=Area.HEALTH, at=at))
    m.add(released(visit, (survivor.consents[0],), codec, at + dt.timedelta(minutes=1)))
    m.add(_viewed(merged, 3, at + dt.timedelta(minutes=2), OTHER_BVC))
    announced = m.add(merge_announcement(Link(merged, survivor.id, at + dt.timedelta(hours=1)),
                                         at + dt.timedelta(hours=1)))
    m.add(released(announced, (), codec, at + dt.timedelta(hours=1, minutes=1)))
    return m


PROTECTED_AT, MOVED_TO = "0764", "0765"  # Alvesta, then Älmhult: never to be given


def protected_life(child: uuid.UUID, codec: Codec, now: dt.datetime) -> Child:
    """A child with skyddad folkbokföring, who moved (a new address, sealed)."""
    c = Child(child, 7)
    at = now - dt.timedelta(days=10)
    born = (now - dt.timedelta(days=4 * 365)).date()
    c.add(event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=born,
                municipality_code=PROTECTED_AT,
                sealed=Personal({"personnummer": personnummer.make(born, 907), "given_name": "Pia",
                                 "family_name": "Skyddadsson", "address": "Gomdvagen 1", "postal_code": "342 30",
                                 "town": "Alvesta"})))
    c.add(event("ProtectionRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=at.date(),
                protection=Protection.SKYDDAD_FOLKBOKFORING))
    c.add(event("ChildMoved", child, 3, basis=D, org="navet", at=at + dt.timedelta(minutes=1),
                from_municipality_code=PROTECTED_AT, to_municipality_code=MOVED_TO, moved_on=at.date(),
                sealed=Personal({"address": "Hemligstigen 9", "postal_code": "343 99", "town": "Älmhult"})))
    c.add(event("HealthUnitListed", child, 4, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=born))
    for e in list(c.events):
        c.add(released(e, (), codec, e.envelope.recorded_at + dt.timedelta(seconds=1)))
    return c


SECTION = {"intake.health": "fact", "intake.school": "fact", "intake.social": "fact", "intake.population": "fact",
           "plan": "plan", "consent": "consent", "statutory.social": "statutory"}
ADDRESS_KEYS = {"address", "postal_code", "town"}


def reference(children: list[Child], *, protected: bool = False, erased: bool = False) -> dict[str, dict[str, Any]]:
    """What the extract must list, by event id: every published event but the access events and
    the releases (those go with their fact), with its date, source, kind, section and text."""
    out: dict[str, dict[str, Any]] = {}
    for child in children:
        for e in child.events:
            topic = TOPIC_OF_EVENT[type(e)].name
            if topic not in SECTION:
                continue
            sealed = e.envelope.sealed
            text = dict(sealed.fields) if isinstance(sealed, Personal) else {}
            if protected:
                text = {k: v for k, v in text.items() if k not in ADDRESS_KEYS}
            if erased:
                text = {k: "[raderad]" for k in SEALED_TEXT.get(type(e), ())}
            out[str(e.event_id)] = {"type": type(e).__name__, "child_id": str(e.child_id),
                                    "occurred_at": e.envelope.occurred_at, "source": e.envelope.source.organisation_id,
                                    "section": SECTION[topic], "text": text}
    return out


def releases_of(children: list[Child]) -> dict[str, list[tuple[str, dt.datetime, dt.datetime | None]]]:
    """fact id -> its releases (release id, released, revoked), from the published events."""
    out: dict[str, list[tuple[str, dt.datetime, dt.datetime | None]]] = {}
    for child in children:
        revocations = {e.fact_event_id: e.envelope.recorded_at for e in child.events if isinstance(e, ReleaseRevoked)}
        for e in child.events:
            if isinstance(e, FactReleased):
                out.setdefault(str(e.fact_event_id), []).append(
                    (str(e.event_id), e.envelope.recorded_at, revocations.get(e.fact_event_id)))
    return out


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the world: broker, read model, audit log, app -------------------------------------------------------------

@dataclass
class World:
    client: TestClient
    settings: Settings
    k: Child
    m: Child
    e: Child
    p: Child
    erased_between: tuple[dt.datetime, dt.datetime]

    def headers(self, who: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.client.app.state.hub.dev_idp.issue(who)}"}  # type: ignore[attr-defined]

    def extract(self, child: uuid.UUID, who: Principal = AUDITOR) -> Any:
        return self.client.get(EXTRACT_PATH.format(child=child), headers=self.headers(who))

    def page(self, child: uuid.UUID, suffix: str = "", who: Principal = AUDITOR) -> Any:
        self.client.cookies.clear()
        self.client.cookies.set("kronobarn_token", self.client.app.state.hub.dev_idp.issue(who))  # type: ignore[attr-defined]
        try:
            return self.client.get(PAGE_PATH.format(child=child) + suffix)
        finally:
            self.client.cookies.clear()


def _with_extract(app: Any) -> None:
    """The extract's routers, unless ``create_app`` includes them already."""
    from services.api.audit import extract
    from services.api.ui import extract as extract_page

    try:
        app.url_path_for("get_register_extract", child_id=str(uuid.uuid4()))
    except NoMatchFound:
        app.include_router(extract.router)
        app.include_router(extract_page.router)


async def _fold(settings: Settings, codec: Codec) -> Projection:
    projection = Projection(codec)
    await rebuild(projection, settings, await offsets.topic_ends(settings, TOPICS))
    return projection


@pytest.fixture(scope="module")
def world(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from services.api.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('extract') / 'hub.db'}"
    settings = Settings(_env_file=None, kafka_bootstrap=broker.bootstrap, database_url=url)  # type: ignore[call-arg]
    asyncio.run(kafka.create_topics(settings))
    engine, codec, store = hub(url)
    now = dt.datetime.now(dt.UTC)
    k = life(uuid.uuid4(), 1, codec, now, family="Karlsdotter")
    m = merged_into(k, uuid.uuid4(), codec, now)
    e = life(uuid.uuid4(), 2, codec, now, family="Eriksdotter")
    p = protected_life(uuid.uuid4(), codec, now)
    asyncio.run(publish(settings, codec, k.events + m.events + e.events + p.events))

    # The projector's fold into the read model, and the audit projector's log, from the topics.
    projection = asyncio.run(_fold(settings, codec))
    mine = {k.id, m.id, e.id, p.id}
    store.write(projection.everyone(), CONSUMER, now)
    plain = Codec(codec.catalogue)
    accesses = [plain.decode(r.value) for r in asyncio.run(read_all(settings, [ACCESS.name]))]
    AuditStore(engine).append([a for a in accesses if isinstance(a, ChildDataViewed) and a.child_id in mine])

    before = dt.datetime.now(dt.UTC)  # E is erased as ``kronobarn keys erase`` does it
    SqlKeyStore(engine, master_key_from(settings)).erase(e.id, reason_code=ERASE_REASON)
    from projections.plan import ERASED_TEXT

    store.scrub_text([e.id], ERASED_TEXT)
    after = dt.datetime.now(dt.UTC)

    app = create_app(settings, engine=engine)  # publishing to the broker, as in production
    _with_extract(app)
    with TestClient(app, follow_redirects=False) as client:
        yield World(client, settings, k, m, e, p, (before, after))
    engine.dispose()


# -- the tests -------------------------------------------------------------------------------------------------

def test_the_extract_is_complete_against_the_published_events(world: World) -> None:
    r = world.extract(world.k.id)
    assert r.status_code == 200, r.text
    got = r.json()
    expected = reference([world.k, world.m])
    entries = {x["event_id"]: x for x in got["entries"]}
    assert set(entries) == set(expected)
    for event_id, want in expected.items():
        entry = entries[event_id]
        assert (entry["type"], entry["child_id"], entry["section"], entry["source"]["id"]) == (
            want["type"], want["child_id"], want["section"], want["source"]), event_id
        assert moment(entry["occurred_at"]) == want["occurred_at"], event_id
        assert entry["text"] == want["text"], event_id
    for fact_id, want_releases in releases_of([world.k, world.m]).items():
        shown = [(x["event_id"], moment(x["released_at"]), x["revoked_at"] and moment(x["revoked_at"]))
                 for x in entries[fact_id]["releases"]]
        assert shown == want_releases, fact_id
    assert [x["recorded_at"] for x in got["entries"]] == sorted(x["recorded_at"] for x in got["entries"])

    register = world.k.events[0].envelope.sealed
    assert isinstance(register, Personal)
    person = got["person"]
    assert person["identity"] == "shown" and not person["protected"]
    assert {k: person[k] for k in ("personnummer", "given_name", "family_name")} == {
        k: register.fields[k] for k in ("personnummer", "given_name", "family_name")}
    assert person["address"] == {k: register.fields[k] for k in ("address", "postal_code", "town")}
    assert sorted(g["name"] for g in person["guardians"]) == ["Maja Karlsdotter", "Olle Karlsdotter"]
    assert person["municipality_code"] == "0780"

    consents = {c["consent_id"]: c for c in got["consents"]}
    a, b = (str(x) for x in world.k.consents)
    assert set(consents) == {a, b}
    assert consents[b]["withdrawn_at"] is not None and consents[a]["withdrawn_at"] is None
    assert {g["name"] for g in consents[a]["grantors"]} == {"Maja Karlsdotter", "Olle Karlsdotter"}

    periods = [(x["organisation"] and x["organisation"]["id"], x["rule"], x["ended_by"], x["reason_code"])
               for x in got["named_person_history"]]
    assert periods[-2:] == [(BHV, "bhv-listed", "transferred", "BARNET_TRYGGT"), (SCHOOL, "transferred", None, None)]
    assert got["named_person"]["id"] == SCHOOL and got["lead"]["id"] == SOC

    views = [str(e.event_id) for e in world.k.events + world.m.events if isinstance(e, ChildDataViewed)]
    logged = {x["event_id"]: x for x in got["access_log"]}
    assert set(views) <= set(logged)
    assert logged[views[-1]]["child_id"] == str(world.m.id)  # seen under the id merged into the child
    assert got["merged_ids"] == [str(world.m.id)] and got["erased"] is None


def test_producing_the_extract_is_logged_on_the_access_topic(world: World) -> None:
    got = world.extract(world.k.id).json()
    records = asyncio.run(read_all(world.settings, [ACCESS.name]))
    plain = Codec()
    mine = [e for e in (plain.decode(r.value) for r in records)
            if isinstance(e, ChildDataViewed) and e.event_id == uuid.UUID(got["logged_as"])]
    assert len(mine) == 1
    viewed = mine[0]
    assert (viewed.child_id, viewed.viewer_id, viewed.role, viewed.organisation_id, viewed.purpose) == (
        world.k.id, AUDITOR.subject, "auditor", REGION, "register-extract")
    assert {"identity", "address", "guardians", "facts", "plan", "consents", "named-person", "audit-log"} <= set(
        viewed.parts)
    assert list(viewed.parts) == got["parts"]


def test_only_auditors_and_administrators_and_only_known_children(world: World) -> None:
    before = len(asyncio.run(read_all(world.settings, [ACCESS.name])))
    assert world.extract(world.k.id, COORDINATOR).status_code == 403
    assert world.extract(uuid.uuid4()).status_code == 404
    assert world.page(world.k.id, who=COORDINATOR).status_code == 403
    assert len(asyncio.run(read_all(world.settings, [ACCESS.name]))) == before  # nothing read, nothing logged
    admin = world.extract(world.k.id, ADMINISTRATOR)
    assert admin.status_code == 200
    assert admin.json()["produced_by"]["role"] == "administrator"
    assert world.client.get(EXTRACT_PATH.format(child=world.k.id)).status_code == 401
    moved = world.extract(world.m.id)
    assert moved.status_code == 308 and moved.headers["location"].endswith(str(world.k.id) + "/extract")
    schema = world.client.get("/openapi.json").json()
    assert "RegisterExtract" in schema["components"]["schemas"]
    assert "/audit/children/{child_id}/extract" in schema["paths"]


def test_the_page_is_swedish_printable_and_lists_the_same_entries(world: World) -> None:
    r = world.page(world.k.id)
    assert r.status_code == 200, r.text
    html = r.text
    assert '<html lang="sv">' in html and "<h1>Registerutdrag" in html and "/static/extract.css" in html
    expected = reference([world.k, world.m])
    for event_id, want in expected.items():
        assert f'id="e-{event_id}"' in html, want["type"]
        for value in want["text"].values():
            assert value in html, (want["type"], value)
    for kind in ("Samverkansmöte", "Insats beslutad", "Område bedömt", "Plan öppnad", "Samtycke lämnat",
                 "Samtycke återkallat", "Folkbokförd", "Orosanmälan vidarebefordrad", "Uppföljning inlagd"):
        assert kind in html, kind
    assert "MeetingHeld</" not in html  # class names only on hover
    for name in (BHV_NAME, SOC_NAME, SCHOOL_NAME, "Region Kronoberg"):
        assert name in html, name
    meeting = next(e for e in world.k.events if type(e).__name__ == "MeetingHeld")
    assert swedish_time(meeting.envelope.occurred_at) in html
    for heading in ("Barnet", "Uppgifter från källsystemen", "Barnets plan", "Samtycken",
                    "Barnensbästa-ansvarig över tid", "Vem har tagit del av barnets uppgifter"):
        assert f">{heading}</h2>" in html, heading
    views = [str(e.event_id) for e in world.k.events + world.m.events if isinstance(e, ChildDataViewed)]
    for view in views:
        assert f'id="a-{view}"' in html

    css = world.client.get("/static/extract.css")
    assert css.status_code == 200 and "@media print" in css.text

    download = world.page(world.k.id, ".json")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert {x["event_id"] for x in json.loads(download.text)["entries"]} == set(expected)


def test_an_erased_child_reveals_nothing_erased(world: World) -> None:
    e = world.e
    assert len(e.plaintext) > 10  # names, personnummer, address, guardians, the plan's free text
    r = world.extract(e.id)
    assert r.status_code == 200, r.text
    page = world.page(e.id)
    assert page.status_code == 200
    for text in (r.text, page.text):
        leaked = [p for p in e.plaintext if p in text]
        assert leaked == []
    got = r.json()
    before, after = world.erased_between
    assert got["erased"]["reason_code"] == ERASE_REASON
    assert before <= moment(got["erased"]["erased_at"]) <= after
    assert got["person"]["identity"] == "erased" and got["person"]["address"] is None
    assert got["person"]["guardians"] == []

    # The skeleton stays: every entry, its date and source; the plan's text reads erased.
    expected = reference([e], erased=True)
    entries = {x["event_id"]: x for x in got["entries"]}
    assert set(entries) == set(expected)
    for event_id, want in expected.items():
        entry = entries[event_id]
        assert (entry["type"], entry["source"]["id"], moment(entry["occurred_at"])) == (
            want["type"], want["source"], want["occurred_at"])
        assert entry["text"] == want["text"], want["type"]
        if want["type"] in ("ChildRegistered", "CustodyRecorded", "MeetingHeld"):
            assert entry["text_state"] == "erased"
    views = {str(x.event_id) for x in e.events if isinstance(x, ChildDataViewed)}
    assert views <= {x["event_id"] for x in got["access_log"]}
    assert "Barnets uppgifter är raderade" in page.text and ERASE_REASON in page.text
    assert swedish_time(moment(got["erased"]["erased_at"])) in page.text


def test_a_protected_child_is_named_but_its_address_and_municipality_never_given(world: World) -> None:
    p = world.p
    r = world.extract(p.id)
    assert r.status_code == 200, r.text
    page = world.page(p.id)
    assert page.status_code == 200
    got = r.json()
    assert got["person"]["protected"] and got["person"]["given_name"] == "Pia"
    assert got["person"]["address"] is None and got["person"]["municipality_code"] is None
    addresses = ["Gomdvagen 1", "342 30", "Hemligstigen 9", "343 99"]
    for text in (r.text, page.text):
        assert [a for a in addresses if a in text] == []
        assert "Skyddadsson" in text
    for place in ("Alvesta", "Älmhult", "kommunkod 0764", "kommunkod 0765"):
        assert place not in page.text, place
    for entry in got["entries"]:
        assert not {k for k in entry["fields"] if k.endswith("municipality_code")}, entry["type"]
        assert not ADDRESS_KEYS & set(entry["text"]), entry["type"]
    moved = next(x for x in got["entries"] if x["type"] == "ChildMoved")
    assert moved["text_state"] == "withheld"
    assert set(entries_of(got)) == set(reference([p], protected=True))


def entries_of(got: dict[str, Any]) -> list[str]:
    return [x["event_id"] for x in got["entries"]]



def test_an_erased_child_the_read_model_no_longer_has_still_gets_its_extract(world: World) -> None:
    gone = uuid.uuid4()
    assert world.extract(gone).status_code == 404
    engine = world.client.app.state.hub.engine  # type: ignore[attr-defined]
    SqlKeyStore(engine, master_key_from(world.settings)).erase(gone, reason_code="TEST_GONE")
    r = world.extract(gone)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["erased"]["reason_code"] == "TEST_GONE" and got["person"]["identity"] == "erased"
    assert got["entries"] == [] and got["plan"] is None
