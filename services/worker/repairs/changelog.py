"""Table recovery that stops short: each changelog partition ends in a one-record batch first.

Faust stops recovering a table at the end offset ListOffsets reports. The embedded broker
(Tansu 0.6) reports the base offset of a partition's last record batch plus one, so the rest
of a multi-record last batch -- the newest state -- would be skipped, and the children it
described forgotten. ``kronobarn worker`` therefore writes one record to each changelog
partition before Faust starts; a single-record batch at the end makes that answer exact. On
Kafka this only adds a record the tables ignore. Tested end to end by the gate's kill -9
tests (``tests/e2e/test_gate_crash.py``): a restarted worker must remember every child.
"""

from __future__ import annotations

import faust

from services.kafka import clients as kafka
from services.settings import Settings

RECOVERY_MARK = b"\"m:recovery\""  # a key no table reads, JSON-encoded as Faust encodes table keys


def changelogs(app: faust.App) -> list[str]:
    """The changelog topics of ``app``'s tables."""
    return [table.changelog_topic.get_topic_name() for table in app.tables.values()]


async def close_changelog_batches(settings: Settings, topics: list[str]) -> None:
    """Before Faust recovers its tables, end each changelog partition with a one-record batch."""
    producer = kafka.producer(settings, linger_ms=0)
    consumer = kafka.consumer(settings)
    await producer.start()
    await consumer.start()
    try:
        existing = await consumer.topics()
        for topic in topics:
            if topic not in existing:
                continue  # first start: nothing to recover
            for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                await producer.send_and_wait(topic, b"", key=RECOVERY_MARK, partition=partition)
    finally:
        await consumer.stop()
        await producer.stop()
