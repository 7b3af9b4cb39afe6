"""Consent validity as a function of time (issue 14), against a reference model written here.

Hypothesis draws a child whose life changes inside a short window -- a 15th or 18th birthday,
a birth after a registered pregnancy, custody records coming and going, a death, an emigration
and perhaps a registration that brings the child back -- consents with random
grantors, periods and withdrawals, and facts from several organisations. At many moments T
(each transition and the instants either side of it, not only the end) it compares:

* ``projections.consents.visible`` over the consents as judged from the folded register, with
  what the reference says each organisation may see at T (the read model's and time travel's
  question, asked with everything the register has recorded);
* the gate's fold (``projections.gate``), fed the events in time order and settled at T, with
  the facts the reference says some consent valid at T covers, judged on what the register had
  recorded by T -- which is all the gate can know then.

The reference is deliberately simple: it looks at every Swedish midnight and every custody
record between a consent's registration and T, and asks the rules of DESIGN §6 directly (issue
15 adds: nobody consents for a child from the midnight that starts the day of its death, or of
its emigration until the midnight that starts the day the register recorded it again).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from hypothesis import given, note, settings
from hypothesis import strategies as st

from projections import consents as consent_fold
from projections import gate, population
from projections.consents import FactRef, judged, visible
from projections.population import Resident
from schemas.events import (
    Area,
    Basis,
    Category,
    ChildBorn,
    ChildDied,
    ChildEmigrated,
    ChildRegistered,
    ConsentGranted,
    ConsentWithdrawn,
    CustodyRecorded,
    Event,
    Grantor,
    GrantorRole,
    PregnancyRegistered,
)
from services.dev.samples import sample_event

SE = ZoneInfo("Europe/Stockholm")
START = dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
WINDOW_DAYS = 60
CHILD = uuid.UUID(int=100, version=4)
MOTHER, FATHER, NEW_PARTNER, STRANGER = (uuid.UUID(int=n, version=4) for n in (101, 102, 103, 104))
ORGS = ("bvc", "school", "social", "mhv")
G = GrantorRole


# -- the reference ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Life:
    birth_date: dt.date | None  # None: still unborn at the window's end
    pregnancy: bool  # registered before the window
    custody: tuple[tuple[dt.datetime, frozenset[uuid.UUID]], ...]  # (recorded at, guardians), in time order
    died: tuple[dt.date, dt.datetime] | None = None  # (died on, recorded at)
    emigrated: tuple[dt.date, dt.datetime] | None = None  # (emigrated on, recorded at)
    registered_again: dt.datetime | None = None  # a registration recorded at this instant


@dataclass(frozen=True)
class Grant:
    consent_id: uuid.UUID
    grantors: frozenset[Grantor]
    granted_at: dt.datetime
    valid_from: dt.datetime
    valid_to: dt.datetime
    categories: frozenset[Category]
    recipients: frozenset[str]
    withdrawn_at: dt.datetime | None


def ref_birthday(born: dt.date, years: int) -> dt.date:
    if born.month == 2 and born.day == 29 and not _leap(born.year + years):
        return dt.date(born.year + years, 3, 1)
    return dt.date(born.year + years, born.month, born.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def ref_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), SE).astimezone(dt.UTC)


def ref_gone(life: Life, t: dt.datetime, known_by: dt.datetime) -> bool:
    """Dead, or abroad, at ``t``, as the register has recorded by ``known_by``: from the midnight
    that starts the day; abroad until the midnight that starts the day a registration after it was
    recorded, if that was on a later day."""
    if life.died is not None and life.died[1] <= known_by and t >= ref_midnight(life.died[0]):
        return True
    if life.emigrated is None or life.emigrated[1] > known_by or t < ref_midnight(life.emigrated[0]):
        return False
    back = life.registered_again
    return not (back is not None and back <= known_by and back.date() > life.emigrated[0]
                and t >= ref_midnight(back.date()))


def ref_required(life: Life, t: dt.datetime, known_by: dt.datetime) -> set[Grantor] | None:
    """Who must have granted at ``t``, from the register as recorded by ``known_by``; None when
    nobody can (a minor without known guardians, an unborn child without a pregnancy, a child
    who has died or is abroad)."""
    if ref_gone(life, t, known_by):
        return None
    born = life.birth_date is not None and t >= ref_midnight(life.birth_date)
    if not born:
        return {Grantor(MOTHER, G.EXPECTANT_PARENT)} if life.pregnancy else None
    assert life.birth_date is not None
    if t >= ref_midnight(ref_birthday(life.birth_date, 18)):
        return {Grantor(CHILD, G.YOUNG_PERSON)}
    records = [(at, gs) for at, gs in life.custody if at <= known_by]
    if not records:
        return None
    current = [gs for at, gs in records if at <= t]
    guardians = current[-1] if current else records[0][1]  # the first record counts from birth
    if not guardians:
        return None
    need = {Grantor(g, G.GUARDIAN) for g in guardians}
    if t >= ref_midnight(ref_birthday(life.birth_date, 15)):
        need.add(Grantor(CHILD, G.CHILD))
    return need


def ref_valid(life: Life, c: Grant, at: dt.datetime, known_by: dt.datetime) -> bool:
    if not (c.valid_from <= at < c.valid_to) or (c.withdrawn_at is not None and c.withdrawn_at <= at):
        return False
    grants = set(c.grantors) | {Grantor(g.party_id, G.GUARDIAN) for g in c.grantors if g.role is G.EXPECTANT_PARENT}
    moments = {c.granted_at} | {at2 for at2, _ in life.custody if c.granted_at < at2 <= at}
    day = c.granted_at.astimezone(SE).date()
    while (m := ref_midnight(day)) <= at:
        if m > c.granted_at:
            moments.add(m)
        day += dt.timedelta(days=1)
    for t in moments:
        need = ref_required(life, t, known_by)
        if need is None or not need <= grants:
            return False
    return True


def ref_sees(life: Life, grants: list[Grant], org: str, fact: tuple[str, Category], at: dt.datetime) -> bool:
    source, category = fact
    return org == source or any(ref_valid(life, c, at, at + dt.timedelta(days=9999)) and org in c.recipients
                                and category in c.categories for c in grants)


# -- the histories --------------------------------------------------------------------------------

def _instant(offset_minutes: int) -> dt.datetime:
    return START + dt.timedelta(minutes=offset_minutes)


MINUTES = st.integers(0, WINDOW_DAYS * 24 * 60)
GRANTORS = st.frozensets(st.sampled_from([
    Grantor(MOTHER, G.GUARDIAN), Grantor(FATHER, G.GUARDIAN), Grantor(NEW_PARTNER, G.GUARDIAN),
    Grantor(CHILD, G.CHILD), Grantor(CHILD, G.YOUNG_PERSON), Grantor(MOTHER, G.EXPECTANT_PARENT),
    Grantor(STRANGER, G.GUARDIAN),
]), min_size=1, max_size=4)


STAYING = ("turns15", "turns18", "born", "custody")


@st.composite
def lives(draw: st.DrawFn, kinds: tuple[str, ...] = (*STAYING, "leaves")) -> Life:
    kind = draw(st.sampled_from(kinds))
    if kind == "leaves":
        return draw(leaving())
    day = (START + dt.timedelta(days=draw(st.integers(1, WINDOW_DAYS - 5)))).date()
    if kind == "born":
        birth = day if draw(st.booleans()) else None
        first = ref_midnight(day) + dt.timedelta(hours=draw(st.integers(0, 200)))
        parents = draw(st.sampled_from([frozenset({MOTHER}), frozenset({MOTHER, FATHER})]))
        custody = ((first, parents),) if birth is not None else ()
        return Life(birth, True, custody)
    years = {"turns15": 15, "turns18": 18, "custody": draw(st.integers(3, 16))}[kind]
    if kind == "custody":
        birth = dt.date(day.year - years, day.month, min(day.day, 28))
    else:
        birth = dt.date(day.year - years, day.month, day.day)
    custody = [(START - dt.timedelta(days=3000), frozenset({MOTHER, FATHER}))]
    for _ in range(draw(st.integers(0, 3))):
        custody.append((_instant(draw(MINUTES)), draw(st.sampled_from([
            frozenset({MOTHER}), frozenset({MOTHER, NEW_PARTNER}), frozenset({FATHER}), frozenset({MOTHER, FATHER}),
        ]))))
    return Life(birth, False, tuple(sorted(custody, key=lambda c: c[0])))


@st.composite
def leaving(draw: st.DrawFn) -> Life:
    """A child of 3-18 (custody that may change, a birthday), who dies or emigrates on a day of the window,
    recorded that day or up to three days later; an emigrant may be registered again, on the same
    day (no return: the day must be later) or a later one."""
    base = draw(lives(("turns15", "turns18", "custody")))
    day = (START + dt.timedelta(days=draw(st.integers(1, WINDOW_DAYS - 10)))).date()
    recorded = ref_midnight(day) + dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    if draw(st.booleans()):
        return replace(base, died=(day, recorded))
    back = None
    if draw(st.booleans()):
        back = recorded + dt.timedelta(minutes=draw(st.integers(0, 8 * 24 * 60)))
    return replace(base, emigrated=(day, recorded), registered_again=back)


@st.composite
def grants(draw: st.DrawFn) -> list[Grant]:
    out = []
    for n in range(draw(st.integers(1, 4))):
        granted = _instant(draw(MINUTES))
        start = granted + dt.timedelta(minutes=draw(st.integers(0, 3000)))
        end = start + dt.timedelta(days=draw(st.integers(1, 90)))
        withdrawn = granted + dt.timedelta(minutes=draw(MINUTES)) if draw(st.booleans()) else None
        out.append(Grant(uuid.UUID(int=1000 + n, version=4), draw(GRANTORS), granted, start, end,
                         draw(st.frozensets(st.sampled_from([Category.HEALTH, Category.SCHOOL]), min_size=1)),
                         draw(st.frozensets(st.sampled_from(ORGS), min_size=1)), withdrawn))
    return out


FACTS = [(org, cat) for org in ("bvc", "school") for cat in (Category.HEALTH, Category.SCHOOL)]


# -- the events the product folds ----------------------------------------------------------------

def _env(name: str, n: int, at: dt.datetime, **extra: object) -> object:
    env = sample_event(name, seed=1, child_id=CHILD).envelope
    return replace(env, event_id=uuid.UUID(int=n, version=4), occurred_at=at, recorded_at=at, sealed=None,
                   source=replace(env.source, record_id=f"r{n}"), **extra)


def register_events(life: Life) -> list[tuple[dt.datetime, Event]]:
    out: list[tuple[dt.datetime, Event]] = []
    early = START - dt.timedelta(days=3000)
    if life.pregnancy:
        out.append((early, PregnancyRegistered(envelope=_env("PregnancyRegistered", 1, early), unit_id="mhv",
                                               municipality_code="0780", expected_birth_date=START.date(),
                                               expectant_parent_id=MOTHER)))
        if life.birth_date is not None:
            born = ref_midnight(life.birth_date)
            out.append((born, ChildBorn(envelope=_env("ChildBorn", 2, born), birth_date=life.birth_date,
                                        municipality_code="0780")))
    else:
        assert life.birth_date is not None
        out.append((early, ChildRegistered(envelope=_env("ChildRegistered", 3, early), birth_date=life.birth_date,
                                           municipality_code="0780")))
    for n, (at, guardians) in enumerate(life.custody):
        out.append((at, CustodyRecorded(envelope=_env("CustodyRecorded", 10 + n, at),
                                        guardian_ids=tuple(sorted(guardians)), recorded_on=at.date())))
    if life.died is not None:
        day, at = life.died
        out.append((at, ChildDied(envelope=_env("ChildDied", 20, at), died_on=day)))
    if life.emigrated is not None:
        day, at = life.emigrated
        out.append((at, ChildEmigrated(envelope=_env("ChildEmigrated", 21, at), emigrated_on=day)))
    if life.registered_again is not None:
        at = life.registered_again
        assert life.birth_date is not None
        out.append((at, ChildRegistered(envelope=_env("ChildRegistered", 22, at), birth_date=life.birth_date,
                                        municipality_code="0780")))
    return out


def consent_events(grants_: list[Grant]) -> list[tuple[dt.datetime, Event]]:
    out: list[tuple[dt.datetime, Event]] = []
    for n, c in enumerate(grants_):
        granted = ConsentGranted(envelope=_env("ConsentGranted", 100 + n, c.granted_at), consent_id=c.consent_id,
                                 grantors=tuple(sorted(c.grantors, key=str)), categories=tuple(sorted(c.categories)),
                                 recipients=tuple(sorted(c.recipients)), valid_from=c.valid_from, valid_to=c.valid_to)
        out.append((c.granted_at, granted))
        if c.withdrawn_at is not None:
            withdrawal = ConsentWithdrawn(envelope=_env("ConsentWithdrawn", 200 + n, c.withdrawn_at),
                                          consent_id=c.consent_id, withdrawn_by=MOTHER, role=G.GUARDIAN)
            out.append((c.withdrawn_at, withdrawal))
    return out


def moments(life: Life, grants_: list[Grant]) -> list[dt.datetime]:
    """Every transition and consent boundary, and the instants either side of each."""
    points = {START, START + dt.timedelta(days=WINDOW_DAYS)}
    points.update(at for at, _ in life.custody)
    if life.birth_date is not None:
        points.update(ref_midnight(life.birth_date + dt.timedelta(days=d)) for d in (0,))
        points.update(ref_midnight(ref_birthday(life.birth_date, y)) for y in (15, 18))
    for day, at in (e for e in (life.died, life.emigrated) if e is not None):
        points.update((ref_midnight(day), at))
    if life.registered_again is not None:
        points.update((life.registered_again, ref_midnight(life.registered_again.date())))
    for c in grants_:
        points.update(t for t in (c.granted_at, c.valid_from, c.valid_to, c.withdrawn_at) if t is not None)
    second = dt.timedelta(seconds=1)
    return sorted({p + d for p in points for d in (-second, dt.timedelta(0), second)})


@settings(max_examples=250, deadline=None, print_blob=True)
@given(life=lives(), grants_=grants())
def test_every_organisation_sees_at_every_moment_what_the_rules_allow(life: Life, grants_: list[Grant]) -> None:
    note(f"life={life}\ngrants={grants_}")
    resident = population.fold(CHILD, [e for _, e in register_events(life)])
    state = consent_fold.ConsentState()
    for _, event in consent_events(grants_):
        state = consent_fold.apply(state, event)
    judged_ = [judged(c, resident.register()) for c in state.of_child(CHILD)]
    for at in moments(life, grants_):
        for source, category in FACTS:
            ref = FactRef(CHILD, source, category, Area.HEALTH, Basis.CONSENT)
            for org in ORGS:
                expected = ref_sees(life, grants_, org, (source, category), at)
                assert visible(ref, org, at, judged_) == expected, (at, org, source, category)


@settings(max_examples=150, deadline=None, print_blob=True)
@given(life=lives(), grants_=grants())
def test_the_gate_releases_at_every_moment_exactly_what_a_valid_consent_covers(life: Life,
                                                                             grants_: list[Grant]) -> None:
    note(f"life={life}\ngrants={grants_}")
    facts = {uuid.UUID(int=5000 + n, version=4): fact for n, fact in enumerate(FACTS)}
    events = sorted(register_events(life) + consent_events(grants_), key=lambda e: e[0])
    state, pending = gate.ChildGate(), list(events)
    for fid, (source, category) in facts.items():
        state, _ = gate.on_fact(state, fid, FactRef(CHILD, source, category, Area.HEALTH, Basis.CONSENT),
                                START - dt.timedelta(days=1))
    withdrawn: dict[uuid.UUID, dt.datetime] = {}
    for at in moments(life, grants_):
        while pending and pending[0][0] <= at:
            when, event = pending.pop(0)
            if isinstance(event, ConsentGranted):
                state, _ = gate.on_consent(state, consent_fold.consent_of(event), when)
            elif isinstance(event, ConsentWithdrawn):
                known = next(c for c in state.consents if c.consent_id == event.consent_id)
                withdrawn.setdefault(event.consent_id, when)
                state, _ = gate.on_consent(state, replace(known, withdrawn_at=withdrawn[event.consent_id]), when)
            else:
                state, _ = gate.on_register(state, CHILD, event, when)
        state, _ = gate.settle(state, at)
        released = gate.released_now(state)
        for fid, (source, category) in facts.items():
            expected = any(ref_valid(life, c, at, at) and category in c.categories
                           for c in grants_ if c.granted_at <= at)
            assert (fid in released) == expected, (at, source, category)


def test_a_consent_waits_for_the_register_that_supports_it() -> None:
    """Nothing known of the child yet: not in force; the register's facts bring the judgement."""
    consent = consent_fold.consent_of(ConsentGranted(
        envelope=_env("ConsentGranted", 300, START), consent_id=uuid.UUID(int=301, version=4),
        grantors=(Grantor(MOTHER, G.GUARDIAN),), categories=(Category.HEALTH,), recipients=("school",),
        valid_from=START, valid_to=START + dt.timedelta(days=30)))
    assert judged(consent, Resident(CHILD).register()).lapsed_at == START
    child = population.apply(Resident(CHILD), ChildRegistered(envelope=_env("ChildRegistered", 302, START),
                                                              birth_date=dt.date(2020, 6, 1), municipality_code="0780"))
    assert judged(consent, child.register()).lapsed_at == START  # no custody known: nobody can consent
    custody = CustodyRecorded(envelope=_env("CustodyRecorded", 303, START + dt.timedelta(days=1)),
                              guardian_ids=(MOTHER,), recorded_on=START.date())
    assert judged(consent, population.apply(child, custody).register()).lapsed_at is None  # counts from birth
