"""A small county in a real read model, for the web service's tests.

Children's events are folded with ``projections.child_state.apply`` and written with
``ReadModel.write``, as the projector does. Facts reach the plan as the gate's ``FactReleased``
(the source event's bytes inside); directory facts are folded as the projector gets them,
sealed and unopened, so the read model keeps each child's identity as ciphertext under its key.
Each child has a synthetic identity (``County.identity``): a personnummer the identity
registry knows (``register_identities``), a name, an address, and its guardians' names.
The publish port collects events, and can stand in for the projectors: ``Applying`` folds each
plan/consent event into the child's state and writes it again, and logs access events in the
audit store, so what a form posts shows on the next page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from connectors import personnummer
from projections import child_state
from projections.audit_store import AuditStore
from projections.child_state import ChildState
from projections.read_model import Batch
from schemas.codec import Codec
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildDataErased,
    ChildDataViewed,
    ConsentWithdrawn,
    EmergencyAccessOpened,
    Envelope,
    Event,
    FactReleased,
    Grantor,
    GrantorRole,
    Protection,
    ReleaseRevoked,
    ReportOfConcernFiled,
    ReportOfConcernRouted,
    SchoolType,
    Source,
)
from schemas.sealing import Personal
from services.api.auth.tokens import Principal, Role
from services.dev.samples import sample_event, scoped_grant
from services.ingest.identity import DEV_IDENTITY_SECRET
from services.readmodel.engine import named_person_config, read_model
from services.settings import Settings
from services.sql.schema import identity_handles
from tests.support.history import event

BHV = "SE2321000065-BHV0780"  # Barnavårdscentralen Växjö in the synthetic county
SOC = "kommun-0780-soc"
KAA = "kommun-0780-kaa"
SCHOOL = "skola-test-1"
OTHER_SCHOOL = "skola-test-2"
OUTSIDER = "SE2321000065-BHV0781"  # Ljungby's BVC: in no test child's scope
CONSUMER = "projector"

COORDINATOR_BHV = Principal("test-bhv", Role.COORDINATOR, BHV, "Samordnare BVC Växjö")
COORDINATOR_SOC = Principal("test-soc", Role.COORDINATOR, SOC, "Samordnare socialtjänsten Växjö")
COORDINATOR_SCHOOL = Principal("test-school", Role.COORDINATOR, SCHOOL, "Samordnare skola")
COORDINATOR_OUTSIDE = Principal("test-outsider", Role.COORDINATOR, OUTSIDER, "Samordnare BVC Ljungby")
AUDITOR = Principal("test-auditor", Role.AUDITOR, "SE2321000065", "Granskare")
ADMINISTRATOR = Principal("test-admin", Role.ADMINISTRATOR, "SE2321000065", "Administratör")


def released(fact: Event, consent_ids: tuple[uuid.UUID, ...], codec: Codec, at: dt.datetime) -> FactReleased:
    """The gate's release of ``fact`` under ``consent_ids``."""
    template = sample_event("FactReleased", seed=1, child_id=fact.child_id)
    env = replace(template.envelope, event_id=uuid.uuid5(fact.event_id, "released"), occurred_at=at, recorded_at=at,
                  source=Source("gate", fact.envelope.source.organisation_id, str(fact.event_id), "1"),
                  basis=fact.envelope.basis, category=fact.envelope.category, area=fact.envelope.area, sealed=None)
    return replace(template, envelope=env, fact_event_id=fact.event_id, fact_type=type(fact).__name__,
                   consent_ids=consent_ids, fact=codec.encode(fact))


def revoked(release: FactReleased, ended: tuple[uuid.UUID, ...], at: dt.datetime) -> ReleaseRevoked:
    template = sample_event("ReleaseRevoked", seed=1, child_id=release.child_id)
    env = replace(template.envelope, event_id=uuid.uuid5(release.event_id, "revoked"), occurred_at=at,
                  recorded_at=at, source=release.envelope.source, basis=release.envelope.basis,
                  category=release.envelope.category, area=release.envelope.area, sealed=None)
    return replace(template, envelope=env, fact_event_id=release.fact_event_id, ended_consent_ids=ended)


@dataclass
class County:
    """Four children: A with a plan and consent (BHV named person, SOC lead), B at school with
    no consent (another school's principal), C on Växjö's gaps list, D unborn-free plain child
    whose plan the school opened under consent (school participant)."""

    now: dt.datetime
    codec: Codec
    a: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=1001, version=4))
    b: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=1002, version=4))
    c: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=1003, version=4))
    d: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=1004, version=4))
    consent_a: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=2001, version=4))
    consent_d: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=2004, version=4))
    plan_a: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=3001, version=4))
    plan_d: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=3004, version=4))
    action_a: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=4001, version=4))
    releases: dict[uuid.UUID, list[FactReleased]] = field(default_factory=dict)

    e: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=1005, version=4))  # see ``unplanned``
    p: uuid.UUID = field(default_factory=lambda: uuid.UUID(int=1009, version=4))  # see ``protected_child``

    def guardians(self, child: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
        return uuid.uuid5(child, "guardian-1"), uuid.uuid5(child, "guardian-2")

    # -- the children as persons (synthetic: serials 900-999, invented names and streets) -------------

    def born(self, child: uuid.UUID) -> dt.date:
        years = {self.a: 5, self.b: 10, self.c: 8, self.d: 9, self.e: 3, self.p: 4}[child]
        return self.now.date() - dt.timedelta(days=years * 365)

    def identity(self, child: uuid.UUID) -> dict[str, str]:
        """The sealed fields of the child's ``ChildRegistered``, under the agreed keys."""
        n, given, family = {self.a: (1, "Alva", "Lind"), self.b: (2, "Björn", "Åberg"), self.c: (3, "Cecilia", "Öst"),
                            self.d: (4, "David", "Ek"), self.e: (5, "Elsa", "Berg"), self.p: (9, "Pia", "Skog")}[child]
        town = "Alvesta" if child == self.p else "Växjö"
        return {"personnummer": personnummer.make(self.born(child), 900 + n), "given_name": given,
                "family_name": family, "address": f"Testgatan {n}", "postal_code": f"35{n} 30", "town": town}

    def personnummer(self, child: uuid.UUID) -> str:
        return self.identity(child)["personnummer"]

    def guardian_names(self, child: uuid.UUID) -> dict[uuid.UUID, str]:
        family = self.identity(child)["family_name"]
        return dict(zip(self.guardians(child), (f"Anna {family}", f"Per {family}"), strict=True))

    def _registered(self, child: uuid.UUID, at: dt.datetime, municipality: str = "0780") -> list[Event]:
        D = Basis.DIRECTORY
        names = {f"guardian:{g}": name for g, name in self.guardian_names(child).items()}
        return [
            event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=self.born(child),
                  municipality_code=municipality, sealed=Personal(self.identity(child))),
            event("CustodyRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=self.born(child),
                  guardian_ids=self.guardians(child), sealed=Personal(names)),
        ]

    def grants(self, child: uuid.UUID) -> tuple[Grantor, ...]:
        """Both guardians' grants, as the consent rules require for these young children."""
        return tuple(Grantor(g, GrantorRole.GUARDIAN) for g in self.guardians(child))

    def events(self) -> list[Event]:
        now, D = self.now, Basis.DIRECTORY
        at = now - dt.timedelta(days=30)
        out: list[Event] = []
        for child in (self.a, self.b, self.c, self.d):
            out += [*self._registered(child, at),
                    event("HealthUnitListed", child, 3, basis=D, org=BHV, at=at, unit_id=BHV,
                          listed_on=self.born(child))]
        for child, school in ((self.b, OTHER_SCHOOL), (self.d, SCHOOL)):
            out.append(event("SchoolPlacementStarted", child, 4, basis=D, org=school, at=at, placement_id=f"p-{child}",
                             school_unit_id=school, school_type=SchoolType.COMPULSORY, municipality_code="0780",
                             start_date=now.date() - dt.timedelta(days=400)))
        # C left school and has no placement since: on Växjö's gaps list.
        out += [
            event("SchoolPlacementStarted", self.c, 4, basis=D, org=OTHER_SCHOOL, at=at, placement_id=f"p-{self.c}",
                  school_unit_id=OTHER_SCHOOL, school_type=SchoolType.COMPULSORY, municipality_code="0780",
                  start_date=now.date() - dt.timedelta(days=700)),
            event("SchoolPlacementEnded", self.c, 5, basis=D, org=OTHER_SCHOOL, at=at, placement_id=f"p-{self.c}",
                  school_unit_id=OTHER_SCHOOL, school_type=SchoolType.COMPULSORY,
                  end_date=now.date() - dt.timedelta(days=300)),
        ]
        out += self._child_a(at) + self._child_d(at)
        return out

    def log(self) -> list[Event]:
        """``events`` as the event log holds them once the gate has run: each directory fact also
        forwarded to ``shared``, where the auditors' time travel reads the child's register."""
        events = self.events()
        return events + [released(e, (), self.codec, e.envelope.recorded_at) for e in events
                         if e.envelope.basis is Basis.DIRECTORY and not isinstance(e, FactReleased)]

    @property
    def everyone(self) -> tuple[uuid.UUID, ...]:
        return self.a, self.b, self.c, self.d, self.e, self.p

    def unplanned(self) -> tuple[uuid.UUID, uuid.UUID, list[Event]]:
        """A further child, E: three years old, listed at BHV (its named person), a consent naming
        BHV and SOC, no plan yet. Not part of ``events``; for tests that open a plan."""
        e, consent_id, D = self.e, uuid.UUID(int=2005, version=4), Basis.DIRECTORY
        at, born = self.now - dt.timedelta(days=3), self.born(e)
        return e, consent_id, [
            *self._registered(e, at),
            event("HealthUnitListed", e, 3, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=born),
            scoped_grant(e, consent_id, [Category.HEALTH, Category.SOCIAL], [BHV, SOC], at - dt.timedelta(days=1),
                         self.now + dt.timedelta(days=200), grantors=self.grants(e)),
        ]

    PROTECTED_MUNICIPALITY, MOVED_TO = "0764", "0765"  # Alvesta, then Älmhult: never to be shown
    MOVED_ADDRESS = {"address": "Skyddsvägen 77", "postal_code": "343 77", "town": "Älmhult"}

    def protected_child(self) -> tuple[uuid.UUID, uuid.UUID, list[Event]]:
        """A further child, P, with skyddad folkbokföring: listed at BHV (its named person), a
        consent naming BHV, SOC and SCHOOL, a plan BHV opened whose lead SOC became at a meeting
        with SCHOOL taking part; it moved (a new sealed address) and a report of concern names
        its municipality. Not part of ``events``."""
        p, consent_id = self.p, uuid.UUID(int=2009, version=4)
        at, D, C = self.now - dt.timedelta(days=20), Basis.DIRECTORY, Basis.CONSENT
        grant = scoped_grant(p, consent_id, [Category.HEALTH, Category.SCHOOL, Category.SOCIAL], [BHV, SOC, SCHOOL],
                             at - dt.timedelta(days=1), self.now + dt.timedelta(days=300), grantors=self.grants(p))
        facts = [event("HealthVisitRecorded", p, 5, basis=C, org=BHV, area=Area.HEALTH, at=at),
                 event("ReportOfConcernReceived", p, 6, basis=Basis.STATUTORY, org=SOC, area=Area.SAFETY, at=at,
                       municipality_code=self.MOVED_TO)]
        self.releases[p] = [released(f, (consent_id,), self.codec, at + dt.timedelta(minutes=1)) for f in facts]
        plan_id = uuid.UUID(int=3009, version=4)
        return p, consent_id, [
            *self._registered(p, at, self.PROTECTED_MUNICIPALITY),
            event("HealthUnitListed", p, 3, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=self.born(p)),
            event("ProtectionRecorded", p, 4, basis=D, org="navet", at=at, protection=Protection.SKYDDAD_FOLKBOKFORING,
                  recorded_on=at.date()),
            event("ChildMoved", p, 7, basis=D, org="navet", at=at + dt.timedelta(minutes=1),
                  from_municipality_code=self.PROTECTED_MUNICIPALITY, to_municipality_code=self.MOVED_TO,
                  moved_on=at.date(), sealed=Personal(self.MOVED_ADDRESS)),
            grant, *facts, *self.releases[p],
            event("PlanOpened", p, 10, basis=C, org=BHV, at=at + dt.timedelta(minutes=2), plan_id=plan_id,
                  opened_by_org=BHV, consent_ids=(consent_id,)),
            event("MeetingHeld", p, 11, basis=C, org=BHV, at=at + dt.timedelta(minutes=3), plan_id=plan_id,
                  meeting_id=uuid.uuid5(p, "m1"), held_on=(at + dt.timedelta(minutes=3)).date(),
                  participant_orgs=(BHV, SOC, SCHOOL), lead_org=SOC,
                  sealed=Personal({"decisions": "Socialtjänsten leder planen."})),
        ]

    def _child_a(self, at: dt.datetime) -> list[Event]:
        a, C = self.a, Basis.CONSENT
        grant = scoped_grant(a, self.consent_a, [Category.HEALTH, Category.SCHOOL, Category.SOCIAL],
                             [BHV, SOC, SCHOOL], at - dt.timedelta(days=1), self.now + dt.timedelta(days=300),
                             grantors=self.grants(a))
        facts = [
            event("HealthVisitRecorded", a, 5, basis=C, org=BHV, area=Area.HEALTH, at=at),
            event("InvestigationOpened", a, 6, basis=C, org=SOC, area=Area.HOME, at=at),
            event("AbsenceSummarised", a, 7, basis=C, org=SCHOOL, area=Area.LEARNING, at=at),
        ]
        self.releases[a] = [released(f, (self.consent_a,), self.codec, at + dt.timedelta(minutes=1)) for f in facts]
        plan = [
            event("PlanOpened", a, 10, basis=C, org=BHV, at=at + dt.timedelta(minutes=2), plan_id=self.plan_a,
                  opened_by_org=BHV, consent_ids=(self.consent_a,)),
            event("MeetingHeld", a, 11, basis=C, org=BHV, at=at + dt.timedelta(minutes=3), plan_id=self.plan_a,
                  meeting_id=uuid.uuid5(a, "m1"), held_on=(at + dt.timedelta(minutes=3)).date(),
                  participant_orgs=(BHV, SOC), lead_org=SOC,
                  sealed=Personal({"decisions": "Socialtjänsten leder planen.", "notes": "Syntetiskt"})),
            event("AreaAssessed", a, 12, basis=C, org=BHV, area=Area.HEALTH, at=at + dt.timedelta(minutes=4),
                  plan_id=self.plan_a, rating=2, assessed_by_org=BHV,
                  sealed=Personal({"comment": "Sover dåligt", "child_view": "Jag är trött",
                                   "guardians_view": "Vi oroar oss"})),
            event("ActionAgreed", a, 13, basis=C, org=SOC, area=Area.HEALTH, at=at + dt.timedelta(minutes=5),
                  plan_id=self.plan_a, action_id=self.action_a, responsible_org=BHV,
                  due_on=self.now.date() + dt.timedelta(days=60),
                  sealed=Personal({"need": "Bättre sömn", "what": "Sömnrådgivning"})),
            event("FollowUpScheduled", a, 14, basis=C, org=SOC, at=at + dt.timedelta(minutes=6), plan_id=self.plan_a,
                  follow_up_id=uuid.uuid5(a, "f1"), due_on=self.now.date() + dt.timedelta(days=90),
                  sealed=Personal({"what": "Uppföljning av sömnen"})),
        ]
        return [grant, *facts, *self.releases[a], *plan]

    def _child_d(self, at: dt.datetime) -> list[Event]:
        d, C = self.d, Basis.CONSENT
        grant = scoped_grant(d, self.consent_d, [Category.HEALTH], [SCHOOL], at - dt.timedelta(days=1),
                             self.now + dt.timedelta(days=300), grantors=self.grants(d))
        fact = event("HealthVisitRecorded", d, 5, basis=C, org=BHV, area=Area.HEALTH, at=at)
        self.releases[d] = [released(fact, (self.consent_d,), self.codec, at + dt.timedelta(minutes=1))]
        opened = event("PlanOpened", d, 10, basis=C, org=SCHOOL, at=at + dt.timedelta(minutes=2), plan_id=self.plan_d,
                       opened_by_org=SCHOOL, consent_ids=(self.consent_d,))
        return [grant, fact, *self.releases[d], opened]


class ReadModelWorld:
    """The county's states, folded and written; more events can be applied and written again."""

    def __init__(self, engine: Engine, county: County, settings: Settings) -> None:
        self.engine, self.county = engine, county
        self.store = read_model(engine, settings)
        self.states: dict[uuid.UUID, ChildState] = {}
        self._lock = threading.Lock()
        self._unopened = Codec(county.codec.catalogue)
        self.apply(county.events())

    def _as_projected(self, e: Event) -> Event:
        """A directory fact as the projector folds it: sealed with the child's key, not opened."""
        if e.envelope.basis is Basis.DIRECTORY and isinstance(e.envelope.sealed, Personal):
            return self._unopened.decode(self.county.codec.encode(e))  # type: ignore[return-value]
        return e

    def apply(self, events: list[Event]) -> None:
        with self._lock:
            touched = set()
            for e in map(self._as_projected, events):
                before = self.states.get(e.child_id) or ChildState.new(e.child_id)
                self.states[e.child_id] = child_state.apply(before, e)
                touched.add(e.child_id)
            batch = Batch(states={c: self.states[c] for c in touched})
            self.store.write(batch, CONSUMER, self.county.now)

    def withdraw(self, child: uuid.UUID, consent_id: uuid.UUID, at: dt.datetime) -> None:
        """The consent withdrawn and, as the gate does, every release it covered revoked."""
        template = sample_event("ConsentWithdrawn", seed=7, child_id=child)
        env = replace(template.envelope, event_id=uuid.uuid5(consent_id, "withdrawn"), occurred_at=at, recorded_at=at,
                      sealed=None)
        withdrawal: ConsentWithdrawn = replace(template, envelope=env, consent_id=consent_id)
        revocations = [revoked(r, (consent_id,), at) for r in self.county.releases.get(child, [])
                       if consent_id in r.consent_ids]
        self.apply([withdrawal, *revocations])


class Collecting:
    """A publish port that keeps every event (and encodes it, as Kafka would, to catch bad ones)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.codec.encode(event)
        self.events.append(event)

    def of(self, kind: type) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def views(self) -> list[ChildDataViewed]:
        return self.of(ChildDataViewed)  # type: ignore[return-value]


class Applying(Collecting):
    """Collects, and stands in for the projectors: plan and consent events are folded into the
    read model, access events appended to the audit store."""

    def __init__(self, codec: Codec, world: ReadModelWorld) -> None:
        super().__init__(codec)
        self.world = world
        self.audit = AuditStore(world.engine)

    async def __call__(self, event: Event) -> None:
        await super().__call__(event)
        blob = self.codec.encode(event)
        decoded = self.codec.decode(blob)  # as the projector would see it
        if isinstance(decoded, ChildDataViewed | EmergencyAccessOpened | ChildDataErased):
            await asyncio.to_thread(self.audit.append, [decoded])
        elif isinstance(decoded, ReportOfConcernFiled):  # the gate's part: routed, never held
            state = self.world.states.get(decoded.child_id)
            home = None if state is None else state.resident.municipality_code
            await asyncio.to_thread(self.world.apply, [routed(decoded, blob, home, decoded.envelope.recorded_at)])
        else:
            await asyncio.to_thread(self.world.apply, [decoded])


def routed(filed: ReportOfConcernFiled, blob: bytes, home: str | None, at: dt.datetime) -> ReportOfConcernRouted:
    """A small reference of the gate's routing of a report filed through the hub (DESIGN §6): to
    the child's home municipality as the population register gives it, or, with none known, to
    where the reporting unit is; the filed event's bytes inside, sealed as they came."""
    return ReportOfConcernRouted(
        envelope=route_envelope(ReportOfConcernRouted, filed, filed.event_id, at),
        municipality_code=home or filed.reporter_municipality_code, report_event_id=filed.event_id, report=blob,
        reporter_category=filed.reporter_category, acute=filed.acute, filed_in_hub=True,
        reported_at=filed.envelope.occurred_at)


def route_envelope(kind: type[Event], filed: Event, report_event_id: uuid.UUID, at: dt.datetime,
                   org: str | None = None) -> Envelope:
    """An envelope for an event of the statutory route about a filed report (``org``: its source)."""
    return Envelope(event_id=uuid.uuid5(report_event_id, kind.__name__), type=kind.__name__, child_id=filed.child_id,
                    occurred_at=at, recorded_at=at,
                    source=Source("test-route", org or filed.envelope.source.organisation_id, str(report_event_id), "1"),
                    basis=Basis.STATUTORY, category=filed.envelope.category, area=filed.envelope.area)


class EmptyHistory:
    """The auditors' history port with an empty event log (``services.readmodel.history`` reads Kafka)."""

    async def child_history(self, settings: Settings, codec: Codec, child_id: uuid.UUID) -> list[Any]:
        return []

    async def plan_as_seen(self, settings: Settings, codec: Codec, child_id: uuid.UUID, viewer_org: str,
                           at: dt.datetime, grants: Any = ()) -> Any:
        from projections.named_person import assignment
        from services.readmodel.history import SeenPlan

        state = ChildState.new(child_id)
        return SeenPlan(child_id, viewer_org, at, state, assignment(state.life, at.date(), named_person_config(settings)),
                        (), ())


def register_identities(engine: Engine, county: County, secret: bytes = DEV_IDENTITY_SECRET) -> None:
    """The identity registry's index for the county's children, as resolution would leave it
    (HMAC-SHA256 of "PERSONNUMMER:<canonical number>" under the county secret); written here
    directly because the county's ids are fixed, not drawn by the registry."""
    with engine.begin() as c:
        for child in county.everyone:
            handle = hmac.new(secret, f"PERSONNUMMER:{county.personnummer(child)}".encode(), hashlib.sha256)
            c.execute(insert(identity_handles).values(handle_hmac=handle.hexdigest(), child_id=str(child),
                                                      kind="PERSONNUMMER", handle_sealed=None,
                                                      created_at=county.now))


@dataclass
class Harness:
    """The app on a fresh SQLite read model holding the county, with a collecting publish port."""

    app: Any
    world: ReadModelWorld
    county: County
    publish: Collecting
    settings: Settings

    def token(self, principal: Principal) -> str:
        return self.app.state.hub.dev_idp.issue(principal)

    def headers(self, principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(principal)}"}


def harness(path: Path, *, applying: bool = False, url: str | None = None, **overrides: Any) -> Harness:
    from schemas.sealing import Sealer
    from services.api.app import create_app
    from services.sql.db import make_engine, migrate
    from services.sql.keystore import SqlKeyStore, master_key_from

    settings = Settings(_env_file=None, database_url=url or f"sqlite:///{path / 'hub.db'}", **overrides)  # type: ignore[call-arg]
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    codec = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
    county = County(dt.datetime.now(dt.UTC), codec)
    world = ReadModelWorld(engine, county, settings)
    register_identities(engine, county)
    publish = Applying(codec, world) if applying else Collecting(codec)
    app = create_app(settings, publish=publish, engine=engine)
    app.state.hub.history = EmptyHistory()
    return Harness(app, world, county, publish, settings)
