"""An aiokafka producer that keeps the metadata of every topic it writes to.

aiokafka 0.14 has a producer bug that can hold a record back for good. A producer asks for
metadata only about the topics it *tracks*. While it tracks none, it asks about all of
them, so it learns every topic that exists when it starts, yet tracks none of them. A send
to a topic it already knows never starts tracking that topic. The first send to a topic made
after the start (Faust's tick topic, say) tracks that one topic. The next metadata answer
then covers that topic alone, and the producer forgets all the others. A record that was
queued for one of them in the meantime has no leader. The sender's retries ask again about
the tracked topics only, so the record waits until something else is sent to its topic, or
until the batch expires (20 minutes under Faust) and is dropped. The gate hit this: a
``ReleaseRevoked`` and its changelog record sat queued for as long as the test waited.

The fix here is to track each topic on its first send. This is aiokafka's own public
``add_topic``, so any metadata answer after that covers the topic, and the sender's retry
heals the rare case in which an answer already on its way left it out.

A record that still cannot be delivered (its batch expired, the broker refused it) fails only
its own future, and the gate does not wait on those. So every failure is also logged here, as
``kafka.send_failed`` with the topic and the error's type (never the record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

log = structlog.get_logger(__name__)


class TopicTrackingProducer(AIOKafkaProducer):  # type: ignore[misc]
    """``AIOKafkaProducer`` that tracks the metadata of each topic it sends to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_done: dict[str, Callable[[asyncio.Future[Any]], None]] = {}  # per topic written

    def track(self, topic: str) -> None:
        if topic not in self._on_done:
            self.client.add_topic(topic)  # at most one metadata request, in the background
            self._on_done[topic] = delivery_watch(topic)

    def _watched(self, topic: str, future: asyncio.Future[Any]) -> asyncio.Future[Any]:
        future.add_done_callback(self._on_done[topic])
        return future

    async def send(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        self.track(topic)
        return self._watched(topic, await super().send(topic, *args, **kwargs))

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        self.track(topic)
        return self._watched(topic, await super().send_batch(batch, topic, partition=partition))


def delivery_watch(topic: str) -> Callable[[asyncio.Future[Any]], None]:
    """A done-callback that logs a failed delivery to ``topic``."""

    def on_done(future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("kafka.send_failed", topic=topic, error_type=type(error).__name__)

    return on_done
