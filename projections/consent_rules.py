"""Who must grant a consent for it to be valid (DESIGN §6, Consent). Pure: no I/O.

* Unborn child: the expectant parent grants.
* Before the 18th birthday: every current guardian from the population register, plus the
  child from ``child_grants_from`` years (15 by default, configurable).
* From the 18th birthday: the young person alone.

The child's own party id is its ``child_id``. Messages name roles and pseudonymous party ids,
never people.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from schemas.events import Grantor, GrantorRole

ADULT_AGE = 18
CHILD_GRANTS_FROM = 15

GUARDIAN_MISSING = "guardian {party} has not granted"
CHILD_MISSING = "the child (aged {age}) has not granted"
YOUNG_PERSON_MISSING = "the young person (18 or over) must grant themself"
EXPECTANT_MISSING = "the expectant parent {party} has not granted"
NO_GUARDIANS = "the population register lists no guardian for this child"
NO_EXPECTANT = "no expectant parent is known for this unborn child"
NOT_ENTITLED = "party {party} may not grant as {role}"


@dataclass(frozen=True, slots=True)
class ChildStatus:
    """What the rules need to know of a child, from the population register and health."""

    child_id: UUID
    birth_date: dt.date | None  # None while unborn
    guardians: frozenset[UUID] = frozenset()
    expectant_parent: UUID | None = None


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def required(status: ChildStatus, day: dt.date, child_grants_from: int = CHILD_GRANTS_FROM) -> set[Grantor]:
    """The grantors a consent needs on ``day``."""
    if status.birth_date is None:
        return set() if status.expectant_parent is None else {Grantor(status.expectant_parent, GrantorRole.EXPECTANT_PARENT)}
    age = age_on(status.birth_date, day)
    if age >= ADULT_AGE:
        return {Grantor(status.child_id, GrantorRole.YOUNG_PERSON)}
    needed = {Grantor(g, GrantorRole.GUARDIAN) for g in status.guardians}
    if age >= child_grants_from:
        needed.add(Grantor(status.child_id, GrantorRole.CHILD))
    return needed


def problems(
    status: ChildStatus, grantors: Iterable[Grantor], day: dt.date, child_grants_from: int = CHILD_GRANTS_FROM
) -> list[str]:
    """Why a consent granted by ``grantors`` on ``day`` would be invalid; empty when valid."""
    given = set(grantors)
    if status.birth_date is None and status.expectant_parent is None:
        return [NO_EXPECTANT]
    if status.birth_date is not None and age_on(status.birth_date, day) < ADULT_AGE and not status.guardians:
        return [NO_GUARDIANS]
    needed = required(status, day, child_grants_from)
    out = [NOT_ENTITLED.format(party=g.party_id, role=g.role.value) for g in sorted(given - needed, key=str)]
    for g in sorted(needed - given, key=str):
        if g.role is GrantorRole.GUARDIAN:
            out.append(GUARDIAN_MISSING.format(party=g.party_id))
        elif g.role is GrantorRole.CHILD:
            assert status.birth_date is not None
            out.append(CHILD_MISSING.format(age=age_on(status.birth_date, day)))
        elif g.role is GrantorRole.YOUNG_PERSON:
            out.append(YOUNG_PERSON_MISSING)
        else:
            out.append(EXPECTANT_MISSING.format(party=g.party_id))
    return out


def ended_by_withdrawal(status: ChildStatus, withdrawer: Grantor, day: dt.date) -> bool:
    """A consent ends when any grantor who is required on ``day`` withdraws it."""
    return withdrawer in required(status, day)
