"""The consent gate agent (DESIGN §6, §9): a thin Faust agent around ``projections.gate``.

It reads the intake topics and the consent topic as one stream (all co-partitioned by
child_id, so a child's facts and consents meet in one partition, in order), keeps each
child's gate state in a changelog-backed table, and publishes what the fold decides:
``FactReleased`` / ``ReleaseRevoked`` to ``shared``, reports of concern to
``statutory.social``. Every event is handled inside its own try: Faust acknowledges events
whose handler raised (faust-streaming #315, #527), so failures go to ``deadletter`` here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

import faust
import structlog

from projections.consents import FactRef, consent_of
from projections.gate import Release, Revoke, RouteStatutory, on_consent, on_fact, settle
from schemas.codec import Codec, DecodeError
from schemas.events import (
    Category,
    ConsentGranted,
    ConsentWithdrawn,
    Envelope,
    Event,
    FactReleased,
    ReleaseRevoked,
    ReportOfConcernReceived,
    ReportOfConcernRouted,
    Source,
)
from schemas.topics import (
    CONSENT,
    DEADLETTER,
    INTAKE_HEALTH,
    INTAKE_POPULATION,
    INTAKE_SCHOOL,
    INTAKE_SOCIAL,
    SHARED,
    STATUTORY_SOCIAL,
)
from services.deadletter import dead_letter_for
from services.worker.gate_state import dumps, loads

log = structlog.get_logger(__name__)
STAGE = "gate"
GATE_NAMESPACE = uuid.UUID("3f6b0c1e-9a24-4d8e-b7c5-1e2d3a4b5c6d")
UNKNOWN_CONSENT = "withdrawal of a consent the gate has not seen"


def register_gate(app: faust.App, codec: Codec, tick_s: float = 60.0) -> Any:
    source = app.topic(INTAKE_HEALTH.name, INTAKE_SCHOOL.name, INTAKE_SOCIAL.name, INTAKE_POPULATION.name,
                       CONSENT.name, key_type=bytes, value_type=bytes)
    out = {t.name: app.topic(t.name, key_type=bytes, value_type=bytes) for t in (SHARED, STATUTORY_SOCIAL, DEADLETTER)}
    table = app.Table("gate-state", default=str, key_type=str, value_type=str)

    async def publish(child: str, events: list[Event]) -> None:
        for event in events:
            target = SHARED.name if not isinstance(event, ReportOfConcernRouted) else STATUTORY_SOCIAL.name
            await out[target].send(key=child.encode(), value=codec.encode(event))

    async def handle(value: bytes, topic: str, partition: int, offset: int) -> None:
        event = codec.decode(value, topic=topic, partition=partition, offset=offset)
        assert isinstance(event, Event)
        child = str(event.child_id)
        state, blobs = loads(table[child] or None)
        now = dt.datetime.now(dt.UTC)
        if isinstance(event, ConsentGranted):
            state, outputs = on_consent(state, consent_of(event), now)
        elif isinstance(event, ConsentWithdrawn):
            known = next((c for c in state.consents if c.consent_id == event.consent_id), None)
            if known is None:
                raise ValueError(UNKNOWN_CONSENT)
            state, outputs = on_consent(state, replace(known, withdrawn_at=event.envelope.occurred_at), now)
        else:
            blobs.setdefault(str(event.event_id), value)
            state, outputs = on_fact(state, event.event_id, FactRef.of(event), now)
        table[child] = dumps(state, blobs)
        await publish(child, [_output_event(o, blobs, now, codec) for o in outputs])

    @app.agent(source, concurrency=1)
    async def gate(stream: Any) -> None:
        async for message in stream.events():
            msg = message.message
            try:
                await handle(message.value, msg.topic, msg.partition, msg.offset)
            except Exception as exc:  # never let Faust ack a failure silently
                letter = dead_letter_for(stage=STAGE, error=exc, topic=msg.topic, partition=msg.partition,
                                         offset=msg.offset, original=message.value)
                await out[DEADLETTER.name].send(key=message.key, value=codec.encode(letter))
                log.warning("gate.dead_letter", topic=msg.topic, partition=msg.partition, offset=msg.offset,
                            error_type=type(exc).__name__)

    @app.timer(interval=tick_s)
    async def expire() -> None:
        """Consent expiry needs no event: re-settle every child this worker holds."""
        now = dt.datetime.now(dt.UTC)
        for child, text in list(table.items()):
            state, blobs = loads(text or None)
            new, outputs = settle(state, now)
            if outputs:
                table[child] = dumps(new, blobs)
                await publish(child, [_output_event(o, blobs, now, codec) for o in outputs])

    return gate


def _output_event(output: Any, blobs: dict[str, bytes], now: dt.datetime, codec: Codec) -> Event:
    fact = output.fact
    child = fact.ref.child_id
    original = codec.decode(blobs[str(fact.event_id)])
    if isinstance(output, Release):
        ids = output.consent_ids
        kind, fields = FactReleased, {"fact_event_id": fact.event_id, "fact_type": type(original).__name__,
                                      "consent_ids": ids, "fact": blobs[str(fact.event_id)]}
        version = "|".join(str(i) for i in ids) or "directory"
    elif isinstance(output, Revoke):
        kind, fields = ReleaseRevoked, {"fact_event_id": fact.event_id, "ended_consent_ids": output.ended_consent_ids}
        version = "revoked|" + "|".join(str(i) for i in output.ended_consent_ids)
    else:
        assert isinstance(output, RouteStatutory)
        assert isinstance(original, ReportOfConcernReceived)
        kind, fields = ReportOfConcernRouted, {"municipality_code": original.municipality_code,
                                               "report_event_id": fact.event_id, "report": blobs[str(fact.event_id)]}
        version = "routed"
    envelope = Envelope(
        event_id=uuid.uuid5(GATE_NAMESPACE, f"{kind.__name__}|{fact.event_id}|{version}"),
        type=kind.__name__, child_id=child, occurred_at=now, recorded_at=now,
        source=Source("gate", fact.ref.source_org, str(fact.event_id), version),
        basis=fact.ref.basis, category=Category.SOCIAL if kind is ReportOfConcernRouted else Category.PLAN,
        area=fact.ref.area,
    )
    return kind(envelope=envelope, **fields)

