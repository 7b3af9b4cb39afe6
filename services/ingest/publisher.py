"""The Kafka side of the connector runner's publish port."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from services.ingest.runner import Outgoing


class KafkaPublisher:
    """Sends a page of records and returns once the broker has acknowledged every one.

    Sends are pipelined (all queued, then awaited together), so a page costs about one round
    trip; any failure raises, and the runner then resumes from its last checkpoint.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, records: Sequence[Outgoing]) -> None:
        send = self._producer.send
        pending = [await send(r.topic, r.value, key=r.key) for r in records]
        if pending:
            await asyncio.gather(*pending)
