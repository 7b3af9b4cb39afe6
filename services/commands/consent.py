"""Consent registration (DESIGN §6): validate against the required grantors, then record.

The HTTP API (issue 6) exposes these two functions. A request that the rules refuse raises
``ConsentRejected`` with every reason, e.g. "guardian <id> has not granted", and nothing is
written. Accepted requests become ``ConsentGranted`` / ``ConsentWithdrawn`` on ``consent``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from projections.consent_rules import ChildStatus, ended_by_withdrawal, problems
from schemas.events import Area, Basis, Category, ConsentGranted, ConsentWithdrawn, Envelope, Event, Grantor, Source

UNKNOWN_CHILD = "the population register does not know this child"
NO_CATEGORY = "a consent must cover at least one of HEALTH, SCHOOL and SOCIAL"
BAD_CATEGORY = "category {category} cannot be consented to"
NO_RECIPIENT = "a consent needs at least one recipient organisation"
BAD_PERIOD = "valid_to must be after valid_from"
NOT_A_GRANTOR = "only a required grantor can withdraw this consent"
CONSENTABLE = frozenset({Category.HEALTH, Category.SCHOOL, Category.SOCIAL})


class ConsentRejected(ValueError):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class ChildStatuses(Protocol):
    def status(self, child_id: uuid.UUID) -> ChildStatus | None: ...


Publish = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    child_id: uuid.UUID
    grantors: tuple[Grantor, ...]
    categories: tuple[Category, ...]
    recipients: tuple[str, ...]
    valid_from: dt.datetime
    valid_to: dt.datetime
    source_organisations: tuple[str, ...] | None = None
    areas: tuple[Area, ...] | None = None
    registered_by_org: str = "unknown"


def _envelope(name: str, child_id: uuid.UUID, org: str, now: dt.datetime) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), type=name, child_id=child_id, occurred_at=now, recorded_at=now,
                    source=Source("kronobarn-api", org, str(uuid.uuid4()), "1"),
                    basis=Basis.DIRECTORY, category=Category.CONSENT)


async def register(request: ConsentRequest, statuses: ChildStatuses, publish: Publish,
                   now: dt.datetime | None = None, child_grants_from: int = 15) -> ConsentGranted:
    now = now or dt.datetime.now(dt.UTC)
    status = statuses.status(request.child_id)
    if status is None:
        raise ConsentRejected([UNKNOWN_CHILD])
    reasons = []
    if not request.categories:
        reasons.append(NO_CATEGORY)
    reasons += [BAD_CATEGORY.format(category=c.value) for c in request.categories if c not in CONSENTABLE]
    if not request.recipients:
        reasons.append(NO_RECIPIENT)
    if request.valid_to <= request.valid_from:
        reasons.append(BAD_PERIOD)
    reasons += problems(status, request.grantors, now.date(), child_grants_from)
    if reasons:
        raise ConsentRejected(reasons)
    event = ConsentGranted(
        envelope=_envelope("ConsentGranted", request.child_id, request.registered_by_org, now),
        consent_id=uuid.uuid4(), grantors=request.grantors, source_organisations=request.source_organisations,
        categories=request.categories, areas=request.areas, recipients=request.recipients,
        valid_from=request.valid_from, valid_to=request.valid_to)
    await publish(event)
    return event


async def withdraw(child_id: uuid.UUID, consent_id: uuid.UUID, by: Grantor, statuses: ChildStatuses,
                   publish: Publish, org: str = "unknown", now: dt.datetime | None = None) -> ConsentWithdrawn:
    """Any required grantor ends the consent by withdrawing; anyone else is refused."""
    now = now or dt.datetime.now(dt.UTC)
    status = statuses.status(child_id)
    if status is None:
        raise ConsentRejected([UNKNOWN_CHILD])
    if not ended_by_withdrawal(status, by, now.date()):
        raise ConsentRejected([NOT_A_GRANTOR])
    event = ConsentWithdrawn(envelope=_envelope("ConsentWithdrawn", child_id, org, now),
                             consent_id=consent_id, withdrawn_by=by.party_id, role=by.role)
    await publish(event)
    return event
