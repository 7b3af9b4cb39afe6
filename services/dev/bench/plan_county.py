"""A read model for the synthetic county, built without a broker, for the plan-page bench.

Each child of ``connectors.standins.county.County`` becomes the events the connectors and the
gate would have produced for it (register, custody, listing, placements, KAA; for one child in
three also a consent, released facts and a plan with a meeting, assessments, actions and a
follow-up), folded with the projector's own ``child_state.apply`` and written with
``ReadModel.write``. So the rows are what the live path would write, at county scale, in a
fraction of the time a full run through Kafka takes.

Events are copies of one sample per type (``services.dev.samples``) with the child's details
replaced: building 45,000 children's events must not dominate the bench.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from connectors.standins.county import Child, County
from projections import child_state
from projections.child_state import ChildState
from projections.consent_rules import ChildStatus, required, swedish_day
from projections.read_model import Batch
from schemas.codec import Codec
from schemas.county import CountyDirectory
from schemas.events import Area, Basis, Category, Event, SchoolType, Source
from schemas.sealing import Personal
from schemas.topics import TOPIC_OF_EVENT
from services.county import county_directory
from services.dev.samples import sample_event
from services.readmodel.engine import read_model
from services.settings import Settings

NAMESPACE = uuid.UUID("7c1e4b9a-2d3f-4a5b-9c8d-1e2f3a4b5c6d")
CONSUMER = "bench-plan-page"
WRITE_CHILDREN = 2_000
PLAN_EVERY = 3  # one child in three has a consent and a plan
CATEGORY_OF_TOPIC = {"intake.health": Category.HEALTH, "intake.school": Category.SCHOOL,
                     "intake.social": Category.SOCIAL, "intake.population": Category.POPULATION,
                     "plan": Category.PLAN, "consent": Category.CONSENT, "shared": Category.PLAN}
_TEMPLATES: dict[str, Event] = {}


def child_id_of(index: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"child|{index}")


class ChildEvents:
    """The events of one county child, numbered so every event id is deterministic."""

    def __init__(self, county: County, child: Child, codec: Codec, at: dt.datetime) -> None:
        self.county, self.child, self.codec, self.at = county, child, codec, at
        self.child_id = child_id_of(child.index)
        self.n = 0

    def event(self, name: str, *, org: str, basis: Basis = Basis.DIRECTORY, area: Area | None = None,
              sealed: Personal | None = None, **fields: Any) -> Event:
        self.n += 1
        template = _TEMPLATES.get(name) or _TEMPLATES.setdefault(name, sample_event(name, seed=1))
        env = replace(template.envelope, event_id=uuid.uuid5(self.child_id, f"{name}|{self.n}"), child_id=self.child_id,
                      type=name, basis=basis, category=CATEGORY_OF_TOPIC[TOPIC_OF_EVENT[type(template)].name],
                      area=area, occurred_at=self.at, recorded_at=self.at, sealed=sealed,
                      source=Source("bench", org, f"{name}-{self.n}", "1"))
        return replace(template, envelope=env, **fields)

    def all(self) -> Iterator[Event]:
        yield from self.directory()
        if self.child.born and self.child.index % PLAN_EVERY == 0:
            yield from self.plan()

    def directory(self) -> Iterator[Event]:
        c, county = self.child, self.county
        code = c.municipality_code
        if not c.born:
            yield self.event("PregnancyRegistered", org=county.unit("MHV", code).id,
                             unit_id=county.unit("MHV", code).id, municipality_code=code,
                             expected_birth_date=c.birth_date)
            return
        yield self.event("ChildRegistered", org="navet", birth_date=c.birth_date, municipality_code=code)
        yield self.event("CustodyRecorded", org="navet", recorded_on=c.birth_date,
                         guardian_ids=tuple(uuid.uuid5(NAMESPACE, g.personnummer) for g in c.guardians))
        bhv = county.unit("BHV", code).id
        yield self.event("HealthUnitListed", org=bhv, unit_id=bhv, listed_on=c.birth_date + dt.timedelta(days=7))
        for moved_on, to in c.moves:
            yield self.event("ChildMoved", org="navet", to_municipality_code=to, moved_on=moved_on)
        for p in c.placements:
            school_type = SchoolType(p.school_type)
            yield self.event("SchoolPlacementStarted", org=p.unit_id, placement_id=p.id, school_unit_id=p.unit_id,
                             school_type=school_type, municipality_code=county.unit_by_id[p.unit_id].municipality_code,
                             start_date=p.start)
            if p.end is not None:
                yield self.event("SchoolPlacementEnded", org=p.unit_id, placement_id=p.id, school_unit_id=p.unit_id,
                                 school_type=school_type, end_date=p.end)
        if c.kaa_from is not None:
            yield self.event("KaaRegistered", org=county.unit("KAA", code).id, municipality_code=code,
                             registered_on=c.kaa_from)

    def plan(self) -> Iterator[Event]:
        c, code = self.child, self.child.municipality_code
        bhv, soc = self.county.unit("BHV", code).id, self.county.unit("SOCIAL", code).id
        school = c.placements[-1].unit_id if c.placements else bhv
        orgs = sorted({bhv, school, soc})
        consent_id, plan_id = uuid.uuid5(self.child_id, "consent"), uuid.uuid5(self.child_id, "plan")
        grant = self.event("ConsentGranted", org=school, basis=Basis.CONSENT)
        # Granted by whoever the register requires when it is given, so it is in force.
        status = ChildStatus(self.child_id, c.birth_date,
                             frozenset(uuid.uuid5(NAMESPACE, g.personnummer) for g in c.guardians))
        grantors = tuple(sorted(required(status, swedish_day(grant.envelope.occurred_at)), key=str))
        yield replace(grant, consent_id=consent_id, categories=(Category.HEALTH, Category.SCHOOL, Category.SOCIAL),
                      recipients=tuple(orgs), source_organisations=None, areas=None, grantors=grantors,
                      valid_from=self.at - dt.timedelta(days=30), valid_to=self.at + dt.timedelta(days=365))
        facts = [
            self.event("HealthVisitRecorded", org=bhv, basis=Basis.CONSENT, area=Area.HEALTH, unit_id=bhv,
                       visit_type="hembesök", visited_on=self.at.date()),
            self.event("AbsenceSummarised", org=school, basis=Basis.CONSENT, area=Area.LEARNING,
                       school_unit_id=school, period_start=self.at.date() - dt.timedelta(days=30),
                       period_end=self.at.date(), absence_percent=12.0, unexcused_percent=4.0),
            self.event("InvestigationOpened", org=soc, basis=Basis.CONSENT, area=Area.HOME, case_id=f"c-{c.index}",
                       opened_on=self.at.date()),
        ]
        for fact in facts:
            yield self.released(fact, consent_id)
        yield self.event("PlanOpened", org=school, basis=Basis.CONSENT, plan_id=plan_id, opened_by_org=school,
                         consent_ids=(consent_id,))
        yield self.event("MeetingHeld", org=school, basis=Basis.CONSENT, plan_id=plan_id,
                         meeting_id=uuid.uuid5(self.child_id, "meeting"), held_on=self.at.date(),
                         participant_orgs=tuple(orgs), lead_org=school,
                         sealed=Personal({"decisions": "Skolan leder planen.", "notes": "Syntetiskt möte"}))
        for area, rating in ((Area.LEARNING, 2), (Area.HEALTH, 4), (Area.HOME, 3)):
            yield self.event("AreaAssessed", org=school, basis=Basis.CONSENT, area=area, plan_id=plan_id,
                             rating=rating, assessed_by_org=school,
                             sealed=Personal({"comment": "Syntetisk bedömning", "child_view": "Syntetisk"}))
        for k in range(2):
            yield self.event("ActionAgreed", org=school, basis=Basis.CONSENT, area=Area.LEARNING, plan_id=plan_id,
                             action_id=uuid.uuid5(self.child_id, f"action-{k}"), responsible_org=school,
                             due_on=self.at.date() + dt.timedelta(days=60),
                             sealed=Personal({"need": "Läsning", "what": "Extra lästräning"}))
        yield self.event("FollowUpScheduled", org=school, basis=Basis.CONSENT, plan_id=plan_id,
                         follow_up_id=uuid.uuid5(self.child_id, "follow-up"), due_on=self.at.date() + dt.timedelta(days=90))

    def released(self, fact: Event, consent_id: uuid.UUID) -> Event:
        """The gate's release of ``fact``, carrying its bytes, as the projector receives it."""
        env = fact.envelope
        release = self.event("FactReleased", org=env.source.organisation_id, basis=env.basis, area=env.area)
        envelope = replace(release.envelope, category=env.category, source=Source("gate", env.source.organisation_id,
                                                                                     str(env.event_id), "1"))
        return replace(release, envelope=envelope, fact_event_id=env.event_id, fact_type=type(fact).__name__,
                       consent_ids=(consent_id,), fact=self.codec.encode(fact))


def child_states(children: int, at: dt.datetime, directory: CountyDirectory | None = None) -> Iterator[ChildState]:
    """Every child of a county of ``children``, folded with the projector's fold; ``directory``:
    its organisations (default: the synthetic county's)."""
    county = County(children=children) if directory is None else County(children=children, directory=directory)
    codec = Codec()
    for child in county:
        events = ChildEvents(county, child, codec, at)
        state = ChildState.new(events.child_id)
        for event in events.all():
            state = child_state.apply(state, event)
        yield state


def fill_read_model(engine: Engine, settings: Settings, children: int, at: dt.datetime | None = None) -> int:
    """Write the county's read model into ``engine`` (migrated, empty); returns rows written."""
    at = at or dt.datetime.now(dt.UTC)
    store = read_model(engine, settings)
    written, chunk = 0, {}
    for state in child_states(children, at, county_directory(settings)):
        chunk[state.child_id] = state
        if len(chunk) >= WRITE_CHILDREN:
            written += store.write(Batch(chunk), CONSUMER, at, fresh=True)
            chunk = {}
    if chunk:
        written += store.write(Batch(chunk), CONSUMER, at, fresh=True)
    return written
