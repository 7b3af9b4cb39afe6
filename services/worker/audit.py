"""The audit projector: a Faust agent that appends every read on ``access`` to the hash-chained
audit log (DESIGN §6 Audit, §9).

* **Writes.** Events are taken in batches; the new entries, any checkpoints that fell due and
  the positions reached go to the database in one transaction (``AuditStore.append``), off the
  event loop. Appends are idempotent by event id, so a redelivery after a crash adds nothing.
* **Redeliveries.** Records at or below a tracked position are skipped before decoding (and
  counted), so a poison record is not dead-lettered twice either.
* **Checkpoints.** The store signs one every ``audit_checkpoint_every`` entries as it appends;
  a timer also signs the head every ``audit_checkpoint_interval_s`` when entries arrived since,
  so a quiet log's tail does not stay unsigned for long.
* **Failures.** A record that is not an access event, or one the log cannot take, goes to
  ``deadletter`` with its reason and the stream moves on (Faust would acknowledge a raising
  handler silently: faust-streaming #315).

The agent never opens sealed fields: the audit entry needs none (an emergency's free-text
reason stays sealed in the event, and an auditor's review comment goes into the log as the
ciphertext it travelled in).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.audit import entry_from_event
from projections.audit_store import AuditStore, AuditTailNotIntact, Position
from schemas.codec import Codec, DecodeError
from schemas.events import ChildDataErased, ChildDataViewed, EmergencyAccessOpened, EmergencyAccessReviewed, Event
from schemas.topics import ACCESS, DEADLETTER
from services.kafka.deadletter import dead_letter_for
from services.settings import Settings
from services.worker.audit_key import audit_signing_key_from
from services.worker.repairs.continuity import Continuity

log = structlog.get_logger(__name__)
STAGE = "audit"
BATCH_EVENTS = 1_000
BATCH_WITHIN_S = 0.5
WATCH_INTERVAL_S = 5.0
NOT_AN_ACCESS_EVENT = "a {name} record is not an access event"
NOT_LOGGABLE = "a {name} record cannot be logged: {error}"
ACCESS_EVENTS = (ChildDataViewed, EmergencyAccessOpened, EmergencyAccessReviewed, ChildDataErased)


class AuditProjector:
    """The agent's handlers; the log and its positions live in the database, not here."""

    def __init__(self, app: faust.App, settings: Settings, codec: Codec, store: AuditStore) -> None:
        self.app, self.settings, self.codec, self.store = app, settings, codec, store
        self.tracked: dict[tuple[str, int], int] = {}
        self.loaded = False
        self.redeliveries = 0
        self.writing = asyncio.Lock()  # appends and checkpoints one at a time, in order
        self.deadletters = app.topic(DEADLETTER.name, key_type=bytes, value_type=bytes)
        self.continuity = Continuity(STAGE)

    def forget(self) -> None:
        """Partitions moved: another worker may have logged more; read the positions again."""
        self.tracked.clear()
        self.loaded = False
        self.continuity.reset()

    def last(self, topic: str, partition: int) -> int:
        return self.tracked.get((topic, partition), -1)

    async def load(self) -> None:
        if not self.loaded:
            self.tracked = await asyncio.to_thread(self.store.positions)
            self.loaded = True

    async def handle(self, events: list[Any]) -> None:
        await self.load()
        accesses: list[Event] = []
        positions: dict[tuple[str, int], int] = {}
        skipped = 0
        for key, value, topic, partition, offset in await self.continuity.fill(self.settings, events, self.last):
            where = (topic, partition)
            if offset <= self.tracked.get(where, -1):
                skipped += 1  # already logged: a redelivery after a crash
                continue
            positions[where] = max(offset, positions.get(where, -1))
            try:
                accesses.append(self.decode(value, topic, partition, offset))
            except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter
                await self.dead_letter(key, value, topic, partition, offset, exc)
        if positions:
            moved = [Position(t, p, o) for (t, p), o in positions.items()]
            async with self.writing:
                added = await asyncio.to_thread(self.store.append, accesses, moved)
            self.tracked.update(positions)
            if added < len(accesses):
                log.info("audit.duplicates_absorbed", events=len(accesses) - added)
        if skipped:
            self.redeliveries += skipped
            log.info("audit.redelivered", skipped=skipped, total=self.redeliveries)

    async def watch(self) -> None:
        """The timer's look for stalled partitions, and the seeks for any hole found."""
        consumer = self.app.consumer
        await self.load()
        mine = [tp for tp in consumer.assignment() if tp.topic == ACCESS.name]
        self.continuity.stalled(mine, consumer.highwater, self.last)
        await self.continuity.repair(consumer)

    def decode(self, value: bytes | None, topic: str, partition: int, offset: int) -> Event:
        event = self.codec.decode(value, topic=topic, partition=partition, offset=offset)
        name = type(event).__name__
        if not isinstance(event, ACCESS_EVENTS):
            raise DecodeError(NOT_AN_ACCESS_EVENT.format(name=name), topic=topic, partition=partition, offset=offset)
        try:
            entry_from_event(event, 0)  # here, so one bad record is a dead letter and not a failed batch
        except (TypeError, ValueError) as exc:
            raise DecodeError(NOT_LOGGABLE.format(name=name, error=exc), topic=topic, partition=partition,
                              offset=offset) from None
        return event

    async def dead_letter(self, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int,
                          exc: Exception) -> None:
        letter = dead_letter_for(stage=STAGE, error=exc, topic=topic, partition=partition, offset=offset,
                                 original=value)
        await self.deadletters.send(key=key, value=self.codec.encode(letter), force=True)
        log.warning("audit.dead_letter", topic=topic, partition=partition, offset=offset,
                    error_type=type(exc).__name__)

    async def checkpoint(self, signer: Ed25519PrivateKey) -> None:
        """Sign the head if entries arrived since the last checkpoint; a broken tail is reported, not signed."""
        async with self.writing:
            stats = await asyncio.to_thread(self.store.stats)
            if not stats.unsigned:
                return
            try:
                await asyncio.to_thread(self.store.checkpoint, signer)
            except AuditTailNotIntact as exc:
                log.error("audit.checkpoint_refused", problems=len(exc.problems),
                          first_seq=exc.problems[0].seq if exc.problems else None)


def register_audit(app: faust.App, settings: Settings, codec: Codec, store: AuditStore,
                   signer: Ed25519PrivateKey | None = None) -> AuditProjector:
    """The audit agent and its checkpoint timer, on ``app``; the timer signs with ``signer``,
    by default the key from settings (the one the store signs its every-N checkpoints with)."""
    signer = signer or audit_signing_key_from(settings)
    projector = AuditProjector(app, settings, codec, store)
    source = app.topic(ACCESS.name, key_type=bytes, value_type=bytes)

    @app.agent(source, concurrency=1)
    async def audit(stream: Any) -> None:
        async for events in stream.take_events(BATCH_EVENTS, within=BATCH_WITHIN_S):
            with projector.continuity.busy():
                await projector.handle(list(events))

    @app.timer(interval=settings.audit_checkpoint_interval_s)
    async def audit_checkpoint() -> None:
        await projector.checkpoint(signer)

    @app.timer(interval=WATCH_INTERVAL_S)
    async def audit_watch() -> None:
        await projector.watch()

    @app.on_partitions_revoked.connect
    async def forget(app: Any, revoked: Any, **kwargs: Any) -> None:
        projector.forget()

    return projector
