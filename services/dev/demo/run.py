"""``kronobarn demo``: the backbone stage, then the county through the whole hub.

The backbone stage proves the backbone end to end on the embedded defaults: the Kafka-protocol
broker, the topic set, the codec, sealing and the key store, then shows crypto-shredding making
one child's sealed data read as ERASED. Its events are random samples of every type (an
emergency access by "organisation_id-0423", a child in "municipality_code-…"), so it runs on a
broker and a database of its own: nothing of it reaches the county's topics, read model or audit
log, and the auditors' and coordinators' pages show the county only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from aiokafka import TopicPartition
from rich.console import Console
from rich.table import Table

from schemas.codec import Codec
from schemas.events import Event
from schemas.sealing import ERASED, Personal, Sealer
from schemas.topics import ALL_TOPICS, key_for, topic_for
from services.dev.bench.report import wide_console
from services.dev.samples import one_of_each
from services.kafka import clients as kafka
from services.kafka import offsets
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.sql.keystore import SqlKeyStore, master_key_from

if TYPE_CHECKING:
    from services.dev.demo.gate_stage import GateStageResult

log = structlog.get_logger()
READ_BACK_TIMEOUT_S = 30.0
MISSING = "read back {got} of {sent} events within {timeout:.0f} s"

# Synthetic identity for the demo child; it exists only inside sealed fields.
DEMO_IDENTITY = {"given_name": "Testbarn", "family_name": "Demosson", "synthetic": "true"}


def _demo_events(child_id: uuid.UUID) -> list[Event]:
    """One of each type, all about one synthetic child; the registration carries sealed PII."""
    events = []
    for event in one_of_each(seed=int(time.time())):
        sealed = Personal(DEMO_IDENTITY) if type(event).__name__ == "ChildRegistered" else None
        envelope = replace(event.envelope, child_id=child_id, sealed=sealed)
        events.append(replace(event, envelope=envelope))
    return events


async def _publish(settings: Settings, codec: Codec, events: list[Event]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for event in events:
            await producer.send(topic_for(event).name, codec.encode(event), key=key_for(event))
        await producer.flush()
    finally:
        await producer.stop()


async def _read_back(settings: Settings, codec: Codec, wanted: set[uuid.UUID]) -> dict[uuid.UUID, tuple]:
    """The events of ``wanted`` as read back from every topic (all were flushed before)."""
    ends = await offsets.topic_ends(settings, [t.name for t in ALL_TOPICS])
    found: dict[uuid.UUID, tuple] = {}
    async for records in offsets.read(settings, dict.fromkeys(ends, 0), ends, poll_ms=500,
                                      timeout_s=READ_BACK_TIMEOUT_S, enable_auto_commit=False):
        for record in records:
            event = codec.decode_record(record)
            if isinstance(event, Event) and event.event_id in wanted:
                found[event.event_id] = (event, TopicPartition(record.topic, record.partition), record.offset,
                                         len(record.value or b""))
    return found


def _summary(events: list[Event], found: dict[uuid.UUID, tuple]) -> Table:
    table = Table(title="kronobarn demo — one event of each type through the broker")
    for col in ("event", "topic", "partition", "offset", "bytes", "sealed", "round trip"):
        table.add_column(col)
    for sent in events:
        got, tp, offset, size = found[sent.event_id]
        sealed = "—" if got.envelope.sealed is None else "opened" if got.envelope.sealed else "erased"
        table.add_row(
            type(sent).__name__, tp.topic, str(tp.partition), str(offset), str(size), sealed,
            "ok" if got == sent else "MISMATCH",
        )
    return table


async def _backbone(settings: Settings, console: Console) -> tuple[bool, bool]:
    """Stage 1 on its own broker and key store: one event of each type through the backbone and
    back, then crypto-shredding. Returns (round trip ok, shredded)."""
    sandbox_db = Path(settings.demo_data_dir).parent / "backbone.db"
    _remove_database(sandbox_db)
    with EmbeddedBroker(settings.broker_host, free_port(settings.broker_host)) as broker:
        own = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "database_url": f"sqlite:///{sandbox_db}"})
        engine = make_engine(own.resolved_database_url)
        try:
            migrate(engine)
            keys = SqlKeyStore(engine, master_key_from(own))
            codec = Codec(sealer=Sealer(keys))
            created = await kafka.create_topics(own)
            console.print(f"Backbone stage on a broker of its own ({broker.bootstrap}): {len(ALL_TOPICS)} topics "
                          f"declared, {len(created)} created, {own.partitions} partitions each.")
            child_id = uuid.uuid4()
            events = _demo_events(child_id)
            await _publish(own, codec, events)
            found = await _read_back(own, codec, {e.event_id for e in events})
            if len(found) < len(events):
                console.print(MISSING.format(got=len(found), sent=len(events), timeout=READ_BACK_TIMEOUT_S))
                return False, False
            console.print(_summary(events, found))
            ok = all(found[e.event_id][0] == e for e in events)

            # Crypto-shredding: erase the child's key; the same bytes now read as ERASED, no crash.
            keys.erase(child_id, reason_code="DEMO")
            again = await _read_back(own, codec, {e.event_id for e in events})
            registered = next(ev for ev, *_ in again.values() if type(ev).__name__ == "ChildRegistered")
            shredded = registered.envelope.sealed is ERASED
            console.print("Crypto-shredding: after erasing the child's key its sealed data reads as "
                          f"{registered.envelope.sealed!r}.")
        finally:
            engine.dispose()
    _remove_database(sandbox_db)
    log.info("demo.backbone_finished", events=len(events), round_trip_ok=ok, shredded=shredded)
    return ok, shredded


async def _run(settings: Settings, console: Console) -> bool:
    ok, shredded = await _backbone(settings, console)
    if not ok:
        return False
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    keys = SqlKeyStore(engine, master_key_from(settings))
    codec = Codec(sealer=Sealer(keys))
    created = await kafka.create_topics(settings)
    console.print(f"County's topics: {len(ALL_TOPICS)} declared, {len(created)} created, "
                  f"{settings.partitions} partitions each.")

    intake_ok = await _intake(settings, engine, console)
    gate = await _gate(settings, codec, console)
    plans_ok = _plans(settings, engine, console)
    merges_ok = _merges(engine, console, gate)
    from services.dev.demo.reports import register_settings
    from services.worker.process import worker

    # One worker for the last stages, delivering into the stand-in social register.
    stages = register_settings(settings)
    with worker(stages, Path(settings.demo_data_dir).parent / "stages-worker.log", tick_s=5.0):
        reports_ok = await _reports(stages, engine, console)
        sip_ok = await _sip(stages, engine, console)
        erased_ok = await _erasure(settings, engine, codec, gate, console)
    log.info("demo.finished", round_trip_ok=ok, shredded=shredded, intake_ok=intake_ok,
             gate_ok=gate.ok, plans_ok=plans_ok, merges_ok=merges_ok, merges=len(gate.intake.merged),
             reports_ok=reports_ok, sip_ok=sip_ok, erased_ok=erased_ok)
    engine.dispose()
    return (ok and shredded and intake_ok and gate.ok and plans_ok and merges_ok and reports_ok and sip_ok
            and erased_ok)


async def _reports(settings: Settings, engine, console: Console) -> bool:  # type: ignore[no-untyped-def]
    """Reports of concern from schools and BVCs, through the hub into the social services' register."""
    from services.dev.demo.reports import reports_stage

    return await reports_stage(settings, engine, console)


async def _sip(settings: Settings, engine, console: Console) -> bool:  # type: ignore[no-untyped-def]
    """The plans as SIPs: their kallelser, responsibilities, follow-ups and evaluations, and one printed."""
    from services.dev.demo.sip import sip_stage

    return await sip_stage(settings, engine, console)


async def _erasure(settings: Settings, engine, codec: Codec, gate: GateStageResult,  # type: ignore[no-untyped-def]
                   console: Console) -> bool:
    """Last: a child of the county erased while the worker runs, and the scan for what is left."""
    from services.dev.demo.erasure import erasure_stage

    return await erasure_stage(settings, engine, codec, gate.plans.opened, console)


async def _intake(settings: Settings, engine, console: Console) -> bool:  # type: ignore[no-untyped-def]
    """Stage 2: the county's source systems through the connectors into the intake topics."""
    from connectors.standins.county import County
    from services.county import county_directory
    from services.dev.demo.intake import fill_intake, serve_standins

    county = County(children=settings.demo_children, directory=county_directory(settings))
    data_dir = Path(settings.demo_data_dir)
    console.rule(f"Intake: {county.children:,} synthetic children, four source systems")
    with serve_standins(data_dir, county, console) as ports:
        stats = await fill_intake(settings, engine, data_dir, ports, console)
    table = Table(title="Intake topics filled by the connectors")
    for col in ("connector", "records read", "events published", "dead letters", "retries"):
        table.add_column(col, justify="left" if col == "connector" else "right")
    for name, s in stats.items():
        table.add_row(name, f"{s.records:,}", f"{s.events:,}", f"{s.dead_letters:,}", f"{s.retries:,}")
    console.print(table)
    return all(s.events > 0 for s in stats.values())


async def _gate(settings: Settings, codec: Codec, console: Console) -> GateStageResult:
    """Stage 3: consents and plans from coordinators, and the consent gate letting through only
    what they cover."""
    from services.dev.demo.gate_stage import run_gate_stage

    return await run_gate_stage(settings, codec, console)


def _plans(settings: Settings, engine, console: Console) -> bool:  # type: ignore[no-untyped-def]
    """Stage 4: the read model the projector built: named persons, gaps lists, plans."""
    from services.county import county_directory
    from services.dev.demo.readmodel import plans_stage
    from services.readmodel.engine import read_model

    return plans_stage(read_model(engine, settings), console, county_directory(settings))


def _merges(engine, console: Console, gate: GateStageResult) -> bool:  # type: ignore[no-untyped-def]
    """One child, one id: the newborns the hub merged, checked against the demo's own rule."""
    from services.dev.demo.merges import described_check, merges_check

    failures = merges_check(engine, gate.intake, gate.tally.releases)
    console.print(described_check(gate.intake, failures))
    return not failures


def _remove_database(path: Path) -> None:
    for stale in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        stale.unlink(missing_ok=True)


def fresh_demo_database(settings: Settings) -> str:
    """The demo's own hub database, emptied: the embedded broker forgets everything when it
    stops, so checkpoints and identities from an earlier demo would point into a void."""
    path = Path(settings.demo_data_dir).parent / "hub.db"
    _remove_database(path)
    return f"sqlite:///{path}"


def run_demo(settings: Settings) -> bool:
    console = wide_console()
    with EmbeddedBroker(settings.broker_host, settings.broker_port) as broker:
        console.print(f"Broker: Kafka protocol on {broker.bootstrap} (embedded, in memory).")
        demo_settings = settings.model_copy(
            update={"kafka_bootstrap": broker.bootstrap, "database_url": fresh_demo_database(settings)}
        )
        ok = asyncio.run(_run(demo_settings, console))
        from services.dev.demo.serve import serve_ui  # last stage: the UI, when someone is there to use it

        return ok and serve_ui(demo_settings, console)
