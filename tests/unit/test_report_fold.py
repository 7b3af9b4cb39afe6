"""The fold of the statutory route (``projections.reports``): any order of a report's events,
with repeats, gives the report the test's reference says; the first acknowledgement and decision
in the log stand."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from projections import reports
from schemas.events import Event, ReportOfConcernDelivered, ReportOfConcernRouted
from services.dev.samples import sample_event

REPORT = uuid.UUID(int=19, version=4)
T0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _event(name: str, minutes: int, **fields: object) -> Event:
    template = sample_event(name, seed=minutes)
    at = T0 + dt.timedelta(minutes=minutes)
    envelope = replace(template.envelope, occurred_at=at, recorded_at=at,
                       source=replace(template.envelope.source, organisation_id="skolenhet-07802001"))
    return replace(template, envelope=envelope, report_event_id=REPORT, **fields)


ROUTED = _event("ReportOfConcernRouted", 0, municipality_code="0780", reporter_category="SCHOOL", acute=True,
                filed_in_hub=True, reported_at=T0, report=b"sealed")
DELIVERED = _event("ReportOfConcernDelivered", 1, municipality_code="0780", register_case_id="ORO-1")
ACKNOWLEDGED = _event("ReportOfConcernAcknowledged", 2, acknowledged_by_org="kommun-0780-soc")
ASSESSED = _event("ReportOfConcernAssessed", 3, investigation_opened=True, decided_on=dt.date(2026, 12, 3))
# The reference: what the report says once every event is in, whatever the order.
EXPECTED = {"filed_in_hub": True, "reporter_org": "skolenhet-07802001", "reporter_category": "SCHOOL",
            "municipality_code": "0780", "acute": True, "reported_at": T0, "routed_at": T0, "report": b"sealed",
            "delivered_at": T0 + dt.timedelta(minutes=1), "register_case_id": "ORO-1",
            "acknowledged_at": T0 + dt.timedelta(minutes=2), "acknowledged_by_org": "kommun-0780-soc",
            "investigation_opened": True, "decided_on": dt.date(2026, 12, 3), "undelivered_at": None,
            "undelivered_reason": None}


@given(st.permutations([ROUTED, DELIVERED, ACKNOWLEDGED, ASSESSED, ROUTED, DELIVERED, ACKNOWLEDGED, ASSESSED]))
def test_any_order_with_repeats_folds_to_the_same_report(events: list[Event]) -> None:
    folded = reduce(reports.apply, events, reports.NONE)
    assert set(folded) == {REPORT}
    got = folded[REPORT]
    assert {k: getattr(got, k) for k in EXPECTED} == EXPECTED


def test_a_repeat_changes_nothing_and_the_first_acknowledgement_and_decision_stand() -> None:
    once = reduce(reports.apply, [ROUTED, DELIVERED, ACKNOWLEDGED, ASSESSED], reports.NONE)
    assert reports.apply(once, ACKNOWLEDGED) is once  # the same mapping: nothing to write
    later = _event("ReportOfConcernAcknowledged", 9, acknowledged_by_org="kommun-0781-soc")
    other = _event("ReportOfConcernAssessed", 9, investigation_opened=False, decided_on=dt.date(2026, 12, 9))
    after = reduce(reports.apply, [later, other], once)[REPORT]
    assert (after.acknowledged_by_org, after.acknowledged_at) == ("kommun-0780-soc", T0 + dt.timedelta(minutes=2))
    assert (after.investigation_opened, after.decided_on) == (True, dt.date(2026, 12, 3))


def test_a_report_read_from_a_register_keeps_no_bytes_and_counts_as_not_filed_here() -> None:
    received = replace(ROUTED, filed_in_hub=False, reporter_category="")
    got = reports.apply(reports.NONE, received)[REPORT]
    assert (got.filed_in_hub, got.report, got.reporter_category) == (False, None, None)
    assert isinstance(received, ReportOfConcernRouted) and not isinstance(received, ReportOfConcernDelivered)
