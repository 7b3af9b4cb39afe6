"""Carrying a merged child id's history over to the surviving id (one child, one id).

When the identity registry links two ids of one child (``services.ingest.identity``), a connector
runner announces ``ChildIdentitiesMerged`` keyed by the merged id X on ``intake.population``. A
stage that reads all of X's records of some topics, in order, moves them to the surviving id U --
the consent gate the intake topics and ``consent``, the projector ``plan`` (which the gate does not
read: one Faust consumer feeding both agents one more topic tied the projector to the gate's pace)
-- in two halves that together miss nothing:

* **The sweep.** When the stage learns of the merge, every record of X up to the last offset it
  has handled in each of its topics is read back from the log and republished under U.
* **The carry.** From then on every record of X that reaches the stage -- a fact from a connector
  that had not heard of the link yet (``FRESH_S``), a consent or a plan entry a coordinator made on
  X -- is republished under U instead of being handled.

A republished record is a copy of the event with ``child_id`` U, an event id made from the old one
and U, the announcement's ``recorded_at``, and its sealed fields sealed again under U's key (they
stay behind if X was erased). So a repeat -- a redelivered announcement, a crash mid-sweep --
republishes the same events, which downstream recognises. Not carried: the announcements of X's
named person (U's is derived from U's own facts) and the merge itself. X's access log stays where
it is: it is the audit trail of who saw X.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import structlog
from aiokafka import TopicPartition

from schemas.codec import Codec
from schemas.events import ChildIdentitiesMerged, Event, NamedPersonAssigned
from schemas.sealing import ChildErased, Erased
from services.kafka import offsets
from services.settings import Settings

log = structlog.get_logger(__name__)
CARRIED_NAMESPACE = uuid.UUID("5c3e1d7a-2b9f-4a60-8e14-7f0d6c2b9a81")
NOT_CARRIED = (NamedPersonAssigned, ChildIdentitiesMerged)

Send = Callable[[str, bytes, bytes], Awaitable[None]]  # (topic, key, value)


@dataclass(frozen=True, slots=True)
class Merge:
    """The merged id's link, as the gate keeps it: where its records go, and their recorded_at."""

    surviving: uuid.UUID
    at: dt.datetime

    def encode(self) -> bytes:
        return f"{self.surviving}|{self.at.isoformat()}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> Merge:
        surviving, _, at = raw.decode().partition("|")
        return cls(uuid.UUID(surviving), dt.datetime.fromisoformat(at))

    @classmethod
    def of(cls, event: ChildIdentitiesMerged) -> Merge:
        return cls(event.surviving_child_id, event.envelope.recorded_at)


def carried_id(event_id: uuid.UUID, surviving: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(CARRIED_NAMESPACE, f"{event_id}|{surviving}")


def carried(event: Event, merge: Merge) -> Event | None:
    """``event`` as the surviving id's, or None for what is not carried over."""
    if isinstance(event, NOT_CARRIED):
        return None
    env = event.envelope
    sealed = None if isinstance(env.sealed, Erased) else env.sealed
    envelope = replace(env, event_id=carried_id(env.event_id, merge.surviving), child_id=merge.surviving,
                       recorded_at=merge.at, sealed=sealed)
    return replace(event, envelope=envelope)


class Linker:
    """Republishes a merged id's records under the surviving id. ``codec`` opens and seals with the
    hub's key store; ``send`` publishes one record."""

    def __init__(self, settings: Settings, codec: Codec, send: Send) -> None:
        self.settings = settings
        self.codec = codec
        self.send = send
        self.carried = 0

    async def carry(self, topic: str, value: bytes, merge: Merge) -> bool:
        """Republish one record of the merged id under the surviving id; False if not carried."""
        moved = carried(self.codec.decode(value), merge)
        if moved is None:
            return False
        try:
            encoded = self.codec.encode(moved)
        except ChildErased:  # the surviving child was erased: the record goes on without personal data
            encoded = self.codec.encode(replace(moved, envelope=replace(moved.envelope, sealed=None)))
        await self.send(topic, str(merge.surviving).encode(), encoded)
        self.carried += 1
        return True

    async def sweep(self, merges: Mapping[uuid.UUID, Merge], partition: int, upto: Iterable[tuple[str, int]]) -> int:
        """Republish every record of the merged ids in ``partition`` of each topic up to and
        including the given offset (one read for them all); returns how many."""
        ends = {TopicPartition(topic, partition): last + 1 for topic, last in upto if last >= 0}
        keys, count = {str(m).encode(): merge for m, merge in merges.items()}, 0
        if not keys:
            return 0
        async for records in offsets.read(self.settings, dict.fromkeys(ends, 0), ends, **offsets.BULK):
            for r in records:
                merge = keys.get(r.key) if r.key is not None else None
                if merge is not None and r.value is not None and await self.carry(r.topic, r.value, merge):
                    count += 1
        log.info("linker.swept", merged=len(keys), carried=count, partition=partition)
        return count
