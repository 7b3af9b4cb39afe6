"""Holes in a stream: records the consumer fetched but never handed to the agent.

Faust can drop records it has already fetched: it discards what a fetch brought in when a
rebalance or a recovery step falls between the fetch and the delivery, and trusts a seek to
bring them back. Against the embedded broker this was seen after a kill -9 and a restart: an
agent's next record came 14 offsets past the last one it had handled, or no record came at
all while its partitions held more (the fetch positions stood at the end of the log).

An agent that tracks the last offset it handled per partition can see both. The topics the
worker reads have no compaction and no transactions, so their offsets are contiguous:

* **A hole.** A record further on than the next offset (``hole``).
* **A stall.** When the agent has been idle between two looks (not handling a record, given
  none), a partition whose high watermark lies beyond the last handled offset, with no
  progress since the previous look, is sought back to the next offset. Idleness is the
  agent's own: the worker as a whole is rarely idle, and a stalled audit log must not wait
  for quiet on the intake topics. Records of the agent's own ``background`` topics (the
  gate's clock ticks, one a second in the tests) do not count as work: otherwise they would
  keep the agent from ever looking idle, and a lost consent record would wait for good. An
  agent starved because another agent's queue is full (Faust feeds all agents from one
  consumer) can be taken for stalled; the seek then costs a refetch and nothing else: Faust
  drops the records it re-reads below its read offset, and the agents skip redeliveries by
  offset.

Where Faust loses them (faust-streaming 0.15, ``Consumer._drain_messages``): a record whose
delivery races ``suspend_flow`` (set when a rebalance revokes partitions) is dropped, and its
offset still becomes the partition's read offset; a fetch batch still being drained when the
new assignment seeks to the committed offsets raises that read offset again, and Faust then
drops the re-read records below it as already seen.

A hole seen while handling a record is better filled at once: ``backfill`` reads the missing
offsets with a plain consumer, and the agent handles them, in order, before the record that
showed the hole. A seek alone races with records Faust is still delivering from before it (the
gate saw its seeks undone that way under load), so it is kept for stalls, where nothing is
being delivered.

A stalled partition is sought back at most ``MAX_SEEKS`` times from the same offset, so an
agent never loops on it; each seek is logged.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from services.kafka import offsets
from services.settings import Settings

log = structlog.get_logger(__name__)

MAX_SEEKS = 3
SEEK_SETTLE_S = 10.0  # how long a seek may take to bring the hole's first record
BACKFILL_TIMEOUT_S = 20.0
BACKFILL_SHORT = "the broker gave {got} of the {want} records at {topic}[{partition}] {start}..{stop}"


Item = tuple[bytes | None, bytes | None, str, int, int]  # key, value, topic, partition, offset


_LIVE: weakref.WeakSet[Continuity] = weakref.WeakSet()


def live_continuities() -> list[Continuity]:
    """The agents' trackers in this process, for the ``kill -USR1`` dump."""
    return sorted(_LIVE, key=lambda c: c.agent)


class BackfillShort(Exception):
    """The broker did not give all the missing records in time."""


async def backfill(settings: Settings, topic: str, partition: int, start: int, stop: int) -> list[ConsumerRecord]:
    """The records at offsets ``start`` up to (not including) ``stop`` of one partition, in order."""
    tp = TopicPartition(topic, partition)
    found: list[ConsumerRecord] = []
    # Bounded: the agent waits on this. aiokafka's fetch sizes, so little is read past ``stop``.
    async for records in offsets.read(settings, {tp: start}, {tp: stop}, poll_ms=500, timeout_s=BACKFILL_TIMEOUT_S):
        found += records
    if not found or found[-1].offset < stop - 1:
        raise BackfillShort(BACKFILL_SHORT.format(got=len(found), want=stop - start, topic=topic,
                                                  partition=partition, start=start, stop=stop - 1))
    return found


class Continuity:
    """Per-partition hole and stall detection for one agent, named ``agent`` in the logs."""

    def __init__(self, agent: str, clock: Callable[[], float] = time.monotonic,
                 background: Iterable[str] = ()) -> None:
        self.agent, self.clock = agent, clock
        self.background = frozenset(background)  # topics whose records are no sign of work
        self.holes: dict[tuple[str, int], int] = {}  # stalled partition -> offset to seek to
        self.pending: dict[tuple[str, int], float] = {}  # partition -> when its seek may be retried
        self.seeks: dict[tuple[tuple[str, int], int], int] = {}  # (partition, hole) -> seeks made
        self.looked: dict[tuple[str, int], int] = {}  # partition -> last offset at the previous look
        self.admitted = 0  # records offered to the agent so far
        self.handling = 0  # handlers of the agent running now
        self.admitted_at_look = -1  # ``admitted`` at the previous look
        _LIVE.add(self)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around the agent's handler: while it runs, nothing is taken for a stall."""
        self.handling += 1
        try:
            yield
        finally:
            self.handling -= 1

    def reset(self) -> None:
        """Partitions moved: holes and looks belong to the old assignment (seek counts stay)."""
        self.holes.clear()
        self.pending.clear()
        self.looked.clear()

    def hole(self, topic: str, partition: int, offset: int, last: int) -> int | None:
        """The first missing offset if a record at ``offset`` comes past a hole after ``last``
        (the last offset handled, -1 for none), else None; redeliveries (at or below ``last``)
        are no hole, the agent recognises them itself. Counts the record as offered, unless
        it is from a background topic."""
        if topic not in self.background:
            self.admitted += 1
        where = (topic, partition)
        if offset == last + 1:
            self.holes.pop(where, None)  # a stalled partition moving again
            self.pending.pop(where, None)
        if last < 0 or offset <= last + 1:
            return None
        log.warning("stream.hole", agent=self.agent, topic=topic, partition=partition, missing_from=last + 1,
                    missing_to=offset - 1)
        return last + 1

    async def fill(self, settings: Settings, events: Iterable[Any], last_of: Callable[[str, int], int]) -> list[Item]:
        """A batch of Faust events as plain records, any hole before a record filled from the
        broker so the agent sees its partitions without gaps. ``last_of`` gives the last offset
        handled per partition before this batch."""
        out: list[Item] = []
        seen: dict[tuple[str, int], int] = {}
        for event in events:
            msg = event.message
            where = (msg.topic, msg.partition)
            last = seen.get(where, last_of(*where))
            start = self.hole(msg.topic, msg.partition, msg.offset, last)
            if start is not None:
                try:
                    missing = await backfill(settings, msg.topic, msg.partition, start, msg.offset)
                except BackfillShort as exc:
                    log.error("stream.backfill_short", agent=self.agent, reason=str(exc))
                    missing = []
                out += [(r.key, r.value, r.topic, r.partition, r.offset) for r in missing]
            out.append((msg.key, event.value, msg.topic, msg.partition, msg.offset))
            seen[where] = max(msg.offset, last)
        return out

    def stalled(self, assignment: Iterable[TP], highwater: Callable[[TP], int | None],
                last_of: Callable[[str, int], int]) -> None:
        """Look at each partition once: behind its high watermark with no progress since the
        previous look, while the agent was idle, makes it a hole at the next offset."""
        idle = self.handling == 0 and self.admitted == self.admitted_at_look
        self.admitted_at_look = self.admitted
        for tp in assignment:
            where = (tp.topic, tp.partition)
            last, high = last_of(tp.topic, tp.partition), highwater(tp)
            behind = high is not None and last + 1 < high
            if idle and behind and self.looked.get(where) == last and where not in self.holes:
                self.holes[where] = last + 1
                log.warning("stream.stalled", agent=self.agent, topic=tp.topic, partition=tp.partition,
                            next_offset=last + 1, highwater=high)
            self.looked[where] = last

    async def repair(self, consumer: Any) -> None:
        """Seek every partition with a hole back to it, unless a seek for it is still settling."""
        now = self.clock()
        for where, start in list(self.holes.items()):
            if self.pending.get(where, 0.0) > now:
                continue
            made = self.seeks.get((where, start), 0)
            if made >= MAX_SEEKS:
                continue
            self.seeks[(where, start)] = made + 1
            self.pending[where] = now + SEEK_SETTLE_S
            log.warning("stream.refetch", agent=self.agent, topic=where[0], partition=where[1], from_offset=start,
                        attempt=made + 1)
            await consumer.seek(TP(where[0], where[1]), start)
