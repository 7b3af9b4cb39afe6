"""Bad bytes of every kind end up on ``deadletter`` with stage, reason, position and bytes."""

from __future__ import annotations

import pytest

from schemas.codec import HEADER_LEN, MAGIC, Codec, DecodeError
from schemas.deadletter import DeadLetter
from services import kafka
from services.deadletter import dead_letter_for, publish_dead_letter
from services.samples import sample_event
from services.settings import Settings
from tests.support.kafka import read_all


def _bad_inputs(codec: Codec) -> dict[str, bytes]:
    valid = codec.encode(sample_event("ConditionNoted", seed=4))
    other = codec.encode(sample_event("ChildDataViewed", seed=4))
    return {
        "unknown fingerprint": MAGIC + b"\xff" * 8 + valid[HEADER_LEN:],
        "truncated": valid[: len(valid) // 2],
        "wrong magic": b"\x00\x00" + valid[2:],
        "schema mismatch": valid[:HEADER_LEN] + other[HEADER_LEN:],
    }


async def test_each_kind_of_bad_input_is_dead_lettered(kafka_settings: Settings) -> None:
    codec = Codec()
    producer = kafka.producer(kafka_settings)
    await producer.start()
    sent: dict[str, DeadLetter] = {}
    try:
        for offset, (kind, data) in enumerate(_bad_inputs(codec).items(), start=100):
            with pytest.raises(DecodeError) as info:
                codec.decode(data, topic="intake.health", partition=1, offset=offset)
            letter = dead_letter_for(stage="test", error=info.value, topic="intake.health",
                                     partition=1, offset=offset, original=data)
            await publish_dead_letter(producer, codec, letter)
            sent[kind] = letter
    finally:
        await producer.stop()

    letters = {}
    for record in await read_all(kafka_settings, ["deadletter"]):
        letter = codec.decode_record(record)
        assert isinstance(letter, DeadLetter)
        letters[letter.dead_letter_id] = letter
    for kind, letter in sent.items():
        got = letters[letter.dead_letter_id]
        assert got.stage == "test" and got.topic == "intake.health" and got.partition == 1
        assert got.offset == letter.offset and got.original == _bad_inputs(codec)[kind]
        assert got.error_type == "DecodeError" and got.reason == letter.reason != ""
    assert "unknown writer schema fingerprint" in sent["unknown fingerprint"].reason
    assert "truncated" in sent["truncated"].reason
    assert "magic" in sent["wrong magic"].reason
    assert "does not match" in sent["schema mismatch"].reason or "trailing" in sent["schema mismatch"].reason


def test_redelivered_failure_gets_the_same_letter_id() -> None:
    error = DecodeError("x")
    a = dead_letter_for(stage="gate", error=error, topic="t", partition=0, offset=5)
    b = dead_letter_for(stage="gate", error=error, topic="t", partition=0, offset=5)
    c = dead_letter_for(stage="gate", error=error, topic="t", partition=0, offset=6)
    assert a.dead_letter_id == b.dead_letter_id != c.dead_letter_id
