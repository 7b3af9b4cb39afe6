"""Reading topics back in tests: everything from offset 0 until the log is drained."""

from __future__ import annotations

import time
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.kafka import clients as kafka
from services.settings import Settings


async def read_all(settings: Settings, topics: Iterable[str], idle_ms: int = 700, limit_s: float = 30.0) -> list[ConsumerRecord]:
    """Every record on ``topics`` up to their current end offsets."""
    consumer = kafka.consumer(settings)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in parts]
            if all(pos >= ends[tp] for pos, tp in zip(positions, parts, strict=True)):
                break
            for batch in (await consumer.getmany(timeout_ms=idle_ms)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
