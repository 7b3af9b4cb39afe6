"""How a replay shares out the partitions among its processes."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from services.readmodel import replay
from services.readmodel.replay import jobs_for, split

TOPICS = ("shared", "plan", "consent")


def _ends(partitions: int, end: int = 100) -> dict[TopicPartition, int]:
    return {TopicPartition(t, p): end for t in TOPICS for p in range(partitions)}


def test_every_topic_s_partition_p_lands_in_the_same_share() -> None:
    shares = split(_ends(4), 2)
    assert [sorted({tp.partition for tp in s}) for s in shares] == [[0, 2], [1, 3]]
    for share in shares:
        assert {tp.topic for tp in share} == set(TOPICS)
    assert sum(len(s) for s in shares) == 12


def test_no_more_shares_than_partitions() -> None:
    assert len(split(_ends(4), 16)) == 4
    assert len(split(_ends(4), 1)) == 1
    assert len(split({}, 3)) == 1


def test_topics_not_co_partitioned_stay_in_one_share() -> None:
    ends = _ends(4) | {TopicPartition("plan", 4): 10}
    shares = split(ends, 2)
    assert len(shares) == 1 and shares[0] == ends


@pytest.mark.parametrize(("records", "cores", "jobs"), [
    (replay.PARALLEL_FROM - 1, 8, 1),
    (replay.PARALLEL_FROM, 2, 2),
    (replay.PARALLEL_FROM, 8, 4),  # four partitions: four at most
    (replay.PARALLEL_FROM, 1, 1),
])
def test_jobs_by_log_size_and_cores(records: int, cores: int, jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(cores)))
    ends = _ends(4, 0) | {TopicPartition("shared", 0): records}
    assert jobs_for(ends) == jobs
