from __future__ import annotations

import datetime as dt
import uuid

import pytest

from projections.consent_rules import ChildStatus, Lapse, age_on, ended_by_withdrawal, problems, required
from projections.consents import Consent
from schemas.events import Category, Grantor, GrantorRole
from services.commands.consent import ConsentRejected, ConsentRequest, ended, register

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


# -- death and emigration (issue 15) ------------------------------------------------------------

def test_no_consent_for_a_child_who_has_died_or_emigrated_whoever_grants() -> None:
    died = ChildStatus(CHILD, BORN, frozenset({MOM, DAD}), died_on=dt.date(2026, 3, 2))
    gone = ChildStatus(CHILD, BORN, frozenset({MOM, DAD}), emigrated_on=dt.date(2026, 3, 2))
    everyone = grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN), (CHILD, G.CHILD))
    assert problems(died, everyone, dt.date(2026, 3, 2)) == [
        "the population register records that the child died on 2026-03-02: no consent can be given"]
    assert problems(gone, everyone, dt.date(2026, 4, 1)) == [
        "the population register records that the child emigrated on 2026-03-02: no consent can be given "
        "unless the child is registered again"]
    assert problems(died, grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN)), dt.date(2026, 3, 1)) == []  # the day before


async def test_consent_registration_refuses_a_dead_child_and_publishes_nothing() -> None:
    published: list[object] = []

    async def publish(event: object) -> None:
        published.append(event)

    class Statuses:
        def status(self, child_id: uuid.UUID) -> ChildStatus:
            return ChildStatus(CHILD, BORN, frozenset({MOM, DAD}), died_on=dt.date(2026, 5, 30))

    now = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    request = ConsentRequest(CHILD, tuple(grant((MOM, G.GUARDIAN), (DAD, G.GUARDIAN), (CHILD, G.CHILD))),
                             (Category.HEALTH,), ("bvc-1",), now, now + dt.timedelta(days=30))
    with pytest.raises(ConsentRejected) as caught:
        await register(request, Statuses(), publish, now=now)
    assert caught.value.reasons == [
        "the population register records that the child died on 2026-05-30: no consent can be given"]
    assert published == []


def test_a_withdrawal_of_a_consent_that_lapsed_at_a_death_says_so() -> None:
    at = dt.datetime(2026, 5, 29, 22, tzinfo=dt.UTC)  # midnight in Sweden, 30 May
    consent = Consent(uuid.UUID(int=9, version=4), CHILD, frozenset({Category.HEALTH}), frozenset({"bvc-1"}),
                      at - dt.timedelta(days=10), at + dt.timedelta(days=10), lapsed_at=at, lapse=Lapse.DEATH)
    assert ended(consent, at + dt.timedelta(days=1)) == (
        "the consent had already lapsed on 2026-05-30, when the child died")
    emigrated = Consent(consent.consent_id, CHILD, consent.categories, consent.recipients, consent.valid_from,
                        consent.valid_to, lapsed_at=at, lapse=Lapse.EMIGRATION)
    assert ended(emigrated, at + dt.timedelta(days=1)) == (
        "the consent had already lapsed on 2026-05-30, when the child emigrated")
