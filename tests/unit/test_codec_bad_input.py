"""Bad bytes become a typed DecodeError naming topic, partition and offset; never a bare error."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from schemas.codec import HEADER_LEN, MAGIC, Codec, DecodeError, EncodeError
from schemas.sealing import ERASED, Personal
from services.dev.samples import one_of_each, sample_event

WHERE = {"topic": "intake.health", "partition": 2, "offset": 41}


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


@pytest.fixture(scope="module")
def valid(codec: Codec) -> bytes:
    return codec.encode(sample_event("ConditionNoted", seed=1))


def _decode_error(codec: Codec, data: bytes | None) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        codec.decode(data, **WHERE)
    err = info.value
    assert (err.topic, err.partition, err.offset) == ("intake.health", 2, 41)
    assert "topic=intake.health partition=2 offset=41" in str(err)
    return err


def test_unknown_fingerprint(codec: Codec, valid: bytes) -> None:
    data = MAGIC + b"\x00" * 8 + valid[HEADER_LEN:]
    assert "unknown writer schema fingerprint 0000000000000000" in _decode_error(codec, data).reason


@pytest.mark.parametrize("cut", [0, 1, 5, HEADER_LEN - 1])
def test_truncated_header(codec: Codec, valid: bytes, cut: int) -> None:
    assert "truncated" in _decode_error(codec, valid[:cut]).reason


def test_truncated_body(codec: Codec, valid: bytes) -> None:
    for cut in (HEADER_LEN + 1, len(valid) // 2, len(valid) - 1):
        reason = _decode_error(codec, valid[:cut]).reason
        assert "ConditionNoted" in reason
        assert "truncated" in reason or "does not match" in reason


def test_wrong_magic(codec: Codec, valid: bytes) -> None:
    assert "magic" in _decode_error(codec, b"\x00\x00" + valid[2:]).reason


def test_none_value_is_a_decode_error(codec: Codec) -> None:
    assert "truncated" in _decode_error(codec, None).reason


def test_payload_of_another_schema(codec: Codec, valid: bytes) -> None:
    other = codec.encode(sample_event("ChildDataViewed", seed=1))
    forged = valid[:HEADER_LEN] + other[HEADER_LEN:]
    assert "ConditionNoted" in _decode_error(codec, forged).reason


def test_trailing_garbage(codec: Codec, valid: bytes) -> None:
    assert "trailing bytes" in _decode_error(codec, valid + b"\x00\x01").reason


def test_random_bodies_never_escape_as_bare_exceptions(codec: Codec, valid: bytes) -> None:
    import random

    rng = random.Random(5)
    for _ in range(2_000):
        body = rng.randbytes(rng.randrange(0, 200))
        try:
            codec.decode(valid[:HEADER_LEN] + body, **WHERE)
        except DecodeError:
            pass  # the only acceptable failure


def test_envelope_type_must_match_record(codec: Codec) -> None:
    event = sample_event("ConditionNoted", seed=1)
    lying = replace(event, envelope=replace(event.envelope, type="ChildBorn"))
    assert "differs from record name" in _decode_error(codec, codec.encode(lying)).reason


def test_decode_record_carries_location(codec: Codec, valid: bytes) -> None:
    @dataclass
    class Record:
        topic: str
        partition: int
        offset: int
        value: bytes

    with pytest.raises(DecodeError) as info:
        codec.decode_record(Record("intake.health", 2, 41, valid[:4]))
    assert info.value.offset == 41


def test_plaintext_personal_data_needs_a_sealer(codec: Codec) -> None:
    event = one_of_each()[0]
    plain = replace(event, envelope=replace(event.envelope, sealed=Personal({"name": "x"})))
    with pytest.raises(EncodeError, match="no sealer"):
        codec.encode(plain)


def test_erased_data_cannot_be_republished(codec: Codec) -> None:
    event = one_of_each()[0]
    erased = replace(event, envelope=replace(event.envelope, sealed=ERASED))
    with pytest.raises(EncodeError, match="erased"):
        codec.encode(erased)


def test_wrong_field_type_is_an_encode_error(codec: Codec) -> None:
    event = sample_event("ImmunizationRecorded", seed=1)
    with pytest.raises(EncodeError, match="ImmunizationRecorded"):
        codec.encode(replace(event, dose_number="three"))  # type: ignore[arg-type]
