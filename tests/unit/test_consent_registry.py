from __future__ import annotations

import datetime as dt
import uuid

import pytest

from projections.consent_rules import DEFAULT_POLICY, ChildStatus, ConsentPolicy, Lapse
from projections.consents import Consent
from schemas.codec import Codec
from schemas.events import Category, ConsentObtained, Event, Grantor, GrantorRole
from services.commands.consent import ConsentRejected, ConsentRequest, ended, register, withdraw

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
CHILD, MOM, DAD = (uuid.UUID(int=i, version=4) for i in (1, 2, 3))


class Statuses:
    def __init__(self) -> None:
        self.known = {CHILD: ChildStatus(CHILD, dt.date(2015, 1, 1), frozenset({MOM, DAD}))}

    def status(self, child_id: uuid.UUID) -> ChildStatus | None:
        return self.known.get(child_id)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


def request(*grantors: uuid.UUID, **kw: object) -> ConsentRequest:
    base = dict(child_id=CHILD, grantors=tuple(Grantor(g, GrantorRole.GUARDIAN) for g in grantors),
                categories=(Category.HEALTH,), recipients=("skolenhet-1",), valid_from=NOW, valid_to=NOW + dt.timedelta(days=365))
    return ConsentRequest(**(base | kw))  # type: ignore[arg-type]


async def test_valid_consent_is_recorded_and_encodable() -> None:
    published = Recorder()
    event = await register(request(MOM, DAD), Statuses(), published, now=NOW)
    assert published.events == [event] and event.categories == (Category.HEALTH,)
    assert Codec().decode(Codec().encode(event)) == event


async def test_missing_guardian_is_refused_with_the_reason_and_nothing_written() -> None:
    published = Recorder()
    with pytest.raises(ConsentRejected) as info:
        await register(request(MOM), Statuses(), published, now=NOW)
    assert info.value.reasons == [f"guardian {DAD} has not granted"]
    assert published.events == []


async def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConsentRejected) as info:
        await register(request(MOM, categories=(Category.PLAN,), recipients=(), valid_to=NOW), Statuses(), Recorder(), now=NOW)
    assert len(info.value.reasons) == 4


async def test_unknown_child_and_non_grantor_withdrawal() -> None:
    with pytest.raises(ConsentRejected, match="does not know"):
        await register(request(MOM, DAD, child_id=uuid.uuid4()), Statuses(), Recorder(), now=NOW)
    with pytest.raises(ConsentRejected, match="only a required grantor"):
        await withdraw(CHILD, uuid.uuid4(), Grantor(uuid.uuid4(), GrantorRole.GUARDIAN), Statuses(), Recorder(), now=NOW)
    published = Recorder()
    event = await withdraw(CHILD, uuid.uuid4(), Grantor(DAD, GrantorRole.GUARDIAN), Statuses(), published, now=NOW)
    assert published.events == [event] and event.withdrawn_by == DAD


# -- the period (issue 14, rule 6) ---------------------------------------------------------------

async def test_backdating_a_far_start_and_a_long_period_are_refused_each_with_its_reason() -> None:
    published = Recorder()
    back = NOW - dt.timedelta(days=1)
    with pytest.raises(ConsentRejected) as info:
        await register(request(MOM, DAD, valid_from=back, valid_to=back + dt.timedelta(days=4 * 365)), Statuses(),
                       published, now=NOW)
    assert info.value.reasons == [f"valid_from {back.isoformat()} lies before now: a consent cannot be backdated",
                                  "valid_from to valid_to is more than 1096 days"]
    ahead = NOW + dt.timedelta(days=366)
    with pytest.raises(ConsentRejected) as info:
        await register(request(MOM, DAD, valid_from=ahead, valid_to=ahead + dt.timedelta(days=30)), Statuses(),
                       published, now=NOW)
    assert info.value.reasons == [f"valid_from {ahead.isoformat()} lies more than 365 days ahead"]
    assert published.events == []


async def test_the_period_problems_come_with_the_grantors_problems() -> None:
    back = NOW - dt.timedelta(hours=2)
    with pytest.raises(ConsentRejected) as info:
        await register(request(MOM, valid_from=back, valid_to=back + dt.timedelta(days=4 * 365)), Statuses(),
                       Recorder(), now=NOW)
    assert info.value.reasons == [f"valid_from {back.isoformat()} lies before now: a consent cannot be backdated",
                                  "valid_from to valid_to is more than 1096 days", f"guardian {DAD} has not granted"]


async def test_a_little_clock_skew_the_policy_limits_and_its_age_are_honoured() -> None:
    skewed = NOW - dt.timedelta(minutes=4)
    await register(request(MOM, DAD, valid_from=skewed), Statuses(), Recorder(), now=NOW)
    longest = request(MOM, DAD, valid_to=NOW + DEFAULT_POLICY.max_period)
    await register(longest, Statuses(), Recorder(), now=NOW)
    tight = ConsentPolicy(max_start_ahead=dt.timedelta(days=7), max_period=dt.timedelta(days=30))
    with pytest.raises(ConsentRejected) as info:
        await register(request(MOM, DAD, valid_from=NOW + dt.timedelta(days=8), valid_to=NOW + dt.timedelta(days=40)),
                       Statuses(), Recorder(), now=NOW, policy=tight)
    assert info.value.reasons == [f"valid_from {(NOW + dt.timedelta(days=8)).isoformat()} lies more than 7 days ahead",
                                  "valid_from to valid_to is more than 30 days"]
    teen = Statuses()
    teen.known[CHILD] = ChildStatus(CHILD, dt.date(2010, 1, 1), frozenset({MOM, DAD}))  # 16 on NOW
    await register(request(MOM, DAD), teen, Recorder(), now=NOW, policy=ConsentPolicy(child_grants_from=17))
    with pytest.raises(ConsentRejected, match="the child"):
        await register(request(MOM, DAD), teen, Recorder(), now=NOW)


async def test_how_the_grant_was_obtained_and_by_whom_is_recorded() -> None:
    event = await register(request(MOM, DAD, obtained=ConsentObtained.ORAL_MEETING, registered_by="user-7"),
                           Statuses(), Recorder(), now=NOW)
    assert event.obtained is ConsentObtained.ORAL_MEETING and event.registered_by == "user-7"
    assert Codec().decode(Codec().encode(event)) == event


# -- withdrawal (rule 8) -------------------------------------------------------------------------

async def test_a_grantor_when_given_may_withdraw_though_no_longer_required() -> None:
    adult = Statuses()
    adult.known[CHILD] = ChildStatus(CHILD, dt.date(2008, 1, 1), frozenset({MOM, DAD}))  # 18 on NOW
    given = (Grantor(MOM, GrantorRole.GUARDIAN), Grantor(DAD, GrantorRole.GUARDIAN))
    with pytest.raises(ConsentRejected, match="only a required grantor"):
        await withdraw(CHILD, uuid.uuid4(), Grantor(MOM, GrantorRole.GUARDIAN), adult, Recorder(), now=NOW)
    event = await withdraw(CHILD, uuid.uuid4(), Grantor(MOM, GrantorRole.GUARDIAN), adult, Recorder(), now=NOW,
                           grantors=given)
    assert event.withdrawn_by == MOM
    young = await withdraw(CHILD, uuid.uuid4(), Grantor(CHILD, GrantorRole.YOUNG_PERSON), adult, Recorder(), now=NOW,
                           grantors=given)
    assert young.role is GrantorRole.YOUNG_PERSON  # required now


def _consent(**kw: object) -> Consent:
    base = {"consent_id": uuid.uuid4(), "child_id": CHILD, "categories": frozenset({Category.HEALTH}),
            "recipients": frozenset({"a"}), "valid_from": NOW - dt.timedelta(days=90),
            "valid_to": NOW + dt.timedelta(days=90)}
    return Consent(**(base | kw))  # type: ignore[arg-type]


def test_a_withdrawal_is_moot_once_the_consent_has_ended_and_says_why() -> None:
    assert ended(_consent(), NOW) is None
    assert ended(_consent(valid_from=NOW + dt.timedelta(days=1)), NOW) is None  # not started: still ends it
    birthday = dt.datetime(2026, 3, 1, 23, tzinfo=dt.UTC)  # midnight in Sweden: 2 March
    assert ended(_consent(lapsed_at=birthday, lapse=Lapse.ADULTHOOD), NOW) == (
        "the consent had already lapsed at the 18th birthday on 2026-03-02")
    assert ended(_consent(lapsed_at=birthday, lapse=Lapse.CHILD_AGE), NOW, 16) == (
        "the consent had already lapsed on 2026-03-02, when the child turned 16")
    assert ended(_consent(lapsed_at=birthday, lapse=Lapse.CUSTODY), NOW).endswith("when custody changed")  # type: ignore[union-attr]
    assert ended(_consent(valid_to=NOW - dt.timedelta(days=3)), NOW) == "the consent had already expired on 2026-05-29"
    # The earliest end names it.
    both = _consent(withdrawn_at=NOW - dt.timedelta(days=10), lapsed_at=birthday, lapse=Lapse.BIRTH)
    assert ended(both, NOW) == "the consent had already lapsed at the birth on 2026-03-02"
    assert ended(_consent(withdrawn_at=NOW - dt.timedelta(days=10)), NOW) == (
        "the consent had already been withdrawn on 2026-05-22")
    assert ended(_consent(lapsed_at=NOW + dt.timedelta(days=5), lapse=Lapse.CHILD_AGE), NOW) is None  # not yet
