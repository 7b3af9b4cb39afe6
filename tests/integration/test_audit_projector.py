"""The audit projector in ``kronobarn worker`` against a real broker (DESIGN §6 Audit, §9).

Access events (views and emergency accesses, built like ``services.dev.samples``) and two poison
records go onto ``access``; a worker is killed with SIGKILL once it has logged part of them
and started again. The audit log must then hold exactly one entry per event (100% coverage,
no duplicates), verify clean under the signing key, have its tail signed by the timer, and
the poison records must be in the dead letters. ``kronobarn audit verify`` agrees.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from projections.audit import entry_from_event
from projections.audit_store import AuditStore
from schemas.codec import Codec
from schemas.deadletter import DeadLetter
from schemas.events import Event
from schemas.topics import ACCESS, key_for
from services.dev.samples import sample_event
from services.kafka import clients as kafka
from services.kafka import offsets
from services.kafka.broker import EmbeddedBroker, free_port
from services.settings import Settings
from services.sql.db import make_engine, migrate
from services.worker.audit_key import decode_audit_signing_key
from tests.support.gate import KRONOBARN, Workers
from tests.support.kafka import read_all

EVENTS = 2_345  # not a multiple of CHECKPOINT_EVERY: the timer must sign the tail
CHECKPOINT_EVERY = 500
SIGNING_KEY = base64.b64encode(bytes(range(3, 35))).decode()
CHILDREN = [uuid.UUID(int=c + 1, version=4) for c in range(40)]


def access_events(n: int) -> list[Event]:
    """Views of 40 children, every seventh an emergency access; distinct deterministic ids."""
    out = []
    for i in range(n):
        name = "EmergencyAccessOpened" if i % 7 == 0 else "ChildDataViewed"
        event = sample_event(name, seed=i, child_id=CHILDREN[i % len(CHILDREN)])
        env = replace(event.envelope, event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"audit-test/{i}"))
        out.append(replace(event, envelope=env))
    return out


def poison(codec: Codec) -> list[tuple[str, bytes, bytes]]:
    """Garbage, and a valid event that does not belong on ``access``."""
    wrong = sample_event("ChildMoved", seed=1, child_id=CHILDREN[0])
    return [(ACCESS.name, str(CHILDREN[1]).encode(), b"\xc3\x01 not an event"),
            (ACCESS.name, key_for(wrong), codec.encode(wrong))]


async def send(settings: Settings, codec: Codec, items: list[Event | tuple[str, bytes, bytes]]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        futures = []
        for item in items:
            topic, key, value = item if isinstance(item, tuple) else (ACCESS.name, key_for(item), codec.encode(item))
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def access_end(settings: Settings) -> dict[tuple[str, int], int]:
    parts = [TopicPartition(ACCESS.name, p) for p in range(settings.partitions)]
    ends = asyncio.run(offsets.end_offsets(settings, parts))
    return {(tp.topic, tp.partition): end - 1 for tp, end in ends.items() if end}


def wait_for(done, timeout: float, workers: Workers) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        assert workers.alive(), f"the worker died; see {workers.logs[-1]}"
        time.sleep(0.3)
    return False


def redeliveries(log: Path) -> int:
    """The restarted worker's count of records it skipped as already logged."""
    totals = [line.rsplit("total=", 1)[1].split()[0] for line in log.read_text(errors="replace").splitlines()
              if "audit.redelivered" in line]
    return int(totals[-1]) if totals else 0


@pytest.mark.timeout(600)
def test_every_access_is_logged_once_and_the_log_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    key = decode_audit_signing_key(SIGNING_KEY)
    store = AuditStore(engine)
    codec = Codec()
    events = access_events(EVENTS)
    half = len(events) // 2
    with EmbeddedBroker(port=free_port()) as broker:
        cfg = Settings(kafka_bootstrap=broker.bootstrap, _env_file=None)  # type: ignore[call-arg]
        asyncio.run(kafka.create_topics(cfg))
        asyncio.run(send(cfg, codec, [*events[:half], *poison(codec)]))
        with Workers(broker.bootstrap, tmp_path, database_url=url) as workers:
            workers.env |= {"KRONOBARN_AUDIT_SIGNING_KEY": SIGNING_KEY,
                            "KRONOBARN_AUDIT_CHECKPOINT_EVERY": str(CHECKPOINT_EVERY),
                            "KRONOBARN_AUDIT_CHECKPOINT_INTERVAL_S": "2"}
            workers.start()
            assert wait_for(lambda: store.stats().entries > 0, 120, workers), "nothing was logged"
            workers.kill9()  # mid-way: the second half is not even published yet
            killed_at = store.stats().entries
            asyncio.run(send(cfg, codec, events[half:]))
            workers.start()
            ends = access_end(cfg)
            caught_up = wait_for(lambda: all(store.positions().get(k, -1) >= v for k, v in ends.items()), 180, workers)
            assert caught_up, f"logged to {store.positions()}, the log ends at {ends}:\n{workers.dump()}"
            assert wait_for(lambda: store.stats().unsigned == 0, 30, workers), "the timer signed no checkpoint"
            print(f"logged {killed_at} before kill -9; redeliveries absorbed after it: {redeliveries(workers.logs[-1])}")
        letters = [codec.decode_record(r) for r in asyncio.run(read_all(cfg, ["deadletter"], idle_ms=200))]
    audit_letters = [d for d in letters if isinstance(d, DeadLetter) and d.stage == "audit"]
    assert sorted(d.original for d in audit_letters) == sorted(v for _, _, v in poison(codec))
    assert any("not an access event" in d.reason for d in audit_letters)

    stats = store.stats()
    logged = [e for child in CHILDREN for e in store.entries_for_child(child)]
    assert 0 < killed_at < EVENTS
    assert stats.entries == EVENTS == len(logged) and stats.last_seq == EVENTS  # no duplicates, no gaps
    assert {e.event_id for e in logged} == {e.event_id for e in events}  # 100% coverage
    by_id = {e.event_id: e for e in events}
    assert all(entry == entry_from_event(by_id[entry.event_id], entry.seq) for entry in logged)
    assert store.verify(key.public_key()) == []
    assert stats.checkpoints >= EVENTS // CHECKPOINT_EVERY + 1 and stats.last_checkpoint_seq == EVENTS

    env = {k: v for k, v in os.environ.items() if not k.startswith("KRONOBARN_")}
    env |= {"KRONOBARN_DATABASE_URL": url, "KRONOBARN_AUDIT_SIGNING_KEY": SIGNING_KEY}
    done = subprocess.run([KRONOBARN, "audit", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"audit log intact: {EVENTS} entries" in done.stdout
    engine.dispose()
