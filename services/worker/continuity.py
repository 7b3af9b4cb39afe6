"""Holes in a stream: records the consumer fetched but never handed to the agent.

Faust can drop records it has already fetched: it discards what a fetch brought in when a
rebalance or a recovery step falls between the fetch and the delivery, and trusts a seek to
bring them back. Against the embedded broker this was seen after a kill -9 and a restart: an
agent's next record came 14 offsets past the last one it had handled, or no record came at
all while its partitions held more (the fetch positions stood at the end of the log).

An agent that tracks the last offset it handled per partition can see both. The topics the
worker reads have no compaction and no transactions, so their offsets are contiguous:

* **A hole.** A record further on than the next offset is refused (``admit`` says no, the
  agent skips it without moving its position) and the partition is sought back to the hole.
* **A stall.** A partition whose high watermark lies beyond the last handled offset, with no
  progress over two looks, is sought back to the next offset too.

Each hole is sought at most ``MAX_SEEKS`` times; after that it is logged as an error and
accepted (the log start may have moved past it), so the agent never loops forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from faust.types import TP

log = structlog.get_logger(__name__)

MAX_SEEKS = 3
SEEK_SETTLE_S = 10.0  # how long a seek may take to bring the hole's first record


class Continuity:
    """Per-partition hole and stall detection for one agent, named ``agent`` in the logs."""

    def __init__(self, agent: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.agent, self.clock = agent, clock
        self.holes: dict[tuple[str, int], int] = {}  # partition -> first offset missing
        self.pending: dict[tuple[str, int], float] = {}  # partition -> when its seek may be retried
        self.seeks: dict[tuple[tuple[str, int], int], int] = {}  # (partition, hole) -> seeks made
        self.looked: dict[tuple[str, int], int] = {}  # partition -> last offset at the previous look
        self.refused = 0

    def reset(self) -> None:
        """Partitions moved: holes and looks belong to the old assignment (seek counts stay)."""
        self.holes.clear()
        self.pending.clear()
        self.looked.clear()

    def admit(self, topic: str, partition: int, offset: int, last: int) -> bool:
        """Whether a record at ``offset`` may be handled after ``last`` (the last offset handled
        in that partition, -1 for none). Redeliveries (at or below ``last``) are admitted: the
        agent recognises them itself."""
        where = (topic, partition)
        if last < 0 or offset <= last + 1:
            if offset == last + 1:
                self.holes.pop(where, None)
                self.pending.pop(where, None)
            return True
        if self.seeks.get((where, last + 1), 0) >= MAX_SEEKS:
            log.error("stream.hole_accepted", agent=self.agent, topic=topic, partition=partition,
                      missing_from=last + 1, missing_to=offset - 1)
            self.holes.pop(where, None)
            return True
        self.holes[where] = last + 1
        self.refused += 1
        return False

    def stalled(self, assignment: Iterable[TP], highwater: Callable[[TP], int | None],
                last_of: Callable[[str, int], int]) -> None:
        """Look at each partition once: behind its high watermark with no progress since the
        previous look makes it a hole at the next offset."""
        for tp in assignment:
            where = (tp.topic, tp.partition)
            last, high = last_of(tp.topic, tp.partition), highwater(tp)
            behind = high is not None and last + 1 < high
            if behind and self.looked.get(where) == last and where not in self.holes:
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
                        attempt=made + 1, refused=self.refused)
            await consumer.seek(TP(where[0], where[1]), start)
