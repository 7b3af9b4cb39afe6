"""Consent registration (DESIGN §6): validate against the required grantors, then record.

The HTTP API (issue 6) exposes these two functions. A request that the rules refuse raises
``ConsentRejected`` with every reason, e.g. "guardian <id> has not granted", and nothing is
written. Accepted requests become ``ConsentGranted`` / ``ConsentWithdrawn`` on ``consent``.

A child the population register records as dead, or as emigrated and not registered again, gets
no consent: ``consent_rules.problems`` refuses it (``CHILD_DIED``, ``CHILD_EMIGRATED``) from the
``ChildStatus`` the caller gives, so the caller's status must carry ``died_on`` and ``emigrated_on``.

Registration refuses backdating (a ``valid_from`` before now, give or take the policy's clock
skew), a start more than the policy's ``max_start_ahead`` away, and a period longer than its
``max_period`` (issue 14, rule 6); it records how the grant was obtained and by which user.

The recipients must be units of the county directory and the source organisations known to it
(``services.commands.organisations``; issue 17, finding 3): the caller passes the directory's
units as ``units``, and a reason names the field of each one that is not.

A withdrawal is accepted from anyone who was a required grantor when the consent was given (its
recorded grantors) or who is required now (rule 8). Withdrawing a consent that has already
ended -- lapsed, expired or withdrawn -- changes nothing; ``ended`` says why, so the caller can
report the withdrawal as moot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from projections.consent_rules import (
    CHILD_GRANTS_FROM,
    DEFAULT_POLICY,
    ChildStatus,
    ConsentPolicy,
    Lapse,
    ended_by_withdrawal,
    problems,
    swedish_day,
)
from projections.consents import Consent
from schemas.events import (
    Area,
    Basis,
    Category,
    ConsentGranted,
    ConsentObtained,
    ConsentWithdrawn,
    Envelope,
    Event,
    Grantor,
    Source,
)
from services.commands import organisations
from services.commands.organisations import Units

UNKNOWN_CHILD = "the population register does not know this child"
NO_CATEGORY = "a consent must cover at least one of HEALTH, SCHOOL and SOCIAL"
BAD_CATEGORY = "category {category} cannot be consented to"
NO_RECIPIENT = "a consent needs at least one recipient organisation"
BAD_PERIOD = "valid_to must be after valid_from"
BACKDATED = "valid_from {valid_from} lies before now: a consent cannot be backdated"
STARTS_TOO_LATE = "valid_from {valid_from} lies more than {days} days ahead"
TOO_LONG = "valid_from to valid_to is more than {days} days"
NOT_A_GRANTOR = "only a required grantor can withdraw this consent"
CONSENTABLE = frozenset({Category.HEALTH, Category.SCHOOL, Category.SOCIAL})

# Why a withdrawal changed nothing: the consent had already ended (the answer calls it moot).
HAD_BEEN_WITHDRAWN = "the consent had already been withdrawn on {day}"
HAD_EXPIRED = "the consent had already expired on {day}"
HAD_LAPSED = {
    Lapse.CHILD_AGE: "the consent had already lapsed on {day}, when the child turned {age}",
    Lapse.ADULTHOOD: "the consent had already lapsed at the 18th birthday on {day}",
    Lapse.CUSTODY: "the consent had already lapsed on {day}, when custody changed",
    Lapse.BIRTH: "the consent had already lapsed at the birth on {day}",
    Lapse.REGISTER: "the consent had already lapsed: the population register did not support it when it was "
                    "given on {day}",
    Lapse.DEATH: "the consent had already lapsed on {day}, when the child died",
    Lapse.EMIGRATION: "the consent had already lapsed on {day}, when the child emigrated",
}


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
    obtained: ConsentObtained | None = None  # in writing, orally in a meeting, or digitally
    registered_by: str | None = None  # the user who registers it


def _envelope(name: str, child_id: uuid.UUID, org: str, now: dt.datetime) -> Envelope:
    return Envelope(event_id=uuid.uuid4(), type=name, child_id=child_id, occurred_at=now, recorded_at=now,
                    source=Source("kronobarn-api", org, str(uuid.uuid4()), "1"),
                    basis=Basis.DIRECTORY, category=Category.CONSENT)


def period_problems(valid_from: dt.datetime, valid_to: dt.datetime, now: dt.datetime,
                    policy: ConsentPolicy = DEFAULT_POLICY) -> list[str]:
    """Why the period ``valid_from``..``valid_to`` cannot be registered at ``now``: backdated,
    starting too far ahead, ending before it starts, or longer than the policy allows."""
    out = []
    if valid_from < now - policy.clock_skew:
        out.append(BACKDATED.format(valid_from=valid_from.isoformat()))
    elif valid_from > now + policy.max_start_ahead:
        out.append(STARTS_TOO_LATE.format(valid_from=valid_from.isoformat(), days=policy.max_start_ahead.days))
    if valid_to <= valid_from:
        out.append(BAD_PERIOD)
    elif valid_to - valid_from > policy.max_period:
        out.append(TOO_LONG.format(days=policy.max_period.days))
    return out


async def register(request: ConsentRequest, statuses: ChildStatuses, publish: Publish,
                   now: dt.datetime | None = None, child_grants_from: int | None = None,
                   policy: ConsentPolicy = DEFAULT_POLICY, units: Units | None = None) -> ConsentGranted:
    """Check ``request`` against the policy and the required grantors at ``now``, and its
    organisations against the directory's ``units``; publish it. ``child_grants_from``, if
    given, overrides the policy's age."""
    now = now or dt.datetime.now(dt.UTC)
    if child_grants_from is not None:
        policy = dataclasses.replace(policy, child_grants_from=child_grants_from)
    status = statuses.status(request.child_id)
    if status is None:
        raise ConsentRejected([UNKNOWN_CHILD])
    reasons = []
    if not request.categories:
        reasons.append(NO_CATEGORY)
    reasons += [BAD_CATEGORY.format(category=c.value) for c in request.categories if c not in CONSENTABLE]
    if not request.recipients:
        reasons.append(NO_RECIPIENT)
    # Reasons name the request's fields.
    reasons += organisations.problems(request.recipients, "recipients", organisations.PARTICIPANT, units)
    reasons += organisations.problems(request.source_organisations or (), "source_organisations",
                                      organisations.SOURCE, units)
    reasons += period_problems(request.valid_from, request.valid_to, now, policy)
    # Birthdays start at midnight in Sweden: judge the grantors on the Swedish day, as the gate does.
    reasons += problems(status, request.grantors, swedish_day(now), policy.child_grants_from)
    if reasons:
        raise ConsentRejected(reasons)
    event = ConsentGranted(
        envelope=_envelope("ConsentGranted", request.child_id, request.registered_by_org, now),
        consent_id=uuid.uuid4(), grantors=request.grantors, source_organisations=request.source_organisations,
        categories=request.categories, areas=request.areas, recipients=request.recipients,
        valid_from=request.valid_from, valid_to=request.valid_to, obtained=request.obtained,
        registered_by=request.registered_by)
    await publish(event)
    return event


def may_withdraw(status: ChildStatus, by: Grantor, grantors: Iterable[Grantor], now: dt.datetime,
                 child_grants_from: int = CHILD_GRANTS_FROM) -> bool:
    """Whether ``by`` may withdraw a consent granted by ``grantors``: one of them (a required
    grantor when it was given), or a party required now."""
    return by in set(grantors) or ended_by_withdrawal(status, by, swedish_day(now), child_grants_from)


async def withdraw(child_id: uuid.UUID, consent_id: uuid.UUID, by: Grantor, statuses: ChildStatuses,
                   publish: Publish, org: str = "unknown", now: dt.datetime | None = None,
                   grantors: Iterable[Grantor] = (), child_grants_from: int = CHILD_GRANTS_FROM) -> ConsentWithdrawn:
    """A grantor who was required when the consent was given (``grantors``, as recorded) or who
    is required now ends the consent by withdrawing; anyone else is refused."""
    now = now or dt.datetime.now(dt.UTC)
    status = statuses.status(child_id)
    if status is None:
        raise ConsentRejected([UNKNOWN_CHILD])
    if not may_withdraw(status, by, grantors, now, child_grants_from):
        raise ConsentRejected([NOT_A_GRANTOR])
    event = ConsentWithdrawn(envelope=_envelope("ConsentWithdrawn", child_id, org, now),
                             consent_id=consent_id, withdrawn_by=by.party_id, role=by.role)
    await publish(event)
    return event


def ended(consent: Consent, now: dt.datetime, child_grants_from: int = CHILD_GRANTS_FROM) -> str | None:
    """Why withdrawing ``consent`` at ``now`` would change nothing -- it had already been
    withdrawn, had expired or had lapsed (the earliest of these) -- or None while it has not
    ended. A consent that has not started yet has not ended: withdrawing it keeps it from starting."""
    over: list[tuple[dt.datetime, str]] = []
    if consent.withdrawn_at is not None:  # a recorded withdrawal is final
        over.append((consent.withdrawn_at, HAD_BEEN_WITHDRAWN.format(day=swedish_day(consent.withdrawn_at))))
    if consent.lapsed_at is not None and consent.lapsed_at <= now:
        why = HAD_LAPSED[consent.lapse or Lapse.REGISTER]
        over.append((consent.lapsed_at, why.format(day=swedish_day(consent.lapsed_at), age=child_grants_from)))
    if consent.valid_to <= now:
        over.append((consent.valid_to, HAD_EXPIRED.format(day=swedish_day(consent.valid_to))))
    return min(over, key=lambda o: o[0])[1] if over else None
