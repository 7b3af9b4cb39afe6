"""The replay benchmark's log: a realistic hub log, written straight to ``shared``, ``plan`` and
``consent`` (what a replay reads) before anything is timed. For each child, about ``per_child``
records:

* directory releases -- ``FactReleased`` with basis DIRECTORY whose ``fact`` is an encoded
  ``ChildRegistered``, ``CustodyRecorded``, ``HealthUnitListed`` or ``SchoolPlacementStarted``
  (the projector decodes that inner fact and folds it into the named person);
* for five children in six, a consent (health and social) and a school consent, and facts
  released under them (``HealthVisitRecorded``, ``ImmunizationRecorded``, ``ObservationRecorded``,
  ``AbsenceSummarised``, ``SchoolSupportDecided``); for one in ten the school consent is
  withdrawn again and its facts' releases revoked (``ReleaseRevoked``);
* for a third, a plan: opened, two meetings, a lead, wheel assessments, actions (one completed)
  and a follow-up.

Envelopes carry no sealed box (a plain ``Codec``, no key store). The log is built from 64
template children whose records are encoded once; every other child's records are those bytes
with the template's UUIDs (all 36-character strings in Avro) swapped for its own, so a 10M-record
log takes seconds to generate and every record is still valid single-object Avro with ids
unique across the log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from connectors.standins.directory import synthetic_directory
from projections.consent_rules import ChildStatus, required, swedish_day
from schemas.codec import Codec
from schemas.county import BHV, SOCIAL
from schemas.events import (
    Area,
    Basis,
    Category,
    ConsentWithdrawn,
    Envelope,
    Event,
    FactReleased,
    ReleaseRevoked,
    SchoolType,
    Source,
    SupportType,
)
from schemas.topics import TOPIC_OF_EVENT
from services.dev.samples import sample_event, scoped_grant
from services.kafka import clients as kafka
from services.settings import Settings

PER_CHILD = 40  # records per child, on average
TEMPLATES = 64  # distinct template children
SEND_CHUNK = 5_000
T0 = dt.datetime(2025, 9, 1, 8, 0, tzinfo=dt.UTC)  # the log's first day
UUID_PREFIX = 0x6B62 << 112  # "kb": keeps bench ids apart from any other synthetic ids


def _slot(child: int, n: int) -> uuid.UUID:
    """The ``n``-th id of child number ``child``: unique across the log, the same every run."""
    return uuid.UUID(int=UUID_PREFIX | (child << 20) | n, version=4)


class _Ids:
    """Hands out one child's ids in order, so a template's n-th id maps to any child's n-th."""

    def __init__(self, child: int) -> None:
        self.child, self.used = child, 0

    def __call__(self) -> uuid.UUID:
        self.used += 1
        return _slot(self.child, self.used - 1)


def _event(name: str, ids: _Ids, child: uuid.UUID, k: int, *, org: str, basis: Basis, category: Category,
           at: dt.datetime, area: Area | None = None, **fields: Any) -> Event:
    """An event of type ``name`` about ``child``, its unset fields from a deterministic sample."""
    template = sample_event(name, seed=k, child_id=child)
    env = replace(template.envelope, event_id=ids(), basis=basis, category=category, area=area, occurred_at=at,
                  recorded_at=at + dt.timedelta(seconds=2), sealed=None, source=Source("bench", org, f"r{k}", "1"))
    return replace(template, envelope=env, **fields)


def _released(codec: Codec, ids: _Ids, fact: Event, consent_ids: tuple[uuid.UUID, ...]) -> FactReleased:
    """What the gate publishes for ``fact`` (see services.worker.gate): envelope from the fact."""
    env = fact.envelope
    now = env.recorded_at + dt.timedelta(milliseconds=40)
    version = "directory" if env.basis is Basis.DIRECTORY else "|".join(str(i) for i in consent_ids)
    out = Envelope(event_id=ids(), type="FactReleased", child_id=env.child_id, occurred_at=now, recorded_at=now,
                   source=Source("gate", env.source.organisation_id, str(env.event_id), version),
                   basis=env.basis, category=env.category, area=env.area)
    return FactReleased(envelope=out, fact_event_id=env.event_id, fact_type=type(fact).__name__,
                        consent_ids=consent_ids, fact=codec.encode(fact))


def _revoked(ids: _Ids, release: FactReleased, ended: tuple[uuid.UUID, ...], at: dt.datetime) -> ReleaseRevoked:
    env = release.envelope
    out = replace(env, event_id=ids(), type="ReleaseRevoked", occurred_at=at, recorded_at=at,
                  source=replace(env.source, record_version="revoked|" + "|".join(str(i) for i in ended)))
    return ReleaseRevoked(envelope=out, fact_event_id=release.fact_event_id, ended_consent_ids=ended)


def template_child(k: int, facts: int, codec: Codec) -> tuple[list[Event], int]:
    """Template child ``k``'s whole history, ``facts`` consent-released facts among it, and
    how many ids it uses."""
    ids = _Ids(k)
    child = ids()
    county = synthetic_directory()  # the bench's log is the synthetic county's, whatever the settings say
    code = county.codes[k % len(county.codes)]
    bhv, soc, school = county.unit(BHV, code).id, county.unit(SOCIAL, code).id, f"skola-{code}-{k % 3 + 1}"
    born = dt.date(2009, 1, 1) + dt.timedelta(days=(k * 379) % (17 * 365))
    d, c = Basis.DIRECTORY, Basis.CONSENT
    at = T0
    directory: list[Event] = [
        _event("ChildRegistered", ids, child, k, org="navet", basis=d, category=Category.POPULATION, at=at,
               birth_date=born, municipality_code=code),
        _event("CustodyRecorded", ids, child, k, org="navet", basis=d, category=Category.POPULATION, at=at,
               recorded_on=born, guardian_ids=(ids(), ids())),
        _event("HealthUnitListed", ids, child, k, org=bhv, basis=d, category=Category.HEALTH, at=at,
               unit_id=bhv, listed_on=born),
    ]
    if (T0.date() - born).days > 6 * 365:
        stage = SchoolType.COMPULSORY if (T0.date() - born).days < 16 * 365 else SchoolType.UPPER_SECONDARY
        directory.append(_event("SchoolPlacementStarted", ids, child, k, org=school, basis=d,
                                category=Category.SCHOOL, at=at, placement_id=f"pl-{k}", school_unit_id=school,
                                school_type=stage, municipality_code=code, start_date=dt.date(2025, 8, 18)))
    log: list[Event] = [_released(codec, ids, f, ()) for f in directory]
    if k % 6 != 0:
        status = ChildStatus(child, born, frozenset(directory[1].guardian_ids))  # type: ignore[attr-defined]
        grantors = tuple(sorted(required(status, swedish_day(T0)), key=str))  # what the register requires
        health_id, school_id = ids(), ids()
        for consent_id, categories, recipients in ((health_id, [Category.HEALTH, Category.SOCIAL], [bhv, soc, school]),
                                                   (school_id, [Category.SCHOOL], [school, bhv])):
            grant = scoped_grant(child, consent_id, categories, recipients, T0 - dt.timedelta(days=7),
                                 T0 + dt.timedelta(days=730))
            env = replace(grant.envelope, event_id=ids(), occurred_at=T0, recorded_at=T0)
            log.append(replace(grant, envelope=env, grantors=grantors))
        school_releases: list[FactReleased] = []
        for i in range(facts):
            at = T0 + dt.timedelta(days=1 + i * 300 // max(facts, 1), hours=i % 8)
            kind = i % 6
            if kind == 0:
                fact = _event("HealthVisitRecorded", ids, child, k + i, org=bhv, basis=c, category=Category.HEALTH,
                              area=Area.HEALTH, at=at, unit_id=bhv, visited_on=at.date())
            elif kind == 1:
                fact = _event("ImmunizationRecorded", ids, child, k + i, org=bhv, basis=c, category=Category.HEALTH,
                              area=Area.HEALTH, at=at, unit_id=bhv, dose_number=1 + i % 3, given_on=at.date())
            elif kind == 2:
                fact = _event("ObservationRecorded", ids, child, k + i, org=bhv, basis=c, category=Category.HEALTH,
                              area=Area.DEVELOPMENT, at=at, unit_id=bhv, observed_on=at.date())
            elif kind == 5 and i % 4 == 1:
                fact = _event("SchoolSupportDecided", ids, child, k + i, org=school, basis=c,
                              category=Category.SCHOOL, area=Area.LEARNING, at=at, school_unit_id=school,
                              support_type=SupportType.EXTRA_ADAPTATIONS, decided_on=at.date())
            else:
                start = at.date() - dt.timedelta(days=30)
                fact = _event("AbsenceSummarised", ids, child, k + i, org=school, basis=c, category=Category.SCHOOL,
                              area=Area.LEARNING, at=at, school_unit_id=school, period_start=start,
                              period_end=at.date(), absence_percent=float(i % 20), unexcused_percent=float(i % 5))
            consent = school_id if fact.envelope.category is Category.SCHOOL else health_id
            release = _released(codec, ids, fact, (consent,))
            log.append(release)
            if consent == school_id:
                school_releases.append(release)
        if k % 10 == 2:  # the school consent withdrawn: its facts' releases revoked
            withdrawn_at = T0 + dt.timedelta(days=320)
            sample = sample_event("ConsentWithdrawn", seed=k, child_id=child)
            env = replace(sample.envelope, event_id=ids(), occurred_at=withdrawn_at, recorded_at=withdrawn_at,
                          sealed=None)
            log.append(ConsentWithdrawn(envelope=env, consent_id=school_id, withdrawn_by=grantors[0].party_id,
                                        role=grantors[0].role))
            ended = withdrawn_at + dt.timedelta(seconds=1)
            log.extend(_revoked(ids, r, (school_id,), ended) for r in school_releases)
    if k % 3 == 1:
        log.extend(_plan(ids, child, k, school, bhv, soc))
    return log, ids.used


def _plan(ids: _Ids, child: uuid.UUID, k: int, school: str, bhv: str, soc: str) -> list[Event]:
    p = Basis.CONSENT
    plan_id, when = ids(), T0 + dt.timedelta(days=60, hours=k % 8)

    def ev(name: str, minutes: int, area: Area | None = None, **fields: Any) -> Event:
        return _event(name, ids, child, k, org=school, basis=p, category=Category.PLAN, area=area,
                      at=when + dt.timedelta(days=minutes // 1440, minutes=minutes % 1440), plan_id=plan_id, **fields)

    actions = (ids(), ids())
    return [
        ev("PlanOpened", 0, opened_by_org=school, consent_ids=()),
        ev("MeetingHeld", 30, meeting_id=ids(), held_on=when.date(), participant_orgs=(school, bhv), lead_org=bhv),
        ev("AreaAssessed", 40, area=Area.LEARNING, rating=2 + k % 3, assessed_by_org=school),
        ev("AreaAssessed", 41, area=Area.HEALTH, rating=3, assessed_by_org=bhv),
        ev("AreaAssessed", 42, area=Area.SAFETY, rating=1 + k % 5, assessed_by_org=soc),
        ev("ActionAgreed", 50, area=Area.LEARNING, action_id=actions[0], responsible_org=school,
           due_on=(when + dt.timedelta(days=60)).date()),
        ev("ActionAgreed", 51, area=Area.HEALTH, action_id=actions[1], responsible_org=bhv, due_on=None),
        ev("FollowUpScheduled", 60, follow_up_id=ids(), due_on=(when + dt.timedelta(days=90)).date()),
        ev("ActionCompleted", 50 * 1440, area=Area.LEARNING, action_id=actions[0],
           completed_on=(when + dt.timedelta(days=50)).date()),
        ev("MeetingHeld", 90 * 1440, meeting_id=ids(), held_on=(when + dt.timedelta(days=90)).date(),
           participant_orgs=(school, bhv, soc), lead_org=None),
        ev("LeadAssigned", 90 * 1440 + 5, lead_org=school),
    ]


@dataclass(frozen=True, slots=True)
class _Template:
    """One template child's records, each split around its ids so another child's slot in."""

    slots: int  # ids the template child uses
    records: list[tuple[str, list[bytes | int]]]  # topic, [literal bytes | id slot number, ...]


def _split(value: bytes, pattern: re.Pattern[bytes], slot_of: dict[bytes, int]) -> list[bytes | int]:
    parts: list[bytes | int] = []
    at = 0
    for match in pattern.finditer(value):
        parts.append(value[at:match.start()])
        parts.append(slot_of[match.group()])
        at = match.end()
    parts.append(value[at:])
    return parts


def _templates(per_child: int, codec: Codec) -> list[_Template]:
    """``TEMPLATES`` children whose histories average ``per_child`` records."""
    fixed = [len(template_child(k, 0, codec)[0]) for k in range(TEMPLATES)]
    consenting = [k for k in range(TEMPLATES) if k % 6 != 0]
    spare = max(0, per_child * TEMPLATES - sum(fixed))
    out = []
    for k in range(TEMPLATES):
        share = spare // len(consenting) + (1 if consenting.index(k) < spare % len(consenting) else 0) \
            if k in consenting else 0
        # Revoked children publish a revocation per school fact too: fewer facts keep the mean.
        facts = share * 2 // 3 if k % 10 == 2 else share
        events, used = template_child(k, facts, codec)
        strings = {str(_slot(k, n)).encode(): n for n in range(used)}
        pattern = re.compile(b"|".join(re.escape(s) for s in strings))
        records = [(TOPIC_OF_EVENT[type(e)].name, _split(codec.encode(e), pattern, strings)) for e in events]
        out.append(_Template(used, records))
    return out


def child_records(templates: list[_Template], child: int) -> Iterator[tuple[str, bytes, bytes]]:
    """Child number ``child``'s records as (topic, key, value): its template with its own ids."""
    t = templates[child % len(templates)]
    ids = [str(_slot(child, n)).encode() for n in range(t.slots)]
    key = ids[0]
    for topic, parts in t.records:
        yield topic, key, b"".join([ids[p] if type(p) is int else p for p in parts])  # type: ignore[misc]


def log_records(templates: list[_Template], children: int, block: int = 500) -> Iterator[list[tuple[str, bytes, bytes]]]:
    """Every child's records, children interleaved within blocks (as a hub sees them arrive)."""
    for first in range(0, children, block):
        per_child = [list(child_records(templates, c)) for c in range(first, min(first + block, children))]
        out: list[tuple[str, bytes, bytes]] = []
        for step in range(max(len(h) for h in per_child)):
            out.extend(h[step] for h in per_child if step < len(h))
        yield out


async def publish_log(settings: Settings, children: int, per_child: int = PER_CHILD,
                      advance: Callable[[int], None] | None = None) -> int:
    """Generate and publish the log for ``children`` children; returns the records sent."""
    codec = Codec()
    templates = _templates(per_child, codec)
    producer = kafka.producer(settings)
    await producer.start()
    sent = 0
    try:
        for records in log_records(templates, children):
            for first in range(0, len(records), SEND_CHUNK):
                chunk = records[first:first + SEND_CHUNK]
                await asyncio.gather(*[await producer.send(t, v, key=k) for t, k, v in chunk])
                sent += len(chunk)
                if advance:
                    advance(len(chunk))
    finally:
        await producer.stop()
    return sent
