"""The consent gate as a real Faust worker against the broker: hold, release, revoke, route."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import replace
from pathlib import Path

from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from schemas.events import Area, Basis, Category, Grantor, GrantorRole, Source
from schemas.topics import key_for, topic_for
from services.dev.samples import sample_event, scoped_guardian, scoped_register
from services.kafka import clients as kafka
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from tests.support.gate import Workers
from tests.support.kafka import read_all

CHILD = uuid.uuid4()
NOW = dt.datetime.now(dt.UTC)


def _fact(name: str, basis: Basis, category: Category, org: str, area: Area, seed: int):  # type: ignore[no-untyped-def]
    event = sample_event(name, seed=seed, child_id=CHILD)
    env = replace(event.envelope, basis=basis, category=category, area=area, sealed=None,
                  source=Source("test", org, f"r{seed}", "1"))
    return replace(event, envelope=env)


def _consent(consent_id: uuid.UUID, withdraw: bool = False):  # type: ignore[no-untyped-def]
    if withdraw:
        event = sample_event("ConsentWithdrawn", seed=9, child_id=CHILD)
        return replace(event, consent_id=consent_id, envelope=replace(event.envelope, occurred_at=dt.datetime.now(dt.UTC)))
    event = sample_event("ConsentGranted", seed=8, child_id=CHILD)
    return replace(event, consent_id=consent_id, categories=(Category.HEALTH,), source_organisations=None, areas=None,
                   recipients=("skola-1",), valid_from=NOW - dt.timedelta(hours=1), valid_to=NOW + dt.timedelta(days=30),
                   grantors=(Grantor(scoped_guardian(CHILD), GrantorRole.GUARDIAN),))


async def _send(settings: Settings, codec: Codec, events: list) -> None:  # type: ignore[type-arg]
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic_for(event).name, codec.encode(event), key=key_for(event))
    finally:
        await producer.stop()


def _wait_for(settings: Settings, topic: str, codec: Codec, predicate, workers: Workers,  # type: ignore[no-untyped-def]
              timeout: float = 60.0) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in (codec.decode_record(r) for r in asyncio.run(read_all(settings, [topic], idle_ms=200)))
                 if predicate(e)]
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"nothing matching on {topic} within {timeout} s; the worker's log:\n{workers.dump()}")


def _about(kind: str, fact):  # type: ignore[no-untyped-def]
    return lambda e: type(e).__name__ == kind and e.fact_event_id == fact.event_id


def _once(events: list) -> list:  # type: ignore[type-arg]
    """One per event id: a worker that rejoins its group may re-publish a decision under the
    same id (DESIGN: duplicates are recognisable by id), but never two different ones."""
    return list({e.envelope.event_id: e for e in events}.values())


def test_gate_holds_releases_revokes_and_routes(tmp_path: Path) -> None:
    codec = Codec()
    visit = _fact("HealthVisitRecorded", Basis.CONSENT, Category.HEALTH, "bvc-1", Area.HEALTH, 1)
    report = _fact("ReportOfConcernReceived", Basis.STATUTORY, Category.SOCIAL, "kommun-0780-soc", Area.SAFETY, 2)
    consent_id = uuid.uuid4()
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(settings))
        workers = Workers(broker.bootstrap, tmp_path, tick_s=1.0)
        workers.start()
        try:
            asyncio.run(_send(settings, codec, [*scoped_register(CHILD, NOW - dt.timedelta(days=1)), visit, report]))
            routed = _wait_for(settings, "statutory.social", codec, lambda e: e.report_event_id == report.event_id,
                              workers)
            assert routed[0].municipality_code == report.municipality_code
            shared = asyncio.run(read_all(settings, ["shared"], idle_ms=300))
            assert not [r for r in shared if codec.decode_record(r).fact_event_id == visit.event_id]  # held

            asyncio.run(_send(settings, codec, [_consent(consent_id)]))
            [released] = _once(_wait_for(settings, "shared", codec, _about("FactReleased", visit), workers))
            assert released.consent_ids == (consent_id,) and codec.decode(released.fact) == visit
            assert not [e for e in (codec.decode_record(r) for r in asyncio.run(read_all(settings, ["shared"])))
                        if getattr(e, "fact_event_id", None) == report.event_id]  # social scope not granted

            asyncio.run(_send(settings, codec, [_consent(consent_id, withdraw=True)]))
            [revoked] = _once(_wait_for(settings, "shared", codec, _about("ReleaseRevoked", visit), workers))
            assert revoked.ended_consent_ids == (consent_id,)

            asyncio.run(_produce_raw(settings, b"\x00\x01 not avro"))
            [letter] = _wait_for(settings, "deadletter", codec, lambda e: isinstance(e, DeadLetter) and e.stage == "gate",
                                 workers)
            assert "magic" in letter.reason and letter.original == b"\x00\x01 not avro"
        finally:
            workers.stop()


async def _produce_raw(settings: Settings, value: bytes) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait("intake.health", value, key=str(CHILD).encode())
    finally:
        await producer.stop()
