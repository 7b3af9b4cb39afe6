"""The projection engine shared by the live projector and ``kronobarn replay``.

Both read ``shared``, ``plan`` and ``consent`` and fold every record into per-child
``ChildState`` with the *same* pure ``child_state.apply``; they differ only in where records
come from (a Faust stream, or aiokafka ``getmany`` from offset 0) and how often they write.
A directory release carries its source fact's bytes; they are decoded here (the fold has no
codec) and the source fact is what the fold sees.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import structlog
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from connectors.standins.county import MUNICIPALITIES, REGION_ORG
from projections import child_state
from projections.child_state import ChildState
from projections.named_person import NamedPersonConfig, county_config
from projections.read_model import Batch, ReadModel
from schemas.codec import Codec, DecodeError
from schemas.events import Basis, Event, FactReleased
from schemas.topics import CONSENT, PLAN, SHARED
from services.kafka import clients as kafka
from services.settings import Settings

log = structlog.get_logger(__name__)
TOPICS = (SHARED.name, PLAN.name, CONSENT.name)
CONSUMER = "projector"
NOT_AN_EVENT = "a {name} record is not a child event"


def named_person_config(settings: Settings) -> NamedPersonConfig:
    """The county's named-person configuration (DESIGN §6); Kronoberg's eight municipalities."""
    del settings  # one county today; its own setting when a second county joins
    return county_config((code for code, _, _ in MUNICIPALITIES), region_org=REGION_ORG)


@dataclass
class Projection:
    """Children's states in memory, the children changed since the last write, and positions."""

    codec: Codec
    states: dict[uuid.UUID, ChildState] = field(default_factory=dict)
    dirty: set[uuid.UUID] = field(default_factory=set)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    until: dt.datetime | None = None  # replay: only events the hub had recorded by then
    applied: int = 0
    skipped: int = 0  # events recorded after ``until``
    seen: int = 0  # records read (counted by ``rebuild``: ``apply_record`` may raise)
    failed: int = 0  # records that are not events (counted by ``rebuild``)

    def apply_record(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        """Fold one record; raises ``DecodeError`` / ``ValueError`` for a record that is not one."""
        self.positions[(topic, partition)] = offset
        event = self.codec.decode(value, topic=topic, partition=partition, offset=offset)
        if not isinstance(event, Event):
            raise DecodeError(NOT_AN_EVENT.format(name=type(event).__name__), topic=topic, partition=partition,
                              offset=offset)
        if self.until is not None and event.envelope.recorded_at > self.until:
            self.skipped += 1
            return
        if isinstance(event, FactReleased) and event.envelope.basis is Basis.DIRECTORY:
            inner = self.codec.decode(event.fact, topic=topic, partition=partition, offset=offset)
            if not isinstance(inner, Event):
                raise DecodeError(NOT_AN_EVENT.format(name=type(inner).__name__), topic=topic,
                                  partition=partition, offset=offset)
            event = inner
        child = event.child_id
        before = self.states.get(child) or ChildState.new(child)
        after = child_state.apply(before, event)
        if after is not before or child not in self.states:
            self.states[child] = after
            self.dirty.add(child)
        self.applied += 1

    def take_batch(self) -> Batch:
        """The changed children and the positions reached, to write; starts a new dirty set."""
        batch = Batch({c: self.states[c] for c in self.dirty}, dict(self.positions))
        self.dirty = set()
        return batch

    def everyone(self) -> Batch:
        return Batch(dict(self.states), dict(self.positions))


async def read_partitions(settings: Settings, ends: Mapping[TopicPartition, int],
                          batch: int = 10_000) -> AsyncIterator[list[ConsumerRecord]]:
    """Every record of the given partitions from offset 0 up to (not including) ``ends``."""
    wanted = {tp: end for tp, end in ends.items() if end > 0}
    if not wanted:
        return
    consumer = kafka.consumer(settings, max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        while wanted:
            got = await consumer.getmany(timeout_ms=1_000, max_records=batch)
            for tp, records in got.items():
                end = wanted.get(tp)
                if end is None:
                    continue
                keep = [r for r in records if r.offset < end]
                if keep:
                    yield keep
                if (keep and keep[-1].offset >= end - 1) or (records and records[-1].offset >= end - 1):
                    del wanted[tp]
                    consumer.pause(tp)
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topics: tuple[str, ...] = TOPICS,
                      partitions: set[int] | None = None) -> dict[TopicPartition, int]:
    """The end of each partition of ``topics`` (optionally only the given partition numbers)."""
    consumer = kafka.consumer(settings)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
                 if partitions is None or p in partitions]
    finally:
        await consumer.stop()
    return await kafka.end_offsets(settings, parts) if parts else {}


async def rebuild(projection: Projection, settings: Settings, ends: Mapping[TopicPartition, int],
                  advance: Callable[[int], None] | None = None) -> int:
    """Fold the given ranges into ``projection`` without writing; records that fail are counted
    in ``projection.failed`` and skipped (they went to the dead letters when first seen).
    ``advance`` hears of each batch read. Returns how many records were read."""
    started, seen = time.monotonic(), 0
    async for records in read_partitions(settings, ends):
        for r in records:
            try:
                projection.apply_record(r.topic, r.partition, r.offset, r.value)
            except (DecodeError, ValueError):
                projection.failed += 1
        seen += len(records)
        if advance:
            advance(len(records))
    projection.seen += seen
    log.info("projector.rebuilt", records=seen, seconds=round(time.monotonic() - started, 1))
    return seen


async def until_projected(settings: Settings, store: ReadModel, timeout: float, quiet_s: float = 2.0) -> bool:
    """Wait until the projector's tracked positions reach the end of every topic it reads, and
    stay there for ``quiet_s`` (upstream stages may still be publishing). False on timeout."""
    deadline, since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        ends = {(tp.topic, tp.partition): end - 1 for tp, end in (await end_offsets(settings)).items() if end}
        tracked = await asyncio.to_thread(store.positions, CONSUMER)
        if all(tracked.get(k, -1) >= v for k, v in ends.items()):
            since = since or time.monotonic()
            if time.monotonic() - since >= quiet_s:
                return True
        else:
            since = None
        await asyncio.sleep(0.5)
    return False
