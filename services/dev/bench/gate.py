"""Gate benchmark: ``kronobarn worker --role gate`` against a bare Faust agent on the same topics
(DESIGN §8). The gate runs as it does in a hub under load, in a worker of its own: beside the
projector (``--role all``) it shares one Faust consumer with it, and waits on its batches.

Both run as their own processes, built by the same ``faust_app``, over the same preloaded
records: one consent per child, then facts that the consents cover, so every fact is released.

* **Throughput.** The bare agent (``bare_agent``) times its own first and last event. The gate
  is timed from outside, by polling the end offsets of ``shared`` every few milliseconds, from
  its first release to its last. Each run gets a fresh consumer group, so each reads the same
  records from offset 0. Target: gate ≥ 0.8 × bare agent. The floor agent (``bare_agent
  --floor``) is timed like the bare one: it does only what any gate must (decode each record,
  encode and send one ``FactReleased`` per fact), so ``floor ÷ bare`` bounds ``gate ÷ bare``
  here and ``gate ÷ floor`` is what the gate's own work costs.
* **Latency.** With the last gate worker caught up, new facts are published at a fixed rate
  (1,000/s) and each one's time from publish to its ``FactReleased`` on ``shared`` is taken.
  Target: p99 ≤ 1 s. The cores the broker, the gate worker and the bench itself used while the
  facts were sent are reported with it: on 2 cores they decide the tail.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.progress import Progress

from schemas.codec import Codec
from schemas.events import Area, Basis, Category, FactReleased
from schemas.topics import ALL_TOPICS, CONSENT, SHARED, Topic, key_for, topic_for
from services.dev.bench.cpu import CpuMeter
from services.dev.bench.report import RESULTS_DIR, Latency, Row
from services.dev.samples import scoped_fact, scoped_grant, scoped_register
from services.dev.watch import TopicWatcher
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.worker.process import ChildProcess, hub_env, running, worker
from services.worker.roles import Role

FACTS_PER_CHILD = 25
ORG = "SE2321000065-BHV0780"
LATENCY_RATE = 1_000  # facts per second
LATENCY_SECONDS = 10
LATENCY_TARGET_MS = 1_000.0
LATENCY_DRAIN_S = 60.0
LATE = "({late:,} still on the way {wait:.0f} s after the last send, counted as of then: the gate fell behind)"
POLL_S = 0.02
START_TIMEOUT_S = 120.0
TOO_SLOW = "{what} did not finish within {timeout:.0f} s; its log: {log}"
FLOOR = Topic("bench.gate-floor", (FactReleased,), "the floor agent's releases (bench only)")
FLOOR_SHORT = "the floor agent sent {sent:,} releases for {facts:,} facts; its log: {log}"


def _records(events: int, codec: Codec) -> list[tuple[str, bytes, bytes]]:
    children = max(1, events // FACTS_PER_CHILD)
    now = dt.datetime.now(dt.UTC)
    out = []
    for c in range(children):
        child = uuid.UUID(int=c + 1, version=4)
        grant = scoped_grant(child, uuid.uuid5(child, "bench-consent"), [Category.HEALTH], ["skola-1"],
                             now - dt.timedelta(hours=1), now + dt.timedelta(days=30))
        # The register first, so the consent is in force (its guardian is the child's).
        for event in (*scoped_register(child, now - dt.timedelta(hours=2)), grant):
            out.append((topic_for(event).name, key_for(event), codec.encode(event)))
    for n in range(events):
        child = uuid.UUID(int=n % children + 1, version=4)
        fact = scoped_fact(child, n, ORG, Category.HEALTH, Area.HEALTH, Basis.CONSENT)
        out.append((topic_for(fact).name, key_for(fact), codec.encode(fact)))
    return out


async def _publish(settings: Settings, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for first in range(0, len(records), 1_000):
            await asyncio.gather(*[await producer.send(t, v, key=k) for t, k, v in records[first:first + 1_000]])
    finally:
        await producer.stop()


async def _agent_rate(settings: Settings, expect: int, tmp: Path, facts: int | None = None) -> float:
    """The bare agent's rate, or with ``facts`` the floor agent's, which must send one release per fact."""
    what = "the bare Faust agent" if facts is None else "the floor agent"
    out = tmp / f"agent-{uuid.uuid4().hex[:8]}.json"
    args = [sys.executable, "-m", "services.dev.bench.bare_agent", f"bench-agent-{uuid.uuid4().hex[:8]}", str(expect),
            str(out)] + ([] if facts is None else ["--floor", FLOOR.name])
    log = tmp / ("bare.log" if facts is None else "floor.log")
    budget = START_TIMEOUT_S + expect / 1_000
    with running(args, hub_env(settings), log, what) as process:
        deadline = time.monotonic() + budget
        while not out.exists():
            process.check()
            if time.monotonic() > deadline:
                raise RuntimeError(TOO_SLOW.format(what=what, timeout=budget, log=process.log))
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.05)  # the file is written in one call; let it land
    timing = json.loads(out.read_text())
    if facts is not None and timing["sent"] != facts:
        raise RuntimeError(FLOOR_SHORT.format(sent=timing["sent"], facts=facts, log=log))
    return (timing["events"] - 1) / (timing["last"] - timing["first"])


async def _gate_rate(facts: int, process: ChildProcess, watcher: TopicWatcher) -> float:
    """Time the gate from its first release to its last, watching ``shared`` from outside."""
    watcher.reset()
    budget = START_TIMEOUT_S + facts / 1_000
    deadline = time.monotonic() + budget
    while watcher.count < facts:
        process.check()
        if time.monotonic() > deadline:
            raise RuntimeError(TOO_SLOW.format(what="the gate", timeout=budget, log=process.log))
        await asyncio.sleep(POLL_S)
    return (watcher.count - 1) / max(watcher.last - watcher.first, 1e-9)


async def _latency(settings: Settings, codec: Codec, children: int, meter: CpuMeter) -> tuple[list[float], int, dict[str, float]]:
    """Publish facts at ``LATENCY_RATE`` and time each one's arrival on ``shared``; also how many
    had not arrived when the wait ran out, and the cores ``meter``'s processes used while the
    facts were sent. Late facts count with the time they had waited by then (a lower bound), so
    a gate that cannot keep up shows as latency above target, not as a crash."""
    sent: dict[uuid.UUID, float] = {}
    arrived: dict[uuid.UUID, float] = {}

    def on_record(record: object) -> None:
        event = codec.decode_record(record)  # type: ignore[arg-type]
        if isinstance(event, FactReleased) and event.fact_event_id in sent:
            arrived.setdefault(event.fact_event_id, time.time())

    total, per_step = LATENCY_RATE * LATENCY_SECONDS, LATENCY_RATE // 100  # a step each 10 ms
    producer = kafka.producer(settings, linger_ms=0)
    await producer.start()
    try:
        async with TopicWatcher(settings, [SHARED.name], on_record=on_record):
            meter.start()
            start = time.monotonic()
            for n in range(0, total, per_step):
                await asyncio.sleep(max(0.0, start + n / LATENCY_RATE - time.monotonic()))
                for i in range(n, n + per_step):
                    child = uuid.UUID(int=i % children + 1, version=4)
                    fact = scoped_fact(child, 10_000_000 + i, ORG, Category.HEALTH, Area.HEALTH, Basis.CONSENT)
                    sent[fact.event_id] = time.time()
                    await producer.send(topic_for(fact).name, codec.encode(fact), key=key_for(fact))
            cores = meter.cores()
            deadline = time.monotonic() + LATENCY_DRAIN_S
            while len(arrived) < len(sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
    finally:
        await producer.stop()
    gave_up = time.time()
    return [(arrived.get(i, gave_up) - sent[i]) * 1000 for i in sent], len(sent) - len(arrived), cores


async def gate_rows(settings: Settings, events: int, repeats: int, progress: Progress) -> tuple[list[Row], list[Latency]]:
    """On a broker and a database of its own: a fresh consumer group reads every intake topic
    from offset 0, so records the other cases left there would be timed too, and the worker's
    projector must not write into the hub's database."""
    with EmbeddedBroker(port=free_port()) as broker, tempfile.TemporaryDirectory() as tmp:
        private = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap,
                                              "database_url": f"sqlite:///{Path(tmp) / 'bench-hub.db'}"})
        await kafka.create_topics(private, [*ALL_TOPICS, FLOOR])
        return await _gate_rows(private, events, repeats, progress, broker.pid)


async def _gate_rows(settings: Settings, events: int, repeats: int, progress: Progress,
                     broker_pid: int | None) -> tuple[list[Row], list[Latency]]:
    task = progress.add_task("gate bench", total=3 * repeats + 2)
    codec = Codec()
    records = _records(events, codec)
    children = max(1, events // FACTS_PER_CHILD)
    facts = sum(topic != CONSENT.name for topic, _, _ in records)  # each gets one release: the register's too
    await _publish(settings, records)
    progress.advance(task)
    bare: list[float] = []
    floor: list[float] = []
    gate: list[float] = []
    latencies: list[float] = []
    late = 0
    cores: dict[str, float] = {}
    tmp = RESULTS_DIR / "logs"  # kept, so a failure's log can be read afterwards
    async with TopicWatcher(settings, [SHARED.name]) as watcher:
        for r in range(repeats):
            bare.append(await _agent_rate(settings, len(records), tmp))
            progress.advance(task)
            floor.append(await _agent_rate(settings, len(records), tmp, facts=facts))
            progress.advance(task)
            fresh = settings.model_copy(update={"worker_group": f"bench-gate-{uuid.uuid4().hex[:8]}"})
            with worker(fresh, tmp / f"gate-{r}.log", role=Role.GATE) as process:
                gate.append(await _gate_rate(facts, process, watcher))
                progress.advance(task)
                if r == repeats - 1:  # caught up: measure latency on this worker
                    # The embedded broker's fetch costs grow with a partition's batch count, so a
                    # second watcher polling shared would take broker time from the gate.
                    await watcher.stop()
                    meter = CpuMeter({"broker": broker_pid, "gate worker": process.proc.pid,
                                      "bench load and watcher": os.getpid()})
                    latencies, late, cores = await _latency(settings, codec, children, meter)
                    process.check()
                    progress.advance(task)
    p = statistics.quantiles(latencies, n=100) if len(latencies) >= 100 else [float("nan")] * 99
    gate_worker = "kronobarn worker --role gate (fold, changelog table, release)"
    floor_agent = "floor agent: decode, one FactReleased per fact, no state"
    rows = [Row("consent gate", "bare Faust agent, same topics", max(bare), gate_worker, max(gate), 0.8),
            Row("gate I/O floor (caps the gate's ratio)", "bare Faust agent, same topics", max(bare),
                floor_agent, max(floor)),
            Row("consent gate over its I/O floor", floor_agent, max(floor), gate_worker, max(gate))]
    label = f"intake → shared, {len(latencies):,} facts"
    if late:
        label += " " + LATE.format(late=late, wait=LATENCY_DRAIN_S)
    lat = [Latency(label, LATENCY_RATE, len(latencies), p[49], p[98], LATENCY_TARGET_MS, cores)]
    return rows, lat
