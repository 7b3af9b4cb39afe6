"""Who the child's named person (barnensbästa-ansvarig) is, as a pure fold (DESIGN §6).

Pure code, no I/O. ``apply`` folds the facts the rules need into a ``ChildLife``;
``assignment`` answers "which organisation holds the task on this date?" from the facts dated
on or before that date only, so the live projector (date = today) and auditors' time travel
(a past date) ask the same function.

**Order and duplicates.** The projector reads several topics whose interleaving differs
between a live run and a replay, and delivery is at least once. A ``ChildLife`` is therefore a
set of dated facts: folding the same events in any order, any number of times, gives an equal
value. Where facts conflict the choice is made from the facts themselves (dates, ids), never
from which arrived last.

**Dates.** Each fact takes effect on its domain date: a pregnancy, a population registration
and a transfer on ``envelope.occurred_at.date()``; a birth on ``birth_date``; a move on
``moved_on``; a listing on ``listed_on``; a placement from ``start_date`` until ``end_date``,
end exclusive (a deleted placement ends the day it was deleted, and the child is no longer
placed there that day); a KAA registration on ``registered_on``.

**The summer between placements.** Read literally, rule 3 leaves every school child without a
named person between two school stages (förskoleklass ends in June, grundskola starts in
August). So when a school-stage placement ends with no other active, the principal of that last
school unit stays the named person for up to ``placement_grace_days`` days: until the next
placement starts, rule 4 applies (a KAA registration since the latest placement started), the
18th birthday, or the grace runs out, whichever is first. Only then is the child a gap. The
assignment is the one of the last day at school (same unit, rule, since), so a summer between
two stages at one school is no change and emits nothing. ``end + placement_grace_days`` is a
boundary, so the history stays exact.

**Life stages.** Rule 5's override lasts until the next life-stage change, so the stage is
explicit. It follows from rules 1-4 and rule 6 alone (a transfer never changes it):

* ``UNKNOWN`` -- nothing is known of the child yet;
* ``UNBORN`` -- a pregnancy is registered and the child is not born;
* ``EARLY_YEARS`` -- born, before a school-stage placement starts (the BHV years);
* ``PRESCHOOL``, ``PRESCHOOL_CLASS``, ``COMPULSORY``, ``UPPER_SECONDARY`` -- the school type of
  the current placement or, between placements, of the latest one (so a move between two
  schools of one type, or a gap between them, is no change). ``PRESCHOOL`` is a stage only
  when the configured line puts förskola in the school stage;
* ``KAA`` -- out of school with a KAA registration since the latest placement started;
* ``ADULT`` -- from the 18th birthday;
* ``GONE`` -- the child's part in the county has ended (below).

**When the child leaves.** The population register ends the named person, before every other
rule (a transfer included): from the day of death for ever (``ended-death``); from the day of an
emigration until a registration recorded on a later day brings the child back
(``ended-emigrated``); and from the day of a move to a municipality that is not the county's --
one the config names no BHV unit or KAA function for -- until a move back (``ended-moved-out``).
Such a child is on no gaps list: it needs no named person here. A registration (not a move) in a
municipality the config does not know stays what it was, a gap (``gap-bhv``), since the register
then says the child lives there and the county lacks a unit for it. A move between the county's
municipalities is an ordinary change of home: the rules go on with the new municipality.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any
from uuid import UUID

from schemas.events import (
    Basis,
    Category,
    ChildBorn,
    ChildDied,
    ChildEmigrated,
    ChildMoved,
    ChildRegistered,
    Envelope,
    Event,
    HealthUnitListed,
    KaaRegistered,
    NamedPersonAssigned,
    NamedPersonTransferred,
    PregnancyRegistered,
    SchoolPlacementEnded,
    SchoolPlacementStarted,
    SchoolType,
    Source,
)
from schemas.ids import source_event_id

RULE_NONE = "none"  # nothing is known of the child on that date: no one to assign, no gap
RULE_UNBORN = "unborn-mhv"
RULE_BHV_LISTED = "bhv-listed"
RULE_BHV_HOME = "bhv-home"
RULE_PRINCIPAL = "school-principal"
RULE_KAA = "kaa"
RULE_TRANSFERRED = "transferred"
RULE_ENDED_18 = "ended-18"
RULE_ENDED_DEATH = "ended-death"  # the child died
RULE_ENDED_EMIGRATED = "ended-emigrated"  # the child emigrated and has not been registered again
RULE_ENDED_MOVED_OUT = "ended-moved-out"  # the child moved to a municipality outside the county
ENDED_RULES = frozenset({RULE_ENDED_18, RULE_ENDED_DEATH, RULE_ENDED_EMIGRATED, RULE_ENDED_MOVED_OUT})
RULE_GAP_BHV = "gap-bhv"  # born, not listed, and no BHV unit configured for the home municipality
RULE_GAP_SCHOOL = "gap-school"  # school stage, no active placement and no KAA registration
RULE_GAP_KAA = "gap-kaa"  # KAA registered, but no KAA function configured for the municipality
GAP_RULES = frozenset({RULE_GAP_BHV, RULE_GAP_SCHOOL, RULE_GAP_KAA})

DEFAULT_PLACEMENT_GRACE_DAYS = 75  # 12 June to 15 August is 64 days, with room to spare

ADULT_AGE = 18
SYSTEM = "kronobarn-projector"
SOURCE_ORGANISATION = "kronobarn"  # the hub itself produces the assignment
UNKNOWN_MUNICIPALITY = "unknown"  # gaps of children whose home municipality is not yet known
RECORD_ID = "named-person:{child_id}"
RECORD_VERSION = "{organisation}|{rule}|{since}"
BAD_SCHOOL_LINE = "the school stage starts with PRESCHOOL or PRESCHOOL_CLASS, not {school_type}"
BAD_GRACE = "placement_grace_days is a whole number of days, 0 or more, not {days!r}"

_SCHOOL_ORDER = {
    SchoolType.PRESCHOOL: 0,
    SchoolType.PRESCHOOL_CLASS: 1,
    SchoolType.COMPULSORY: 2,
    SchoolType.UPPER_SECONDARY: 3,
}
_SCHOOL_LINES = frozenset({SchoolType.PRESCHOOL, SchoolType.PRESCHOOL_CLASS})


class LifeStage(enum.StrEnum):
    """The stages of the module docstring; rule 5's override ends when the stage changes."""

    UNKNOWN = "unknown"
    UNBORN = "unborn"
    EARLY_YEARS = "early-years"
    PRESCHOOL = "preschool"
    PRESCHOOL_CLASS = "preschool-class"
    COMPULSORY = "compulsory"
    UPPER_SECONDARY = "upper-secondary"
    KAA = "kaa"
    ADULT = "adult"
    GONE = "gone"  # died, emigrated, or moved out of the county


_STAGE_OF_SCHOOL = {school_type: LifeStage[school_type.name] for school_type in SchoolType}


# -- configuration ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NamedPersonConfig:
    """Which units carry the task where the facts name none, and where the school stage starts.

    The steering group asked for the line between BHV and förskola to stay open: with
    ``PRESCHOOL_CLASS`` (the default) BHV keeps the task through förskola; with ``PRESCHOOL``
    the förskola's principal takes it when a förskola placement starts.

    ``placement_grace_days``: after a school-stage placement ends with no other active
    placement, the principal of that last school unit stays the named person for up to this
    many days, or until the next placement starts, or until KAA applies (rule 4), or the 18th
    birthday, whichever is first. It covers the summer between school stages (förskoleklass to
    grundskola, grundskola to gymnasium), so children are not on the gaps list every summer and
    no ``NamedPersonAssigned`` is emitted when the named person is unchanged. ``0`` restores
    the literal rules: a gap from the day the placement ends.
    """

    bhv_by_municipality: Mapping[str, str]
    kaa_by_municipality: Mapping[str, str]
    school_stage_starts_with: SchoolType = SchoolType.PRESCHOOL_CLASS
    placement_grace_days: int = DEFAULT_PLACEMENT_GRACE_DAYS

    def __post_init__(self) -> None:
        if self.school_stage_starts_with not in _SCHOOL_LINES:
            raise ValueError(BAD_SCHOOL_LINE.format(school_type=self.school_stage_starts_with))
        days = self.placement_grace_days
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise ValueError(BAD_GRACE.format(days=days))
        # Read-only copies, so a caller's dict cannot change a config after the fact.
        object.__setattr__(self, "bhv_by_municipality", MappingProxyType(dict(self.bhv_by_municipality)))
        object.__setattr__(self, "kaa_by_municipality", MappingProxyType(dict(self.kaa_by_municipality)))


# -- the facts ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, order=True)
class Pregnancy:
    registered_on: dt.date
    unit_id: str
    municipality_code: str
    expected_birth_date: dt.date


@dataclass(frozen=True, slots=True, order=True)
class Birth:
    """A recorded birth date; the population register's word beats health care's."""

    from_register: bool
    birth_date: dt.date


@dataclass(frozen=True, slots=True, order=True)
class Home:
    """The home municipality from ``since``; on one date the more authoritative source wins."""

    since: dt.date
    authority: int  # pregnancy 0 < birth 1 < registration 2 < move 3
    municipality_code: str


REGISTRATION, MOVE = 2, 3  # a ``Home``'s authority when the register recorded it


@dataclass(frozen=True, slots=True, order=True)
class Listing:
    listed_on: dt.date
    unit_id: str


@dataclass(frozen=True, slots=True, order=True)
class PlacementStart:
    placement_id: str
    start: dt.date
    unit_id: str
    school_type: SchoolType


@dataclass(frozen=True, slots=True, order=True)
class PlacementEnd:
    placement_id: str
    end: dt.date
    unit_id: str
    school_type: SchoolType


@dataclass(frozen=True, slots=True)
class Placement:
    """One placement as the rules see it: active from ``start`` until ``end``, end exclusive.

    Several starts or ends of one placement id (corrections, a deletion after an end date) are
    settled by the earliest date, so an end can only bring the end forward.
    """

    placement_id: str
    unit_id: str
    school_type: SchoolType
    start: dt.date | None
    end: dt.date | None

    def active_on(self, on: dt.date) -> bool:
        return self.start is not None and self.start <= on and (self.end is None or on < self.end)


@dataclass(frozen=True, slots=True, order=True)
class KaaRegistration:
    registered_on: dt.date
    municipality_code: str


@dataclass(frozen=True, slots=True, order=True)
class Transfer:
    """A decision to move the task; ordered by date, then instant, so the latest decision wins."""

    on: dt.date
    at: dt.datetime  # UTC, only to order two decisions of one day
    to_org: str


@dataclass(frozen=True, slots=True)
class ChildLife:
    """Everything about one child that the named-person rules need, as sets of dated facts."""

    pregnancies: frozenset[Pregnancy] = frozenset()
    births: frozenset[Birth] = frozenset()
    homes: frozenset[Home] = frozenset()
    listings: frozenset[Listing] = frozenset()
    placement_starts: frozenset[PlacementStart] = frozenset()
    placement_ends: frozenset[PlacementEnd] = frozenset()
    kaa_registrations: frozenset[KaaRegistration] = frozenset()
    transfers: frozenset[Transfer] = frozenset()
    deaths: frozenset[dt.date] = frozenset()  # more than one only if the register corrected itself
    emigrations: frozenset[dt.date] = frozenset()

    @property
    def died_on(self) -> dt.date | None:
        return min(self.deaths, default=None)

    def emigrated_on(self, on: dt.date) -> dt.date | None:
        """The emigration the child is abroad from on ``on``: one on or before it, after which no
        registration was recorded on a later day, by ``on``."""
        back = [h.since for h in self.homes if h.authority == REGISTRATION and h.since <= on]
        return max((e for e in self.emigrations if e <= on and not any(e < r for r in back)), default=None)

    @property
    def birth_date(self) -> dt.date | None:
        """The register's birth date if it has one, else health care's; the earliest if they
        disagree (a data error: the choice is only made deterministic)."""
        if not self.births:
            return None
        best = max(b.from_register for b in self.births)
        return min(b.birth_date for b in self.births if b.from_register == best)

    @property
    def placements(self) -> tuple[Placement, ...]:
        """The placements by placement id, merged from their starts and ends."""
        starts: dict[str, PlacementStart] = {}
        for s in sorted(self.placement_starts):
            starts.setdefault(s.placement_id, s)  # sorted: the earliest start comes first
        ends: dict[str, PlacementEnd] = {}
        for e in sorted(self.placement_ends):
            ends.setdefault(e.placement_id, e)
        merged = []
        for pid in sorted(starts.keys() | ends.keys()):
            s, e = starts.get(pid), ends.get(pid)
            known: PlacementStart | PlacementEnd = s if s is not None else ends[pid]
            merged.append(Placement(pid, known.unit_id, known.school_type,
                                    s.start if s else None, e.end if e else None))
        return tuple(merged)


# -- the fold -----------------------------------------------------------------------------

def _utc(at: dt.datetime) -> dt.datetime:
    """Naive instants are taken as UTC, so facts of either kind can be ordered together."""
    return at.astimezone(dt.UTC) if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _pregnancy_registered(life: ChildLife, e: PregnancyRegistered) -> ChildLife:
    on = e.envelope.occurred_at.date()
    return replace(
        life,
        pregnancies=life.pregnancies | {Pregnancy(on, e.unit_id, e.municipality_code, e.expected_birth_date)},
        homes=life.homes | {Home(on, 0, e.municipality_code)},
    )


def _child_born(life: ChildLife, e: ChildBorn) -> ChildLife:
    return replace(life, births=life.births | {Birth(False, e.birth_date)},
                   homes=life.homes | {Home(e.birth_date, 1, e.municipality_code)})


def _child_registered(life: ChildLife, e: ChildRegistered) -> ChildLife:
    return replace(life, births=life.births | {Birth(True, e.birth_date)},
                   homes=life.homes | {Home(e.envelope.occurred_at.date(), REGISTRATION, e.municipality_code)})


def _child_moved(life: ChildLife, e: ChildMoved) -> ChildLife:
    return replace(life, homes=life.homes | {Home(e.moved_on, MOVE, e.to_municipality_code)})


def _child_died(life: ChildLife, e: ChildDied) -> ChildLife:
    return replace(life, deaths=life.deaths | {e.died_on})


def _child_emigrated(life: ChildLife, e: ChildEmigrated) -> ChildLife:
    return replace(life, emigrations=life.emigrations | {e.emigrated_on})


def _unit_listed(life: ChildLife, e: HealthUnitListed) -> ChildLife:
    return replace(life, listings=life.listings | {Listing(e.listed_on, e.unit_id)})


def _placement_started(life: ChildLife, e: SchoolPlacementStarted) -> ChildLife:
    start = PlacementStart(e.placement_id, e.start_date, e.school_unit_id, e.school_type)
    return replace(life, placement_starts=life.placement_starts | {start})


def _placement_ended(life: ChildLife, e: SchoolPlacementEnded) -> ChildLife:
    end = PlacementEnd(e.placement_id, e.end_date, e.school_unit_id, e.school_type)
    return replace(life, placement_ends=life.placement_ends | {end})


def _kaa_registered(life: ChildLife, e: KaaRegistered) -> ChildLife:
    kaa = KaaRegistration(e.registered_on, e.municipality_code)
    return replace(life, kaa_registrations=life.kaa_registrations | {kaa})


def _transferred(life: ChildLife, e: NamedPersonTransferred) -> ChildLife:
    at = e.envelope.occurred_at
    return replace(life, transfers=life.transfers | {Transfer(at.date(), _utc(at), e.to_org)})


_FOLDS: dict[type[Event], Callable[[ChildLife, Any], ChildLife]] = {
    PregnancyRegistered: _pregnancy_registered,
    ChildBorn: _child_born,
    ChildRegistered: _child_registered,
    ChildMoved: _child_moved,
    HealthUnitListed: _unit_listed,
    SchoolPlacementStarted: _placement_started,
    SchoolPlacementEnded: _placement_ended,
    KaaRegistered: _kaa_registered,
    NamedPersonTransferred: _transferred,
    ChildDied: _child_died,
    ChildEmigrated: _child_emigrated,
}


def apply(life: ChildLife, event: Event) -> ChildLife:
    """Fold one event into the child's life; events the rules do not need leave it as it was.

    Set union makes the fold commutative and idempotent, so redeliveries and a different
    interleaving of topics give an equal state.
    """
    fold = _FOLDS.get(type(event))
    if fold is None:
        return life
    after = fold(life, event)
    return life if after == life else after


# -- the rules ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Assignment:
    """The named-person organisation on a date, the rule that chose it, and since when the fact
    that decides it took effect. ``organisation_id`` is None at 18 and for gaps."""

    organisation_id: str | None
    rule: str
    since: dt.date | None


NOTHING = Assignment(None, RULE_NONE, None)


def is_gap(a: Assignment) -> bool:
    """A child who should have a named person but has none (the municipality's gaps list)."""
    return a.rule in GAP_RULES


def eighteenth_birthday(birth_date: dt.date) -> dt.date:
    """The day the programme's named person ends. Born on 29 February: 1 March in a common
    year, the day ``consent_rules.age_on`` first counts 18."""
    try:
        return birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:
        return dt.date(birth_date.year + ADULT_AGE, 3, 1)


def _home(life: ChildLife, on: dt.date) -> Home | None:
    return max((h for h in life.homes if h.since <= on), default=None)


def home_municipality(life: ChildLife, on: dt.date) -> str | None:
    home = _home(life, on)
    return None if home is None else home.municipality_code


def _born_on(life: ChildLife, on: dt.date) -> dt.date | None:
    """The day the child is known to be born, if by ``on``. Without a birth date, a listing,
    placement or KAA registration shows the child is born (a partly folded life)."""
    birth = life.birth_date
    if birth is not None:
        return birth if birth <= on else None
    evidence = [x.listed_on for x in life.listings] + [s.start for s in life.placement_starts]
    evidence += [k.registered_on for k in life.kaa_registrations]
    return min((d for d in evidence if d <= on), default=None)


def _school_placements(life: ChildLife, config: NamedPersonConfig) -> list[Placement]:
    line = _SCHOOL_ORDER[config.school_stage_starts_with]
    return [p for p in life.placements if p.start is not None and _SCHOOL_ORDER[p.school_type] >= line]


def _placement_order(p: Placement) -> tuple[dt.date | None, int, str]:
    """Of several placements the latest started one counts, then the later school type."""
    return p.start, _SCHOOL_ORDER[p.school_type], p.placement_id


def _early_years(life: ChildLife, on: dt.date, born: dt.date, config: NamedPersonConfig) -> Assignment:
    """Rule 2: the BHV unit where listed, else the one configured for the home municipality."""
    listing = max((x for x in life.listings if x.listed_on <= on), default=None)
    if listing is not None:
        return Assignment(listing.unit_id, RULE_BHV_LISTED, max(listing.listed_on, born))
    home = _home(life, on)
    org = None if home is None else config.bhv_by_municipality.get(home.municipality_code)
    since = born if home is None else max(home.since, born)
    return Assignment(org, RULE_BHV_HOME if org else RULE_GAP_BHV, since)


def _school_years(
    life: ChildLife, on: dt.date, started: list[Placement], config: NamedPersonConfig
) -> tuple[LifeStage, Assignment]:
    """Rules 3 and 4: the current placement's school unit, else KAA, else the last school
    unit's principal during the grace after its placement ended, else a gap."""
    active = [p for p in started if p.active_on(on)]
    if active:
        current = max(active, key=_placement_order)
        return _STAGE_OF_SCHOOL[current.school_type], Assignment(current.unit_id, RULE_PRINCIPAL, current.start)
    latest = max(started, key=_placement_order, default=None)
    kaa = sorted(k for k in life.kaa_registrations
                 if k.registered_on <= on and (latest is None or latest.start <= k.registered_on))
    if kaa:
        municipality = home_municipality(life, on) or kaa[-1].municipality_code
        org = config.kaa_by_municipality.get(municipality)
        return LifeStage.KAA, Assignment(org, RULE_KAA if org else RULE_GAP_KAA, kaa[0].registered_on)
    assert latest is not None  # the school stage was reached by a placement, and all have ended
    stage = _STAGE_OF_SCHOOL[latest.school_type]
    ended = max(p.end for p in started if p.end is not None)
    last = _last_attended(started)
    if last is None:  # only placements that were never active (ended on or before their start)
        return stage, Assignment(None, RULE_GAP_SCHOOL, ended)
    grace_until = _grace_until(last, started, config)
    if on < grace_until:  # the named person of the last day at school, unchanged
        return stage, Assignment(last.unit_id, RULE_PRINCIPAL, last.start)
    return stage, Assignment(None, RULE_GAP_SCHOOL, max(ended, grace_until))


def _last_attended(started: list[Placement]) -> Placement | None:
    """Of ended placements that were ever active, the one active last: the latest end, then
    the order rule 3 uses, so it names the unit that held the task on the last school day."""
    attended = [p for p in started if p.start is not None and p.end is not None and p.start < p.end]
    return max(attended, key=lambda p: (p.end, _placement_order(p)), default=None)


def _grace_until(last: Placement, started: list[Placement], config: NamedPersonConfig) -> dt.date:
    """The day (exclusive) the grace after ``last`` ends: ``placement_grace_days`` after its
    end, or earlier if another placement starts on or after that end. KAA and the 18th birthday
    are taken by the callers, before the grace is looked at."""
    assert last.end is not None
    cut = [p.start for p in started if p is not last and p.start is not None and p.start >= last.end]
    return min([_grace_end(last.end, config), *cut])


def _grace_end(end: dt.date, config: NamedPersonConfig) -> dt.date:
    """``end + placement_grace_days``, kept within the calendar (some systems end an open
    placement on 9999-12-31)."""
    try:
        return end + dt.timedelta(days=config.placement_grace_days)
    except OverflowError:
        return dt.date.max


def in_county(config: NamedPersonConfig, municipality_code: str) -> bool:
    """Whether the municipality is one of the county's: the config names a unit for it."""
    return municipality_code in config.bhv_by_municipality or municipality_code in config.kaa_by_municipality


def _left(life: ChildLife, on: dt.date, config: NamedPersonConfig) -> Assignment | None:
    """The end of the named person because the child has left the county on ``on``, if it has:
    died, emigrated, or moved to a municipality outside it (module docstring)."""
    if life.deaths:
        died = min(life.deaths)
        if died <= on:
            return Assignment(None, RULE_ENDED_DEATH, died)
    if life.emigrations and (emigrated := life.emigrated_on(on)) is not None:
        return Assignment(None, RULE_ENDED_EMIGRATED, emigrated)
    # Most children never move out: look at the home of the day only if some move went out.
    if any(h.authority == MOVE and not in_county(config, h.municipality_code) for h in life.homes):
        home = _home(life, on)
        if home is not None and home.authority == MOVE and not in_county(config, home.municipality_code):
            return Assignment(None, RULE_ENDED_MOVED_OUT, home.since)
    return None


def _by_rules(life: ChildLife, on: dt.date, config: NamedPersonConfig) -> tuple[LifeStage, Assignment]:
    """Rules 1-4 and 6, without transfers: the life stage and the assignment on ``on``."""
    left = _left(life, on, config)
    if left is not None:
        return LifeStage.GONE, left
    birth = life.birth_date
    if birth is not None and eighteenth_birthday(birth) <= on:
        return LifeStage.ADULT, Assignment(None, RULE_ENDED_18, eighteenth_birthday(birth))
    born = _born_on(life, on)
    if born is None:
        pregnancy = max((p for p in life.pregnancies if p.registered_on <= on), default=None)
        if pregnancy is None:
            return LifeStage.UNKNOWN, NOTHING
        return LifeStage.UNBORN, Assignment(pregnancy.unit_id, RULE_UNBORN, pregnancy.registered_on)
    started = [p for p in _school_placements(life, config) if p.start is not None and p.start <= on]
    if started or any(k.registered_on <= on for k in life.kaa_registrations):
        return _school_years(life, on, started, config)
    return LifeStage.EARLY_YEARS, _early_years(life, on, born, config)


def life_stage(life: ChildLife, on: dt.date, config: NamedPersonConfig) -> LifeStage:
    """The child's life stage on ``on``, by rules 1-4 and 6 (transfers do not change it)."""
    return _by_rules(life, on, config)[0]


def boundaries(life: ChildLife, config: NamedPersonConfig) -> tuple[dt.date, ...]:
    """Every date on which some fact takes effect, and every date a placement's grace runs out
    (``end + placement_grace_days``, hence the config), in order. Assignments and stages are
    constant between two of them, so evaluating at each finds every change."""
    days = {p.registered_on for p in life.pregnancies} | {h.since for h in life.homes}
    days |= {b.birth_date for b in life.births} | {eighteenth_birthday(b.birth_date) for b in life.births}
    days |= {x.listed_on for x in life.listings} | {s.start for s in life.placement_starts}
    days |= {e.end for e in life.placement_ends} | {k.registered_on for k in life.kaa_registrations}
    days |= {_grace_end(e.end, config) for e in life.placement_ends}
    days |= {t.on for t in life.transfers} | life.deaths | life.emigrations
    return tuple(sorted(days))


def _override(life: ChildLife, on: dt.date, stage: LifeStage, config: NamedPersonConfig) -> Transfer | None:
    """Rule 5: the latest transfer by ``on``, while the stage has not changed since it.

    Earlier transfers need no look: they span every stage change the latest one does.
    """
    latest = max((t for t in life.transfers if t.on <= on), default=None)
    if latest is None:
        return None
    then = life_stage(life, latest.on, config)
    if then is not stage:
        return None
    between = (d for d in boundaries(life, config) if latest.on < d < on)
    return None if any(life_stage(life, d, config) is not then for d in between) else latest


def assignment(life: ChildLife, on: dt.date, config: NamedPersonConfig) -> Assignment:
    """The named person on ``on``, from the facts dated on or before it (DESIGN §6, rules 1-6).

    A past ``on`` gives what the rules said then, for auditors' time travel.
    """
    stage, ruled = _by_rules(life, on, config)
    if stage is LifeStage.ADULT or stage is LifeStage.GONE:
        return ruled  # rule 6, and leaving the county: a transfer does not carry the task on
    transfer = _override(life, on, stage, config)
    return ruled if transfer is None else Assignment(transfer.to_org, RULE_TRANSFERRED, transfer.on)


def gaps(
    lives: Iterable[tuple[UUID, ChildLife]], on: dt.date, config: NamedPersonConfig
) -> dict[str, list[UUID]]:
    """The gaps lists on ``on``: per home municipality code, the sorted ids of children who
    should have a named person but have none."""
    found: dict[str, list[UUID]] = {}
    for child_id, life in lives:
        if is_gap(assignment(life, on, config)):
            code = home_municipality(life, on) or UNKNOWN_MUNICIPALITY
            found.setdefault(code, []).append(child_id)
    return {code: sorted(ids) for code, ids in sorted(found.items())}


# -- changes over time --------------------------------------------------------------------

def _same(a: Assignment, b: Assignment) -> bool:
    """A change is a new organisation or a new rule; a later fact behind the same pair is not."""
    return (a.organisation_id, a.rule) == (b.organisation_id, b.rule)


def changes(life: ChildLife, config: NamedPersonConfig, until: dt.date) -> list[tuple[dt.date, Assignment]]:
    """Each change up to ``until``, with the date it takes effect."""
    out: list[tuple[dt.date, Assignment]] = []
    last = NOTHING
    for day in boundaries(life, config):
        if day > until:
            break
        now = assignment(life, day, config)
        if not _same(last, now):
            out.append((day, now))
            last = now
    return out


def history(life: ChildLife, config: NamedPersonConfig, until: dt.date) -> list[Assignment]:
    """The distinct assignments over time up to ``until``, one per change, oldest first."""
    return [a for _, a in changes(life, config, until)]


def assigned_event(
    child_id: UUID, before: Assignment | None, after: Assignment, on: dt.date
) -> NamedPersonAssigned | None:
    """The ``NamedPersonAssigned`` for a change on ``on``, or None when nothing changed.

    The event id is a UUIDv5 over child, organisation, rule and since, so a replay emits the
    same ids and the read model absorbs repeats. ``on`` only dates the event.
    """
    if _same(before or NOTHING, after):
        return None
    record_version = RECORD_VERSION.format(organisation=after.organisation_id or "", rule=after.rule,
                                           since=after.since.isoformat() if after.since else "")
    record_id = RECORD_ID.format(child_id=child_id)
    at = dt.datetime.combine(on, dt.time.min, tzinfo=dt.UTC)  # a pure fold has no clock
    envelope = Envelope(
        event_id=source_event_id(SYSTEM, record_id, record_version),
        type=NamedPersonAssigned.__name__,
        child_id=child_id,
        occurred_at=at,
        recorded_at=at,
        source=Source(SYSTEM, SOURCE_ORGANISATION, record_id, record_version),
        basis=Basis.DIRECTORY,
        category=Category.PLAN,
    )
    return NamedPersonAssigned(envelope=envelope, organisation_id=after.organisation_id,
                               rule=after.rule, assigned_on=on)


def assigned_events(
    child_id: UUID, life: ChildLife, config: NamedPersonConfig, until: dt.date
) -> list[NamedPersonAssigned]:
    """One ``NamedPersonAssigned`` per change up to ``until``: what a replay emits."""
    out: list[NamedPersonAssigned] = []
    before: Assignment | None = None
    for day, after in changes(life, config, until):
        event = assigned_event(child_id, before, after, day)
        if event is not None:
            out.append(event)
        before = after
    return out
