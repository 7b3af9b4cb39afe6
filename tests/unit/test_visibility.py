"""The visibility function and the consent fold, at every boundary."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.consents import Consent, ConsentState, FactRef, apply, covering, visible
from schemas.events import Area, Basis, Category, ConsentGranted, ConsentWithdrawn, Grantor, GrantorRole
from services.dev.samples import sample_event

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CHILD = uuid.UUID(int=1, version=4)
SCHOOL, BVC, SOC = "skolenhet-1", "bvc-1", "kommun-soc"


def consent(**kw: object) -> Consent:
    base = Consent(uuid.UUID(int=9, version=4), CHILD, frozenset({Category.HEALTH}), frozenset({SCHOOL}),
                   T0, T0 + 30 * DAY)
    return replace(base, **kw)


def fact(**kw: object) -> FactRef:
    return replace(FactRef(CHILD, BVC, Category.HEALTH, Area.HEALTH, Basis.CONSENT), **kw)


def test_producer_always_sees_its_own_fact() -> None:
    assert visible(fact(), BVC, T0 - DAY, [])


def test_recipient_sees_only_while_consent_is_active() -> None:
    c = [consent()]
    assert not visible(fact(), SCHOOL, T0 - dt.timedelta(microseconds=1), c)
    assert visible(fact(), SCHOOL, T0, c)
    assert visible(fact(), SCHOOL, T0 + 30 * DAY - dt.timedelta(microseconds=1), c)
    assert not visible(fact(), SCHOOL, T0 + 30 * DAY, c)  # valid_to is exclusive


def test_withdrawal_ends_visibility_at_that_moment() -> None:
    c = [consent(withdrawn_at=T0 + 5 * DAY)]
    assert visible(fact(), SCHOOL, T0 + 5 * DAY - dt.timedelta(seconds=1), c)
    assert not visible(fact(), SCHOOL, T0 + 5 * DAY, c)


def test_non_recipients_never_see() -> None:
    assert not visible(fact(), SOC, T0 + DAY, [consent()])


@pytest.mark.parametrize(
    ("scope", "f", "seen"),
    [
        ({"categories": frozenset({Category.SCHOOL})}, {}, False),
        ({"source_organisations": frozenset({"bvc-2"})}, {}, False),
        ({"source_organisations": frozenset({BVC})}, {}, True),
        ({"areas": frozenset({Area.LEARNING})}, {}, False),
        ({"areas": frozenset({Area.HEALTH})}, {}, True),
        ({"areas": frozenset({Area.HEALTH})}, {"area": None}, False),
        ({}, {"area": None}, True),
        ({"child_id": uuid.UUID(int=2, version=4)}, {}, False),
    ],
)
def test_scope(scope: dict, f: dict, seen: bool) -> None:
    assert visible(fact(**f), SCHOOL, T0 + DAY, [consent(**scope)]) is seen


def test_directory_facts_go_to_producer_and_named_person_only() -> None:
    d = fact(basis=Basis.DIRECTORY)
    assert visible(d, SCHOOL, T0, [], named_person_org=SCHOOL)
    assert not visible(d, SCHOOL, T0 + DAY, [consent()])  # consent does not open directory facts
    assert not visible(d, SCHOOL, T0, [], named_person_org=None)


def test_statutory_facts_enter_the_plan_only_under_consent() -> None:
    s = fact(basis=Basis.STATUTORY, source_org=SOC, category=Category.SOCIAL, area=Area.SAFETY)
    assert not visible(s, SCHOOL, T0 + DAY, [])
    assert visible(s, SCHOOL, T0 + DAY, [consent(categories=frozenset({Category.SOCIAL}))])


def _granted(consent_id: uuid.UUID, at: dt.datetime) -> ConsentGranted:
    base = sample_event("ConsentGranted", seed=1, child_id=CHILD)
    return replace(base, consent_id=consent_id, categories=(Category.HEALTH,), recipients=(SCHOOL,),
                   source_organisations=None, areas=None, valid_from=at, valid_to=at + 10 * DAY,
                   grantors=(Grantor(uuid.uuid4(), GrantorRole.GUARDIAN),))


def _withdrawn(consent_id: uuid.UUID, at: dt.datetime) -> ConsentWithdrawn:
    base = sample_event("ConsentWithdrawn", seed=1, child_id=CHILD)
    return replace(base, consent_id=consent_id, envelope=replace(base.envelope, occurred_at=at))


def test_fold_grant_then_withdraw() -> None:
    cid = uuid.uuid4()
    state = apply(apply(ConsentState(), _granted(cid, T0)), _withdrawn(cid, T0 + 2 * DAY))
    [c] = state.of_child(CHILD)
    assert c.active_at(T0 + DAY) and not c.active_at(T0 + 3 * DAY)
    again = apply(state, _withdrawn(cid, T0 + 5 * DAY))
    assert again is state  # a second withdrawal does not move the end


def test_fold_ignores_other_events_and_unknown_withdrawals() -> None:
    state = ConsentState()
    assert apply(state, sample_event("ChildBorn")) is state
    assert apply(state, _withdrawn(uuid.uuid4(), T0)) is state


@given(
    start=st.integers(0, 100), length=st.integers(1, 100), withdraw=st.one_of(st.none(), st.integers(0, 200)),
    probe=st.integers(-10, 250),
)
def test_active_exactly_within_the_interval(start: int, length: int, withdraw: int | None, probe: int) -> None:
    c = consent(valid_from=T0 + start * DAY, valid_to=T0 + (start + length) * DAY,
                withdrawn_at=None if withdraw is None else T0 + withdraw * DAY)
    end = start + length if withdraw is None else min(start + length, withdraw)
    assert c.active_at(T0 + probe * DAY) == (start <= probe < end)
    assert bool(covering(fact(), T0 + probe * DAY, [c])) == (start <= probe < end)
