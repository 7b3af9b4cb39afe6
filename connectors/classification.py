"""How each intake fact is classified in its envelope: legal basis, category and default area.

DESIGN §6: DIRECTORY facts (placements, listings, pregnancy registration, custody) need no
consent and drive the named person; so do the population register's other facts about a child
-- registration, moves, protected personal data, death and emigration -- which the gate and the
named person read, and which are not about the child's health, schooling or social situation; reports of concern are STATUTORY; everything else about a
child's health, schooling or social situation needs CONSENT.
"""

from __future__ import annotations

from schemas import events as ev
from schemas.events import Area, Basis, Category
from schemas.topics import INTAKE_HEALTH, INTAKE_POPULATION, INTAKE_SCHOOL, INTAKE_SOCIAL, Topic

UNCLASSIFIED = "{name} is not an intake fact"

_CATEGORY_OF_TOPIC: dict[Topic, Category] = {
    INTAKE_HEALTH: Category.HEALTH,
    INTAKE_SCHOOL: Category.SCHOOL,
    INTAKE_SOCIAL: Category.SOCIAL,
    INTAKE_POPULATION: Category.POPULATION,
}

DIRECTORY_FACTS = frozenset(
    {
        ev.PregnancyRegistered,
        ev.ChildBorn,
        ev.HealthUnitListed,
        ev.SchoolPlacementStarted,
        ev.SchoolPlacementEnded,
        ev.KaaRegistered,
        ev.ChildRegistered,
        ev.CustodyRecorded,
        ev.ChildMoved,
        ev.ProtectionRecorded,
        ev.ChildDied,
        ev.ChildEmigrated,
    }
)
STATUTORY_FACTS = frozenset({ev.ReportOfConcernReceived})

DEFAULT_AREA: dict[type[ev.Event], Area] = {
    ev.HealthVisitRecorded: Area.HEALTH,
    ev.ImmunizationRecorded: Area.HEALTH,
    ev.ObservationRecorded: Area.HEALTH,
    ev.ConditionNoted: Area.HEALTH,
    ev.AbsenceSummarised: Area.LEARNING,
    ev.SchoolSupportDecided: Area.LEARNING,
    ev.ReportOfConcernReceived: Area.SAFETY,
    ev.InvestigationOpened: Area.SAFETY,
    ev.InvestigationClosed: Area.SAFETY,
    ev.InterventionStarted: Area.CARE,
    ev.InterventionEnded: Area.CARE,
}

CATEGORY: dict[type[ev.Event], Category] = {
    cls: category for topic, category in _CATEGORY_OF_TOPIC.items() for cls in topic.events
}


def basis_of(event_type: type[ev.Event]) -> Basis:
    if event_type in STATUTORY_FACTS:
        return Basis.STATUTORY
    return Basis.DIRECTORY if event_type in DIRECTORY_FACTS else Basis.CONSENT


def category_of(event_type: type[ev.Event]) -> Category:
    try:
        return CATEGORY[event_type]
    except KeyError:
        raise ValueError(UNCLASSIFIED.format(name=event_type.__name__)) from None


def envelope_class_of(event_type: type[ev.Event]) -> tuple[Basis, Category, Area | None]:
    """Basis, category and default area in one lookup (the connector runner's hot path)."""
    found = _ENVELOPE_CLASS.get(event_type)
    if found is None:
        found = _ENVELOPE_CLASS[event_type] = (
            basis_of(event_type), category_of(event_type), DEFAULT_AREA.get(event_type)
        )
    return found


_ENVELOPE_CLASS: dict[type[ev.Event], tuple[Basis, Category, Area | None]] = {}
