"""The demo's publish port: the coordinators' commands publish through it, as the API does."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import Codec
from schemas.events import Event
from schemas.topics import key_for, topic_for


class Publisher:
    """The ``publish`` port over one producer: encode, send keyed by child, count by type."""

    def __init__(self, producer: AIOKafkaProducer, codec: Codec) -> None:
        self.producer, self.codec = producer, codec
        self.sent: Counter[str] = Counter()
        self._pending: list[asyncio.Future[Any]] = []

    async def __call__(self, event: Event) -> None:
        self._pending.append(await self.producer.send(topic_for(event).name, self.codec.encode(event),
                                                      key=key_for(event)))
        self.sent[type(event).__name__] += 1

    async def delivered(self) -> None:
        await self.producer.flush()
        await asyncio.gather(*self._pending)
        self._pending.clear()


class Clock:
    """Wall-clock time that never repeats: plan events are ordered by event time."""

    def __init__(self) -> None:
        self.last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.last = max(dt.datetime.now(dt.UTC), self.last + dt.timedelta(microseconds=1))
        return self.last

