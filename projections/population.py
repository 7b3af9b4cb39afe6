"""What the population register says about a child: birth, guardians, home. A pure fold.

The consent rules (``consent_rules``) need to know, for a child, whether it is born, its age
and its current guardians; the read model needs its home municipality. All of it comes from
directory facts (``ChildRegistered``, ``CustodyRecorded``, ``ChildMoved``, and from health
``PregnancyRegistered`` / ``ChildBorn``). Custody is kept as a history, in the register's own
order: by the instant the register recorded each change (the fact's ``occurred_at``, read from
the register's change feed), then the register's record id -- never by event id, which says
nothing of order. So the order in which facts arrive does not matter, and a repeated fact
changes nothing.

Death and emigration (``ChildDied``, ``ChildEmigrated``) end the child's residence. The earliest
recorded death counts. Emigrations are kept as a set of days, and so are registrations: a
registration recorded on a later day than an emigration (by ``occurred_at``, the day the register
recorded it) brings the child back, and the consent rules see it abroad in between.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from uuid import UUID

from projections.consent_rules import ChildStatus, Custody, Register
from schemas.events import (
    ChildBorn,
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    CustodyRecorded,
    Event,
    PregnancyRegistered,
)


@dataclass(frozen=True, slots=True)
class Resident:
    """One child as the register knows it: ``custody`` is its history in the register's order;
    ``expected`` says a pregnancy was registered (``unborn``: and no birth is known yet)."""

    child_id: UUID
    birth_date: dt.date | None = None
    unborn: bool = False
    custody: tuple[Custody, ...] = ()
    home: tuple[dt.date, str, str] | None = None  # (from, event_id, municipality code)
    expected: bool = False
    expectant_parent: UUID | None = None
    died_on: dt.date | None = None
    emigrations: tuple[dt.date, ...] = ()  # the days of its emigrations, in order
    registrations: tuple[dt.date, ...] = ()  # the days the register recorded a registration, in order

    @property
    def guardians(self) -> frozenset[UUID]:
        """The guardians as the register lists them now (its latest custody record)."""
        return frozenset() if not self.custody else self.custody[-1].guardians

    @property
    def municipality_code(self) -> str | None:
        return None if self.home is None else self.home[2]

    @property
    def abroad(self) -> tuple[tuple[dt.date, dt.date | None], ...]:
        """Each emigration with the day of the first registration recorded after it (None: none yet)."""
        return tuple((left, next((r for r in self.registrations if r > left), None)) for left in self.emigrations)

    @property
    def emigrated_on(self) -> dt.date | None:
        """The emigration the child has not been registered again after, if any."""
        return next((left for left, back in reversed(self.abroad) if back is None), None)

    def status(self) -> ChildStatus:
        """The consent rules' view of this child, now."""
        return ChildStatus(self.child_id, self.birth_date, self.guardians,
                           self.expectant_parent if self.unborn else None, self.died_on, self.emigrated_on)

    def register(self) -> Register:
        """The consent rules' view of this child over time."""
        return Register(self.child_id, self.birth_date, self.expected, self.expectant_parent, self.custody,
                        self.died_on, self.abroad)


def _with(days: tuple[dt.date, ...], day: dt.date) -> tuple[dt.date, ...]:
    return days if day in days else tuple(sorted((*days, day)))


def _later(current: tuple | None, candidate: tuple) -> tuple:
    return candidate if current is None or candidate[:2] > current[:2] else current


def apply(resident: Resident, event: Event) -> Resident:
    """Fold one fact about ``resident``'s child; facts that say nothing of it leave it as is."""
    if isinstance(event, ChildRegistered):
        on = event.envelope.occurred_at.date()
        home = (on, str(event.event_id), event.municipality_code)
        return replace(resident, birth_date=event.birth_date, unborn=False, home=_later(resident.home, home),
                       registrations=_with(resident.registrations, on))
    if isinstance(event, ChildBorn):
        home = (event.birth_date, str(event.event_id), event.municipality_code)
        return replace(resident, birth_date=resident.birth_date or event.birth_date, unborn=False,
                       home=_later(resident.home, home))
    if isinstance(event, PregnancyRegistered):
        home = (event.envelope.occurred_at.date(), str(event.event_id), event.municipality_code)
        parent = event.expectant_parent_id or resident.expectant_parent
        return replace(resident, unborn=resident.birth_date is None, home=_later(resident.home, home),
                       expected=True, expectant_parent=parent)
    if isinstance(event, CustodyRecorded):
        record = Custody(event.envelope.occurred_at, event.envelope.source.record_id, frozenset(event.guardian_ids))
        if record in resident.custody:
            return resident
        custody = tuple(sorted((*resident.custody, record), key=lambda c: (c.since, c.order, sorted(c.guardians))))
        return replace(resident, custody=custody)
    if isinstance(event, ChildMoved):
        return replace(resident, home=_later(resident.home, (event.moved_on, str(event.event_id),
                                                             event.to_municipality_code)))
    if isinstance(event, ChildDied):
        return replace(resident, died_on=min(filter(None, (resident.died_on, event.died_on))))
    if isinstance(event, ChildEmigrated):  # a return is a new registration (``abroad``)
        return replace(resident, emigrations=_with(resident.emigrations, event.emigrated_on))
    return resident


def fold(child_id: UUID, events: Iterable[Event]) -> Resident:
    resident = Resident(child_id)
    for event in events:
        resident = apply(resident, event)
    return resident
