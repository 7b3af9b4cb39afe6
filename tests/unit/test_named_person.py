"""The named-person fold (DESIGN §6, rules 1-6): every rule boundary by date, the override and
its expiry, gaps, the emitted events -- and properties that the fold ignores order and
redelivery, and that the history misses no change."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.consent_rules import age_on
from projections.named_person import (
    DEFAULT_PLACEMENT_GRACE_DAYS,
    NOTHING,
    RULE_BHV_HOME,
    RULE_BHV_LISTED,
    RULE_ENDED_18,
    RULE_GAP_BHV,
    RULE_GAP_KAA,
    RULE_GAP_SCHOOL,
    RULE_KAA,
    RULE_NONE,
    RULE_PRINCIPAL,
    RULE_TRANSFERRED,
    RULE_UNBORN,
    UNKNOWN_MUNICIPALITY,
    Assignment,
    ChildLife,
    LifeStage,
    NamedPersonConfig,
    apply,
    assigned_event,
    assigned_events,
    assignment,
    boundaries,
    eighteenth_birthday,
    gaps,
    history,
    is_gap,
    life_stage,
)
from schemas.events import (
    Basis,
    Category,
    ChildBorn,
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
from services.dev.samples import one_of_each

DAY = dt.timedelta(days=1)
CHILD = uuid.UUID(int=1, version=4)
TEST_NAMESPACE = uuid.UUID(int=42)
REGION = "SE2321000065"


def county_config(codes: list[str], region_org: str = REGION,
                  school_stage_starts_with: SchoolType = SchoolType.PRESCHOOL_CLASS,
                  placement_grace_days: int = DEFAULT_PLACEMENT_GRACE_DAYS) -> NamedPersonConfig:
    """The test's own county: per municipality code the ids the synthetic county directory
    uses (the region's BHV unit, the municipality's KAA function)."""
    return NamedPersonConfig(
        bhv_by_municipality={code: f"{region_org}-BHV{code}" for code in codes},
        kaa_by_municipality={code: f"kommun-{code}-kaa" for code in codes},
        school_stage_starts_with=school_stage_starts_with,
        placement_grace_days=placement_grace_days,
    )


CONFIG = county_config(["0780", "0764"])
PRESCHOOL_LINE = county_config(["0780", "0764"], school_stage_starts_with=SchoolType.PRESCHOOL)
LITERAL = county_config(["0780", "0764"], placement_grace_days=0)  # a gap from the day a placement ends
GRACE = dt.timedelta(days=75)

MHV = f"{REGION}-MHV0780"
BHV_0780, BHV_0764 = f"{REGION}-BHV0780", f"{REGION}-BHV0764"
LISTED_BHV = f"{REGION}-BHV0780-city"  # a listing names its own unit, not the configured one
KAA_0780, KAA_0764 = "kommun-0780-kaa", "kommun-0764-kaa"
FORSKOLA, GYMNASIUM = "skolenhet-07801001", "skolenhet-07803001"
SCHOOL_A, SCHOOL_B = "skolenhet-07802001", "skolenhet-07802002"
SOCIAL = "kommun-0780-soc"

PREGNANCY_ON = dt.date(2009, 8, 1)
BIRTH = dt.date(2010, 3, 15)
LISTED_ON = dt.date(2010, 4, 1)
FORSKOLA_START, FORSKOLA_END = dt.date(2011, 8, 15), dt.date(2016, 6, 12)
CLASS_START, CLASS_END = dt.date(2016, 8, 15), dt.date(2017, 6, 12)
COMPULSORY_START, SCHOOL_MOVE, COMPULSORY_END = dt.date(2017, 8, 15), dt.date(2020, 1, 10), dt.date(2026, 6, 12)
KAA_ON = dt.date(2026, 9, 20)  # after COMPULSORY_END + GRACE
ADULT_ON = dt.date(2028, 3, 15)


# -- building events ----------------------------------------------------------------------

def event(cls: type[Event], at: dt.date | dt.datetime, child: uuid.UUID = CHILD, **fields: object) -> Event:
    """An event of ``cls`` occurring at ``at``; its id follows from its content, as a source
    fact's does, so building it twice gives the same event."""
    occurred = at if isinstance(at, dt.datetime) else dt.datetime.combine(at, dt.time.min, tzinfo=dt.UTC)
    content = f"{cls.__name__}|{child}|{occurred.isoformat()}|{sorted(fields.items())}"
    envelope = Envelope(
        event_id=uuid.uuid5(TEST_NAMESPACE, content), type=cls.__name__, child_id=child,
        occurred_at=occurred, recorded_at=occurred, source=Source("test", "test-org", content, "1"),
        basis=Basis.DIRECTORY, category=Category.PLAN if cls is NamedPersonTransferred else Category.HEALTH,
    )
    return cls(envelope=envelope, **fields)


def pregnancy(on: dt.date = PREGNANCY_ON, unit: str = MHV, code: str = "0780") -> Event:
    return event(PregnancyRegistered, on, unit_id=unit, municipality_code=code, expected_birth_date=BIRTH)


def born(on: dt.date = BIRTH, code: str = "0780") -> Event:
    return event(ChildBorn, on, birth_date=on, municipality_code=code)


def registered(at: dt.date = BIRTH, birth: dt.date = BIRTH, code: str = "0780") -> Event:
    return event(ChildRegistered, at, birth_date=birth, municipality_code=code)


def moved(on: dt.date, to: str) -> Event:
    return event(ChildMoved, on, to_municipality_code=to, moved_on=on)


def listed(on: dt.date = LISTED_ON, unit: str = LISTED_BHV) -> Event:
    return event(HealthUnitListed, on, unit_id=unit, listed_on=on)


def started(pid: str, unit: str, school_type: SchoolType, on: dt.date) -> Event:
    return event(SchoolPlacementStarted, on, placement_id=pid, school_unit_id=unit, school_type=school_type,
                 municipality_code="0780", start_date=on)


def ended(pid: str, unit: str, school_type: SchoolType, on: dt.date) -> Event:
    return event(SchoolPlacementEnded, on, placement_id=pid, school_unit_id=unit, school_type=school_type,
                 end_date=on)


def placement(pid: str, unit: str, school_type: SchoolType, start: dt.date, end: dt.date | None = None) -> list[Event]:
    return [started(pid, unit, school_type, start)] + ([] if end is None else [ended(pid, unit, school_type, end)])


def kaa(on: dt.date = KAA_ON, code: str = "0780") -> Event:
    return event(KaaRegistered, on, municipality_code=code, registered_on=on)


def transferred(on: dt.date | dt.datetime, to: str = SOCIAL) -> Event:
    return event(NamedPersonTransferred, on, to_org=to, reason_code="SECURE_PLACE")


def life(*events: Event | list[Event]) -> ChildLife:
    flat = [e for x in events for e in (x if isinstance(x, list) else [x])]
    return reduce(apply, flat, ChildLife())


def whole_life() -> list[Event]:
    """Pregnancy to adulthood: BHV, förskola, preschool class and compulsory school at A, a
    move to school B, compulsory school ends, KAA."""
    return [
        pregnancy(), born(), registered(), listed(),
        *placement("p-forskola", FORSKOLA, SchoolType.PRESCHOOL, FORSKOLA_START, FORSKOLA_END),
        *placement("p-class", SCHOOL_A, SchoolType.PRESCHOOL_CLASS, CLASS_START, CLASS_END),
        *placement("p-comp-a", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, SCHOOL_MOVE),
        *placement("p-comp-b", SCHOOL_B, SchoolType.COMPULSORY, SCHOOL_MOVE, COMPULSORY_END),
        kaa(),
    ]


def at(child: ChildLife, on: dt.date, config: NamedPersonConfig = CONFIG) -> tuple[str | None, str]:
    a = assignment(child, on, config)
    return a.organisation_id, a.rule


# -- configuration ------------------------------------------------------------------------

def test_county_config_follows_the_id_patterns() -> None:
    assert CONFIG.bhv_by_municipality == {"0780": BHV_0780, "0764": BHV_0764}
    assert CONFIG.kaa_by_municipality == {"0780": KAA_0780, "0764": KAA_0764}
    assert CONFIG.school_stage_starts_with is SchoolType.PRESCHOOL_CLASS
    assert CONFIG.placement_grace_days == DEFAULT_PLACEMENT_GRACE_DAYS == GRACE.days
    assert NamedPersonConfig({}, {}).placement_grace_days == GRACE.days
    assert LITERAL.placement_grace_days == 0
    assert county_config(["0760"], region_org="X").bhv_by_municipality == {"0760": "X-BHV0760"}


@pytest.mark.parametrize("line", [SchoolType.COMPULSORY, SchoolType.UPPER_SECONDARY])
def test_the_school_line_is_preschool_or_preschool_class(line: SchoolType) -> None:
    with pytest.raises(ValueError, match="PRESCHOOL or PRESCHOOL_CLASS"):
        NamedPersonConfig({}, {}, school_stage_starts_with=line)


@pytest.mark.parametrize("days", [-1, 1.5, True, "75"])
def test_the_grace_is_a_whole_number_of_days_not_negative(days: object) -> None:
    with pytest.raises(ValueError, match="placement_grace_days"):
        NamedPersonConfig({}, {}, placement_grace_days=days)  # type: ignore[arg-type]


def test_config_is_not_changed_through_the_callers_dict() -> None:
    bhv = {"0780": BHV_0780}
    config = NamedPersonConfig(bhv, {})
    bhv["0780"] = "other"
    assert config.bhv_by_municipality["0780"] == BHV_0780


# -- rule 1: unborn -----------------------------------------------------------------------

def test_nothing_known_is_no_one_and_no_gap() -> None:
    assert assignment(ChildLife(), BIRTH, CONFIG) == NOTHING
    assert not is_gap(NOTHING)
    assert life_stage(ChildLife(), BIRTH, CONFIG) is LifeStage.UNKNOWN


def test_unborn_child_has_the_mhv_unit_that_registered_the_pregnancy() -> None:
    child = life(pregnancy(), born())
    assert at(child, PREGNANCY_ON - DAY) == (None, RULE_NONE)
    assert assignment(child, PREGNANCY_ON, CONFIG) == Assignment(MHV, RULE_UNBORN, PREGNANCY_ON)
    assert at(child, BIRTH - DAY) == (MHV, RULE_UNBORN)
    assert life_stage(child, BIRTH - DAY, CONFIG) is LifeStage.UNBORN


# -- rule 2: birth until the school stage -------------------------------------------------

def test_from_birth_the_bhv_of_the_home_municipality_until_listed() -> None:
    child = life(pregnancy(), born(), listed())
    assert at(child, BIRTH - DAY) == (MHV, RULE_UNBORN)
    assert assignment(child, BIRTH, CONFIG) == Assignment(BHV_0780, RULE_BHV_HOME, BIRTH)
    assert at(child, LISTED_ON - DAY) == (BHV_0780, RULE_BHV_HOME)
    assert assignment(child, LISTED_ON, CONFIG) == Assignment(LISTED_BHV, RULE_BHV_LISTED, LISTED_ON)
    assert life_stage(child, LISTED_ON, CONFIG) is LifeStage.EARLY_YEARS


def test_the_latest_listing_counts() -> None:
    later = dt.date(2012, 5, 2)
    child = life(born(), listed(), listed(later, BHV_0764))
    assert at(child, later - DAY) == (LISTED_BHV, RULE_BHV_LISTED)
    assert at(child, later) == (BHV_0764, RULE_BHV_LISTED)


def test_before_listing_the_configured_bhv_follows_a_move() -> None:
    move = dt.date(2010, 3, 20)
    child = life(born(), moved(move, "0764"))
    assert at(child, move - DAY) == (BHV_0780, RULE_BHV_HOME)
    assert assignment(child, move, CONFIG) == Assignment(BHV_0764, RULE_BHV_HOME, move)


def test_no_bhv_configured_for_the_home_municipality_is_a_gap() -> None:
    child = life(born(code="0999"))
    a = assignment(child, BIRTH, CONFIG)
    assert a == Assignment(None, RULE_GAP_BHV, BIRTH) and is_gap(a)


def test_the_population_register_decides_home_on_the_same_day() -> None:
    child = life(born(code="0764"), registered(code="0780"))
    assert at(child, BIRTH) == (BHV_0780, RULE_BHV_HOME)


def test_the_population_register_decides_the_birth_date() -> None:
    child = life(born(BIRTH + DAY), registered(birth=BIRTH))
    assert child.birth_date == BIRTH


# -- rules 2 -> 3: where the school stage starts ------------------------------------------

def test_forskola_keeps_bhv_and_preschool_class_brings_the_principal() -> None:
    child = life(born(), listed(), placement("p-forskola", FORSKOLA, SchoolType.PRESCHOOL, FORSKOLA_START),
                 placement("p-class", SCHOOL_A, SchoolType.PRESCHOOL_CLASS, CLASS_START))
    assert at(child, FORSKOLA_START) == (LISTED_BHV, RULE_BHV_LISTED)
    assert at(child, CLASS_START - DAY) == (LISTED_BHV, RULE_BHV_LISTED)
    assert assignment(child, CLASS_START, CONFIG) == Assignment(SCHOOL_A, RULE_PRINCIPAL, CLASS_START)
    assert life_stage(child, CLASS_START, CONFIG) is LifeStage.PRESCHOOL_CLASS


def test_with_the_line_at_preschool_the_forskola_principal_takes_over() -> None:
    child = life(born(), listed(),
                 placement("p-forskola", FORSKOLA, SchoolType.PRESCHOOL, FORSKOLA_START, FORSKOLA_END),
                 placement("p-class", SCHOOL_A, SchoolType.PRESCHOOL_CLASS, CLASS_START))
    assert at(child, FORSKOLA_START - DAY, PRESCHOOL_LINE) == (LISTED_BHV, RULE_BHV_LISTED)
    assert at(child, FORSKOLA_START, PRESCHOOL_LINE) == (FORSKOLA, RULE_PRINCIPAL)
    assert life_stage(child, FORSKOLA_START, PRESCHOOL_LINE) is LifeStage.PRESCHOOL
    assert at(child, FORSKOLA_END - DAY, PRESCHOOL_LINE) == (FORSKOLA, RULE_PRINCIPAL)
    assert at(child, FORSKOLA_END, PRESCHOOL_LINE) == (FORSKOLA, RULE_PRINCIPAL)  # the summer between
    assert at(child, CLASS_START - DAY, PRESCHOOL_LINE) == (FORSKOLA, RULE_PRINCIPAL)
    assert at(child, CLASS_START, PRESCHOOL_LINE) == (SCHOOL_A, RULE_PRINCIPAL)


# -- rule 3: the current placement --------------------------------------------------------

def test_the_named_person_follows_a_move_between_schools() -> None:
    child = life(whole_life())
    assert at(child, SCHOOL_MOVE - DAY) == (SCHOOL_A, RULE_PRINCIPAL)
    assert assignment(child, SCHOOL_MOVE, CONFIG) == Assignment(SCHOOL_B, RULE_PRINCIPAL, SCHOOL_MOVE)  # end exclusive
    assert life_stage(child, SCHOOL_MOVE - DAY, CONFIG) is LifeStage.COMPULSORY
    assert life_stage(child, SCHOOL_MOVE, CONFIG) is LifeStage.COMPULSORY


def test_an_ended_placement_with_no_other_is_a_gap_once_the_grace_runs_out() -> None:
    left = dt.date(2019, 2, 1)
    child = life(born(), placement("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, left))
    assert at(child, left - DAY) == (SCHOOL_A, RULE_PRINCIPAL)
    assert assignment(child, left, CONFIG) == Assignment(SCHOOL_A, RULE_PRINCIPAL, COMPULSORY_START)
    assert assignment(child, left + GRACE - DAY, CONFIG) == Assignment(SCHOOL_A, RULE_PRINCIPAL, COMPULSORY_START)
    a = assignment(child, left + GRACE, CONFIG)
    assert a == Assignment(None, RULE_GAP_SCHOOL, left + GRACE) and is_gap(a)
    assert left + GRACE in boundaries(child, CONFIG)
    assert history(child, CONFIG, until=dt.date(2025, 1, 1))[-2:] == [
        Assignment(SCHOOL_A, RULE_PRINCIPAL, COMPULSORY_START), Assignment(None, RULE_GAP_SCHOOL, left + GRACE),
    ]
    events = assigned_events(CHILD, child, CONFIG, until=dt.date(2025, 1, 1))
    assert (events[-1].rule, events[-1].assigned_on) == (RULE_GAP_SCHOOL, left + GRACE)  # exactly when it starts
    for on in (left, left + GRACE):
        assert life_stage(child, on, CONFIG) is LifeStage.COMPULSORY  # between schools is no stage change


def test_with_no_grace_an_ended_placement_with_no_other_is_a_gap_at_once() -> None:
    left = dt.date(2019, 2, 1)
    child = life(born(), placement("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, left))
    assert at(child, left - DAY, LITERAL) == (SCHOOL_A, RULE_PRINCIPAL)
    a = assignment(child, left, LITERAL)
    assert a == Assignment(None, RULE_GAP_SCHOOL, left) and is_gap(a)
    assert life_stage(child, left, LITERAL) is LifeStage.COMPULSORY


def test_the_grace_keeps_the_principal_over_the_summer_with_no_gap_and_no_event() -> None:
    child = life(whole_life())
    for on in (CLASS_END, CLASS_END + 30 * DAY, COMPULSORY_START - DAY):
        assert assignment(child, on, CONFIG) == Assignment(SCHOOL_A, RULE_PRINCIPAL, CLASS_START)
        assert life_stage(child, on, CONFIG) is LifeStage.PRESCHOOL_CLASS
        assert gaps([(CHILD, child)], on, CONFIG) == {}
    assert life_stage(child, COMPULSORY_START, CONFIG) is LifeStage.COMPULSORY
    events = assigned_events(CHILD, child, CONFIG, until=dt.date(2030, 1, 1))
    assert not [e for e in events if CLASS_START < e.assigned_on <= COMPULSORY_START]  # one school: no change


def test_the_grace_holds_until_the_next_school_starts() -> None:
    gy_start = COMPULSORY_END + 64 * DAY
    child = life(born(), *placement("p-comp", SCHOOL_B, SchoolType.COMPULSORY, COMPULSORY_START, COMPULSORY_END),
                 *placement("p-gy", GYMNASIUM, SchoolType.UPPER_SECONDARY, gy_start))
    assert at(child, gy_start - DAY) == (SCHOOL_B, RULE_PRINCIPAL)
    assert assignment(child, gy_start, CONFIG) == Assignment(GYMNASIUM, RULE_PRINCIPAL, gy_start)
    summer = [e for e in assigned_events(CHILD, child, CONFIG, until=gy_start)
              if COMPULSORY_START < e.assigned_on <= gy_start]
    assert [(e.organisation_id, e.rule, e.assigned_on) for e in summer] == [(GYMNASIUM, RULE_PRINCIPAL, gy_start)]
    assert [(e.organisation_id, e.rule) for e in assigned_events(CHILD, child, LITERAL, until=gy_start)][-2:] == [
        (None, RULE_GAP_SCHOOL), (GYMNASIUM, RULE_PRINCIPAL),
    ]  # the literal rules: two events that summer


def test_a_kaa_registration_during_the_grace_takes_over() -> None:
    registered_on = COMPULSORY_END + 10 * DAY
    child = life(born(), *placement("p", SCHOOL_B, SchoolType.COMPULSORY, COMPULSORY_START, COMPULSORY_END),
                 kaa(registered_on))
    assert at(child, registered_on - DAY) == (SCHOOL_B, RULE_PRINCIPAL)
    assert assignment(child, registered_on, CONFIG) == Assignment(KAA_0780, RULE_KAA, registered_on)
    assert life_stage(child, registered_on, CONFIG) is LifeStage.KAA
    assert at(child, COMPULSORY_END + GRACE) == (KAA_0780, RULE_KAA)


def test_a_kaa_registration_before_the_end_applies_at_the_end() -> None:
    registered_on = COMPULSORY_END - 10 * DAY  # still at school: rule 3 first, rule 4 from the end
    child = life(born(), *placement("p", SCHOOL_B, SchoolType.COMPULSORY, COMPULSORY_START, COMPULSORY_END),
                 kaa(registered_on))
    assert at(child, COMPULSORY_END - DAY) == (SCHOOL_B, RULE_PRINCIPAL)
    assert at(child, COMPULSORY_END) == (KAA_0780, RULE_KAA)


def test_the_18th_birthday_ends_the_grace() -> None:
    gy_end = ADULT_ON - 20 * DAY
    child = life(born(), registered(), *placement("p", GYMNASIUM, SchoolType.UPPER_SECONDARY, dt.date(2026, 8, 15),
                                                  gy_end))
    assert at(child, ADULT_ON - DAY) == (GYMNASIUM, RULE_PRINCIPAL)
    assert assignment(child, ADULT_ON, CONFIG) == Assignment(None, RULE_ENDED_18, ADULT_ON)
    assert at(child, gy_end + GRACE) == (None, RULE_ENDED_18)
    assert not any(is_gap(a) for a in history(child, CONFIG, until=dt.date(2030, 1, 1)))


def test_a_placement_ended_at_the_end_of_the_calendar_does_not_overflow_the_grace() -> None:
    child = life(*placement("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, dt.date.max))  # no birth date
    assert boundaries(child, CONFIG)[-1] == dt.date.max
    assert at(child, dt.date.max - DAY) == (SCHOOL_A, RULE_PRINCIPAL)
    assert at(child, dt.date.max) == (None, RULE_GAP_SCHOOL)  # the grace is cut at the last day there is

def test_a_placement_is_active_only_from_its_start() -> None:
    child = life(born(), ended("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_END))
    assert at(child, COMPULSORY_START) == (BHV_0780, RULE_BHV_HOME)
    assert child.placements[0].start is None


def test_the_earliest_end_of_a_placement_counts() -> None:
    deleted = dt.date(2018, 3, 1)
    child = life(born(), placement("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, COMPULSORY_END),
                 ended("p", SCHOOL_A, SchoolType.COMPULSORY, deleted))
    assert at(child, deleted, LITERAL) == (None, RULE_GAP_SCHOOL)
    assert at(child, deleted + GRACE) == (None, RULE_GAP_SCHOOL)


# -- rule 4: KAA --------------------------------------------------------------------------

def test_after_compulsory_school_kaa_of_the_home_municipality() -> None:
    child = life(whole_life())
    assert at(child, COMPULSORY_END - DAY) == (SCHOOL_B, RULE_PRINCIPAL)
    assert at(child, COMPULSORY_END + GRACE - DAY) == (SCHOOL_B, RULE_PRINCIPAL)
    assert at(child, COMPULSORY_END + GRACE) == (None, RULE_GAP_SCHOOL)
    assert at(child, KAA_ON - DAY) == (None, RULE_GAP_SCHOOL)
    assert assignment(child, KAA_ON, CONFIG) == Assignment(KAA_0780, RULE_KAA, KAA_ON)
    assert life_stage(child, KAA_ON, CONFIG) is LifeStage.KAA


def test_kaa_follows_the_home_municipality() -> None:
    move = dt.date(2027, 1, 10)
    child = life(whole_life(), moved(move, "0764"))
    assert at(child, move - DAY) == (KAA_0780, RULE_KAA)
    assert at(child, move) == (KAA_0764, RULE_KAA)


def test_an_active_upper_secondary_placement_beats_a_kaa_registration() -> None:
    gy_start = dt.date(2027, 1, 8)
    child = life(whole_life(), placement("p-gy", GYMNASIUM, SchoolType.UPPER_SECONDARY, gy_start))
    assert at(child, gy_start - DAY) == (KAA_0780, RULE_KAA)
    assert at(child, gy_start) == (GYMNASIUM, RULE_PRINCIPAL)
    assert life_stage(child, gy_start, CONFIG) is LifeStage.UPPER_SECONDARY


def test_a_kaa_registration_before_the_latest_placement_does_not_return() -> None:
    gy_start, dropped = dt.date(2027, 1, 8), dt.date(2027, 5, 2)
    child = life(whole_life(), placement("p-gy", GYMNASIUM, SchoolType.UPPER_SECONDARY, gy_start, dropped))
    assert at(child, dropped) == (GYMNASIUM, RULE_PRINCIPAL)
    assert at(child, dropped + GRACE) == (None, RULE_GAP_SCHOOL)
    again = life(whole_life(), placement("p-gy", GYMNASIUM, SchoolType.UPPER_SECONDARY, gy_start, dropped),
                 kaa(dropped + DAY))
    assert assignment(again, dropped + DAY, CONFIG) == Assignment(KAA_0780, RULE_KAA, dropped + DAY)


def test_kaa_without_a_configured_function_is_a_gap() -> None:
    child = life(born(code="0999"), kaa(code="0999"))
    a = assignment(child, KAA_ON, CONFIG)
    assert a == Assignment(None, RULE_GAP_KAA, KAA_ON) and is_gap(a)


# -- rule 6: the 18th birthday ------------------------------------------------------------

def test_the_named_person_ends_on_the_18th_birthday() -> None:
    child = life(whole_life())
    assert at(child, ADULT_ON - DAY) == (KAA_0780, RULE_KAA)
    a = assignment(child, ADULT_ON, CONFIG)
    assert a == Assignment(None, RULE_ENDED_18, ADULT_ON) and not is_gap(a)
    assert life_stage(child, ADULT_ON, CONFIG) is LifeStage.ADULT


def test_a_transfer_does_not_outlive_the_18th_birthday() -> None:
    child = life(whole_life(), transferred(ADULT_ON - DAY))
    assert at(child, ADULT_ON - DAY) == (SOCIAL, RULE_TRANSFERRED)
    assert at(child, ADULT_ON) == (None, RULE_ENDED_18)


@pytest.mark.parametrize("birth", [dt.date(2008, 2, 29), dt.date(2008, 3, 1), dt.date(2008, 12, 31), BIRTH])
def test_the_18th_birthday_agrees_with_the_consent_rules(birth: dt.date) -> None:
    day = eighteenth_birthday(birth)
    assert age_on(birth, day) == 18 and age_on(birth, day - DAY) == 17


# -- rule 5: transfers --------------------------------------------------------------------

def test_a_transfer_holds_through_a_same_type_school_move_and_ends_at_the_next_stage() -> None:
    decided = dt.date(2018, 10, 1)
    child = life(whole_life(), transferred(decided))
    assert at(child, decided - DAY) == (SCHOOL_A, RULE_PRINCIPAL)
    assert assignment(child, decided, CONFIG) == Assignment(SOCIAL, RULE_TRANSFERRED, decided)
    assert at(child, SCHOOL_MOVE) == (SOCIAL, RULE_TRANSFERRED)  # a move between schools is no stage change
    assert at(child, COMPULSORY_END) == (SOCIAL, RULE_TRANSFERRED)  # out of school: still the compulsory stage
    assert at(child, KAA_ON - DAY) == (SOCIAL, RULE_TRANSFERRED)
    assert at(child, KAA_ON) == (KAA_0780, RULE_KAA)  # KAA is the next stage


def test_a_transfer_in_the_early_years_ends_at_the_start_of_preschool_class() -> None:
    decided = dt.date(2013, 2, 1)
    child = life(whole_life(), transferred(decided))
    assert at(child, CLASS_START - DAY) == (SOCIAL, RULE_TRANSFERRED)
    assert at(child, CLASS_START) == (SCHOOL_A, RULE_PRINCIPAL)


def test_a_transfer_before_birth_ends_at_birth() -> None:
    child = life(pregnancy(), born(), transferred(BIRTH - 10 * DAY))
    assert at(child, BIRTH - DAY) == (SOCIAL, RULE_TRANSFERRED)
    assert at(child, BIRTH) == (BHV_0780, RULE_BHV_HOME)


def test_a_transfer_ends_at_upper_secondary_and_stays_ended_when_the_stage_comes_back() -> None:
    gy1, dropped, gy2 = dt.date(2026, 8, 15), dt.date(2026, 11, 2), dt.date(2027, 1, 8)
    events = [born(), *placement("p-gy1", GYMNASIUM, SchoolType.UPPER_SECONDARY, gy1, dropped), kaa(dropped + DAY),
              *placement("p-gy2", SCHOOL_B, SchoolType.UPPER_SECONDARY, gy2)]
    child = life(events, transferred(gy1 + DAY))
    assert at(child, dropped) == (SOCIAL, RULE_TRANSFERRED)
    assert at(child, dropped + DAY) == (KAA_0780, RULE_KAA)
    assert at(child, gy2) == (SCHOOL_B, RULE_PRINCIPAL)  # upper secondary again, but the override has ended


def test_on_a_day_with_two_transfers_the_later_decision_wins() -> None:
    morning = dt.datetime(2018, 10, 1, 8, tzinfo=dt.UTC)
    child = life(whole_life(), transferred(morning + dt.timedelta(hours=3), "other-org"), transferred(morning))
    assert at(child, morning.date()) == ("other-org", RULE_TRANSFERRED)


# -- gaps ---------------------------------------------------------------------------------

def test_gaps_are_listed_per_home_municipality_with_sorted_ids() -> None:
    left = dt.date(2019, 2, 1)
    ids = [uuid.UUID(int=n, version=4) for n in range(1, 7)]

    def out_of_school(child: uuid.UUID, code: str) -> ChildLife:
        return life(event(ChildBorn, BIRTH, child, birth_date=BIRTH, municipality_code=code),
                    placement("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, left))

    lives = [
        (ids[3], out_of_school(ids[3], "0780")),
        (ids[1], out_of_school(ids[1], "0780")),
        (ids[2], out_of_school(ids[2], "0764")),
        (ids[4], life(whole_life())),  # at school: no gap
        (ids[5], life(born(code="0999"))),  # no BHV configured
        (ids[0], life(*placement("p", SCHOOL_A, SchoolType.COMPULSORY, COMPULSORY_START, left))),  # home unknown
    ]
    assert gaps(lives, left + GRACE, CONFIG) == {
        "0764": [ids[2]], "0780": [ids[1], ids[3]], "0999": [ids[5]], UNKNOWN_MUNICIPALITY: [ids[0]],
    }
    assert gaps(lives, left + GRACE - DAY, CONFIG) == {"0999": [ids[5]]}
    assert gaps(lives, left, LITERAL) == gaps(lives, left + GRACE, CONFIG)


# -- emitted events and history -----------------------------------------------------------

def test_assigned_event_is_emitted_on_a_change_only_with_a_stable_id() -> None:
    before = Assignment(SCHOOL_A, RULE_PRINCIPAL, COMPULSORY_START)
    after = Assignment(SCHOOL_B, RULE_PRINCIPAL, SCHOOL_MOVE)
    assert assigned_event(CHILD, before, before, SCHOOL_MOVE) is None
    assert assigned_event(CHILD, before, Assignment(SCHOOL_A, RULE_PRINCIPAL, CLASS_START), SCHOOL_MOVE) is None
    assert assigned_event(CHILD, None, NOTHING, SCHOOL_MOVE) is None
    e = assigned_event(CHILD, before, after, SCHOOL_MOVE)
    assert isinstance(e, NamedPersonAssigned)
    assert (e.organisation_id, e.rule, e.assigned_on) == (SCHOOL_B, RULE_PRINCIPAL, SCHOOL_MOVE)
    env = e.envelope
    assert (env.type, env.child_id) == ("NamedPersonAssigned", CHILD)
    assert (env.basis, env.category) == (Basis.DIRECTORY, Category.PLAN)
    assert env.source.system == "kronobarn-projector" and env.occurred_at.date() == SCHOOL_MOVE
    assert assigned_event(CHILD, None, after, SCHOOL_MOVE + DAY).event_id == e.event_id  # replay: same id
    assert assigned_event(uuid.UUID(int=2, version=4), before, after, SCHOOL_MOVE).event_id != e.event_id
    assert assigned_event(CHILD, before, Assignment(SCHOOL_B, RULE_PRINCIPAL, SCHOOL_MOVE + DAY),
                          SCHOOL_MOVE).event_id != e.event_id
    assert assigned_event(CHILD, before, Assignment(SCHOOL_B, RULE_TRANSFERRED, SCHOOL_MOVE), SCHOOL_MOVE) is not None


def test_assigned_event_for_an_ended_named_person_has_no_organisation() -> None:
    ending = Assignment(None, RULE_ENDED_18, ADULT_ON)
    e = assigned_event(CHILD, Assignment(KAA_0780, RULE_KAA, KAA_ON), ending, ADULT_ON)
    assert e is not None and e.organisation_id is None and e.rule == RULE_ENDED_18


def test_history_over_a_whole_life() -> None:
    decided = dt.date(2018, 10, 1)
    child = life(whole_life(), transferred(decided))
    assert history(child, CONFIG, until=dt.date(2030, 1, 1)) == [
        Assignment(MHV, RULE_UNBORN, PREGNANCY_ON),
        Assignment(BHV_0780, RULE_BHV_HOME, BIRTH),
        Assignment(LISTED_BHV, RULE_BHV_LISTED, LISTED_ON),
        Assignment(SCHOOL_A, RULE_PRINCIPAL, CLASS_START),  # through the summer into compulsory school
        Assignment(SOCIAL, RULE_TRANSFERRED, decided),
        Assignment(KAA_0780, RULE_KAA, KAA_ON),
        Assignment(None, RULE_ENDED_18, ADULT_ON),
    ]
    assert history(child, CONFIG, until=LISTED_ON - DAY)[-1] == Assignment(BHV_0780, RULE_BHV_HOME, BIRTH)
    assert history(ChildLife(), CONFIG, until=ADULT_ON) == []


def test_history_over_a_whole_life_with_no_grace_has_the_literal_summer_gap() -> None:
    decided = dt.date(2018, 10, 1)
    child = life(whole_life(), transferred(decided))
    assert history(child, LITERAL, until=dt.date(2030, 1, 1)) == [
        Assignment(MHV, RULE_UNBORN, PREGNANCY_ON),
        Assignment(BHV_0780, RULE_BHV_HOME, BIRTH),
        Assignment(LISTED_BHV, RULE_BHV_LISTED, LISTED_ON),
        Assignment(SCHOOL_A, RULE_PRINCIPAL, CLASS_START),
        Assignment(None, RULE_GAP_SCHOOL, CLASS_END),  # the summer between school years
        Assignment(SCHOOL_A, RULE_PRINCIPAL, COMPULSORY_START),
        Assignment(SOCIAL, RULE_TRANSFERRED, decided),
        Assignment(KAA_0780, RULE_KAA, KAA_ON),
        Assignment(None, RULE_ENDED_18, ADULT_ON),
    ]
    untransferred = life(whole_life())
    assert [a for a in history(untransferred, LITERAL, until=dt.date(2030, 1, 1)) if is_gap(a)] == [
        Assignment(None, RULE_GAP_SCHOOL, CLASS_END), Assignment(None, RULE_GAP_SCHOOL, COMPULSORY_END),
    ]
    assert [a for a in history(untransferred, CONFIG, until=dt.date(2030, 1, 1)) if is_gap(a)] == [
        Assignment(None, RULE_GAP_SCHOOL, COMPULSORY_END + GRACE),  # no summer gap; the one before KAA
    ]


def test_assigned_events_replay_the_history_with_distinct_stable_ids() -> None:
    child = life(whole_life())
    events = assigned_events(CHILD, child, CONFIG, until=dt.date(2030, 1, 1))
    assert [(e.organisation_id, e.rule) for e in events] == [
        (a.organisation_id, a.rule) for a in history(child, CONFIG, until=dt.date(2030, 1, 1))
    ]
    assert len({e.event_id for e in events}) == len(events)
    assert events == assigned_events(CHILD, life(list(reversed(whole_life()))), CONFIG, until=dt.date(2030, 1, 1))
    assert [e.assigned_on for e in events][:3] == [PREGNANCY_ON, BIRTH, LISTED_ON]


# -- the fold: order, redelivery, unrelated events ----------------------------------------

def test_events_the_rules_do_not_need_leave_the_state_as_it_was() -> None:
    child = life(whole_life())
    needed = {"PregnancyRegistered", "ChildBorn", "ChildRegistered", "ChildMoved", "HealthUnitListed",
              "SchoolPlacementStarted", "SchoolPlacementEnded", "KaaRegistered", "NamedPersonTransferred",
              "ChildDied", "ChildEmigrated"}
    for other in one_of_each():
        if type(other).__name__ not in needed:
            assert apply(child, other) is child


def test_a_redelivered_event_returns_the_state_itself() -> None:
    child = life(whole_life())
    assert all(apply(child, e) is child for e in whole_life())


SPAN = 21 * 365
START = dt.date(2009, 1, 1)
days_st = st.integers(0, SPAN).map(lambda n: START + dt.timedelta(days=n))
units_st = st.sampled_from([SCHOOL_A, SCHOOL_B, GYMNASIUM, FORSKOLA])
codes_st = st.sampled_from(["0780", "0764", "0999"])
pids_st = st.sampled_from(["p1", "p2", "p3", "p4"])
types_st = st.sampled_from(list(SchoolType))
events_st = st.one_of(
    st.builds(pregnancy, days_st, st.sampled_from([MHV, f"{REGION}-MHV0764"]), codes_st),
    st.builds(born, st.sampled_from([BIRTH, BIRTH + DAY]), codes_st),
    st.builds(registered, days_st, st.sampled_from([BIRTH, BIRTH + DAY]), codes_st),
    st.builds(moved, days_st, codes_st),
    st.builds(listed, days_st, st.sampled_from([LISTED_BHV, BHV_0764])),
    st.builds(started, pids_st, units_st, types_st, days_st),
    st.builds(ended, pids_st, units_st, types_st, days_st),
    st.builds(kaa, days_st, codes_st),
    st.builds(transferred, days_st, st.sampled_from([SOCIAL, "other-org"])),
    st.sampled_from(one_of_each()),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events_st, max_size=25), st.randoms(use_true_random=False))
def test_the_fold_ignores_order_and_redelivery(events: list[Event], rng: object) -> None:
    shuffled = events + events[: len(events) // 2]  # at-least-once: some arrive twice
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert reduce(apply, shuffled, ChildLife()) == reduce(apply, events, ChildLife())


@settings(max_examples=200, deadline=None)
@given(st.lists(events_st, max_size=25), events_st)
def test_applying_an_event_twice_changes_nothing(events: list[Event], again: Event) -> None:
    once = apply(reduce(apply, events, ChildLife()), again)
    assert apply(once, again) == once


@settings(max_examples=200, deadline=None)
@given(st.lists(events_st, max_size=25), st.lists(days_st, min_size=1, max_size=8),
       st.sampled_from([CONFIG, PRESCHOOL_LINE, LITERAL, county_config(["0780"], placement_grace_days=3)]))
def test_the_history_misses_no_change(events: list[Event], days: list[dt.date], config: NamedPersonConfig) -> None:
    """Assignments change only on boundary dates, so history holds whatever any day says."""
    child = reduce(apply, events, ChildLife())
    found = history(child, config, until=START + dt.timedelta(days=SPAN))
    for day in days:
        a = assignment(child, day, config)
        previous = [b for b in boundaries(child, config) if b <= day]
        same_as = assignment(child, previous[-1], config) if previous else NOTHING
        assert (a.organisation_id, a.rule) == (same_as.organisation_id, same_as.rule)
        assert a.since is None or a.since <= day
        if a.rule != RULE_NONE:
            assert (a.organisation_id, a.rule) in {(h.organisation_id, h.rule) for h in found}
