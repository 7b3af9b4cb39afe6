"""The dead-letter record: what a stage could not process, and why (DESIGN §4, §9)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter:
    """Mirrors ``avro/DeadLetter.avsc``.

    Kafka-stage letters keep the original bytes (personal data inside them stays sealed).
    Source-stage letters keep only ``source_ref``: raw source payloads may hold plaintext PII.
    """

    dead_letter_id: UUID
    stage: str
    reason: str
    error_type: str
    failed_at: dt.datetime
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    source_ref: str | None = None
    original: bytes | None = None
