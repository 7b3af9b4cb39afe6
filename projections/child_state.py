"""Everything the read model knows about one child, as one pure fold over its events.

It composes the folds that each own a part: the population register's view (``population``),
the named person's inputs (``named_person``), the plan with its released facts (``plan``) and
the child's consents (``consents``). The live projector and ``kronobarn replay`` both call this
``apply``; the projector hands it the source fact inside a directory release (a pure fold has
no codec), so here every event is already a plain domain event.

Each part is order-independent and idempotent on its own, and each event type feeds exactly
the parts that read it, so a different interleaving of the ``shared``, ``plan`` and ``consent``
topics -- live or in a replay -- gives an equal state.

``NamedPersonAssigned`` feeds no part. The live projector derives it from ``LIFE_FACTS`` (the
named person is a pure function of them) and announces it on ``plan``, which it reads back;
folding it would count a change twice and make the state depend on whether, and when, the
projector had announced -- which a replay or time travel cannot know.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from uuid import UUID

from projections import consents as consent_fold
from projections import named_person, person, plan, population
from projections import reports as report_fold
from projections.consent_rules import CHILD_GRANTS_FROM
from projections.consents import Consent, ConsentState, judged
from projections.named_person import ChildLife
from projections.person import PERSON_FACTS, Person
from projections.plan import ChildPlan
from projections.population import Resident
from projections.records import replace
from projections.reports import REPORT_EVENTS, Reports
from schemas.events import (
    ChildBorn,
    ChildDied,
    ChildEmigrated,
    ChildIdentitiesMerged,
    ChildMoved,
    ChildRegistered,
    ConsentGranted,
    ConsentWithdrawn,
    CustodyRecorded,
    Event,
    HealthUnitListed,
    KaaRegistered,
    NamedPersonAssigned,
    NamedPersonTransferred,
    PregnancyRegistered,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
)

POPULATION_FACTS = (ChildRegistered, CustodyRecorded, ChildMoved, PregnancyRegistered, ChildBorn, ChildDied,
                    ChildEmigrated)
LIFE_FACTS = (PregnancyRegistered, ChildBorn, ChildRegistered, ChildMoved, HealthUnitListed,
              SchoolPlacementStarted, SchoolPlacementEnded, KaaRegistered, NamedPersonTransferred, ChildDied,
              ChildEmigrated)
CONSENT_EVENTS = (ConsentGranted, ConsentWithdrawn)
ANNOUNCEMENTS = (NamedPersonAssigned,)  # outputs of this fold's named person, never its inputs
DIRECTORY_FACTS = tuple(dict.fromkeys(POPULATION_FACTS + LIFE_FACTS + PERSON_FACTS))


@dataclass(frozen=True, slots=True)
class ChildState:
    child_id: UUID
    resident: Resident
    life: ChildLife = field(default_factory=ChildLife)
    plan: ChildPlan = field(default_factory=ChildPlan)
    consents: ConsentState = field(default_factory=ConsentState)
    person: Person = field(default_factory=Person)
    # Reports of concern on the statutory route: never plan content, whatever the consents.
    reports: Reports = field(default_factory=lambda: report_fold.NONE)
    merged_into: UUID | None = None  # this id turned out to be that child's: its history went there
    merged_at: dt.datetime | None = None  # when the hub recorded the merge (the carried events' recorded_at)

    @classmethod
    def new(cls, child_id: UUID, merged_into: UUID | None = None, merged_at: dt.datetime | None = None) -> ChildState:
        return cls(child_id, Resident(child_id), merged_into=merged_into, merged_at=merged_at)

    def judged_consents(self, child_grants_from: int = CHILD_GRANTS_FROM) -> list[Consent]:
        """The child's consents, each with its lapse as the register tells it."""
        register = self.resident.register()
        return [judged(c, register, child_grants_from) for c in self.consents.by_id.values()]


def apply(state: ChildState, event: Event) -> ChildState:
    """Fold one event into the parts that read it; a part that is unchanged stays the same object.
    A merged id keeps nothing: its history is carried over to the surviving id as new events
    (``services.worker.linker``), and whatever of it still arrives here is that history too."""
    if state.merged_into is not None:
        return state
    if isinstance(event, ChildIdentitiesMerged):
        return ChildState.new(state.child_id, event.surviving_child_id, event.envelope.recorded_at)
    if isinstance(event, CONSENT_EVENTS):
        return replace(state, consents=consent_fold.apply(state.consents, event))
    if isinstance(event, DIRECTORY_FACTS):
        resident = population.apply(state.resident, event) if isinstance(event, POPULATION_FACTS) else state.resident
        life = named_person.apply(state.life, event) if isinstance(event, LIFE_FACTS) else state.life
        who = person.apply(state.person, event) if isinstance(event, PERSON_FACTS) else state.person
        if resident is state.resident and life is state.life and who is state.person:
            return state
        return replace(state, resident=resident, life=life, person=who)
    if isinstance(event, ANNOUNCEMENTS):
        return state
    if isinstance(event, REPORT_EVENTS):
        routed = report_fold.apply(state.reports, event)
        return state if routed is state.reports else replace(state, reports=routed)
    after = plan.apply(state.plan, event)
    return state if after is state.plan else replace(state, plan=after)


def erased(state: ChildState) -> ChildState:
    """The child's state once its key is deleted: the plan's free text reads erased (``plan.without_text``);
    the person's fields are ciphertext already, and read erased without the key."""
    after = plan.without_text(state.plan)
    return state if after is state.plan else replace(state, plan=after)
