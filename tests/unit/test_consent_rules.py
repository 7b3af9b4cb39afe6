from __future__ import annotations

import datetime as dt
import uuid

from projections.consent_rules import ChildStatus, age_on, ended_by_withdrawal, problems, required
from schemas.events import Grantor, GrantorRole

CHILD = uuid.UUID(int=1, version=4)
MOM, DAD, STRANGER = (uuid.UUID(int=i, version=4) for i in (2, 3, 4))
BORN = dt.date(2011, 6, 15)
BOTH = ChildStatus(CHILD, BORN, frozenset({MOM, DAD}))
G = GrantorRole


def grant(*pairs: tuple[uuid.UUID, GrantorRole]) -> list[Grantor]:
    return [Grantor(p, r) for p, r in pairs]


def test_age_turns_on_the_birthday() -> None:
    assert age_on(BORN, dt.date(2026, 6, 14)) == 14
    assert age_on(BORN, dt.date(2026, 6, 15)) == 15
    assert age_on(dt.date(2012, 2, 29), dt.date(2030, 2, 28)) == 17


def test_both_guardians_must_grant_before_fifteen() -> None:
    day = dt.date(2026, 6, 14)
    assert problems(BOTH, grant((MOM, G.GUARDIAN)), day) == [f"guardian {DAD} has not granted"]
    assert problems(BOTH, grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN)), day) == []


def test_from_fifteen_the_child_must_grant_too() -> None:
    day = dt.date(2026, 6, 15)
    assert problems(BOTH, grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN)), day) == ["the child (aged 15) has not granted"]
    assert problems(BOTH, grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN), (CHILD, G.CHILD)), day) == []
    assert problems(BOTH, grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN), (CHILD, G.CHILD)), day, child_grants_from=16) != []


def test_from_eighteen_the_young_person_alone() -> None:
    day = dt.date(2029, 6, 15)
    assert required(BOTH, day) == {Grantor(CHILD, G.YOUNG_PERSON)}
    assert problems(BOTH, grant((CHILD, G.YOUNG_PERSON)), day) == []
    assert problems(BOTH, grant((CHILD, G.YOUNG_PERSON), (MOM, G.GUARDIAN)), day) == [f"party {MOM} may not grant as GUARDIAN"]


def test_unborn_child_needs_the_expectant_parent() -> None:
    unborn = ChildStatus(CHILD, None, expectant_parent=MOM)
    assert problems(unborn, [], dt.date(2026, 1, 1)) == [f"the expectant parent {MOM} has not granted"]
    assert problems(unborn, grant((MOM, G.EXPECTANT_PARENT)), dt.date(2026, 1, 1)) == []
    assert problems(ChildStatus(CHILD, None), [], dt.date(2026, 1, 1)) == ["no expectant parent is known for this unborn child"]


def test_strangers_and_missing_guardians_are_refused() -> None:
    day = dt.date(2020, 1, 1)
    assert f"party {STRANGER} may not grant as GUARDIAN" in problems(BOTH, grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN), (STRANGER, G.GUARDIAN)), day)
    assert problems(ChildStatus(CHILD, BORN), grant((MOM, G.GUARDIAN)), day) == ["the population register lists no guardian for this child"]


def test_any_required_grantor_ends_it_by_withdrawing() -> None:
    day = dt.date(2026, 7, 1)
    assert ended_by_withdrawal(BOTH, Grantor(DAD, G.GUARDIAN), day)
    assert ended_by_withdrawal(BOTH, Grantor(CHILD, G.CHILD), day)
    assert not ended_by_withdrawal(BOTH, Grantor(STRANGER, G.GUARDIAN), day)
