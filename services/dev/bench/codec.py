"""Codec benchmark: kronobarn's codec against bare fastavro and raw aiokafka, same data, same run.

Rows:
* encode / decode in memory: ``Codec`` vs fastavro ``schemaless_writer`` / ``schemaless_reader``
  on the same records (DESIGN §8 target: ≥ 0.8×);
* produce: codec encode + aiokafka send vs aiokafka send of the same bytes, pre-encoded;
* consume: getmany through kronobarn's consumer factory vs a bare ``AIOKafkaConsumer``;
* consume + decode: getmany + ``Codec.decode`` vs getmany + bare fastavro (target ≥ 0.8×).
Each measure runs ``repeats`` times, interleaved with its baseline, and keeps the best rate of
each, which damps the noise of a shared machine.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastavro import schemaless_reader, schemaless_writer
from rich.progress import Progress

from schemas.codec import HEADER_LEN, Codec
from schemas.events import Event
from schemas.topics import Topic
from services.dev.bench.report import Row
from services.dev.samples import sample_event
from services.kafka import clients as kafka
from services.settings import Settings

EVENT_TYPE = "HealthVisitRecorded"  # a typical intake fact: envelope plus a few fields
DISTINCT = 2_000  # distinct records cycled through, so caches do not flatter either side
SEND_CHUNK = 5_000


def _events(n: int) -> list[Event]:
    pool = [sample_event(EVENT_TYPE, seed=i) for i in range(min(n, DISTINCT))]
    return [pool[i % len(pool)] for i in range(n)]


def _rate(n: int, fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


async def _arate(n: int, fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    await fn()
    return n / (time.perf_counter() - start)


def _best(pairs: Iterable[tuple[float, float]]) -> tuple[float, float]:
    pairs = list(pairs)
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


class CodecBench:
    def __init__(self, settings: Settings, n: int, repeats: int, progress: Progress) -> None:
        self.settings, self.n, self.repeats, self.progress = settings, n, repeats, progress
        self.codec = Codec()
        self.events = _events(n)
        self.encoded = [self.codec.encode(e) for e in self.events]
        self.parsed = self.codec.catalogue.current(EVENT_TYPE).parsed
        self.header = self.encoded[0][:HEADER_LEN]
        self.records = [self._bare_record(b) for b in self.encoded[:DISTINCT]]
        self.records = [self.records[i % len(self.records)] for i in range(n)]
        self.keys = [str(e.child_id).encode() for e in self.events]
        self.topic = f"bench.codec.{int(time.time() * 1000)}"

    def _bare_record(self, data: bytes) -> dict[str, Any]:
        body = io.BytesIO(data)
        body.seek(HEADER_LEN)
        return schemaless_reader(body, self.parsed)

    # -- in memory --------------------------------------------------------------------------

    def encode_rows(self) -> Row:
        def bare() -> None:
            for record in self.records:
                out = io.BytesIO()
                schemaless_writer(out, self.parsed, record, disable_tuple_notation=True)
                out.getvalue()

        def ours() -> None:
            encode = self.codec.encode
            for event in self.events:
                encode(event)

        base, cand = _best((_rate(self.n, bare), _rate(self.n, ours)) for _ in range(self.repeats))
        return Row("encode (in memory)", "fastavro schemaless_writer", base, "Codec.encode", cand, 0.8)

    def decode_rows(self) -> Row:
        def bare() -> None:
            for data in self.encoded:
                body = io.BytesIO(data)
                body.seek(HEADER_LEN)
                schemaless_reader(body, self.parsed)

        def ours() -> None:
            decode = self.codec.decode
            for data in self.encoded:
                decode(data)

        base, cand = _best((_rate(self.n, bare), _rate(self.n, ours)) for _ in range(self.repeats))
        return Row("decode (in memory)", "fastavro schemaless_reader", base, "Codec.decode", cand, 0.8)

    # -- through the broker -------------------------------------------------------------------

    async def _produce(self, producer: AIOKafkaProducer, values: Callable[[int], bytes]) -> None:
        for start in range(0, self.n, SEND_CHUNK):
            futures = [
                await producer.send(self.topic, values(i), key=self.keys[i])
                for i in range(start, min(start + SEND_CHUNK, self.n))
            ]
            await asyncio.gather(*futures)

    async def produce_rows(self) -> list[Row]:
        producer = kafka.producer(self.settings)
        await producer.start()
        try:
            encode = self.codec.encode
            raw, bare, ours = [], [], []
            for _ in range(self.repeats):
                raw.append(await _arate(self.n, lambda: self._produce(producer, self.encoded.__getitem__)))
                bare.append(await _arate(self.n, lambda: self._produce(producer, self._bare_encode)))
                ours.append(await _arate(self.n, lambda: self._produce(producer, lambda i: encode(self.events[i]))))
                self.progress.advance(self.task)
        finally:
            await producer.stop()
        return [
            Row("produce", "aiokafka send (pre-encoded)", max(raw), "Codec.encode + send", max(ours)),
            Row("encode + produce", "fastavro + send", max(bare), "Codec.encode + send", max(ours), 0.8),
        ]

    def _bare_encode(self, i: int) -> bytes:
        out = io.BytesIO()
        out.write(self.header)  # same framing, so both sides put identical bytes on the topic
        schemaless_writer(out, self.parsed, self.records[i], disable_tuple_notation=True)
        return out.getvalue()

    async def _consume(self, consumer: AIOKafkaConsumer, handle: Callable[[bytes], Any]) -> None:
        partitions = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        while seen < self.n:
            batches = await consumer.getmany(timeout_ms=1_000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    handle(record.value)
                seen += len(records)

    async def consume_rows(self) -> list[Row]:
        def bare_decode(value: bytes) -> None:
            body = io.BytesIO(value)
            body.seek(HEADER_LEN)
            schemaless_reader(body, self.parsed)

        async def run(factory: Callable[[], AIOKafkaConsumer], handle: Callable[[bytes], Any]) -> float:
            consumer = factory()
            await consumer.start()
            try:
                await consumer.topics()  # fetch metadata so partitions_for_topic answers
                return await _arate(self.n, lambda: self._consume(consumer, handle))
            finally:
                await consumer.stop()

        def bare_consumer() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False)

        def our_consumer() -> AIOKafkaConsumer:
            return kafka.consumer(self.settings, enable_auto_commit=False)

        noop = len
        raw, ours, bare_dec, codec_dec = [], [], [], []
        for _ in range(self.repeats):
            raw.append(await run(bare_consumer, noop))
            ours.append(await run(our_consumer, noop))
            bare_dec.append(await run(bare_consumer, bare_decode))
            codec_dec.append(await run(our_consumer, self.codec.decode))
            self.progress.advance(self.task)
        return [
            Row("consume", "aiokafka getmany", max(raw), "kronobarn consumer getmany", max(ours)),
            Row("consume + decode", "getmany + fastavro", max(bare_dec), "getmany + Codec.decode", max(codec_dec), 0.8),
        ]

    async def run(self) -> list[Row]:
        self.task = self.progress.add_task("codec bench", total=2 * self.repeats + 2)
        rows = [self.encode_rows()]
        self.progress.advance(self.task)
        rows.append(self.decode_rows())
        self.progress.advance(self.task)
        await kafka.create_topics(self.settings, topics=[Topic(self.topic, (), "codec benchmark data")])
        rows.extend(await self.produce_rows())
        rows.extend(await self.consume_rows())
        return rows
