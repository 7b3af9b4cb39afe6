"""Acceptance: every event type goes through the real broker with the codec and comes back."""

from __future__ import annotations

from schemas.codec import Codec
from schemas.events import EVENT_TYPES
from schemas.topics import ALL_TOPICS, DEADLETTER, key_for, topic_for
from services.dev.samples import one_of_each, sample_event
from services.kafka import clients as kafka
from services.settings import Settings
from tests.support.kafka import read_all


async def test_every_event_type_round_trips_through_the_broker(kafka_settings: Settings) -> None:
    codec = Codec()
    sent = one_of_each(seed=11)
    assert {type(e).__name__ for e in sent} == set(EVENT_TYPES)  # really one of each
    producer = kafka.producer(kafka_settings)
    await producer.start()
    try:
        for event in sent:
            await producer.send_and_wait(topic_for(event).name, codec.encode(event), key=key_for(event))
    finally:
        await producer.stop()

    records = await read_all(kafka_settings, [t.name for t in ALL_TOPICS if t != DEADLETTER])
    wanted = {e.event_id: e for e in sent}
    got = {}
    for record in records:
        event = codec.decode_record(record)
        if getattr(event, "event_id", None) in wanted:  # the session broker holds other tests' events too
            got[event.event_id] = (event, record)
    assert set(got) == set(wanted), f"missing: {[type(wanted[i]).__name__ for i in set(wanted) - set(got)]}"
    for event_id, (event, record) in got.items():
        assert event == wanted[event_id]
        assert record.topic == topic_for(event).name
        assert record.key == key_for(event) == str(event.child_id).encode()


async def test_one_child_lands_in_one_partition_on_every_topic(kafka_settings: Settings) -> None:
    """Co-partitioning: the same key goes to the same partition number on every topic."""
    codec = Codec()
    child = one_of_each(seed=12)[0].child_id
    names = ("ChildBorn", "ConsentGranted", "PlanOpened", "FactReleased")
    events = [sample_event(name, seed=3, child_id=child) for name in names]
    assert len({topic_for(e).name for e in events}) == len(events)
    producer = kafka.producer(kafka_settings)
    await producer.start()
    try:
        partitions = set()
        for event in events:
            meta = await producer.send_and_wait(topic_for(event).name, codec.encode(event), key=key_for(event))
            partitions.add(meta.partition)
    finally:
        await producer.stop()
    assert len(partitions) == 1


async def test_connector_publisher_partitions_like_send(kafka_settings: Settings) -> None:
    """The runner's batch publisher must put a key where a plain ``send`` would: topics stay
    co-partitioned whichever path wrote them."""
    from schemas.topics import Topic
    from services.ingest.publisher import KafkaPublisher
    from services.ingest.runner import Outgoing

    topic = "test.partitioning"  # its own topic: the intake topics must hold only events
    await kafka.create_topics(kafka_settings, [Topic(topic, (), "test")])
    producer = kafka.producer(kafka_settings)
    await producer.start()
    try:
        keys = [f"child-{i}".encode() for i in range(40)]
        sent = {k: (await producer.send_and_wait(topic, b"via-send", key=k)).partition for k in keys}
        publisher = KafkaPublisher(producer)
        await publisher.publish([Outgoing(topic, k, b"via-batch", k) for k in keys])
        await publisher.publish([Outgoing(topic, k, b"via-batch-again", k) for k in keys])  # remembered places
    finally:
        await producer.stop()
    records = await read_all(kafka_settings, [topic])
    batched = {r.key: r.partition for r in records if r.value == b"via-batch"}
    again = {r.key: r.partition for r in records if r.value == b"via-batch-again"}
    assert batched == sent == again and len(set(sent.values())) > 1
