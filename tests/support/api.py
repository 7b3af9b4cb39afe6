"""A small county in a real read model, for the web service's tests.

Children's events are folded with ``projections.child_state.apply`` and written with
``ReadModel.write``, as the projector does. Facts reach the plan as the gate's ``FactReleased``
(the source event's bytes inside). The publish port collects events, and can stand in for the
projectors: ``Applying`` folds each plan/consent event into the child's state and writes it
again, and logs access events in the audit store, so what a form posts shows on the next page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from projections import child_state
from projections.audit_store import AuditStore
from projections.child_state import ChildState
from projections.read_model import Batch
from schemas.codec import Codec
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildDataViewed,
    ConsentWithdrawn,
    EmergencyAccessOpened,
    Event,
    FactReleased,
    Grantor,
    GrantorRole,
    ReleaseRevoked,
    SchoolType,
    Source,
)
from schemas.sealing import Personal
from services.api.auth.tokens import Principal, Role
from services.dev.samples import sample_event, scoped_grant
from services.readmodel.engine import named_person_config, read_model
from services.settings import Settings
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

    def guardians(self, child: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
        return uuid.uuid5(child, "guardian-1"), uuid.uuid5(child, "guardian-2")

    def grants(self, child: uuid.UUID) -> tuple[Grantor, ...]:
        """Both guardians' grants, as the consent rules require for these young children."""
        return tuple(Grantor(g, GrantorRole.GUARDIAN) for g in self.guardians(child))

    def events(self) -> list[Event]:
        now, D, C = self.now, Basis.DIRECTORY, Basis.CONSENT
        at = now - dt.timedelta(days=30)
        out: list[Event] = []
        for child, born in ((self.a, now.date() - dt.timedelta(days=5 * 365)),
                            (self.b, now.date() - dt.timedelta(days=10 * 365)),
                            (self.c, now.date() - dt.timedelta(days=8 * 365)),
                            (self.d, now.date() - dt.timedelta(days=9 * 365))):
            out += [
                event("ChildRegistered", child, 1, basis=D, org="navet", at=at, birth_date=born,
                      municipality_code="0780"),
                event("CustodyRecorded", child, 2, basis=D, org="navet", at=at, recorded_on=born,
                      guardian_ids=self.guardians(child)),
                event("HealthUnitListed", child, 3, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=born),
            ]
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

    def unplanned(self) -> tuple[uuid.UUID, uuid.UUID, list[Event]]:
        """A further child, E: three years old, listed at BHV (its named person), a consent naming
        BHV and SOC, no plan yet. Not part of ``events``; for tests that open a plan."""
        e, consent_id, D = uuid.UUID(int=1005, version=4), uuid.UUID(int=2005, version=4), Basis.DIRECTORY
        at, born = self.now - dt.timedelta(days=3), self.now.date() - dt.timedelta(days=3 * 365)
        return e, consent_id, [
            event("ChildRegistered", e, 1, basis=D, org="navet", at=at, birth_date=born, municipality_code="0780"),
            event("CustodyRecorded", e, 2, basis=D, org="navet", at=at, recorded_on=born,
                  guardian_ids=self.guardians(e)),
            event("HealthUnitListed", e, 3, basis=D, org=BHV, at=at, unit_id=BHV, listed_on=born),
            scoped_grant(e, consent_id, [Category.HEALTH, Category.SOCIAL], [BHV, SOC], at - dt.timedelta(days=1),
                         self.now + dt.timedelta(days=200), grantors=self.grants(e)),
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
        self.apply(county.events())

    def apply(self, events: list[Event]) -> None:
        with self._lock:
            touched = set()
            for e in events:
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
        decoded = self.codec.decode(self.codec.encode(event))  # as the projector would see it
        if isinstance(decoded, ChildDataViewed | EmergencyAccessOpened):
            await asyncio.to_thread(self.audit.append, [decoded])
        else:
            await asyncio.to_thread(self.world.apply, [decoded])


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


def harness(path: Path, *, applying: bool = False, url: str | None = None) -> Harness:
    from schemas.sealing import Sealer
    from services.api.app import create_app
    from services.sql.db import make_engine, migrate
    from services.sql.keystore import SqlKeyStore, master_key_from

    settings = Settings(_env_file=None, database_url=url or f"sqlite:///{path / 'hub.db'}")  # type: ignore[call-arg]
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    codec = Codec(sealer=Sealer(SqlKeyStore(engine, master_key_from(settings))))
    county = County(dt.datetime.now(dt.UTC), codec)
    world = ReadModelWorld(engine, county, settings)
    publish = Applying(codec, world) if applying else Collecting(codec)
    app = create_app(settings, publish=publish, engine=engine)
    app.state.hub.history = EmptyHistory()
    return Harness(app, world, county, publish, settings)
