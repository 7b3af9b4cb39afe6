from __future__ import annotations

import datetime as dt
import uuid

import pytest

from projections.consent_rules import ChildStatus
from schemas.codec import Codec
from schemas.events import Category, Event, Grantor, GrantorRole
from services.commands.consent import ConsentRejected, ConsentRequest, register, withdraw

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
