"""Hole and stall detection for the worker's agents (``services.worker.continuity``)."""

from __future__ import annotations

from faust.types import TP

from services.worker.continuity import MAX_SEEKS, SEEK_SETTLE_S, Continuity


class Consumer:
    """Records the seeks an agent asks for."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def test_contiguous_records_and_redeliveries_are_admitted() -> None:
    c = Continuity("test")
    assert c.admit("access", 0, 0, -1)
    assert c.admit("access", 0, 5, 4)
    assert c.admit("access", 0, 3, 4)  # a redelivery: the agent recognises it itself
    assert c.admit("access", 1, 70, -1)  # nothing handled yet: where the log starts is unknown
    assert not c.holes


async def test_a_record_past_a_hole_is_refused_and_the_partition_sought_back_once_per_settle() -> None:
    now = [0.0]
    c, consumer = Continuity("test", clock=lambda: now[0]), Consumer()
    assert not c.admit("access", 1, 264, 249)
    assert not c.admit("access", 1, 265, 249)  # the rest of the batch waits too
    await c.repair(consumer)
    await c.repair(consumer)  # the seek is still settling: not asked again
    assert consumer.seeks == [(TP("access", 1), 250)]
    assert c.admit("access", 1, 250, 249)  # the hole's first record came: healed
    assert not c.holes
    now[0] += SEEK_SETTLE_S + 1
    await c.repair(consumer)
    assert len(consumer.seeks) == 1


async def test_a_hole_that_never_fills_is_accepted_after_a_bounded_number_of_seeks() -> None:
    now = [0.0]
    c, consumer = Continuity("test", clock=lambda: now[0]), Consumer()
    for _ in range(MAX_SEEKS):
        assert not c.admit("access", 2, 900, 99)
        await c.repair(consumer)
        now[0] += SEEK_SETTLE_S + 1
    assert len(consumer.seeks) == MAX_SEEKS
    assert c.admit("access", 2, 900, 99)  # the log start moved past it: go on, with an error logged
    await c.repair(consumer)
    assert len(consumer.seeks) == MAX_SEEKS


async def test_a_partition_behind_its_high_watermark_without_progress_is_sought_back() -> None:
    c, consumer = Continuity("test"), Consumer()
    tp, other = TP("access", 0), TP("access", 3)
    last = {0: 249, 3: 586}
    high = {tp: 821, other: 587}  # partition 3 is at its end
    c.stalled([tp, other], high.get, lambda _t, p: last[p])
    assert not c.holes  # one look is not a stall
    last[0] = 260
    c.stalled([tp, other], high.get, lambda _t, p: last[p])
    assert not c.holes  # it moved
    c.stalled([tp, other], high.get, lambda _t, p: last[p])
    assert c.holes == {("access", 0): 261}
    await c.repair(consumer)
    assert consumer.seeks == [(tp, 261)]


def test_reset_forgets_the_old_assignment() -> None:
    c = Continuity("test")
    assert not c.admit("access", 0, 10, 2)
    c.reset()
    assert not c.holes and not c.pending and not c.looked
