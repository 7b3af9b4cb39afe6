"""The population fold: order-independent, idempotent, and the consent rules' view of a child."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from projections.population import Resident, apply, fold
from services.dev.samples import sample_event

CHILD = uuid.UUID(int=7, version=4)
G1, G2, G3 = (uuid.UUID(int=n, version=4) for n in (11, 12, 13))


def _events() -> list:
    registered = sample_event("ChildRegistered", seed=1, child_id=CHILD)
    registered = type(registered)(envelope=registered.envelope, birth_date=dt.date(2015, 3, 1), municipality_code="0780")
    old = sample_event("CustodyRecorded", seed=2, child_id=CHILD)
    old = type(old)(envelope=old.envelope, guardian_ids=(G1, G2), recorded_on=dt.date(2016, 1, 1))
    new = sample_event("CustodyRecorded", seed=3, child_id=CHILD)
    new = type(new)(envelope=new.envelope, guardian_ids=(G3,), recorded_on=dt.date(2024, 6, 1))
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
