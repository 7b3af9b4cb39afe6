"""Faust's Kafka transport with the consumer's fetch wait made a setting, and a producer that
keeps the metadata of every topic it writes to (``services.kafka.producer``: without it, a
gate output could stay queued after the first tick).

Faust (faust-streaming 0.15) creates its worker consumer with ``fetch_max_wait_ms=1500`` fixed.
A Kafka broker answers a fetch as soon as there is data, so the wait only matters when a
partition is idle; the embedded broker (Tansu 0.6) holds every fetch for the whole wait, so
with Faust's value a record waited about a second and a half in the gate before it was even
seen (intake → ``shared`` p50 ≈ 1.5 s). ``worker_fetch_wait_ms`` sets it; on Kafka a short
wait costs a few more empty fetches of an idle partition per second.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

from services.kafka.producer import TopicTrackingProducer


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read when the consumer starts its fetcher; Faust passes no way to set it.
        consumer._fetch_max_wait_ms = self.app.fetch_wait_ms
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Producer(driver.Producer):
    @property
    def _producer_type(self) -> Any:
        return TopicTrackingProducer


class HubApp(faust.App):
    """A Faust app whose consumer waits at most ``fetch_wait_ms`` for a fetch to fill, and whose
    producer keeps the metadata of every topic it writes to."""

    def __init__(self, *args: Any, fetch_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_wait_ms = fetch_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        transport = super()._new_transport()
        transport.Consumer = _Consumer
        transport.Producer = _Producer
        return transport
