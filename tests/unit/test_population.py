"""The population fold: order-independent, idempotent, and the consent rules' view of a child."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import replace

from projections.population import Resident, apply, fold
from schemas.events import CustodyRecorded
from services.dev.samples import sample_event

CHILD = uuid.UUID(int=7, version=4)
G1, G2, G3 = (uuid.UUID(int=n, version=4) for n in (11, 12, 13))


def _custody(seed: int, guardians: tuple[uuid.UUID, ...], at: dt.datetime, event_id: uuid.UUID | None = None,
             record_id: str | None = None) -> CustodyRecorded:
    """A custody record as the register recorded it at ``at`` (the connector's occurred_at)."""
    event = sample_event("CustodyRecorded", seed=seed, child_id=CHILD)
    env = replace(event.envelope, occurred_at=at, event_id=event_id or event.envelope.event_id,
                  source=replace(event.envelope.source, record_id=record_id or f"change-{seed}"))
    return CustodyRecorded(envelope=env, guardian_ids=guardians, recorded_on=at.date())


def _events() -> list:
    registered = sample_event("ChildRegistered", seed=1, child_id=CHILD)
    registered = type(registered)(envelope=registered.envelope, birth_date=dt.date(2015, 3, 1), municipality_code="0780")
    old = _custody(2, (G1, G2), dt.datetime(2016, 1, 1, 9, tzinfo=dt.UTC))
    new = _custody(3, (G3,), dt.datetime(2024, 6, 1, 9, tzinfo=dt.UTC))
    moved = sample_event("ChildMoved", seed=4, child_id=CHILD)
    moved = type(moved)(envelope=moved.envelope, from_municipality_code="0780", to_municipality_code="0764",
                        moved_on=dt.date(2026, 9, 1))  # after the registration
    return [registered, old, new, moved]


def test_latest_custody_and_home_win_whatever_the_order() -> None:
    results = {fold(CHILD, order) for order in itertools.permutations(_events())}
    assert len(results) == 1
    (resident,) = results
    assert resident.guardians == frozenset({G3})
    assert resident.municipality_code == "0764"
    status = resident.status()
    assert status.birth_date == dt.date(2015, 3, 1) and status.guardians == frozenset({G3})


def test_repeats_and_unrelated_events_change_nothing() -> None:
    once = fold(CHILD, _events())
    assert fold(CHILD, _events() + _events()) == once
    assert apply(once, sample_event("HealthVisitRecorded", seed=1, child_id=CHILD)) is once


def test_unknown_child_has_no_guardians_or_birth() -> None:
    status = Resident(CHILD).status()
    assert status.birth_date is None and status.guardians == frozenset()


def test_two_custody_records_on_one_day_keep_the_registers_order_not_the_event_ids() -> None:
    """Issue 14, rule 7: the later record wins however the event ids compare."""
    morning, afternoon = (dt.datetime(2026, 3, 2, h, tzinfo=dt.UTC) for h in (8, 15))
    for small, large in ((uuid.UUID(int=1, version=4), uuid.UUID(int=2, version=4)),
                         (uuid.UUID(int=2, version=4), uuid.UUID(int=1, version=4))):
        first = _custody(5, (G1, G2), morning, event_id=large, record_id="z-first")
        later = _custody(6, (G3,), afternoon, event_id=small, record_id="a-later")
        for order in ((first, later), (later, first)):
            resident = fold(CHILD, order)
            assert resident.guardians == frozenset({G3})
            assert [c.guardians for c in resident.custody] == [frozenset({G1, G2}), frozenset({G3})]
