"""The consent gate agent (DESIGN §6, §9): a thin Faust agent around ``projections.gate``.

It reads the intake topics (the sources' and the reports filed through the hub) and the
consent topic as one stream (all co-partitioned by child_id, so a child's facts and consents
meet in one partition, in order), keeps each child's gate record in a changelog-backed table,
and publishes what the fold decides: ``FactReleased`` / ``ReleaseRevoked`` to ``shared``,
reports of concern to ``statutory.social``.

Three things Faust does not do for us:

* **Failures.** Faust acknowledges events whose handler raised (faust-streaming #315, #527),
  so every event is handled inside its own try and failures go to ``deadletter`` here.
* **Crashes.** Faust flushes its producer before committing offsets, but a kill -9 can leave
  a changelog write on disk whose outputs were never sent. The record therefore remembers the
  offsets it has folded in; the first redelivered event of a child after a restart
  re-publishes the child's current decisions (same deterministic event ids, so consumers
  recognise the duplicates) instead of trusting that they went out.
* **Merged ids.** When two ids turn out to be one child, the merged id's intake and consents are
  carried over to the surviving id here (``services.worker.linker``); its plan, by the projector.
* **Expiry.** A consent's start or end needs no event, and Faust tables may only be written
  while handling an event. A timer therefore sends a tick to each partition this worker owns
  on an internal topic in the same stream, and the tick settles that partition's children.
  A consent that lapses on a birthday (``projections.consent_rules``) ends at the first tick
  after midnight the same way.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from typing import Any

import faust
import structlog
from faust.types import TP

from projections.consents import FactRef, consent_of
from projections.gate import (
    REGISTER_FACTS,
    Output,
    Release,
    Revoke,
    RouteStatutory,
    on_consent,
    on_fact,
    on_register,
    settle,
)
from projections.population import Resident
from schemas.codec import Codec
from schemas.events import (
    Basis,
    ChildIdentitiesMerged,
    ConsentGranted,
    ConsentWithdrawn,
    Envelope,
    Event,
    FactReleased,
    ReleaseRevoked,
    ReportOfConcernFiled,
    ReportOfConcernReceived,
    ReportOfConcernRouted,
    Source,
)
from schemas.topics import (
    CONSENT,
    DEADLETTER,
    INTAKE_HEALTH,
    INTAKE_POPULATION,
    INTAKE_REPORTS,
    INTAKE_SCHOOL,
    INTAKE_SOCIAL,
    SHARED,
    STATUTORY_SOCIAL,
)
from services.kafka.deadletter import dead_letter_for
from services.kafka.partitions import partition_of
from services.settings import Settings
from services.worker.gate_state import ChildRecord, dumps, loads
from services.worker.linker import Linker, Merge
from services.worker.repairs.continuity import BackfillShort, Continuity, backfill

log = structlog.get_logger(__name__)
STAGE = "gate"
GATE_NAMESPACE = uuid.UUID("3f6b0c1e-9a24-4d8e-b7c5-1e2d3a4b5c6d")
UNKNOWN_CONSENT = "withdrawal of a consent the gate has not seen"
NO_LINKER = "a merge of two child ids reached a gate that cannot carry history over (no key store)"
TICK_TOPIC = "kronobarn-gate-tick"
WATCH_INTERVAL_S = 5.0
SOURCES = (INTAKE_HEALTH.name, INTAKE_SCHOOL.name, INTAKE_SOCIAL.name, INTAKE_POPULATION.name, INTAKE_REPORTS.name,
           CONSENT.name)


class Gate:
    """The agent's handlers; state lives in the Faust table, ``reconciled`` only in memory."""

    def __init__(self, app: faust.App, codec: Codec, partitions: int, child_grants_from: int = 15,
                 linker: Linker | None = None) -> None:
        self.codec = codec
        self.linker = linker
        self.partitions = partitions
        self.child_grants_from = child_grants_from
        self.app = app
        self.table = app.Table("gate", default=None, key_type=str, value_type=bytes)
        self.changelog_name = self.table.changelog_topic.get_topic_name()
        self.deadletters = app.topic(DEADLETTER.name, key_type=bytes, value_type=bytes)
        self.reconciled: set[str] = set()  # children re-published since this worker got them
        # Decoded records of the children this worker owns; the table (and its changelog) stays
        # the truth, this only saves decoding a child's record again for each of its events.
        self.records: dict[str, ChildRecord] = {}
        self.merges: dict[str, Merge | None] = {}  # the same, for the table's merge marks ("m:")
        # The last offset handled per partition since the assignment, to see holes and stalls.
        self.last: dict[tuple[str, int], int] = {}
        self.continuity = Continuity(STAGE, background={TICK_TOPIC})

    @property
    def producer(self) -> Any:
        return self.app.producer

    def forget(self) -> None:
        """Partitions moved: what is held in memory may be stale or no longer ours."""
        self.reconciled.clear()
        self.records.clear()
        self.merges.clear()
        self.last.clear()
        self.continuity.reset()

    def hole(self, topic: str, partition: int, offset: int) -> int | None:
        """The first missing offset if this record comes past a hole (see ``last_of``)."""
        where = (topic, partition)
        if where not in self.last and (mark := self.last_of(topic, partition)) >= 0:
            self.last[where] = mark  # so a redelivery before the committed offset does not lower it
        return self.continuity.hole(topic, partition, offset, self.last.get(where, -1))

    def handled(self, topic: str, partition: int, offset: int) -> None:
        where = (topic, partition)
        self.last[where] = max(offset, self.last.get(where, -1))

    def last_of(self, topic: str, partition: int) -> int:
        """The last offset handled in a partition since the assignment; for one with none yet,
        the offset before Faust's committed one, where it starts (-1: none committed)."""
        found = self.last.get((topic, partition))
        if found is not None:
            return found
        committed = committed_offset(self.app, TP(topic, partition))
        return committed - 1 if committed is not None else -1

    # -- the table ------------------------------------------------------------------------

    def record(self, child: str) -> ChildRecord:
        found = self.records.get(child)
        if found is None:
            found = self.records[child] = loads(uuid.UUID(child), self.table.get("c:" + child))
        return found

    async def save(self, child: str, record: ChildRecord, partition: int) -> None:
        self.records[child] = record
        await self.put("c:" + child, dumps(uuid.UUID(child), record), partition)

    async def put(self, key: str, value: bytes, partition: int) -> None:
        """``table[key] = value`` as Faust does it -- the store, then the changelog record in
        the partition of the event being handled -- but sent straight to Faust's producer.
        Faust's own path queues changelog records in a buffer of 100 that one task drains a
        record at a time; the gate waited on it ("producer buffer full") for every event. The
        producer is flushed before each offset commit either way."""
        self.table.data[key] = value
        changelog = self.table.changelog_topic
        k, _ = changelog.prepare_key(key, self.table.key_serializer)
        v, _ = changelog.prepare_value(value, self.table.value_serializer)
        await self.producer.send(self.changelog_name, k, v, partition, None, None)

    def blob(self, event_id: uuid.UUID) -> bytes | None:
        return self.table.get("f:" + str(event_id))

    # -- handling -------------------------------------------------------------------------

    def merge_of(self, child: str) -> Merge | None:
        if child not in self.merges:
            raw = self.table.get("m:" + child)
            self.merges[child] = None if raw is None else Merge.decode(raw)
        return self.merges[child]

    async def handle(self, value: bytes, topic: str, partition: int, offset: int, key: bytes | None = None) -> None:
        if topic == TICK_TOPIC:
            await self.tick(partition, offset)
            return
        if key is not None and self.linker is not None:
            merge = self.merge_of(key.decode())
            if merge is not None:  # a merged id: its records go on under the surviving id
                if self.codec.type_name(value) == ChildIdentitiesMerged.__name__:
                    # The merge again, after a crash: the sweep may not have finished, so sweep
                    # again (it republishes under the same ids).
                    event = self.codec.decode(value, topic=topic, partition=partition, offset=offset)
                    assert isinstance(event, ChildIdentitiesMerged)
                    await self.merged(key.decode(), event, value, partition, offset, dt.datetime.now(dt.UTC))
                else:
                    await self.linker.carry(topic, value, merge)
                return
        event = self.codec.decode(value, topic=topic, partition=partition, offset=offset)
        child = str(event.child_id)
        record = self.record(child)
        now = dt.datetime.now(dt.UTC)
        if record.is_applied(topic, offset):
            await self.redelivered(child, record, event, value, now)
            return
        if isinstance(event, ChildIdentitiesMerged):
            await self.merged(child, event, value, partition, offset, now)
            return
        if isinstance(event, ConsentGranted):
            record.gate, outputs = on_consent(record.gate, consent_of(event), now, self.child_grants_from)
        elif isinstance(event, ConsentWithdrawn):
            known = next((c for c in record.gate.consents if c.consent_id == event.consent_id), None)
            if known is None:
                raise ValueError(UNKNOWN_CONSENT)
            withdrawn = replace(known, withdrawn_at=known.withdrawn_at or event.envelope.occurred_at)
            record.gate, outputs = on_consent(record.gate, withdrawn, now, self.child_grants_from)
        elif event.envelope.basis is Basis.DIRECTORY:
            # Passed on as it comes (a repeat keeps its event id); the register's facts also
            # decide which consents hold.
            outputs = []
            if isinstance(event, REGISTER_FACTS):
                record.gate, outputs = on_register(record.gate, event.child_id, event, now, self.child_grants_from)
            await self.publish(child, [released_as_is(event, value, "directory", now)])
        else:
            # Whether the fact is new is read from the record, never from its stored bytes: a
            # crash can persist the bytes without the record that refers to them.
            if not record.gate.knows(event.event_id):
                # Stored before the record that refers to it: one changelog partition keeps the order.
                await self.put("f:" + str(event.event_id), value, partition)
            record.gate, outputs = on_fact(record.gate, event.event_id, FactRef.of(event), now)
        record.applied[topic] = offset
        self.remember_revocations(record, outputs)
        await self.save(child, record, partition)
        await self.publish(child, [self.output_event(o, now, record.gate.resident) for o in outputs])

    async def merged(self, child: str, event: ChildIdentitiesMerged, value: bytes, partition: int, offset: int,
                     now: dt.datetime) -> None:
        """This id is one child with another: pass the news on, let this id's state go, and carry
        its history over (the sweep; later records are carried as they come, see ``handle``)."""
        if self.linker is None:
            raise ValueError(NO_LINKER)
        merge = Merge.of(event)
        await self.put("m:" + child, merge.encode(), partition)  # first: what comes next is carried
        self.merges[child] = merge
        await self.save(child, ChildRecord(applied={INTAKE_POPULATION.name: offset}), partition)
        await self.publish(child, [released_as_is(event, value, "directory", now)])
        upto = [(t, offset if t == INTAKE_POPULATION.name else self.last_of(t, partition)) for t in SOURCES]
        await self.linker.sweep({event.child_id: merge}, partition, upto)

    async def tick(self, partition: int, offset: int) -> None:
        """Settle every child of ``partition``: consents may have started or ended."""
        now = dt.datetime.now(dt.UTC)
        for key in [k for k in list(self.table.keys()) if k.startswith("c:")]:
            child = key[2:]
            if partition_of(child, self.partitions) != partition:
                continue
            record = self.record(child)
            if record.is_applied(TICK_TOPIC, offset):
                await self.redelivered(child, record, None, None, now)
                continue
            record.gate, outputs = settle(record.gate, now)
            if outputs:
                record.applied[TICK_TOPIC] = offset
                self.remember_revocations(record, outputs)
                await self.save(child, record, partition)
                await self.publish(child, [self.output_event(o, now, record.gate.resident) for o in outputs])

    async def redelivered(self, child: str, record: ChildRecord, event: Event | None, value: bytes | None,
                          now: dt.datetime) -> None:
        """An event already folded in, seen again after a crash: its outputs may never have gone
        out, so re-publish the child's current decisions once, and a directory fact's release."""
        if event is not None and event.envelope.basis is Basis.DIRECTORY:
            await self.publish(child, [released_as_is(event, value or b"", "directory", now)])
        if child in self.reconciled:
            return
        self.reconciled.add(child)
        g = record.gate
        outputs: list[Output] = [RouteStatutory(f) for f in (*g.held, *(f for f, _ in g.released))
                                 if f.ref.basis is Basis.STATUTORY]
        outputs += [Revoke(f, record.revoked[f.event_id]) for f in g.held if f.event_id in record.revoked]
        outputs += [Release(f, ids) for f, ids in g.released]
        await self.publish(child, [self.output_event(o, now, record.gate.resident) for o in outputs if self.has_blob(o)])
        log.info("gate.reconciled", outputs=len(outputs))

    def has_blob(self, output: Output) -> bool:
        return bool(self.blob(output.fact.event_id))  # missing: its own redelivery will restore it

    @staticmethod
    def remember_revocations(record: ChildRecord, outputs: list[Output]) -> None:
        for o in outputs:
            if isinstance(o, Revoke):
                record.revoked[o.fact.event_id] = o.ended_consent_ids
            elif isinstance(o, Release):
                record.revoked.pop(o.fact.event_id, None)

    # -- output ---------------------------------------------------------------------------

    async def publish(self, child: str, events: list[Event]) -> None:
        for event in events:
            target = STATUTORY_SOCIAL.name if isinstance(event, ReportOfConcernRouted) else SHARED.name
            # Straight to Faust's producer: out now, not held until the offset commit, so shared
            # lags intake by milliseconds, and without the topic layer's per-message futures
            # (the largest cost after the fold). Faust flushes this producer before it commits,
            # so a crash before the commit repeats the outputs under the same ids, never loses them.
            await self.producer.send(target, child.encode(), self.codec.encode(event), None, None, None)

    async def dead_letter(self, key: bytes | None, value: bytes, topic: str, partition: int, offset: int,
                          exc: Exception) -> None:
        letter = dead_letter_for(stage=STAGE, error=exc, topic=topic, partition=partition, offset=offset,
                                 original=value)
        await self.deadletters.send(key=key, value=self.codec.encode(letter))
        log.warning("gate.dead_letter", topic=topic, partition=partition, offset=offset,
                    error_type=type(exc).__name__)

    def output_event(self, output: Output, now: dt.datetime, home: Resident | None = None) -> Event:
        """The event for one decision; ``home`` is the register's view of the child, whose
        municipality receives a report filed through the hub."""
        fact = output.fact
        blob = self.blob(fact.event_id)
        assert blob, "a held or released fact keeps its bytes"
        if isinstance(output, Release):
            ids = output.consent_ids
            return gate_event(FactReleased, fact.ref, fact.event_id, "|".join(str(i) for i in ids), now,
                              fact_event_id=fact.event_id, fact_type=self.codec.type_name(blob),
                              consent_ids=ids, fact=blob)
        if isinstance(output, Revoke):
            return gate_event(ReleaseRevoked, fact.ref, fact.event_id,
                              "revoked|" + "|".join(str(i) for i in output.ended_consent_ids), now,
                              fact_event_id=fact.event_id, ended_consent_ids=output.ended_consent_ids)
        original = self.codec.decode(blob)
        routed = {"report_event_id": fact.event_id, "report": blob, "reporter_category": original.reporter_category,
                  "reported_at": original.envelope.occurred_at}
        if isinstance(original, ReportOfConcernReceived):  # read from the register: it has it already
            return gate_event(ReportOfConcernRouted, fact.ref, fact.event_id, "routed", now,
                              municipality_code=original.municipality_code, **routed)
        assert isinstance(original, ReportOfConcernFiled)
        # The child's home municipality as the register gives it (a protected residence too: the
        # reporter never sees the route); with no home known, where the reporting unit is.
        code = (home.municipality_code if home is not None else None) or original.reporter_municipality_code
        return gate_event(ReportOfConcernRouted, fact.ref, fact.event_id, "routed", now, municipality_code=code,
                          acute=original.acute, filed_in_hub=True, **routed)


def gate_event(kind: type[Event], ref: FactRef, fact_id: uuid.UUID, version: str, now: dt.datetime,
               **fields: Any) -> Event:
    """One of the gate's outputs about a fact. Output ids are uuid5 of kind, fact and decision,
    so a re-published decision keeps its id."""
    envelope = Envelope(
        event_id=uuid.uuid5(GATE_NAMESPACE, f"{kind.__name__}|{fact_id}|{version}"),
        type=kind.__name__, child_id=ref.child_id, occurred_at=now, recorded_at=now,
        source=Source("gate", ref.source_org, str(fact_id), version),
        basis=ref.basis, category=ref.category,  # the fact's own, so readers can judge visibility
        area=ref.area,
    )
    return kind(envelope=envelope, **fields)


def released_as_is(event: Event, value: bytes, version: str, now: dt.datetime) -> Event:
    """``FactReleased`` for the fact ``value`` as it came, under no consent (a directory fact)."""
    return gate_event(FactReleased, FactRef.of(event), event.event_id, version, now,
                      fact_event_id=event.event_id, fact_type=type(event).__name__, consent_ids=(), fact=value)


def committed_offset(app: faust.App, tp: Any) -> int | None:
    """The offset Faust sought ``tp`` to on assignment (its committed position), if there was a
    commit. Faust keeps no public accessor; a version without the attribute just gives None."""
    committed = getattr(app.consumer, "_committed_offset", {}).get(tp)
    return committed if isinstance(committed, int) and committed > 0 else None


def register_gate(app: faust.App, codec: Codec, settings: Settings, tick_s: float = 60.0,
                  sealing: Codec | None = None) -> Any:
    """The gate agent; ``sealing`` (a codec with the hub's key store) lets it carry a merged id's
    history over to the surviving id."""
    gate = Gate(app, codec, settings.partitions, settings.consent_child_age)
    if sealing is not None:
        async def send(topic: str, key: bytes, value: bytes) -> None:
            await gate.producer.send(topic, key, value, None, None, None)

        gate.linker = Linker(settings, sealing, send)
    ticks = app.topic(TICK_TOPIC, key_type=bytes, value_type=bytes, partitions=settings.partitions, internal=True)
    source = app.topic(*SOURCES, TICK_TOPIC, key_type=bytes, value_type=bytes)

    @app.agent(source, concurrency=1)
    async def gate_agent(stream: Any) -> None:
        async def one(key: bytes | None, value: bytes, topic: str, partition: int, offset: int) -> None:
            with gate.continuity.busy():
                try:
                    await gate.handle(value, topic, partition, offset, key)
                except Exception as exc:  # noqa: BLE001 - never let Faust ack a failure silently
                    gate.records.clear()  # a failed handler may have changed a record it never saved
                    await gate.dead_letter(key, value, topic, partition, offset, exc)
            gate.handled(topic, partition, offset)

        async for message in stream.events():
            msg = message.message
            start = gate.hole(msg.topic, msg.partition, msg.offset)
            if start is not None:
                # The missing records first, in order; they share this record's partition, so
                # its table writes go to the right changelog partition.
                try:
                    missing = await backfill(settings, msg.topic, msg.partition, start, msg.offset)
                except BackfillShort as exc:
                    log.error("gate.backfill_short", reason=str(exc))
                    missing = []
                for record in missing:
                    await one(record.key, record.value, record.topic, record.partition, record.offset)
            await one(message.key, message.value, msg.topic, msg.partition, msg.offset)

    @app.timer(interval=tick_s)
    async def expire() -> None:
        for tp in app.consumer.assignment():
            if tp.topic == TICK_TOPIC:
                await ticks.send(value=b"tick", partition=tp.partition)

    read = {*SOURCES, TICK_TOPIC}

    @app.timer(interval=WATCH_INTERVAL_S)
    async def gate_watch() -> None:
        mine = [tp for tp in app.consumer.assignment() if tp.topic in read]
        gate.continuity.stalled(mine, app.consumer.highwater, gate.last_of)
        await gate.continuity.repair(app.consumer)

    @app.on_partitions_revoked.connect
    async def forget(app: Any, revoked: Any, **kwargs: Any) -> None:
        gate.forget()  # partitions coming back are re-read from the last commit

    @app.on_partitions_assigned.connect
    async def forget_again(app: Any, assigned: Any, **kwargs: Any) -> None:
        gate.forget()

    return gate_agent
