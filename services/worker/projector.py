"""The live projector: a Faust agent that folds ``shared``, ``plan``, ``consent`` and
``statutory.social`` into the SQL read model, in batches.

* **State.** Children's states live in memory (``Projection``). When this worker is given a
  partition, it first rebuilds that partition's children by folding the topics from offset 0
  up to the positions the read model has tracked -- the same fold as a replay, no writes.
* **Writes.** Events are taken in batches; the changed children's rows and the positions
  reached go to the database in one transaction (``ReadModel.write``), off the event loop.
* **Redeliveries.** Faust commits its offsets after the batch is written; after a crash it
  may deliver events the read model already holds. Anything at or below a tracked position is
  skipped, and counted.
* **Named person.** Each change of a child's named person is published as
  ``NamedPersonAssigned`` on ``plan``, for the organisation that takes the task on. The ids are
  deterministic, so a repeat after a crash is recognisable; after a rebuild the changes already
  announced are not announced again. ``plan`` is also an input here, so the announcements come
  back: the fold reads them past (``Projection.apply_record``) and they only move the positions.
  The named person in the read model is folded from the facts, never from announcements, so a
  replay or time travel (which read the same topics, announcements and all) gives the same
  rows. Why the announcement stays on ``plan``: ``schemas/topics.py``.
* **Merged ids.** When two ids turn out to be one child, the merged id's plan entries are carried
  over to the surviving id here (``services.worker.linker``), as the gate carries its intake and
  consents: a sweep of the merged id's ``plan`` records up to this worker's position once it has
  folded the merge (again after each rebuild: a crash may have cut a sweep short), and every later
  one as it comes.
* **Erasure.** Folded plan text is plaintext in memory. A timer polls the key store's tombstones
  (``services.erasure.watch``) every second; an erased child's state lets go of its text
  (``child_state.erased``) and its rows are written again, after any write already under way (one
  write at a time). A batch taken before the poll is scrubbed as it is written, so nothing this
  worker held of the child reaches the read model again once the bound has passed.
* **Failures.** A record that cannot be folded goes to ``deadletter`` with its reason and the
  stream moves on (Faust would acknowledge a raising handler silently: faust-streaming #315).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import faust
import structlog
from aiokafka import TopicPartition

from projections.child_state import erased
from projections.consent_rules import swedish_day
from projections.named_person import assigned_events
from projections.read_model import Batch, ReadModel
from schemas.codec import Codec
from schemas.topics import DEADLETTER, PLAN, SHARED
from services.erasure.watch import POLL_S, ErasureWatch
from services.kafka import offsets
from services.kafka.deadletter import dead_letter_for
from services.readmodel.engine import CONSUMER, TOPICS, Projection, rebuild
from services.settings import Settings
from services.sql.db import forget_overwritten
from services.worker.linker import Linker, Merge
from services.worker.repairs.continuity import Continuity

log = structlog.get_logger(__name__)
STAGE = "projector"
BATCH_EVENTS = 2_000
BATCH_WITHIN_S = 0.5
WATCH_INTERVAL_S = 5.0


class Projector:
    def __init__(self, app: faust.App, settings: Settings, codec: Codec, store: ReadModel) -> None:
        self.settings, self.codec, self.store = settings, codec, store
        self.projection = Projection(codec)
        self.loaded: set[int] = set()  # partitions whose children are in memory
        self.tracked: dict[tuple[str, int], int] = {}
        self.redeliveries = 0
        self.writing = asyncio.Lock()  # one write at a time, in order
        self.deadletters = app.topic(DEADLETTER.name, key_type=bytes, value_type=bytes)
        self.plan = app.topic(PLAN.name, key_type=bytes, value_type=bytes)
        self.announced: dict[Any, set[Any]] = {}  # child -> ids of NamedPersonAssigned published
        self.app = app
        self.continuity = Continuity(STAGE)
        self.linker = Linker(settings, codec, self._send_plan)
        self.swept: set[uuid.UUID] = set()  # merged ids whose plan was swept since they were loaded
        self.sweeps: dict[int, dict[uuid.UUID, Merge]] = {}  # partition -> merged ids to sweep
        self.erasures = ErasureWatch(store.engine)

    async def _send_plan(self, topic: str, key: bytes, value: bytes) -> None:
        await self.plan.send(key=key, value=value, force=True)

    async def load(self, partition: int) -> None:
        """Bring one partition's children into memory, up to what the read model holds."""
        tracked = await asyncio.to_thread(self.store.positions, CONSUMER)
        mine = {(t, p): o for (t, p), o in tracked.items() if p == partition}
        self.tracked.update(mine)
        ends = {TopicPartition(t, p): o + 1 for (t, p), o in mine.items()}
        known = await offsets.topic_ends(self.settings, TOPICS, {partition})
        ends = {tp: min(end, known.get(tp, end)) for tp, end in ends.items()}
        await rebuild(self.projection, self.settings, ends)
        for child in self.projection.dirty:  # already in the read model, already announced
            self.announced[child] = {e.event_id for e in self._assignments(child)}
            self.note_merge(child, partition)  # a sweep a crash cut short is made again
        self.projection.dirty.clear()
        self.loaded.add(partition)
        await self.sweep()

    def forget(self) -> None:
        """Partitions moved: rebuild what comes back, so no stale child survives a rebalance."""
        self.projection = Projection(self.codec)
        self.loaded.clear()
        self.tracked.clear()
        self.announced.clear()
        self.swept.clear()
        self.sweeps.clear()
        self.continuity.reset()

    def last(self, topic: str, partition: int) -> int:
        return self.tracked.get((topic, partition), -1)

    def _assignments(self, child: Any) -> list[Any]:
        state = self.projection.states[child]
        return assigned_events(child, state.life, self.store.config, swedish_day(dt.datetime.now(dt.UTC)))

    async def announce(self, batch: Batch) -> None:
        """Publish the named-person changes of the batch's children not yet announced."""
        for child in batch.states:
            known = self.announced.setdefault(child, set())
            for event in self._assignments(child):
                if event.event_id not in known:
                    await self.plan.send(key=str(child).encode(), value=self.codec.encode(event), force=True)
                    known.add(event.event_id)

    async def handle(self, events: list[Any]) -> None:
        skipped = 0
        for event in events:  # rebuild what is not in memory before the positions are read
            if event.message.partition not in self.loaded:
                await self.load(event.message.partition)
        for key, value, topic, partition, offset in await self.continuity.fill(self.settings, events, self.last):
            if offset <= self.tracked.get((topic, partition), -1):
                skipped += 1  # already in the read model: a redelivery after a crash
                continue
            try:
                self.projection.apply_record(topic, partition, offset, value)
                if topic in (PLAN.name, SHARED.name) and key:
                    await self.follow_merge(key, topic, partition, value)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter
                letter = dead_letter_for(stage=STAGE, error=exc, topic=topic, partition=partition,
                                         offset=offset, original=value)
                await self.deadletters.send(key=key, value=self.codec.encode(letter), force=True)
                log.warning("projector.dead_letter", topic=topic, partition=partition, offset=offset,
                            error_type=type(exc).__name__)
        batch = self.projection.take_batch()
        await self.flush(batch)
        await self.announce(batch)
        await self.sweep()
        if skipped:
            self.redeliveries += skipped
            log.info("projector.redelivered", skipped=skipped, total=self.redeliveries)

    def note_merge(self, child: uuid.UUID, partition: int) -> Merge | None:
        """The child's merge, if it is a merged id; a first sight of one is queued for a sweep."""
        state = self.projection.states.get(child)
        if state is None or state.merged_into is None or state.merged_at is None:
            return None
        merge = Merge(state.merged_into, state.merged_at)
        if child not in self.swept:
            self.sweeps.setdefault(partition, {})[child] = merge
        return merge

    async def follow_merge(self, key: bytes, topic: str, partition: int, value: bytes | None) -> None:
        """After folding a record of a merged id: carry a plan entry over as it comes; a merge
        folded just now is swept once the batch is written."""
        try:
            child = uuid.UUID(key.decode())
        except ValueError:
            return
        merge = self.note_merge(child, partition)
        if merge is not None and topic == PLAN.name and value is not None:
            await self.linker.carry(topic, value, merge)

    async def sweep(self) -> None:
        """Carry over the plan entries of the merged ids noted, up to the plan position reached."""
        for partition, merges in list(self.sweeps.items()):
            upto = [(PLAN.name, self.projection.positions.get((PLAN.name, partition), -1))]
            await self.linker.sweep(merges, partition, upto)
            self.swept |= merges.keys()
            del self.sweeps[partition]

    async def watch(self) -> None:
        """The timer's look for stalled partitions (loaded ones by what is in memory, the rest by
        the read model's positions), and the seeks for any hole found."""
        consumer = self.app.consumer
        mine = [tp for tp in consumer.assignment() if tp.topic in TOPICS]
        stored = {} if all(tp.partition in self.loaded for tp in mine) else \
            await asyncio.to_thread(self.store.positions, CONSUMER)

        def last(topic: str, partition: int) -> int:
            held = self.tracked if partition in self.loaded else stored
            return held.get((topic, partition), -1)

        self.continuity.stalled(mine, consumer.highwater, last)
        await self.continuity.repair(consumer)

    async def flush(self, batch: Any) -> None:
        if not batch.positions:
            return
        await self.write(batch)
        self.tracked.update(batch.positions)

    async def write(self, batch: Batch) -> None:
        async with self.writing:
            for child in self.erasures.seen.intersection(batch.states):  # taken before the erasure was seen
                batch.states[child] = erased(batch.states[child])
            await asyncio.to_thread(self.store.write, batch, CONSUMER, dt.datetime.now(dt.UTC))

    async def let_go(self) -> int:
        """Children erased since the last look: their folded text is dropped and their rows rewritten."""
        new = await asyncio.to_thread(self.erasures.poll)
        states = self.projection.states
        changed = {c: after for c in new if c in states and (after := erased(states[c])) is not states[c]}
        if changed:
            states.update(changed)
            await self.write(Batch(states=dict(changed)))
            await asyncio.to_thread(forget_overwritten, self.store.engine)
            log.info("projector.let_go", children=len(changed))
        return len(changed)


def register_projector(app: faust.App, settings: Settings, codec: Codec, store: ReadModel,
                       refresh_s: float = 3_600.0) -> Projector:
    projector = Projector(app, settings, codec, store)
    source = app.topic(*TOPICS, key_type=bytes, value_type=bytes)

    @app.agent(source, concurrency=1)
    async def project(stream: Any) -> None:
        async for events in stream.take_events(BATCH_EVENTS, within=BATCH_WITHIN_S):
            with projector.continuity.busy():
                await projector.handle(list(events))

    @app.timer(interval=refresh_s)
    async def refresh() -> None:
        """Rows that depend on the date (the named person turns with age) are rewritten daily-ish."""
        await projector.flush(projector.projection.everyone())

    @app.timer(interval=POLL_S)
    async def projector_erasures() -> None:
        await projector.let_go()

    @app.timer(interval=WATCH_INTERVAL_S)
    async def projector_watch() -> None:
        await projector.watch()

    @app.on_partitions_revoked.connect
    async def forget(app: Any, revoked: Any, **kwargs: Any) -> None:
        projector.forget()

    return projector
