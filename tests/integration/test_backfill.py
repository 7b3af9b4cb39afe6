"""Filling a hole in a stream straight from the broker (``services.worker.repairs.continuity``)."""

from __future__ import annotations

import uuid

import pytest

from services.kafka import clients as kafka
from services.settings import Settings
from services.worker.repairs.continuity import BackfillShort, Continuity, backfill


class Msg:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset, self.key = topic, partition, offset, b"k"


class FaustEvent:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.message, self.value = Msg(topic, partition, offset), b"v%d" % offset


async def _topic_with(settings: Settings, count: int) -> str:
    topic = f"backfill-{uuid.uuid4().hex[:8]}"
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, b"v%d" % n, key=b"k", partition=0)
    finally:
        await producer.stop()
    return topic


async def test_backfill_returns_exactly_the_missing_offsets_in_order(kafka_settings: Settings) -> None:
    topic = await _topic_with(kafka_settings, 20)
    found = await backfill(kafka_settings, topic, 0, 5, 12)
    assert [r.offset for r in found] == list(range(5, 12))
    assert [r.value for r in found] == [b"v%d" % n for n in range(5, 12)]


async def test_a_batch_with_a_hole_comes_out_whole(kafka_settings: Settings) -> None:
    topic = await _topic_with(kafka_settings, 20)
    events = [FaustEvent(topic, 0, o) for o in (3, 4, 9, 10)]  # 5..8 were dropped on the way
    items = await Continuity("test").fill(kafka_settings, events, lambda _t, _p: 2)
    assert [offset for *_, offset in items] == list(range(3, 11))
    assert [value for _, value, *_ in items] == [b"v%d" % n for n in range(3, 11)]


async def test_backfill_beyond_the_end_says_so(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.worker.repairs.continuity.BACKFILL_TIMEOUT_S", 2.0)
    topic = await _topic_with(kafka_settings, 3)
    with pytest.raises(BackfillShort, match=r"gave 1 of the 4 records"):
        await backfill(kafka_settings, topic, 0, 2, 6)
