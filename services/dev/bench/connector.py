"""Connector publish benchmark: the runner's whole publish path against a raw aiokafka producer.

The candidate is ``ConnectorRunner.run_once`` over an in-memory source of visit records: map ->
identity (SQLite registry, warm) -> envelope with deterministic id -> encode -> publish a page
-> wait for acks -> checkpoint. The baseline sends the very bytes the runner produced with a
bare ``AIOKafkaProducer``, pipelined the same way. Source I/O is left out on purpose: it
measures the framework, not a stand-in's HTTP server. DESIGN §8 target: ≥ 0.5×.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from rich.progress import Progress
from sqlalchemy import delete

from connectors import personnummer
from connectors.base import Connector, Fact, SourceRecord, Subject
from schemas.events import HealthVisitRecorded
from services.dev.bench.report import Row
from services.ingest.runner import Outgoing
from services.ingest.wiring import connector_runner
from services.settings import Settings
from services.sql.db import make_engine
from services.sql.schema import connector_checkpoints

CHILDREN = 2_000
PAGE = 500
T0 = dt.datetime(2026, 5, 4, 9, 30, tzinfo=dt.UTC)


class MemoryVisits(Connector):
    """Visit records already in memory, paged like a source would page them."""

    name, system, cursor_field = "bench-visits", "bench", "n"

    def __init__(self, n: int) -> None:
        born = dt.date(2018, 1, 1)
        pnrs = [personnummer.make(born + dt.timedelta(days=i % 2_000), 900 + i // 2_000) for i in range(CHILDREN)]
        self.records = [
            SourceRecord("Encounter", f"enc-{i}", "1", str(i), {"pnr": pnrs[i % CHILDREN], "unit": f"bvc-{i % 8}"})
            for i in range(n)
        ]

    @classmethod
    def from_config(cls, source: Mapping[str, Any], batch_size: int) -> MemoryVisits:
        return cls(int(source["records"]))

    async def read(self, since: str | None) -> AsyncIterator[list[SourceRecord]]:
        start = 0 if since is None else int(since) + 1
        for first in range(start, len(self.records), PAGE):
            yield self.records[first : first + PAGE]

    def map(self, record: SourceRecord) -> list[Fact]:
        unit = record.data["unit"]
        fields = {"unit_id": unit, "visit_type": "BHV-4MAN", "visited_on": T0.date()}
        return [Fact(HealthVisitRecorded, Subject(personnummer=record.data["pnr"]), T0, unit, fields)]


class _Capture:
    def __init__(self, inner: Any) -> None:
        self.inner, self.values = inner, []

    async def publish(self, records: Sequence[Outgoing]) -> None:
        await self.inner.publish(records)
        self.values.extend((r.topic, r.key, r.value) for r in records)


async def _raw(producer: AIOKafkaProducer, values: list[tuple[str, bytes | None, bytes]]) -> float:
    start = time.perf_counter()
    for first in range(0, len(values), PAGE):
        pending = [await producer.send(t, v, key=k) for t, k, v in values[first : first + PAGE]]
        await asyncio.gather(*pending)
    return len(values) / (time.perf_counter() - start)


async def connector_rows(settings: Settings, n: int, repeats: int, progress: Progress) -> list[Row]:
    task = progress.add_task("connector bench", total=repeats + 1)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        connector = MemoryVisits(n)
        ours, raw = [], []
        async with connector_runner(connector, settings, engine) as runner:
            capture = _Capture(runner.publisher)
            runner.publisher = capture
            await runner.run_once()  # warm-up: identities created, caches filled
            progress.advance(task)
            values = list(capture.values)
            producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
            await producer.start()
            try:
                for _ in range(repeats):
                    with engine.begin() as connection:  # read the source again from the start
                        connection.execute(delete(connector_checkpoints))
                    capture.values = []
                    start = time.perf_counter()
                    await runner.run_once()
                    ours.append(n / (time.perf_counter() - start))
                    raw.append(await _raw(producer, values))
                    progress.advance(task)
            finally:
                await producer.stop()
        engine.dispose()
    return [Row("connector publish", "aiokafka producer, same bytes", max(raw),
                "ConnectorRunner (map→id→encode→publish→checkpoint)", max(ours), 0.5)]
