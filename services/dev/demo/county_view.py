"""The demo's gate stage, step 1: the intake topics read back, and each child folded with
``projections.population`` into the register's view that ``services.commands.consent.register``
checks grantors against. Reading uses a plain codec: nothing here needs a child's personal data,
so nothing sealed is opened.

Draws are deterministic across runs although child ids are not (each demo has a fresh identity
registry): a child is drawn by what the register says of it that does not change, its birth date
and its guardians' pseudonymous ids.

One child, one id: a newborn seen by personnummer before its birth record got an id X of its own,
which the birth linked to its unborn id U (``ChildIdentitiesMerged`` on ``intake.population``).
The gate carries X's facts over to U as new events (``services.worker.linker``), so the view here
is the county as the hub ends up holding it: each fact of X counts once, as U's, under the id its
carried copy gets; only the merge itself stays X's (the gate forwards it as it is).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from connectors.standins.directory import synthetic_directory
from projections import population
from projections.consent_rules import ChildStatus
from projections.population import Resident
from schemas.codec import Codec, DecodeError
from schemas.county import BHV, SOCIAL, CountyDirectory
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildBorn,
    ChildDied,
    ChildEmigrated,
    ChildIdentitiesMerged,
    ChildMoved,
    ChildRegistered,
    CustodyRecorded,
    Event,
    PregnancyRegistered,
    Protection,
    ProtectionRecorded,
    ReportOfConcernReceived,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
)
from schemas.topics import INTAKE_HEALTH, INTAKE_POPULATION, INTAKE_SCHOOL, INTAKE_SOCIAL
from services.county import county_directory
from services.kafka import offsets
from services.settings import Settings
from services.worker.linker import carried_id

SEED = 20261201
INTAKE = (INTAKE_HEALTH, INTAKE_SCHOOL, INTAKE_SOCIAL, INTAKE_POPULATION)
POPULATION_FACTS = frozenset({ChildRegistered, CustodyRecorded, ChildMoved, PregnancyRegistered, ChildBorn,
                              ChildDied, ChildEmigrated})

Scope = tuple[str, Category, Area | None, Basis]  # a fact's source org, category, area and basis


@dataclass
class Intake:
    """What the intake topics hold about the county: the register's view of each child, and the
    ids of its facts, CONSENT and STATUTORY ones by scope. Ids are sets: a repeat counts once."""

    records: int = 0
    undecodable: int = 0
    residents: dict[uuid.UUID, Resident] = field(default_factory=dict)
    directory: set[uuid.UUID] = field(default_factory=set)
    scoped: dict[uuid.UUID, dict[Scope, set[uuid.UUID]]] = field(default_factory=dict)
    reports: set[uuid.UUID] = field(default_factory=set)
    placements: dict[uuid.UUID, dict[str, tuple[dt.date, str]]] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    county: CountyDirectory = field(default_factory=synthetic_directory)  # the settings' directory
    # The register's protected personal data per child: every change, as (recorded at, protection).
    protection: dict[uuid.UUID, set[tuple[dt.datetime, Protection]]] = field(default_factory=dict)
    moved_to: dict[uuid.UUID, set[tuple[dt.date, str]]] = field(default_factory=dict)  # (day, new municipality)
    # Two ids of one child: merged id -> surviving id, from the merges announced on intake.population.
    merged: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    carried: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # a merged id's fact -> the copy's id
    # What the sources said of a child's birth, as they said it: the demo's check of a merge reads these.
    expectant: dict[uuid.UUID, set[uuid.UUID | None]] = field(default_factory=dict)  # from its pregnancies
    born_on: dict[uuid.UUID, set[dt.date]] = field(default_factory=dict)  # from registrations and birth records
    registered: set[uuid.UUID] = field(default_factory=set)  # children the population register registered

    def survivor(self, child: uuid.UUID) -> uuid.UUID:
        """The id the child lives on as (itself, unless merged)."""
        return self.merged.get(child, child)

    def add(self, event: Event) -> None:
        """One intake event; set ``merged`` first (``read_intake`` does), so a merged id's facts
        count as the surviving id's."""
        env = event.envelope
        if isinstance(event, ChildIdentitiesMerged):
            self.directory.add(event.event_id)  # forwarded as it is, under the merged id
            return
        if env.child_id in self.merged:
            event = self._carried(event, self.merged[env.child_id])
            env = event.envelope
        child = env.child_id
        if type(event) in POPULATION_FACTS:
            self.residents[child] = population.apply(self.residents.get(child) or Resident(child), event)
        if env.basis is Basis.DIRECTORY:
            self.directory.add(event.event_id)
        else:
            scope = (env.source.organisation_id, env.category, env.area, env.basis)
            self.scoped.setdefault(child, {}).setdefault(scope, set()).add(event.event_id)
        if isinstance(event, ReportOfConcernReceived):
            self.reports.add(event.event_id)
        elif isinstance(event, SchoolPlacementStarted):
            self.placements.setdefault(child, {})[event.placement_id] = (event.start_date, event.school_unit_id)
        elif isinstance(event, SchoolPlacementEnded):
            self.ended.add(event.placement_id)
        elif isinstance(event, ProtectionRecorded):
            self.protection.setdefault(child, set()).add((env.occurred_at, event.protection))
        elif isinstance(event, ChildMoved):
            self.moved_to.setdefault(child, set()).add((event.moved_on, event.to_municipality_code))
        elif isinstance(event, PregnancyRegistered):
            self.expectant.setdefault(child, set()).add(event.expectant_parent_id)
        elif isinstance(event, ChildRegistered | ChildBorn):
            self.born_on.setdefault(child, set()).add(event.birth_date)
            if isinstance(event, ChildRegistered):
                self.registered.add(child)

    def _carried(self, event: Event, surviving: uuid.UUID) -> Event:
        """The copy of a merged id's fact that the gate publishes under the surviving id."""
        env = event.envelope
        copy = carried_id(env.event_id, surviving)
        self.carried[env.event_id] = copy
        return replace(event, envelope=replace(env, event_id=copy, child_id=surviving))

    def in_county(self, code: str | None) -> bool:
        return code is not None and code in self.county.codes

    def living_here(self, resident: Resident) -> bool:
        """Alive, not abroad, and at home in one of the county's municipalities."""
        return resident.died_on is None and resident.emigrated_on is None and self.in_county(resident.municipality_code)

    def by_basis(self) -> Counter[Basis]:
        counts: Counter[Basis] = Counter({Basis.DIRECTORY: len(self.directory)})
        for scopes in self.scoped.values():
            for (*_, basis), ids in scopes.items():
                counts[basis] += len(ids)
        return counts

    def gated(self) -> set[uuid.UUID]:
        """Every CONSENT and STATUTORY fact: the ones the gate holds until a consent covers them."""
        return {i for scopes in self.scoped.values() for ids in scopes.values() for i in ids}

    def schools(self, child: uuid.UUID) -> list[str]:
        """The child's school units, current placement first."""
        started = self.placements.get(child, {})
        current = sorted((v for k, v in started.items() if k not in self.ended), reverse=True)
        units = [unit for _, unit in current] + sorted(unit for _, unit in started.values())
        return list(dict.fromkeys(units))

    def bhv_of(self, code: str) -> str:
        """The municipality's BHV unit (the region's child health care there)."""
        return self.county.unit(BHV, code).id

    def social_of(self, code: str) -> str:
        """The municipality's social services."""
        return self.county.unit(SOCIAL, code).id


class RegisterStatuses:
    """``ChildStatuses`` for ``consent_registry.register``, over the population fold."""

    def __init__(self, residents: Mapping[uuid.UUID, Resident]) -> None:
        self.residents = residents

    def status(self, child_id: uuid.UUID) -> ChildStatus | None:
        resident = self.residents.get(child_id)
        return None if resident is None else resident.status()


async def read_intake(settings: Settings, codec: Codec) -> Intake:
    """The intake topics from offset 0 to their end offsets (asked again once reached, in case
    the broker reported a stale watermark)."""
    intake = Intake(county=county_directory(settings))
    topics = [t.name for t in INTAKE]
    ends = await offsets.topic_ends(settings, topics)
    starts = dict.fromkeys(ends, 0)
    events: list[Event] = []  # kept until every merge is known: a merge comes after its id's facts
    while True:
        async for records in offsets.read(settings, starts, ends, batch=10_000, max_partition_fetch_bytes=1 << 22):
            for record in records:
                intake.records += 1
                try:
                    event = codec.decode_record(record)
                except DecodeError:
                    intake.undecodable += 1
                    continue
                if isinstance(event, Event):
                    events.append(event)
        again = await offsets.topic_ends(settings, topics)
        if again == ends:
            break
        starts, ends = ends, again
    return with_events(intake, events)


def with_events(intake: Intake, events: list[Event]) -> Intake:
    """``intake`` with ``events`` added, a merged id's as its surviving id's."""
    intake.merged = merges_in(events)
    for event in events:
        intake.add(event)
    return intake


def merges_in(events: Iterable[Event]) -> dict[uuid.UUID, uuid.UUID]:
    """Merged id -> surviving id, from the county's merge announcements (a chain followed to its end)."""
    links = {e.envelope.child_id: e.surviving_child_id for e in events
             if isinstance(e, ChildIdentitiesMerged)}
    out = {}
    for merged, surviving in links.items():
        seen = {merged}
        while surviving in links and surviving not in seen:
            seen.add(surviving)
            surviving = links[surviving]
        out[merged] = surviving
    return out


def draw(resident: Resident, purpose: str) -> random.Random:
    """A private random stream per child and purpose, from what does not change between runs."""
    guardians = ",".join(sorted(str(g) for g in resident.guardians))
    return random.Random(f"{SEED}:{purpose}:{resident.birth_date}:{guardians}")


def stable_order(residents: Iterable[Resident]) -> list[Resident]:
    return sorted(residents, key=lambda r: (r.birth_date or dt.date.min, sorted(map(str, r.guardians)), str(r.child_id)))
