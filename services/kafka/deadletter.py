"""Dead letters: what a stage could not process goes to ``deadletter`` with its reason (§9).

Nothing is dropped silently, and nothing personal is copied out: the reason is the error's
message with anything shaped like a personnummer masked, and Kafka-stage letters carry the
original bytes, whose personal data stays sealed. Stage names look like ``connector:health``,
``gate`` or ``projector``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer

from schemas.codec import Codec, DecodeError
from schemas.deadletter import DeadLetter
from schemas.topics import DEADLETTER

log = structlog.get_logger(__name__)

LETTER_NAMESPACE = uuid.UUID("0d7f1a34-8c52-4b9e-a1f0-5e6c2d8b7a19")
MAX_REASON_CHARS = 500
MASK = "[redacted]"
# YYMMDD or YYYYMMDD, an optional - or +, then four digits, as a token of its own (so a hex
# fingerprint or a longer number is left alone).
PERSONNUMMER_LIKE = re.compile(r"(?<![0-9A-Za-z])(?:\d{2})?\d{6}[-+]?\d{4}(?![0-9A-Za-z])")


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
    """A letter for ``error``. Its id is deterministic when the input's position (or source
    reference) is known, so a failure redelivered after a crash gets the same letter id and
    is recognisable as a duplicate."""
    return DeadLetter(
        dead_letter_id=letter_id(stage, topic, partition, offset, source_ref),
        stage=stage,
        reason=reason_of(error),
        error_type=type(error).__name__,
        failed_at=datetime.now(UTC),
        topic=topic,
        partition=partition,
        offset=offset,
        source_ref=source_ref,
        original=original,
    )


def reason_of(error: BaseException) -> str:
    """The codec's own reason for a ``DecodeError`` (no position suffix), else the message;
    personnummer-shaped text masked and the length capped, as a safety net."""
    reason = error.reason if isinstance(error, DecodeError) else str(error)
    reason = PERSONNUMMER_LIKE.sub(MASK, reason or type(error).__name__)
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def letter_id(
    stage: str, topic: str | None, partition: int | None, offset: int | None, source_ref: str | None
) -> uuid.UUID:
    if topic is not None and offset is not None:
        return uuid.uuid5(LETTER_NAMESPACE, f"{stage}|{topic}|{partition}|{offset}")
    if source_ref is not None:
        return uuid.uuid5(LETTER_NAMESPACE, f"{stage}|{source_ref}")
    return uuid.uuid4()


async def publish_dead_letter(
    producer: AIOKafkaProducer, codec: Codec, letter: DeadLetter, key: bytes | None = None
) -> None:
    """Send and wait for the ack: a letter is only as good as its durability."""
    await producer.send_and_wait(DEADLETTER.name, codec.encode(letter), key=key)
    log.warning(
        "deadletter.published",
        dead_letter_id=str(letter.dead_letter_id),
        stage=letter.stage,
        error_type=letter.error_type,
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
    )
