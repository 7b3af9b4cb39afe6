"""The demo's gate stage, step 1: the intake topics read back, and each child folded with
``projections.population`` into the register's view that ``services.commands.consent.register``
checks grantors against. Reading uses a plain codec: nothing here needs a child's personal data,
so nothing sealed is opened.

Draws are deterministic across runs although child ids are not (each demo has a fresh identity
registry): a child is drawn by what the register says of it that does not change, its birth date
and its guardians' pseudonymous ids. The backbone stage's sample child (source system
``sample``) is not part of the county and is left out of every count here.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
    ChildMoved,
    ChildRegistered,
    CustodyRecorded,
    Event,
    PregnancyRegistered,
    ReportOfConcernReceived,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
)
from schemas.topics import INTAKE_HEALTH, INTAKE_POPULATION, INTAKE_SCHOOL, INTAKE_SOCIAL
from services.county import county_directory
from services.kafka import offsets
from services.settings import Settings

SEED = 20261201
SAMPLE_SYSTEM = "sample"  # the backbone stage's sample events
INTAKE = (INTAKE_HEALTH, INTAKE_SCHOOL, INTAKE_SOCIAL, INTAKE_POPULATION)
POPULATION_FACTS = frozenset({ChildRegistered, CustodyRecorded, ChildMoved, PregnancyRegistered, ChildBorn})

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

    def add(self, event: Event) -> None:
        env = event.envelope
        if env.source.system == SAMPLE_SYSTEM:
            return
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
                    intake.add(event)
        again = await offsets.topic_ends(settings, topics)
        if again == ends:
            return intake
        starts, ends = ends, again



def draw(resident: Resident, purpose: str) -> random.Random:
    """A private random stream per child and purpose, from what does not change between runs."""
    guardians = ",".join(sorted(str(g) for g in resident.guardians))
    return random.Random(f"{SEED}:{purpose}:{resident.birth_date}:{guardians}")


def stable_order(residents: Iterable[Resident]) -> list[Resident]:
    return sorted(residents, key=lambda r: (r.birth_date or dt.date.min, sorted(map(str, r.guardians)), str(r.child_id)))
