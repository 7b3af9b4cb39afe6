"""Who must grant a consent for it to be valid, and when a consent lapses (DESIGN §6). Pure.

* Unborn child: the expectant parent grants.
* Before the 18th birthday: every current guardian from the population register, plus the
  child from ``child_grants_from`` years (15 by default, configurable).
* From the 18th birthday: the young person alone.

Validity is a function of time. ``Register`` is what the population register (and the MHV
record, for an unborn child) says of a child over time; ``lapse`` finds the first moment, from
a consent's registration on, at which its grantors no longer include every party required then
-- the 15th or 18th birthday, a custody change, the birth -- and a consent ends there by itself,
exactly as it does at ``valid_to``. A lapse is final: a later change (custody coming back) does
not revive the consent; a new one is registered instead.

Death and emigration end every consent the same way: at the start of the day of death, or of
the day of emigration (midnight in Sweden), nobody can consent for the child any more. A child
registered again after an emigration (a ``ChildRegistered`` recorded on a later day) starts a new
residence, from the start of that day: consents given from then on hold, the lapsed ones stay
lapsed. A move, also out of the county, changes neither who must grant nor who receives, so it
ends no consent (docs/consent-gate.md, "Death, emigration and moves").

Grants are matched by party and role, with one carry-over: the expectant parent's grant counts
as that same person's grant as guardian once the child is born (so a prenatal consent survives
birth when the expectant parent is then the only guardian). A child's grant given before 18
does not become the young person's: from the 18th birthday the young person consents in their
own right (FB 6 kap. 11 §: the guardians' say ends at majority).

Birthdays and births start at midnight in Sweden (Europe/Stockholm); someone born on 29
February has their birthday on 1 March in other years. The child's own party id is its
``child_id``. Messages name roles and pseudonymous party ids, never people.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

from schemas.events import Grantor, GrantorRole

ADULT_AGE = 18
CHILD_GRANTS_FROM = 15
SWEDEN = ZoneInfo("Europe/Stockholm")

GUARDIAN_MISSING = "guardian {party} has not granted"
CHILD_MISSING = "the child (aged {age}) has not granted"
YOUNG_PERSON_MISSING = "the young person (18 or over) must grant themself"
EXPECTANT_MISSING = "the expectant parent {party} has not granted"
NO_GUARDIANS = "the population register lists no guardian for this child"
NO_EXPECTANT = "no expectant parent is known for this unborn child"
NOT_ENTITLED = "party {party} may not grant as {role}"
CHILD_DIED = "the population register records that the child died on {day}: no consent can be given"
CHILD_EMIGRATED = ("the population register records that the child emigrated on {day}: no consent can be given "
                   "unless the child is registered again")


@dataclass(frozen=True, slots=True)
class ChildStatus:
    """What the rules need to know of a child, from the population register and health."""

    child_id: UUID
    birth_date: dt.date | None  # None while unborn
    guardians: frozenset[UUID] = frozenset()
    expectant_parent: UUID | None = None
    died_on: dt.date | None = None
    emigrated_on: dt.date | None = None  # an emigration the child has not come back from


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """The county's consent settings (``KRONOBARN_CONSENT_*``): the age from which the child
    grants too, and how far registration lets a consent reach."""

    child_grants_from: int = CHILD_GRANTS_FROM
    max_start_ahead: dt.timedelta = dt.timedelta(days=365)
    max_period: dt.timedelta = dt.timedelta(days=3 * 365 + 1)  # three years, a leap day included
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)  # a valid_from this far back is "now"


DEFAULT_POLICY = ConsentPolicy()


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def swedish_day(at: dt.datetime) -> dt.date:
    """The calendar day in Sweden at the instant ``at``."""
    return at.astimezone(SWEDEN).date()


def start_of(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in Sweden, as an instant in UTC."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=SWEDEN).astimezone(dt.UTC)


def birthday(birth_date: dt.date, years: int) -> dt.date:
    """The day the child turns ``years``: the first day on which ``age_on`` gives it."""
    try:
        return birth_date.replace(year=birth_date.year + years)
    except ValueError:  # 29 February in a year without one
        return dt.date(birth_date.year + years, 3, 1)


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
    if status.died_on is not None and status.died_on <= day:
        return [CHILD_DIED.format(day=status.died_on)]
    if status.emigrated_on is not None and status.emigrated_on <= day:
        return [CHILD_EMIGRATED.format(day=status.emigrated_on)]
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


def ended_by_withdrawal(status: ChildStatus, withdrawer: Grantor, day: dt.date,
                        child_grants_from: int = CHILD_GRANTS_FROM) -> bool:
    """A consent ends when any grantor who is required on ``day`` withdraws it."""
    return withdrawer in required(status, day, child_grants_from)


# -- validity over time --------------------------------------------------------------------

class Lapse(enum.StrEnum):
    """Why a consent lapsed by itself."""

    CHILD_AGE = "child_age"  # the child reached the age from which it grants too (15)
    ADULTHOOD = "adulthood"  # the 18th birthday: the young person alone
    CUSTODY = "custody"  # the register's guardians changed
    BIRTH = "birth"  # an unborn child was born: every guardian now
    REGISTER = "register"  # the register (as known now) did not support it when it was granted
    DEATH = "death"  # the child died: from the start of the day of death
    EMIGRATION = "emigration"  # the child emigrated: from the start of the day of emigration


@dataclass(frozen=True, slots=True)
class Custody:
    """One custody record: the guardians from ``since``, in the register's order ``order``."""

    since: dt.datetime
    order: str
    guardians: frozenset[UUID]


@dataclass(frozen=True, slots=True)
class Register:
    """A child's life as the population register and the pregnancy record tell it over time.

    ``custody`` is in the register's order. The first record counts from birth: custody arises
    at birth, the register only records it later. ``known`` is False when neither a birth nor
    a pregnancy is known yet: then nobody is known who could have granted, so no consent is in
    force. The gate can meet a consent before its child's register (on a cold start, topics are
    read side by side); the consent then waits, held like a fact, until register facts that
    support it arrive -- never released first and revoked after.
    """

    child_id: UUID
    birth_date: dt.date | None = None
    expected: bool = False  # a pregnancy is registered
    expectant_parent: UUID | None = None
    custody: tuple[Custody, ...] = ()
    died_on: dt.date | None = None
    # Emigrations as (emigrated on, registered again on or None), in order: abroad from the start
    # of the first day until the start of the second.
    abroad: tuple[tuple[dt.date, dt.date | None], ...] = ()

    @property
    def known(self) -> bool:
        return self.birth_date is not None or self.expected

    @property
    def born_at(self) -> dt.datetime | None:
        return None if self.birth_date is None else start_of(self.birth_date)

    def guardians_at(self, at: dt.datetime) -> frozenset[UUID]:
        current = next((c for c in reversed(self.custody) if c.since <= at), None)
        if current is None:
            current = self.custody[0] if self.custody else None
        return frozenset() if current is None else current.guardians

    def dead_at(self, at: dt.datetime) -> bool:
        return self.died_on is not None and at >= start_of(self.died_on)

    def emigrated_at(self, at: dt.datetime) -> dt.date | None:
        """The day of the emigration the child is abroad from at ``at``, if it is."""
        for left, back in self.abroad:
            if start_of(left) <= at and (back is None or at < start_of(back)):
                return left
        return None

    def status_at(self, at: dt.datetime) -> ChildStatus:
        """The child as the rules see it at ``at``: unborn before the birth's midnight."""
        born = self.born_at is not None and at >= self.born_at
        return ChildStatus(self.child_id, self.birth_date if born else None, self.guardians_at(at),
                           self.expectant_parent if self.expected else None,
                           self.died_on if self.dead_at(at) else None, self.emigrated_at(at))

    def transitions(self, child_grants_from: int) -> list[tuple[dt.datetime, Lapse]]:
        """The moments at which the required grantors may change, with what changes there."""
        out = [(c.since, Lapse.CUSTODY) for c in self.custody[1:]]
        if self.birth_date is not None:
            out += [(start_of(birthday(self.birth_date, child_grants_from)), Lapse.CHILD_AGE),
                    (start_of(birthday(self.birth_date, ADULT_AGE)), Lapse.ADULTHOOD)]
            if self.expected:
                out.append((start_of(self.birth_date), Lapse.BIRTH))
        if self.died_on is not None:
            out.append((start_of(self.died_on), Lapse.DEATH))
        out += [(start_of(left), Lapse.EMIGRATION) for left, _ in self.abroad]
        # On a shared moment a death or an emigration names the lapse, then a life-stage change,
        # and a custody record last.
        return sorted(out, key=lambda t: (t[0], _PRECEDENCE.get(t[1], 2)))

    def gone_at(self, at: dt.datetime) -> Lapse | None:
        """Why nobody can consent for the child at ``at`` whoever grants: dead or abroad."""
        if self.dead_at(at):
            return Lapse.DEATH
        return Lapse.EMIGRATION if self.emigrated_at(at) is not None else None


_PRECEDENCE = {Lapse.DEATH: 0, Lapse.EMIGRATION: 1, Lapse.CUSTODY: 3}


def counted(grantors: Iterable[Grantor]) -> frozenset[Grantor]:
    """The grants a consent's grantors amount to: an expectant parent's grant also stands as
    that person's grant as guardian once the child is born."""
    given = set(grantors)
    given.update(Grantor(g.party_id, GrantorRole.GUARDIAN) for g in list(given)
                 if g.role is GrantorRole.EXPECTANT_PARENT)
    return frozenset(given)


def satisfied(register: Register, grants: frozenset[Grantor], at: dt.datetime, child_grants_from: int) -> bool:
    """Whether ``grants`` include every party required at ``at`` (and someone is required)."""
    if register.gone_at(at) is not None:
        return False  # dead, or abroad: nobody consents for the child
    status = register.status_at(at)
    if status.birth_date is not None and age_on(status.birth_date, swedish_day(at)) < ADULT_AGE \
            and not status.guardians:
        return False  # a minor without a known guardian: nobody can consent for them
    needed = required(status, swedish_day(at), child_grants_from)
    return bool(needed) and needed <= grants


def lapse(register: Register, grantors: Iterable[Grantor], granted_at: dt.datetime, until: dt.datetime,
          child_grants_from: int = CHILD_GRANTS_FROM) -> tuple[dt.datetime, Lapse] | None:
    """When and why a consent granted by ``grantors`` at ``granted_at`` lapses before ``until``
    (its end), judged against ``register``; None if it holds throughout."""
    if not register.known:
        return granted_at, Lapse.REGISTER  # judged again when the register arrives
    grants = counted(grantors)
    if not satisfied(register, grants, granted_at, child_grants_from):
        return granted_at, register.gone_at(granted_at) or Lapse.REGISTER
    for at, why in register.transitions(child_grants_from):
        if granted_at < at < until and not satisfied(register, grants, at, child_grants_from):
            return at, why
    return None
