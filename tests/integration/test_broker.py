"""The embedded broker and topic administration, against the real Tansu binary."""

from __future__ import annotations

import pytest

from schemas.topics import ALL_TOPICS, Topic
from services import kafka
from services.broker import EmbeddedBroker, free_port
from services.settings import Settings


async def test_broker_answers_metadata(broker: EmbeddedBroker) -> None:
    assert broker.running
    await kafka.wait_for_broker(broker.bootstrap, timeout_s=5)


def test_second_broker_on_same_port_fails_clearly(broker: EmbeddedBroker) -> None:
    with pytest.raises(RuntimeError, match="already in use"):
        EmbeddedBroker(port=broker.port).start()


def test_start_and_stop_leave_nothing_running() -> None:
    port = free_port()
    with EmbeddedBroker(port=port) as b:
        assert b.running
    assert not b.running
    EmbeddedBroker(port=port).stop()  # idempotent on a broker that never started


async def test_create_topics_is_idempotent(kafka_settings: Settings) -> None:
    assert await kafka.create_topics(kafka_settings) == []  # the fixture created them all
    admin = kafka.admin(kafka_settings)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        described = await admin.describe_topics([t.name for t in ALL_TOPICS])
    finally:
        await admin.close()
    assert {t.name for t in ALL_TOPICS} <= names
    assert {len(d["partitions"]) for d in described} == {kafka_settings.partitions}


async def test_partition_mismatch_is_refused(kafka_settings: Settings) -> None:
    odd = Topic("test.mismatch", (), "test")
    assert await kafka.create_topics(kafka_settings, [odd], partitions=2) == ["test.mismatch"]
    with pytest.raises(ValueError, match="co-partitioned"):
        await kafka.create_topics(kafka_settings, [odd], partitions=4)


async def test_unreachable_broker_is_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="no Kafka broker answered"):
        await kafka.wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=1)
