"""The synthetic county: organisations, children, guardians and each child's life course.

This is the shared spine that every stand-in derives its own records from. It is seeded and
deterministic per child (child ``i`` depends only on ``seed`` and ``i``), so a stand-in can
stream 45,000 children without holding the county in memory, and two stand-ins agree on who
a child is, where they live and which school they attend.

The history window is one year ending at ``as_of``. Ages are drawn so the county has children
aged 0-18 plus unborn children in roughly Kronoberg's proportions.

Life changes that the population register records come from streams of their own, so the rest
of a child's life course stays as it was: custody changes (``CUSTODY_SHARE``), protected
personal data (``PROTECTED_SHARE``: sekretessmarkering or skyddad folkbokföring, from before the
window or recorded within it, a few lifted again), and for a few children one change that ends
their part in the county within the window: a death, an emigration, or a move to a
municipality outside the county (``DIED_SHARE``, ``EMIGRATED_SHARE``, ``MOVED_OUT_SHARE``). Such an
ending falls after every other register change of the child. The other stand-ins do not read
these (a child's school placements run on, as a source system's data would until it catches up).

The organisations are not simulator code: they come from a county directory
(``schemas.county.CountyDirectory``), by default the synthetic county's checked-in file
``deploy/county/kronoberg.toml`` (``connectors.standins.directory``). What stays here are the
simulator's statistical knobs, which no county configures: how children spread over the
municipalities, how many are unborn or in KAA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property

from connectors import personnummer
from connectors.standins.directory import synthetic_directory
from schemas.county import MHV, PRESCHOOL, SCHOOL, UPPER_SECONDARY, CountyDirectory, Organisation

DEFAULT_SEED = 20261122
DEFAULT_CHILDREN = 2_000
DEFAULT_AS_OF = dt.date(2026, 11, 1)

# A rough share of the county's children per SCB municipality code. A statistical knob of the
# simulator, not county configuration: the hub never needs it (the population register says
# where a child lives), so it stays out of the county directory. A municipality of a directory
# that is not listed here gets an equal share, 1 / (number of municipalities).
CHILD_SHARES: dict[str, float] = {
    "0760": 0.04,  # Uppvidinge
    "0761": 0.04,  # Lessebo
    "0763": 0.06,  # Tingsryd
    "0764": 0.10,  # Alvesta
    "0765": 0.09,  # Älmhult
    "0767": 0.05,  # Markaryd
    "0780": 0.47,  # Växjö
    "0781": 0.15,  # Ljungby
}
UNBORN_SHARE = 0.04  # ongoing pregnancies relative to children 0-18
KAA_SHARE = 0.08  # of 16-18-year-olds, outside upper secondary
CUSTODY_SHARE = 0.03  # of born children, whose guardians change within the window
PROTECTED_SHARE = 0.01  # of born children, with protected personal data (both kinds, about half each)
# Of children in compulsory school, those whose school place ended before the summer and who have
# no new one yet (moved, or waiting for a place): past the summer's grace, they are the county's
# gaps lists -- every municipality has a few.
BETWEEN_SCHOOLS_SHARE = 0.02
PROTECTED_IN_WINDOW = 0.5  # of those, protected from a day within the window (else from before it)
PROTECTION_LIFTED = 0.3  # of those, the protection is lifted again within the window
# Of born children, whose part in the county ends within the window (one of the three, at most).
DIED_SHARE = 0.003
EMIGRATED_SHARE = 0.005
MOVED_OUT_SHARE = 0.008
# Municipalities outside Kronoberg that children move to: Jönköping, Kalmar, Malmö, Halmstad.
OUTSIDE_CODES = ("0680", "0880", "1280", "1380")
SEKRETESSMARKERING, SKYDDAD_FOLKBOKFORING, UNPROTECTED = "SEKRETESSMARKERING", "SKYDDAD_FOLKBOKFORING", "NONE"

GIVEN = ("Alva", "Elsa", "Maja", "Ella", "Vera", "Alice", "Selma", "Saga", "Leah", "Ebba",
         "Noah", "William", "Hugo", "Liam", "Lucas", "Oliver", "Elias", "Adam", "Nils", "Vincent",
         "Astrid", "Tyra", "Edvin", "Melvin", "Sigrid", "Ines", "Omar", "Yusuf", "Amira", "Ali")
CHILD_DAYS = 19 * 365  # ages 0-18
SERIALS = len(personnummer.SYNTHETIC_SERIALS)
FAMILY = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
          "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Lindqvist", "Berg",
          "Lund", "Holm", "Ahmed", "Hassan", "Nyström", "Sandberg")


Unit = Organisation  # an organisation unit of the county directory
NO_UNITS = "the synthetic county needs a {kind} unit in municipality {code}; the directory has none"
NO_UPPER_SECONDARY = "the synthetic county needs at least one UPPER_SECONDARY unit; the directory has none"


@dataclass(frozen=True, slots=True)
class Person:
    personnummer: str
    given_name: str
    family_name: str
    birth_date: dt.date


@dataclass(frozen=True, slots=True)
class Placement:
    """A school placement in the child's life course; ``end`` is None while it lasts."""

    id: str
    school_type: str  # PRESCHOOL, PRESCHOOL_CLASS, COMPULSORY, UPPER_SECONDARY
    unit_id: str
    start: dt.date
    end: dt.date | None


@dataclass(frozen=True, slots=True)
class Child:
    index: int
    person: Person | None  # None while unborn (or born after as_of)
    birth_date: dt.date  # actual, or expected for the unborn
    mother: Person
    guardians: tuple[Person, ...]
    municipality_code: str
    moves: tuple[tuple[dt.date, str], ...]  # (date, new municipality code) within the window
    pregnancy_registered_on: dt.date | None  # only when inside the window or still unborn
    placements: tuple[Placement, ...]
    kaa_from: dt.date | None
    # Custody changes after registration, in the register's order: (day, the full new list of
    # guardians). Two changes may fall on one day (a guardian replaced: removed, then added).
    # The mother stays a guardian throughout. ``guardians`` is the list at registration.
    custody: tuple[tuple[dt.date, tuple[Person, ...]], ...] = ()
    # Protected personal data in the register's order: (day, SEKRETESSMARKERING,
    # SKYDDAD_FOLKBOKFORING or NONE). A day of None: protected before the register's first
    # record of the child (its registration carries the flag).
    protection: tuple[tuple[dt.date | None, str], ...] = ()
    # At most one of these: the child's part in the county ends that day.
    died_on: dt.date | None = None
    emigrated_on: dt.date | None = None
    moved_out: tuple[dt.date, str] | None = None  # (day, municipality code outside the county)

    @property
    def born(self) -> bool:
        return self.person is not None

    @property
    def left_on(self) -> dt.date | None:
        """The day the child's part in the county ends: death, emigration or a move out."""
        return self.died_on or self.emigrated_on or (self.moved_out[0] if self.moved_out else None)

    def protection_on(self, day: dt.date) -> str:
        """The register's protection on ``day``: NONE, SEKRETESSMARKERING or SKYDDAD_FOLKBOKFORING."""
        current = UNPROTECTED
        for since, kind in self.protection:
            if since is None or since <= day:
                current = kind
        return current

    def guardians_on(self, day: dt.date) -> tuple[Person, ...]:
        """The guardians after every custody change dated on or before ``day``."""
        current = self.guardians
        for changed_on, guardians in self.custody:
            if changed_on <= day:
                current = guardians
        return current


@dataclass
class County:
    seed: int = DEFAULT_SEED
    children: int = DEFAULT_CHILDREN
    as_of: dt.date = DEFAULT_AS_OF
    # "monthly" absence summaries (demo default) or "daily" attendance, the volume a real
    # county produces: about 10M events a year for 45,000 children (DESIGN §5).
    attendance: str = "monthly"
    # The organisations the children meet; the synthetic county's directory by default.
    directory: CountyDirectory = field(default_factory=synthetic_directory, repr=False)

    def __post_init__(self) -> None:
        if self.attendance not in ("monthly", "daily"):
            raise ValueError("attendance is 'monthly' or 'daily'")
        if self.children > CHILD_DAYS * SERIALS:
            raise ValueError(f"at most {CHILD_DAYS * SERIALS} children fit the personnummer space")
        for code in self.directory.codes:  # what a child's life course draws from
            for kind in (MHV, PRESCHOOL, SCHOOL):
                if not self.directory.units_of(kind, code):
                    raise ValueError(NO_UNITS.format(kind=kind, code=code))
        if not self.directory.units_of(UPPER_SECONDARY):
            raise ValueError(NO_UPPER_SECONDARY)

    @property
    def window_start(self) -> dt.date:
        return self.as_of - dt.timedelta(days=365)

    @property
    def units(self) -> tuple[Unit, ...]:
        """The directory's organisation units, in its order (the order the draws depend on)."""
        return self.directory.organisations

    @cached_property
    def unit_by_id(self) -> dict[str, Unit]:
        return {u.id: u for u in self.units}

    def units_of(self, kind: str, municipality_code: str | None = None) -> list[Unit]:
        return list(self.directory.units_of(kind, municipality_code))

    def unit(self, kind: str, municipality_code: str) -> Unit:
        """The one MHV, BHV, SOCIAL or KAA unit of a municipality."""
        return self.directory.unit(kind, municipality_code)

    @cached_property
    def shares(self) -> tuple[float, ...]:
        """Each municipality's share of the children, in the directory's order."""
        codes = self.directory.codes
        return tuple(CHILD_SHARES.get(code, 1 / len(codes)) for code in codes)

    @cached_property
    def upper_secondary_towns(self) -> frozenset[str]:
        """Municipalities with an upper-secondary school; the others' pupils travel."""
        return frozenset(u.municipality_code for u in self.directory.units_of(UPPER_SECONDARY))

    @cached_property
    def upper_secondary_fallback(self) -> str:
        """Where pupils of a municipality without an upper-secondary school go: the biggest town."""
        share = dict(zip(self.directory.codes, self.shares, strict=True))
        return max(sorted(self.upper_secondary_towns), key=lambda code: share[code])

    def child(self, index: int) -> Child:
        return _make_child(self, index, random.Random(f"{self.seed}:child:{index}"))

    def __iter__(self) -> Iterator[Child]:
        for index in range(self.children):
            yield self.child(index)

    def rng(self, system: str, index: int) -> random.Random:
        """A private, deterministic random stream per (system, child) for stand-in details."""
        return random.Random(f"{self.seed}:{system}:{index}")


def _person(pnr: str, family: str | None = None) -> Person:
    """A person whose names follow from their personnummer alone.

    Two children who draw the same guardian number therefore share that guardian (siblings),
    and every stand-in agrees on the guardian's name without shared state.
    """
    digest = hashlib.sha256(pnr.encode()).digest()
    given = GIVEN[digest[0] % len(GIVEN)]
    return Person(pnr, given, family or FAMILY[digest[1] % len(FAMILY)], personnummer.birth_date_of(pnr))


def adult(rng: random.Random, child_birth: dt.date) -> Person:
    """A synthetic adult aged 20-42 at ``child_birth``: a parent or another guardian."""
    born = child_birth - dt.timedelta(days=rng.randrange(20 * 365, 42 * 365))
    return _person(personnummer.make(born, rng.choice(personnummer.SYNTHETIC_SERIALS)))


def _child_slot(index: int, size: int) -> int:
    """A bijection of [0, size): every child index gets its own (birth day, serial) slot."""
    step = 2_654_435_761 % size or 1
    while math.gcd(step, size) != 1:
        step += 1
    return (index * step + 12_345) % size


def _school_start(birth_date: dt.date, age_in_year: int) -> dt.date:
    """School years start mid-August of the calendar year the child turns ``age_in_year``."""
    return dt.date(birth_date.year + age_in_year, 8, 15)


def _school_end(birth_date: dt.date, age_in_year: int) -> dt.date:
    return dt.date(birth_date.year + age_in_year, 6, 12)


def _make_child(county: County, index: int, rng: random.Random) -> Child:
    codes = list(county.directory.codes)
    code = rng.choices(codes, weights=county.shares)[0]
    unborn = rng.random() < UNBORN_SHARE / (1 + UNBORN_SHARE)
    person = None
    if unborn:
        birth_date = county.as_of + dt.timedelta(days=rng.randrange(14, 240))
    else:
        slot = _child_slot(index, CHILD_DAYS * SERIALS)
        birth_date = county.as_of - dt.timedelta(days=1 + slot % CHILD_DAYS)
    mother = adult(rng, birth_date)
    guardians: tuple[Person, ...] = (mother,)
    if rng.random() < 0.8:
        guardians = (mother, adult(rng, birth_date))
    if not unborn:
        serial = personnummer.SYNTHETIC_SERIALS[slot // CHILD_DAYS]
        person = _person(personnummer.make(birth_date, serial), mother.family_name)
    pregnancy_on = birth_date - dt.timedelta(days=rng.randrange(200, 250))
    in_window = pregnancy_on >= county.window_start or birth_date >= county.window_start
    moves: tuple[tuple[dt.date, str], ...] = ()
    if not unborn and rng.random() < 0.03:
        moved_on = county.window_start + dt.timedelta(days=rng.randrange(30, 330))
        code_after = rng.choice([c for c in codes if c != code])
        moves = ((moved_on, code_after),)
    placements, kaa_from = (), None
    if not unborn:
        placements, kaa_from = _placements(county, rng, index, birth_date, code, moves)
        placements = _between_schools(county, index, placements)
    custody = _custody(county, index, birth_date, guardians) if person is not None else ()
    protection = _protection(county, index, birth_date) if person is not None else ()
    died_on = emigrated_on = moved_out = None
    if person is not None:
        days = [d for d, _ in moves] + [d for d, _ in custody] + [d for d, _ in protection if d is not None]
        died_on, emigrated_on, moved_out = _ending(county, index, max([max(birth_date, county.window_start), *days]))
    return Child(
        index=index,
        person=person,
        birth_date=birth_date,
        mother=mother,
        guardians=guardians,
        municipality_code=code,
        moves=moves,
        pregnancy_registered_on=pregnancy_on if (unborn or in_window) else None,
        placements=placements,
        kaa_from=kaa_from,
        custody=custody,
        protection=protection,
        died_on=died_on,
        emigrated_on=emigrated_on,
        moved_out=moved_out,
    )


def _between_schools(county: County, index: int, placements: tuple[Placement, ...]) -> tuple[Placement, ...]:
    """For about ``BETWEEN_SCHOOLS_SHARE`` of children at a compulsory school on ``as_of``: the
    place ended in June and no new one follows. Its own random stream: the rest of the county
    stays as it was."""
    rng = random.Random(f"{county.seed}:between-schools:{index}")
    now = [p for p in placements if p.school_type == "COMPULSORY" and p.start <= county.as_of
           and (p.end is None or p.end >= county.as_of)]
    if not now or rng.random() >= BETWEEN_SCHOOLS_SHARE:
        return placements
    ended = dt.date(county.as_of.year, 6, 10 + rng.randrange(10))
    if ended <= now[0].start or ended >= county.as_of:
        return placements
    kept = tuple(p for p in placements if p.start < now[0].start)
    return (*kept, replace(now[0], end=ended))


def _protection(county: County, index: int, birth_date: dt.date) -> tuple[tuple[dt.date | None, str], ...]:
    """For about ``PROTECTED_SHARE`` of born children, protected personal data: from before the
    register's first record, or from a day within the window; lifted again for a few."""
    rng = random.Random(f"{county.seed}:protection:{index}")
    if rng.random() >= PROTECTED_SHARE:
        return ()
    kind = SEKRETESSMARKERING if rng.random() < 0.5 else SKYDDAD_FOLKBOKFORING
    registered = max(birth_date, county.window_start)
    days = (county.as_of - registered).days - 1
    since: dt.date | None = None
    if rng.random() < PROTECTED_IN_WINDOW and days > 1:
        since = registered + dt.timedelta(days=rng.randrange(1, days))
    changes: list[tuple[dt.date | None, str]] = [(since, kind)]
    start = since or registered
    left = (county.as_of - start).days - 1
    if rng.random() < PROTECTION_LIFTED and left > 1:
        changes.append((start + dt.timedelta(days=rng.randrange(1, left)), UNPROTECTED))
    return tuple(changes)


Ending = tuple[dt.date | None, dt.date | None, tuple[dt.date, str] | None]  # died, emigrated, moved out
NO_ENDING: Ending = (None, None, None)


def _ending(county: County, index: int, after: dt.date) -> Ending:
    """For a few born children, the day their part in the county ends -- a death, an emigration
    or a move out of the county -- strictly after ``after`` (their last other register change)
    and before ``as_of``; none when no day is left."""
    rng = random.Random(f"{county.seed}:ending:{index}")
    draw = rng.random()
    days = (county.as_of - after).days
    if draw >= DIED_SHARE + EMIGRATED_SHARE + MOVED_OUT_SHARE or days < 2:
        return NO_ENDING
    day = after + dt.timedelta(days=rng.randrange(1, days))
    if draw < DIED_SHARE:
        return day, None, None
    if draw < DIED_SHARE + EMIGRATED_SHARE:
        return None, day, None
    outside = [c for c in OUTSIDE_CODES if c not in county.directory.codes]
    return (None, None, (day, rng.choice(outside))) if outside else NO_ENDING


def _custody(
    county: County, index: int, birth_date: dt.date, guardians: tuple[Person, ...]
) -> tuple[tuple[dt.date, tuple[Person, ...]], ...]:
    """For about ``CUSTODY_SHARE`` of born children, one change of guardians after registration.

    Drawn from a stream of its own, so the rest of the county stays as it was. A second
    guardian is removed, added, or replaced (two changes on one day: removed, then added); the
    mother is kept, so the expectant parent of a registered pregnancy is a guardian throughout.
    """
    rng = random.Random(f"{county.seed}:custody:{index}")
    if rng.random() >= CUSTODY_SHARE:
        return ()
    registered = max(birth_date, county.window_start)  # the register's first record of the child
    days = (county.as_of - registered).days - 1
    if days < 1:
        return ()
    day = registered + dt.timedelta(days=rng.randrange(1, days + 1))
    mother = guardians[0]
    if len(guardians) == 1:
        return ((day, (mother, adult(rng, birth_date))),)
    if rng.random() < 0.5:
        return ((day, (mother,)),)
    return ((day, (mother,)), (day, (mother, adult(rng, birth_date))))


def _placements(
    county: County,
    rng: random.Random,
    index: int,
    birth_date: dt.date,
    code: str,
    moves: tuple[tuple[dt.date, str], ...],
) -> tuple[tuple[Placement, ...], dt.date | None]:
    """The stages the child passes through, cut to what overlaps the history window."""
    stages: list[tuple[str, str, dt.date, dt.date | None]] = []
    preschool_from = birth_date + dt.timedelta(days=rng.randrange(365, 600))
    stages.append(("PRESCHOOL", "PRESCHOOL", preschool_from, _school_end(birth_date, 6)))
    stages.append(("PRESCHOOL_CLASS", "SCHOOL", _school_start(birth_date, 6), _school_end(birth_date, 7)))
    stages.append(("COMPULSORY", "SCHOOL", _school_start(birth_date, 7), _school_end(birth_date, 16)))
    kaa_from = None
    if rng.random() < KAA_SHARE:
        kaa_from = _school_start(birth_date, 16) + dt.timedelta(days=rng.randrange(20, 90))
    else:
        stages.append(("UPPER_SECONDARY", "UPPER_SECONDARY", _school_start(birth_date, 16), _school_end(birth_date, 19)))
    out: list[Placement] = []
    for n, (school_type, unit_kind, start, end) in enumerate(stages):
        if start > county.as_of or (end is not None and end < county.window_start):
            continue
        where = code
        for moved_on, new_code in moves:
            if start >= moved_on:
                where = new_code
        if unit_kind == UPPER_SECONDARY and where not in county.upper_secondary_towns:
            where = county.upper_secondary_fallback
        unit = rng.choice(county.units_of(unit_kind, where))
        ends = None if end is None or end > county.as_of else end
        out.append(Placement(f"placering-{index}-{n}", school_type, unit.id, start, ends))
        # A move mid-placement ends it and starts one at a school in the new municipality.
        for moved_on, new_code in moves:
            if start < moved_on and (ends is None or moved_on < ends) and unit_kind != "UPPER_SECONDARY":
                out[-1] = Placement(out[-1].id, school_type, unit.id, start, moved_on)
                new_unit = rng.choice(county.units_of(unit_kind, new_code))
                out.append(Placement(f"placering-{index}-{n}m", school_type, new_unit.id, moved_on, ends))
    if kaa_from is not None and kaa_from > county.as_of:
        kaa_from = None
    return tuple(out), kaa_from
