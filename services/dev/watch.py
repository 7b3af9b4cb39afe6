"""Following topics as they grow: a consumer in the background that counts what arrives.

The demo waits on it for the gate to settle and the bench times the gate with it. It consumes
rather than polling end offsets: the embedded broker has been seen to report a stale high
watermark for the last batch of a partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from services.kafka import clients as kafka
from services.settings import Settings

OnRecord = Callable[[ConsumerRecord], None]


class TopicWatcher:
    """Counts records on ``topics`` (from the start, or only new ones) with first and last times."""

    def __init__(self, settings: Settings, topics: Sequence[str], *, from_start: bool = False,
                 on_record: OnRecord | None = None) -> None:
        self.consumer = kafka.consumer(settings, fetch_max_wait_ms=10)
        self.topics, self.from_start, self.on_record = tuple(topics), from_start, on_record
        self.count, self.first, self.last = 0, 0.0, 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicWatcher:
        await self.consumer.start()
        await self.consumer.topics()
        parts = [TopicPartition(t, p) for t in self.topics for p in self.consumer.partitions_for_topic(t) or ()]
        self.consumer.assign(parts)
        if self.from_start:
            await self.consumer.seek_to_beginning(*parts)
        else:
            await self.consumer.seek_to_end(*parts)
        for tp in parts:
            await self.consumer.position(tp)  # fix the starting point before anything is sent
        self._task = asyncio.create_task(self._follow())
        return self

    async def _follow(self) -> None:
        while True:
            for batch in (await self.consumer.getmany(timeout_ms=20)).values():
                now = time.time()
                self.first = self.first or now
                self.last, self.count = now, self.count + len(batch)
                if self.on_record is not None:
                    for record in batch:
                        self.on_record(record)

    def reset(self) -> None:
        self.count, self.first, self.last = 0, 0.0, 0.0

    async def quiet_for(self, seconds: float, timeout: float) -> bool:
        """Wait until nothing has arrived for ``seconds``; False if that takes over ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count and time.time() - self.last >= seconds:
                return True
            await asyncio.sleep(0.2)
        return False

    async def stop(self) -> None:
        """Stop following (also on leaving the ``async with``; a second call does nothing)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.consumer.stop()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
