"""Dead letters: what a stage could not process goes to ``deadletter`` with its reason (§9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from schemas.codec import Codec, DecodeError
from schemas.deadletter import DeadLetter
from schemas.topics import DEADLETTER

LETTER_NAMESPACE = uuid.UUID("0d7f1a34-8c52-4b9e-a1f0-5e6c2d8b7a19")


def dead_letter_for(
    *,
    stage: str,
    error: BaseException,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    original: bytes | None = None,
    source_ref: str | None = None,
) -> DeadLetter:
    """A letter for ``error``. Its id is deterministic when the input's position is known, so a
    failure redelivered after a crash produces the same letter id (recognisable duplicate)."""
    reason = error.reason if isinstance(error, DecodeError) else str(error) or type(error).__name__
    position = (topic, partition, offset) if offset is not None else None
    if position is not None:
        letter_id = uuid.uuid5(LETTER_NAMESPACE, f"{stage}|{topic}|{partition}|{offset}")
    elif source_ref is not None:
        letter_id = uuid.uuid5(LETTER_NAMESPACE, f"{stage}|{source_ref}")
    else:
        letter_id = uuid.uuid4()
    return DeadLetter(
        dead_letter_id=letter_id,
        stage=stage,
        reason=reason,
        error_type=type(error).__name__,
        failed_at=datetime.now(UTC),
        topic=topic,
        partition=partition,
        offset=offset,
        source_ref=source_ref,
        original=original,
    )


async def publish_dead_letter(
    producer: AIOKafkaProducer, codec: Codec, letter: DeadLetter, key: bytes | None = None
) -> None:
    """Send and wait for the ack: a letter is only as good as its durability."""
    await producer.send_and_wait(DEADLETTER.name, codec.encode(letter), key=key)
