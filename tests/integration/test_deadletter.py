"""Bad bytes of every kind end up on ``deadletter`` with stage, reason, position and bytes."""

from __future__ import annotations

import pytest

from schemas.codec import HEADER_LEN, MAGIC, Codec, DecodeError
from schemas.deadletter import DeadLetter
from services.dev.samples import sample_event
from services.kafka import clients as kafka
from services.kafka.deadletter import dead_letter_for, publish_dead_letter
from services.settings import Settings
from tests.support.kafka import read_all

SOURCE = ("intake.health", 1)
EXPECTED_REASON = {
    "unknown fingerprint": "unknown writer schema fingerprint",
    "truncated": "truncated",
    "wrong magic": "magic",
    "schema mismatch": "does not match writer schema",
}


def _bad_inputs(codec: Codec) -> dict[str, bytes]:
    """Each kind of damage, made from a valid encoding so only that one thing is wrong."""
    valid = codec.encode(sample_event("ConditionNoted", seed=4))
    other = codec.encode(sample_event("ChildDataViewed", seed=4))
    return {
        "unknown fingerprint": MAGIC + b"\xff" * 8 + valid[HEADER_LEN:],
        "truncated": valid[: len(valid) // 2],
        "wrong magic": b"\x00\x00" + valid[2:],
        "schema mismatch": valid[:HEADER_LEN] + other[HEADER_LEN:],  # ConditionNoted header, other body
    }


def _decode_error(codec: Codec, data: bytes, offset: int) -> DecodeError:
    topic, partition = SOURCE
    with pytest.raises(DecodeError) as info:
        codec.decode(data, topic=topic, partition=partition, offset=offset)
    return info.value


async def test_each_kind_of_bad_input_is_dead_lettered(kafka_settings: Settings) -> None:
    codec = Codec()
    bad = _bad_inputs(codec)
    sent: dict[str, DeadLetter] = {}
    producer = kafka.producer(kafka_settings)
    await producer.start()
    try:
        for offset, (kind, data) in enumerate(bad.items(), start=100):
            error = _decode_error(codec, data, offset)
            letter = dead_letter_for(stage="gate", error=error, topic=error.topic, partition=error.partition,
                                     offset=error.offset, original=data)
            await publish_dead_letter(producer, codec, letter, key=b"original-key")
            sent[kind] = letter
    finally:
        await producer.stop()

    received = {}
    for record in await read_all(kafka_settings, ["deadletter"]):
        letter = codec.decode_record(record)
        assert isinstance(letter, DeadLetter)
        received[letter.dead_letter_id] = (letter, record.key)
    for offset, (kind, letter) in enumerate(sent.items(), start=100):
        got, key = received[letter.dead_letter_id]
        assert got == letter  # every field, failed_at included, survives the codec
        assert (got.stage, got.topic, got.partition, got.offset) == ("gate", *SOURCE, offset)
        assert got.original == bad[kind] and key == b"original-key"
        assert got.error_type == "DecodeError"
        assert EXPECTED_REASON[kind] in got.reason, (kind, got.reason)
        assert "offset=" not in got.reason  # the bare reason; the position has its own fields
        assert got.failed_at.tzinfo is not None


def test_redelivered_failure_gets_the_same_letter_id() -> None:
    error = DecodeError("x")
    a = dead_letter_for(stage="gate", error=error, topic="t", partition=0, offset=5)
    b = dead_letter_for(stage="gate", error=error, topic="t", partition=0, offset=5)
    c = dead_letter_for(stage="gate", error=error, topic="t", partition=0, offset=6)
    d = dead_letter_for(stage="projector", error=error, topic="t", partition=0, offset=5)
    assert a.dead_letter_id == b.dead_letter_id
    assert len({a.dead_letter_id, c.dead_letter_id, d.dead_letter_id}) == 3


def test_source_failures_are_recognisable_by_reference_and_unknown_ones_are_unique() -> None:
    error = ValueError("no school unit")
    by_ref = [dead_letter_for(stage="connector:school", error=error, source_ref="ss12000:placements/7") for _ in "ab"]
    assert by_ref[0].dead_letter_id == by_ref[1].dead_letter_id
    anonymous = [dead_letter_for(stage="connector:school", error=error) for _ in "ab"]
    assert anonymous[0].dead_letter_id != anonymous[1].dead_letter_id


def test_reason_is_the_message_with_personnummer_masked() -> None:
    letter = dead_letter_for(stage="connector:health", error=KeyError("no child for 20150612-9874"))
    assert "9874" not in letter.reason and "[redacted]" in letter.reason
    assert letter.error_type == "KeyError"
    assert dead_letter_for(stage="gate", error=RuntimeError()).reason == "RuntimeError"
    assert len(dead_letter_for(stage="gate", error=ValueError("x" * 5000)).reason) <= 500
