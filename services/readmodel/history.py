"""Auditors' reading of the log itself (DESIGN §6 Audit): a child's full event history, and the
plan as an organisation saw it at a moment.

Both read the event log, not the read model, because the read model holds only the present.
Every topic is keyed by child id and co-partitioned, so one child's events all sit in one
partition number: only that partition is read, from offset 0 to its end, and records with
another key are dropped before they are decoded.

``plan_as_seen`` folds with the projector's own ``Projection`` (``until=at``), so it gives what
``kronobarn replay --until`` gives for that child, and asks the one visibility function which
facts the organisation could see then.

Nothing here logs or returns more personal data than the caller's codec opens: with a sealing
codec the sealed fields read, without one they stay sealed. The web layer decides what to show.
"""

from __future__ import annotations

import datetime as dt
import heapq
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from projections import access
from projections.access import NOT_FOUND, ChildScope, Decision, EmergencyGrant, Outcome
from projections.child_state import ChildState
from projections.consent_rules import swedish_day
from projections.consents import Consent
from projections.named_person import Assignment, assignment
from projections.plan import ReleasedFact
from schemas.codec import Codec, DecodeError
from schemas.events import Event
from schemas.topics import (
    ACCESS,
    CONSENT,
    INTAKE_HEALTH,
    INTAKE_POPULATION,
    INTAKE_REPORTS,
    INTAKE_SCHOOL,
    INTAKE_SOCIAL,
    PLAN,
    SHARED,
    STATUTORY_SOCIAL,
)
from services.kafka import offsets
from services.kafka.partitions import partition_of
from services.readmodel.engine import TOPICS as PLAN_TOPICS
from services.readmodel.engine import Projection, named_person_config
from services.settings import Settings

log = structlog.get_logger(__name__)
NAIVE_MOMENT = "the moment needs a time zone: recorded times are UTC"

# Every topic that carries a child's events (the dead letters are keyed otherwise).
HISTORY_TOPICS = tuple(t.name for t in (INTAKE_HEALTH, INTAKE_SCHOOL, INTAKE_SOCIAL, INTAKE_POPULATION, INTAKE_REPORTS,
                                         CONSENT, SHARED, PLAN, ACCESS, STATUTORY_SOCIAL))


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event of a child's history, where it sits in the log, and when the hub recorded it."""

    topic: str
    partition: int
    offset: int
    recorded_at: dt.datetime
    type_name: str
    event: Event


@dataclass(frozen=True, slots=True)
class SeenPlan:
    """The plan as ``viewer_org`` could see it at ``at``: the folded state (everything the log
    held by then, for the auditor), the named person then, the consents active then, and the
    released facts the visibility function let ``viewer_org`` see."""

    child_id: uuid.UUID
    viewer_org: str
    at: dt.datetime
    state: ChildState
    named_person: Assignment
    consents: tuple[Consent, ...]
    facts: tuple[ReleasedFact, ...]
    decision: Decision = NOT_FOUND  # whether, and why, ``viewer_org`` could open the child at ``at``


async def child_history(settings: Settings, codec: Codec, child_id: uuid.UUID,
                        until: dt.datetime | None = None) -> list[HistoryEntry]:
    """Every event of one child on every topic, recorded by ``until`` if given.

    Each topic keeps its log order; the topics are merged by ``recorded_at`` (ties: topic order).
    A record with the child's key that does not decode (it went to the dead letters) is left out.
    """
    if until is not None and until.tzinfo is None:
        raise ValueError(NAIVE_MOMENT)
    per_topic: dict[str, list[HistoryEntry]] = {name: [] for name in HISTORY_TOPICS}
    undecodable = 0
    async for record in _child_records(settings, child_id, HISTORY_TOPICS):
        try:
            event = codec.decode(record.value, topic=record.topic, partition=record.partition, offset=record.offset)
        except DecodeError:
            undecodable += 1
            continue
        if not isinstance(event, Event):
            undecodable += 1
            continue
        recorded = event.envelope.recorded_at
        if until is not None and recorded > until:
            continue
        per_topic[record.topic].append(HistoryEntry(record.topic, record.partition, record.offset, recorded,
                                                    type(event).__name__, event))
    if undecodable:
        log.warning("history.undecodable_records", child_id=str(child_id), records=undecodable)
    return list(heapq.merge(*per_topic.values(), key=lambda e: e.recorded_at))


async def plan_as_seen(settings: Settings, codec: Codec, child_id: uuid.UUID, viewer_org: str,
                       at: dt.datetime, grants: Sequence[EmergencyGrant] = ()) -> SeenPlan:
    """The plan as organisation ``viewer_org`` saw it at ``at``: the child's ``shared``,
    ``plan`` and ``consent`` events recorded by ``at``, folded exactly as the projector and
    replay fold them. First the access decision the live service makes (``access.org_ground``,
    with the emergency accesses ``grants`` active at ``at``): an organisation that could not
    open the child then saw nothing, and the view says so. Otherwise the facts and the plan's
    text are filtered by the one visibility function at ``at``."""
    if at.tzinfo is None:
        raise ValueError(NAIVE_MOMENT)
    projection = Projection(codec, until=at)
    async for record in _child_records(settings, child_id, PLAN_TOPICS):
        try:
            projection.apply_record(record.topic, record.partition, record.offset, record.value)
        except (DecodeError, ValueError):
            continue  # a poison record: the live projector dead-lettered it, replay skips it too
    state = projection.states.get(child_id) or ChildState.new(child_id)
    judged = state.judged_consents(settings.consent_child_age)
    active = tuple(c for c in judged if c.active_at(at))
    named = assignment(state.life, swedish_day(at), named_person_config(settings))
    scope = ChildScope(child_id, named.organisation_id, state.plan.lead, frozenset(state.plan.participants))
    why = access.org_ground(viewer_org, scope, judged, grants, at)
    if why is None:
        return SeenPlan(child_id, viewer_org, at, state, named, (), (), NOT_FOUND)
    decision = Decision(Outcome.ALLOWED, why)
    facts = tuple(access.visible_facts(sorted(state.plan.facts.values(), key=lambda f: f.stamp), viewer_org, at, active,
                                       named.organisation_id, decision))
    return SeenPlan(child_id, viewer_org, at, state, named, active, facts, decision)


async def _child_records(settings: Settings, child_id: uuid.UUID,
                         topics: Sequence[str]) -> AsyncIterator[ConsumerRecord]:
    """The child's records on ``topics``, each topic in log order: its partition only, key-filtered."""
    partition = partition_of(str(child_id), settings.partitions)
    # ``offsets.end_offsets``, not the consumer's own: the embedded broker's ListOffsets falls short.
    ends = await offsets.end_offsets(settings, [TopicPartition(t, partition) for t in topics])
    key = str(child_id).encode()
    async for records in offsets.read(settings, dict.fromkeys(ends, 0), ends, **offsets.BULK):
        for record in records:
            if record.key == key:
                yield record
