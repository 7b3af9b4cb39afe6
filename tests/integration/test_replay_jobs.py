"""A replay split across processes builds the read model a single process builds (DESIGN §8).

The log is the replay bench's: a realistic mix of directory releases, consented facts,
revocations and plans for a few hundred children, on all four partitions of each topic.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from projections.read_model import ReadModel
from schemas.codec import Codec
from services.dev.bench.replay_log import publish_log
from services.kafka import clients as kafka
from services.kafka import offsets
from services.kafka.broker import EmbeddedBroker, free_port
from services.readmodel.engine import CONSUMER, TOPICS, read_model
from services.readmodel.replay import plain_codec, replay
from services.readmodel.replay_jobs import ReplayError
from services.settings import Settings
from services.sql.db import make_engine
from tests.conftest import DATABASES

CHILDREN = 300
HELPER_FAILURE = "no key store in this helper"


@pytest.fixture(scope="module")
def logged() -> Iterator[Settings]:
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(kafka.create_topics(settings))
        asyncio.run(publish_log(settings, CHILDREN))
        yield settings


def _read_model(url: str) -> ReadModel:
    return read_model(make_engine(url), Settings())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", DATABASES)
def test_every_split_builds_the_same_read_model(kind: str, logged: Settings, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    if kind == "sqlite":
        urls = {jobs: f"sqlite:///{tmp_path / f'jobs-{jobs}.db'}" for jobs in (1, 2, 4)}
    else:
        new_schema = request.getfixturevalue("postgres_schema")
        urls = {jobs: new_schema() for jobs in (1, 2, 4)}
    stats = {jobs: asyncio.run(replay(logged, plain_codec, url, jobs=jobs)) for jobs, url in urls.items()}
    stores = {jobs: _read_model(url) for jobs, url in urls.items()}
    ends = asyncio.run(offsets.topic_ends(logged, TOPICS))
    assert {s.jobs for s in stats.values()} == {1, 2, 4}
    assert stats[1].records == sum(ends.values()) and stats[1].children == CHILDREN and stats[1].rows > 0
    for jobs in (2, 4):
        assert (stats[jobs].records, stats[jobs].applied, stats[jobs].children, stats[jobs].rows) == \
               (stats[1].records, stats[1].applied, stats[1].children, stats[1].rows)
        assert stores[jobs].digest() == stores[1].digest()
        # Each share tracked its own partitions: together, every partition's last offset.
        assert stores[jobs].positions(CONSUMER) == stores[1].positions(CONSUMER) == \
               {(tp.topic, tp.partition): end - 1 for tp, end in ends.items() if end > 0}


def test_a_large_log_is_split_by_default(logged: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.readmodel.replay.PARALLEL_FROM", 1)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    stats = asyncio.run(replay(logged, plain_codec, f"sqlite:///{tmp_path / 'auto.db'}"))
    assert stats.jobs == 2 and stats.children == CHILDREN


def refusing_in_helpers(settings: Settings) -> Codec:
    """A codec factory that works here and fails in any helper process."""
    if multiprocessing.parent_process() is not None:
        raise RuntimeError(HELPER_FAILURE)
    return plain_codec(settings)


def test_a_failing_helper_fails_the_replay_and_names_its_share(logged: Settings, tmp_path: Path) -> None:
    with pytest.raises(ReplayError) as failed:
        asyncio.run(replay(logged, refusing_in_helpers, f"sqlite:///{tmp_path / 'failed.db'}", jobs=2))
    assert str(failed.value) == f"replay helper for partitions 1, 3 failed: RuntimeError: {HELPER_FAILURE}"
    assert not multiprocessing.active_children()
