"""Hole and stall detection for the worker's agents (``services.worker.repairs.continuity``)."""

from __future__ import annotations

from faust.types import TP

from services.worker.repairs.continuity import MAX_SEEKS, SEEK_SETTLE_S, Continuity


class Consumer:
    """Records the seeks an agent asks for."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def test_contiguous_records_and_redeliveries_are_no_hole() -> None:
    c = Continuity("test")
    assert c.hole("access", 0, 0, -1) is None
    assert c.hole("access", 0, 5, 4) is None
    assert c.hole("access", 0, 3, 4) is None  # a redelivery: the agent recognises it itself
    assert c.hole("access", 1, 70, -1) is None  # nothing handled yet: where the log starts is unknown


def test_a_record_past_a_hole_names_the_first_missing_offset() -> None:
    c = Continuity("test")
    assert c.hole("access", 1, 264, 249) == 250
    assert c.hole("access", 1, 251, 250) is None


def stall(c: Continuity, last: dict[int, int], high: dict[TP, int]) -> None:
    c.stalled(list(high), high.get, lambda _t, p: last[p])


def tick(gate: Continuity, partition: int, offset: int) -> None:
    """The gate handles one of its clock ticks."""
    with gate.busy():
        assert gate.hole("kronobarn-gate-tick", partition, offset, offset - 1) is None


async def assert_sought(c: Continuity, consumer: Consumer, tp: TP, offset: int) -> None:
    """The stall is found at ``offset`` and the repair seeks ``tp`` there, once."""
    assert c.holes == {(tp.topic, tp.partition): offset}
    await c.repair(consumer)
    assert consumer.seeks == [(tp, offset)]


async def test_an_idle_agent_behind_its_high_watermark_is_sought_back() -> None:
    c, consumer = Continuity("test"), Consumer()
    tp, other = TP("access", 0), TP("access", 3)
    last = {0: 249, 3: 586}
    high = {tp: 821, other: 587}  # partition 3 is at its end
    stall(c, last, high)
    assert not c.holes  # one look is not a stall
    last[0] = 260
    stall(c, last, high)
    assert not c.holes  # it moved
    with c.busy():
        stall(c, last, high)
    assert not c.holes  # a batch in hand: busy, not stalled
    assert c.hole("access", 1, 5, 4) is None
    stall(c, last, high)
    assert not c.holes  # the agent was given records since the last look: not idle
    stall(c, last, high)
    await assert_sought(c, consumer, tp, 261)


async def test_another_agent_kept_busy_does_not_hide_a_stall() -> None:
    """The gate's ticks keep the worker busy all the time; the audit agent's stall still shows."""
    audit, gate, consumer = Continuity("audit"), Continuity("gate"), Consumer()
    tp = TP("access", 1)
    for offset in range(3):
        with gate.busy():
            tick(gate, 0, offset)
            stall(audit, {1: 264}, {tp: 411})
    await assert_sought(audit, consumer, tp, 265)


async def test_the_agents_own_ticks_do_not_hide_its_stall() -> None:
    """The gate gets a tick a second in the tests; a consent record it lost must still show."""
    gate, consumer = Continuity("gate", background={"kronobarn-gate-tick"}), Consumer()
    tp = TP("consent", 3)
    for offset in range(3):
        tick(gate, 3, offset)
        stall(gate, {3: 0}, {tp: 2})
    await assert_sought(gate, consumer, tp, 1)

    counted = Continuity("gate")  # without the background topic, the ticks look like work
    for offset in range(3):
        counted.hole("kronobarn-gate-tick", 3, offset, offset - 1)
        stall(counted, {3: 0}, {tp: 2})
    assert not counted.holes


async def test_a_stall_is_sought_once_per_settle_and_at_most_max_seeks_times() -> None:
    now = [0.0]
    c, consumer = Continuity("test", clock=lambda: now[0]), Consumer()
    tp = TP("access", 2)
    for _ in range(3):
        stall(c, {2: 99}, {tp: 500})
    await c.repair(consumer)
    await c.repair(consumer)  # still settling: not asked again
    assert consumer.seeks == [(tp, 100)]
    for _ in range(MAX_SEEKS + 2):
        now[0] += SEEK_SETTLE_S + 1
        await c.repair(consumer)
    assert len(consumer.seeks) == MAX_SEEKS
    assert c.hole("access", 2, 100, 99) is None  # the next record came: the stall is over
    assert not c.holes and not c.pending


def test_reset_forgets_the_old_assignment() -> None:
    c = Continuity("test")
    for _ in range(3):
        stall(c, {0: 2}, {TP("access", 0): 10})
    assert c.holes
    c.reset()
    assert not c.holes and not c.pending and not c.looked
