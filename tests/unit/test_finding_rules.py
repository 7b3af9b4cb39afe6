"""The pure rules behind finding a child (issue 15): a personnummer as a person types it, who is
shown a child's name, the Swedish alphabetical order, name search, and the age shown -- each
against a small reference written here from the rule's text, over the days where life changes
(New Year for the century of a 10-digit number, the 100th year, birthdays, 29 February).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors import personnummer
from schemas.events import Protection
from services.api import person
from services.api.models import IdentityState, PersonOut
from services.api.store import ChildRow

# -- a personnummer as typed ----------------------------------------------------------------------------------


def reference_luhn(nine: str) -> int:
    """Skatteverket: multiply by 2,1,2,1...; add the digits of the products; the check digit
    brings the sum to a multiple of ten."""
    total = sum(sum(int(d) for d in str(int(c) * (2 - i % 2))) for i, c in enumerate(nine))
    return (10 - total % 10) % 10


def reference_century(yy: int, sign: str, today: dt.date) -> int:
    """The year a 10-digit number means (folkbokföringslagen 18 §): "-" while the person is under
    100 in the current year, "+" from the year they turn 100."""
    ages = range(0, 100) if sign != "+" else range(100, 200)
    [year] = [y for y in range(today.year - 199, today.year + 1) if y % 100 == yy and today.year - y in ages]
    return year


def written(born: dt.date, serial: int, coordination: bool = False) -> str:
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    return f"{born:%Y%m}{day:02d}-{serial:03d}{reference_luhn(nine)}"


days = st.dates(min_value=dt.date(1880, 1, 1), max_value=dt.date(2030, 12, 31))
todays = st.one_of(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2079, 12, 31)),
                   st.sampled_from([dt.date(2026, 1, 1), dt.date(2026, 12, 31), dt.date(2000, 1, 1),
                                    dt.date(2099, 12, 31)]))


@given(born=days, today=todays, serial=st.integers(0, 999), coordination=st.booleans(),
       dash=st.booleans(), spaces=st.booleans())
def test_every_spelling_gives_the_canonical_number(born: dt.date, today: dt.date, serial: int, coordination: bool,
                                                   dash: bool, spaces: bool) -> None:
    canonical = written(born, serial, coordination)
    pad = "  " if spaces else ""
    assert personnummer.typed(pad + canonical + pad, today) == canonical
    assert personnummer.typed(canonical.replace("-", ""), today) == canonical
    ten = canonical[2:] if dash else canonical[2:].replace("-", "")
    age_in_year = today.year - born.year
    if 0 <= age_in_year < 200:
        sign = "+" if age_in_year >= 100 else "-"  # as Skatteverket prints it this year
        typed = canonical[2:].replace("-", sign) if (dash or sign == "+") else ten
        expected = reference_century(born.year % 100, sign, today)
        assert expected == born.year
        assert personnummer.typed(typed, today) == canonical


@given(born=days, serial=st.integers(0, 999))
def test_a_samordningsnummer_keeps_its_day_and_names_the_birth_date(born: dt.date, serial: int) -> None:
    number = written(born, serial, coordination=True)
    assert personnummer.normalise(number) == number
    assert personnummer.birth_date_of(number) == born


def test_the_century_turns_at_new_year_and_at_the_hundredth_year() -> None:
    pnr = written(dt.date(1926, 12, 31), 123)  # turns 100 on the last day of 2026
    assert personnummer.typed(pnr[2:], dt.date(2025, 12, 31)) == pnr
    assert personnummer.typed(pnr[2:].replace("-", "+"), dt.date(2026, 1, 1)) == pnr  # "+" from that year
    assert personnummer.typed(pnr[2:], dt.date(2026, 1, 1)) == written(dt.date(2026, 12, 31), 123)
    newborn = written(dt.date(2026, 1, 1), 931)
    assert personnummer.typed(newborn[2:], dt.date(2026, 1, 1)) == newborn  # born today
    assert personnummer.typed(newborn[2:], dt.date(2025, 12, 31)) == written(dt.date(1926, 1, 1), 931)


@pytest.mark.parametrize(("typed", "reason"), [
    ("20150230-9313", personnummer.BAD_DATE), ("19991399-1234", personnummer.BAD_DATE),
    ("20150292-9310", personnummer.BAD_DATE),  # day 32 + 60
    ("150309_9317", personnummer.BAD_TYPED), ("20150309--9317", personnummer.BAD_TYPED),
    ("12345", personnummer.BAD_TYPED),
    ("201503099317x", personnummer.BAD_TYPED), ("", personnummer.BAD_TYPED),
])
def test_malformed_numbers_say_why_without_repeating_them(typed: str, reason: str) -> None:
    with pytest.raises(personnummer.PersonnummerError) as caught:
        personnummer.typed(typed, dt.date(2026, 12, 6))
    assert str(caught.value) == reason
    assert not typed or typed.replace("-", "")[:6] not in str(caught.value)


@given(born=days, serial=st.integers(0, 999), wrong=st.integers(1, 9))
def test_a_wrong_check_digit_is_refused(born: dt.date, serial: int, wrong: int) -> None:
    good = written(born, serial)
    bad = good[:-1] + str((int(good[-1]) + wrong) % 10)
    with pytest.raises(personnummer.PersonnummerError) as caught:
        personnummer.typed(bad, dt.date(2026, 12, 6))
    assert str(caught.value) == personnummer.BAD_CHECK


# -- who is shown a child's name ------------------------------------------------------------------------------

ORGS = ["bvc", "skola", "soc", "kaa", "mhv"]


def row(protection: Protection, named: str | None, lead: str | None, young: str | None = None) -> ChildRow:
    return ChildRow(child_id=uuid.uuid4(), municipality_code="0780", birth_date=dt.date(2020, 1, 1), unborn=False,
                    guardians=(), named_person_org=named, named_person_rule="", named_person_since=None,
                    on_gaps_list=False, plan_id=None, plan_status=None, plan_opened_by=None, plan_opened_at=None,
                    plan_closed_at=None, lead_org=lead, participants=(), young_person_org=young,
                    protection=protection.value)


@given(protection=st.sampled_from(list(Protection)), named=st.sampled_from([None, *ORGS]),
       lead=st.sampled_from([None, *ORGS]), young=st.sampled_from([None, *ORGS]), viewer=st.sampled_from(ORGS))
def test_a_name_is_shown_to_those_entitled(protection: Protection, named: str | None, lead: str | None,
                                           young: str | None, viewer: str) -> None:
    # The rule's text: anyone who may see the child, unless it is protected; then the named
    # person's organisation (18-19: the one that was) and the plan lead only. Never the municipality.
    expected = protection is Protection.NONE or viewer in (named, lead, young)
    child = row(protection, named, lead, young)
    assert person.identity_entitled(viewer, child) is expected
    assert (person.municipality_shown(child) is None) is (protection is not Protection.NONE)


# -- names: order and search ------------------------------------------------------------------------------------

def test_children_sort_in_the_swedish_alphabet() -> None:
    # Swedish: z, then å, ä, ö; case and other accents do not count.
    swedish = ["Andersson", "André", "Eriksson", "Zetterberg", "Åberg", "åkesson", "Ängström", "Öberg", "Östlund"]
    shuffled = ["Öberg", "Zetterberg", "Ängström", "åkesson", "Andersson", "Östlund", "Åberg", "Eriksson", "André"]
    people = [PersonOut(identity=IdentityState.SHOWN, protected=False, family_name=n, given_name="A")
              for n in shuffled]
    ids = [uuid.UUID(int=i) for i in range(len(people))]
    order = sorted(zip(people, ids, strict=True), key=lambda x: person.list_order(*x))
    assert [p.family_name for p, _ in order] == swedish


def test_children_whose_name_is_not_shown_come_last() -> None:
    shown = PersonOut(identity=IdentityState.SHOWN, protected=False, family_name="Öberg", given_name="Ö")
    hidden = PersonOut(identity=IdentityState.PROTECTED, protected=True)
    erased = PersonOut(identity=IdentityState.ERASED, protected=False)
    a, b, c = uuid.UUID(int=3), uuid.UUID(int=1), uuid.UUID(int=2)
    order = sorted([(hidden, a), (erased, b), (shown, c)], key=lambda x: person.list_order(*x))
    assert [i for _, i in order] == [c, b, a]


@pytest.mark.parametrize(("query", "matches"), [
    ("anna", True), ("ANNA", True), ("kar", True), ("anna-karin", True), ("lind", True), ("lindström", False),
    ("an li", True), ("li an", True), ("nna", False), ("ann zz", False), ("   ", False), ("änna", False),
])
def test_a_name_search_matches_word_beginnings(query: str, matches: bool) -> None:
    who = PersonOut(identity=IdentityState.SHOWN, protected=False, given_name="Anna-Karin", family_name="Lind")
    assert person.name_matches(who, query) is matches
    hidden = PersonOut(identity=IdentityState.PROTECTED, protected=True)
    assert person.name_matches(hidden, query) is False


# -- age, over birthdays ---------------------------------------------------------------------------------------

def reference_age(born: dt.date, today: dt.date) -> int:
    """Whole years; one born on 29 February is a year older on 1 March in a common year."""
    years = today.year - born.year
    birthday = (born.month, born.day) if (born.month, born.day) != (2, 29) or today.year % 4 == 0 and (
        today.year % 100 != 0 or today.year % 400 == 0) else (3, 1)
    return years - ((today.month, today.day) < birthday)


@pytest.mark.parametrize(("born", "today"), [
    (dt.date(2020, 5, 10), dt.date(2026, 5, 9)), (dt.date(2020, 5, 10), dt.date(2026, 5, 10)),
    (dt.date(2020, 2, 29), dt.date(2026, 2, 28)), (dt.date(2020, 2, 29), dt.date(2026, 3, 1)),
    (dt.date(2020, 2, 29), dt.date(2028, 2, 29)), (dt.date(2020, 2, 29), dt.date(2028, 2, 28)),
    (dt.date(2026, 12, 6), dt.date(2026, 12, 6)),
    (dt.date(2008, 12, 31), dt.date(2026, 12, 31)), (dt.date(2008, 12, 31), dt.date(2026, 12, 30)),
])
def test_the_age_shown_turns_on_the_birthday(born: dt.date, today: dt.date) -> None:
    child = dataclasses.replace(row(Protection.NONE, None, None), birth_date=born)
    assert person.age_of(child, today) == reference_age(born, today)
