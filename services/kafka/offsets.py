"""Reading the log by offset: where partitions end, and the records between two offsets.

``read`` is the one reader of partition ranges: the projector's and ``kronobarn replay``'s
rebuild, an auditor's child history, the worker's backfill of a hole and the demo's read-backs
all read through it. (Following topics as they grow is another thing: ``services.dev.watch``.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.kafka import clients as kafka
from services.settings import Settings

# For reading partitions whole (a rebuild, a child's history): bigger fetches and polls, fewer
# round trips. A short read (a backfill) keeps aiokafka's defaults, fetching little past its end.
BULK: dict[str, Any] = {"batch": 10_000, "max_partition_fetch_bytes": 8 << 20, "fetch_max_bytes": 64 << 20}


async def end_offsets(settings: Settings, partitions: Sequence[TopicPartition],
                      timeout_s: float = 10.0) -> dict[TopicPartition, int]:
    """The offset after the last record of each partition, as a fetch reports it.

    ListOffsets alone is not enough: the embedded broker (Tansu 0.6) answers it with the base
    offset of the partition's last record batch plus one, which falls short when that batch holds
    several records. So each non-empty partition is also fetched from just before that answer,
    and the fetch's high watermark taken. On Kafka both agree.
    """
    reader = kafka.consumer(settings)
    await reader.start()
    try:
        listed = await reader.end_offsets(list(partitions))
        probe = [tp for tp in partitions if listed[tp] > 0]
        if probe:
            reader.assign(probe)
            for tp in probe:
                reader.seek(tp, listed[tp] - 1)
            deadline = asyncio.get_running_loop().time() + timeout_s
            while any(reader.highwater(tp) is None for tp in probe):
                if asyncio.get_running_loop().time() > deadline:
                    break
                await reader.getmany(timeout_ms=200)
        return {tp: max(listed[tp], reader.highwater(tp) or 0) if tp in probe else listed[tp] for tp in partitions}
    finally:
        await reader.stop()


async def topic_ends(settings: Settings, topics: Sequence[str],
                     partitions: set[int] | None = None) -> dict[TopicPartition, int]:
    """``end_offsets`` of every partition of ``topics`` (optionally only the given partition numbers)."""
    consumer = kafka.consumer(settings)
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
                 if partitions is None or p in partitions]
    finally:
        await consumer.stop()
    return await end_offsets(settings, parts) if parts else {}


async def read(settings: Settings, starts: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int], *,
               batch: int | None = None, poll_ms: int = 1_000, timeout_s: float | None = None,
               **overrides: Any) -> AsyncIterator[list[ConsumerRecord]]:
    """The records of each partition in ``ends`` from its offset in ``starts`` up to (not
    including) its end, as lists of one partition's records in offset order; stops once every
    partition has reached its end.

    A partition whose end is not past its start is not read, and with nothing to read no
    consumer starts. ``batch`` caps the records of one poll and ``poll_ms`` is how long a poll
    waits. With ``timeout_s`` the reading also stops then, quietly: the caller sees what is
    missing. ``overrides`` go to the consumer (fetch sizes as in ``BULK``, a group or client id).
    A start before the log's first record reads from that record (the consumer resets to the
    earliest offset).
    """
    wanted = {tp: end for tp, end in ends.items() if end > starts[tp]}
    if not wanted:
        return
    consumer = kafka.consumer(settings, **overrides)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, starts[tp])
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while wanted and (deadline is None or time.monotonic() < deadline):
            got = await consumer.getmany(timeout_ms=poll_ms, max_records=batch)
            for tp, records in got.items():
                end = wanted.get(tp)
                if end is None:
                    continue
                keep = [r for r in records if starts[tp] <= r.offset < end]
                if keep:
                    yield keep
                # Past the end counts too: offsets may skip (compaction, transaction markers).
                if records and records[-1].offset >= end - 1:
                    del wanted[tp]
                    consumer.pause(tp)
    finally:
        await consumer.stop()
