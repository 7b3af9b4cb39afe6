"""Reports of concern on the statutory route, as one pure fold over ``statutory.social``
(DESIGN §6, STATUTORY facts).

A report is routed by the gate (``ReportOfConcernRouted``), delivered into the social services'
own case register or refused there (``…Delivered`` / ``…Undelivered``), acknowledged by the social
services' coordinator (``…Acknowledged``) and decided on in the register (``…Assessed``: whether an
investigation was opened). Each event sets its own fields of the report it names, so the fold is
idempotent and the route's events may come in any order; of two acknowledgements or decisions the
first in the log stands, so a replay gives the same report. Nothing here is personal: the report
itself stays sealed bytes (``report``), opened only for the social services of the route and the
reporter (``services.api``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from uuid import UUID

from schemas.events import (
    Event,
    ReportOfConcernAcknowledged,
    ReportOfConcernAssessed,
    ReportOfConcernDelivered,
    ReportOfConcernRouted,
    ReportOfConcernUndelivered,
)

REPORT_EVENTS = (ReportOfConcernRouted, ReportOfConcernDelivered, ReportOfConcernUndelivered,
                 ReportOfConcernAcknowledged, ReportOfConcernAssessed)


@dataclass(frozen=True, slots=True)
class ConcernReport:
    report_id: UUID
    filed_in_hub: bool = False
    reporter_org: str | None = None
    reporter_category: str | None = None
    municipality_code: str | None = None
    acute: bool = False
    reported_at: dt.datetime | None = None
    routed_at: dt.datetime | None = None
    report: bytes | None = None  # the filed event, sealed under the child's key
    delivered_at: dt.datetime | None = None
    register_case_id: str | None = None
    undelivered_at: dt.datetime | None = None
    undelivered_reason: str | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledged_by_org: str | None = None
    investigation_opened: bool | None = None
    decided_on: dt.date | None = None


Reports = Mapping[UUID, ConcernReport]
NONE: Reports = MappingProxyType({})


def apply(reports: Reports, event: Event) -> Reports:
    """Fold one event of the route; the same mapping if it changes nothing."""
    report_id = event.report_event_id  # type: ignore[attr-defined]  # every REPORT_EVENTS type has it
    before = reports.get(report_id) or ConcernReport(report_id)
    after = _folded(before, event)
    if after == before and report_id in reports:
        return reports
    return MappingProxyType({**reports, report_id: after})


def _folded(r: ConcernReport, event: Event) -> ConcernReport:
    at = event.envelope.occurred_at
    if isinstance(event, ReportOfConcernRouted):
        return replace(r, filed_in_hub=event.filed_in_hub, reporter_org=event.envelope.source.organisation_id,
                       reporter_category=event.reporter_category or None, municipality_code=event.municipality_code,
                       acute=event.acute, reported_at=event.reported_at, routed_at=r.routed_at or at,
                       report=event.report if event.filed_in_hub else None)
    if isinstance(event, ReportOfConcernDelivered):
        return replace(r, delivered_at=r.delivered_at or at, register_case_id=event.register_case_id)
    if isinstance(event, ReportOfConcernUndelivered):
        return replace(r, undelivered_at=r.undelivered_at or at, undelivered_reason=event.reason)
    if isinstance(event, ReportOfConcernAcknowledged):
        if r.acknowledged_at is not None:
            return r
        return replace(r, acknowledged_at=at, acknowledged_by_org=event.acknowledged_by_org)
    if isinstance(event, ReportOfConcernAssessed):
        if r.decided_on is not None:
            return r
        return replace(r, investigation_opened=event.investigation_opened, decided_on=event.decided_on)
    raise TypeError(f"not an event of the statutory route: {type(event).__name__}")
