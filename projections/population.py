"""What the population register says about a child: birth, guardians, home. A pure fold.

The consent rules (``consent_rules``) need to know, for a child, whether it is born, its age
and its current guardians; the read model needs its home municipality. All of it comes from
directory facts (``ChildRegistered``, ``CustodyRecorded``, ``ChildMoved``, and from health
``PregnancyRegistered`` / ``ChildBorn``). The latest custody record by its own date wins, so
the order in which facts arrive does not matter; a repeated fact changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from uuid import UUID

from projections.consent_rules import ChildStatus
from schemas.events import ChildBorn, ChildMoved, ChildRegistered, CustodyRecorded, Event, PregnancyRegistered


@dataclass(frozen=True, slots=True)
class Resident:
    """One child as the register knows it. ``custody`` is (recorded_on, event_id, guardians)."""

    child_id: UUID
    birth_date: dt.date | None = None
    unborn: bool = False
    custody: tuple[dt.date, str, frozenset[UUID]] | None = None
    home: tuple[dt.date, str, str] | None = None  # (from, event_id, municipality code)

    @property
    def guardians(self) -> frozenset[UUID]:
        return frozenset() if self.custody is None else self.custody[2]

    @property
    def municipality_code(self) -> str | None:
        return None if self.home is None else self.home[2]

    def status(self) -> ChildStatus:
        """The consent rules' view of this child."""
        return ChildStatus(self.child_id, self.birth_date, self.guardians)


def _later(current: tuple | None, candidate: tuple) -> tuple:
    return candidate if current is None or candidate[:2] > current[:2] else current


def apply(resident: Resident, event: Event) -> Resident:
    """Fold one fact about ``resident``'s child; facts that say nothing of it leave it as is."""
    if isinstance(event, ChildRegistered):
        home = (event.envelope.occurred_at.date(), str(event.event_id), event.municipality_code)
        return replace(resident, birth_date=event.birth_date, unborn=False, home=_later(resident.home, home))
    if isinstance(event, ChildBorn):
        home = (event.birth_date, str(event.event_id), event.municipality_code)
        return replace(resident, birth_date=resident.birth_date or event.birth_date, unborn=False,
                       home=_later(resident.home, home))
    if isinstance(event, PregnancyRegistered):
        home = (event.envelope.occurred_at.date(), str(event.event_id), event.municipality_code)
        return replace(resident, unborn=resident.birth_date is None, home=_later(resident.home, home))
    if isinstance(event, CustodyRecorded):
        custody = (event.recorded_on, str(event.event_id), frozenset(event.guardian_ids))
        return replace(resident, custody=_later(resident.custody, custody))
    if isinstance(event, ChildMoved):
        return replace(resident, home=_later(resident.home, (event.moved_on, str(event.event_id),
                                                             event.to_municipality_code)))
    return resident


def fold(child_id: UUID, events: Iterable[Event]) -> Resident:
    resident = Resident(child_id)
    for event in events:
        resident = apply(resident, event)
    return resident
