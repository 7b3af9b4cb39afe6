"""The projection engine shared by the live projector and ``kronobarn replay``.

Both read ``shared``, ``plan``, ``consent`` and ``statutory.social`` and fold every record into per-child
``ChildState`` with the *same* pure ``child_state.apply``; they differ only in where records
come from (a Faust stream, or ``services.kafka.offsets.read`` from offset 0) and how often they
write. A directory release carries its source fact's bytes; they are decoded here (the fold has
no codec) and the source fact is what the fold sees. The ``NamedPersonAssigned`` announcements
the live projector publishes on ``plan`` are read and skipped (see ``Projection.apply_record``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from aiokafka import TopicPartition
from sqlalchemy import Engine

from projections import child_state
from projections.child_state import ChildState
from projections.named_person import NamedPersonConfig
from projections.read_model import Batch, ReadModel
from schemas.codec import Codec, DecodeError
from schemas.county import BHV, KAA, CountyDirectory
from schemas.events import Basis, Event, FactReleased, NamedPersonAssigned
from schemas.topics import CONSENT, PLAN, SHARED, STATUTORY_SOCIAL
from services.county import county_directory_path, load_county_directory
from services.kafka import offsets
from services.settings import Settings

log = structlog.get_logger(__name__)
# statutory.social: the reports of concern on their route (``projections.reports``), never plan content.
TOPICS = (SHARED.name, PLAN.name, CONSENT.name, STATUTORY_SOCIAL.name)
CONSUMER = "projector"
NOT_AN_EVENT = "a {name} record is not a child event"


def named_person_config(settings: Settings) -> NamedPersonConfig:
    """The county's named-person configuration (DESIGN §6), from its directory
    (``KRONOBARN_COUNTY_DIRECTORY``)."""
    return _named_person_config_at(county_directory_path(settings))


def read_model(engine: Engine, settings: Settings) -> ReadModel:
    """The read model on ``engine`` with the county's named-person and consent rules."""
    return ReadModel(engine, named_person_config(settings), settings.consent_child_age)


@functools.lru_cache(maxsize=16)
def _named_person_config_at(path: Path) -> NamedPersonConfig:
    """Cached per file: the read model's history asks for the config on every request."""
    return named_person_config_of(load_county_directory(path))


def named_person_config_of(directory: CountyDirectory) -> NamedPersonConfig:
    """Each municipality's BHV and KAA unit, and the county's line and grace days."""
    grace = {} if directory.placement_grace_days is None else {"placement_grace_days": directory.placement_grace_days}
    return NamedPersonConfig(
        bhv_by_municipality=directory.units_by_municipality(BHV),
        kaa_by_municipality=directory.units_by_municipality(KAA),
        school_stage_starts_with=directory.school_stage_starts_with,
        **grace,
    )


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
    # Directory facts are decoded unopened: the fold needs none of their personal data, and
    # the read model keeps the child's identity sealed (``projections.person``).
    unopened: Codec = field(init=False)

    def __post_init__(self) -> None:
        self.unopened = Codec(self.codec.catalogue)

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
        if isinstance(event, NamedPersonAssigned):
            # The live projector's own announcement, read back from ``plan``: derived from facts
            # folded here, so it is read past, not folded -- not even to bring its child into the
            # state. It is dated by the change (recorded_at is the change's day), so under
            # ``until`` it can come before the facts that caused it: folding it would give a
            # replay or time travel a child the hub did not yet know.
            self.applied += 1  # counted like any event that leaves the state as it was
            return
        if isinstance(event, FactReleased) and event.envelope.basis is Basis.DIRECTORY:
            inner = self.unopened.decode(event.fact, topic=topic, partition=partition, offset=offset)
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


async def rebuild(projection: Projection, settings: Settings, ends: Mapping[TopicPartition, int],
                  advance: Callable[[int], None] | None = None) -> int:
    """Fold the given partitions, from offset 0 up to ``ends``, into ``projection`` without
    writing; records that fail are counted in ``projection.failed`` and skipped (they went to
    the dead letters when first seen). ``advance`` hears of each batch read. Returns how many
    records were read."""
    started, seen = time.monotonic(), 0
    async for records in offsets.read(settings, dict.fromkeys(ends, 0), ends, **offsets.BULK):
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
        known = await offsets.topic_ends(settings, TOPICS)
        ends = {(tp.topic, tp.partition): end - 1 for tp, end in known.items() if end}
        tracked = await asyncio.to_thread(store.positions, CONSUMER)
        if all(tracked.get(k, -1) >= v for k, v in ends.items()):
            since = since or time.monotonic()
            if time.monotonic() - since >= quiet_s:
                return True
        else:
            since = None
        await asyncio.sleep(0.5)
    return False
