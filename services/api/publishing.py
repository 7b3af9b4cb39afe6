"""The web service's publish port and the access events it emits (DESIGN §6, Audit).

Every read of child data becomes one ``ChildDataViewed`` on ``access`` -- who, role,
organisation, child, purpose, parts, when -- published and acknowledged *before* the data is
returned: a read that cannot be logged is not served.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaProducer

from schemas.codec import Codec
from schemas.events import Basis, Category, ChildDataViewed, EmergencyAccessOpened, Envelope, Event, Source
from schemas.topics import key_for, topic_for
from services.api.auth.tokens import Principal
from services.kafka import clients as kafka
from services.settings import Settings

SOURCE_SYSTEM = "kronobarn-api"
RECORD_VERSION = "1"

Publish = Callable[[Event], Awaitable[None]]

# Purposes of a read, as the audit log records them.
CARE_PLANNING = "care-planning"
EXPORT = "export"
AUDIT = "audit"
EMERGENCY = "emergency"
SEARCH = "search"  # a lookup by personnummer, hit or miss
EXTRACT = "register-extract"  # a register extract for the child (GDPR art. 15)
PRINT = "print"  # the printable plan for the family, HTML or PDF


class KafkaPublisher:
    """Encode (sealing free text with the child's key), send keyed by child, wait for the ack."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self._producer: AIOKafkaProducer = kafka.producer(settings)
        self._codec = codec

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __call__(self, event: Event) -> None:
        sent = await self._producer.send(topic_for(event).name, self._codec.encode(event), key=key_for(event))
        await sent


def _envelope(kind: str, child_id: uuid.UUID, principal: Principal, now: dt.datetime) -> Envelope:
    event_id = uuid.uuid4()  # the read itself is the record
    return Envelope(
        event_id=event_id, type=kind, child_id=child_id, occurred_at=now, recorded_at=now,
        source=Source(SOURCE_SYSTEM, principal.organisation_id, str(event_id), RECORD_VERSION),
        basis=Basis.DIRECTORY, category=Category.ACCESS,
    )


def viewed(principal: Principal, child_id: uuid.UUID, purpose: str, parts: Iterable[str],
           now: dt.datetime) -> ChildDataViewed:
    return ChildDataViewed(
        envelope=_envelope("ChildDataViewed", child_id, principal, now), viewer_id=principal.subject,
        role=str(principal.role), organisation_id=principal.organisation_id, purpose=purpose, parts=tuple(parts),
    )


def emergency_opened(principal: Principal, child_id: uuid.UUID, reason_code: str, expires_at: dt.datetime,
                     now: dt.datetime) -> EmergencyAccessOpened:
    return EmergencyAccessOpened(
        envelope=_envelope("EmergencyAccessOpened", child_id, principal, now), viewer_id=principal.subject,
        role=str(principal.role), organisation_id=principal.organisation_id, reason_code=reason_code,
        expires_at=expires_at,
    )


async def publish_all(publish: Publish, events: Iterable[Event]) -> None:
    """Publish several events at once; every one must be acknowledged."""
    await asyncio.gather(*(publish(e) for e in events))
